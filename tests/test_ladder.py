"""The speed/quality ladder: the fast rungs run under every plan, resolve by name per scale, are listed with their
measured speed for this CPU kind, and --preview projects every rung's time from one measured frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vsr._core
from vsr import Upscaler, upscale_segmented, upscale_video
from vsr._core import _cpu
from vsr.cli import cli
from vsr.errors import CheckpointError
from vsr.inference._memory import _SCRATCH, _USABLE, estimate_bytes, fit_in_memory
from vsr.inference._openvino import openvino_status
from vsr.inference._plans import ExecutionPlan
from vsr.io import VideoReader
from vsr.models import (
    LADDER, PRESET_SHAPES, BundledWeights, bundled_rung_name, edsr_mflop_per_pixel, get_model, load_model,
)
from vsr.models import _ladder
from vsr.upscaling import _projection
from vsr.upscaling._projection import project_ladder

RUNGS = ("edsr_fast", "edsr_medium")


def rung(preset: str, scale: int, seed: int = 0) -> torch.nn.Module:
    """The preset at its real size (its width is what makes it a rung), random weights."""
    torch.manual_seed(seed)
    return get_model(preset, scale=scale).eval()


def frames(n: int = 3, h: int = 21, w: int = 35, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- the presets under every plan
@pytest.mark.parametrize("preset,scale", [("edsr_fast", 2), ("edsr_medium", 4)])
@pytest.mark.parametrize("plan", [
    ExecutionPlan(batch_size=2, channels_last=True),
    ExecutionPlan(batch_size=3, channels_last=False, tile=16, threads=1),
], ids=["batch2", "tiled"])
def test_rungs_give_untiled_fp32_pixels_under_every_plan(preset: str, scale: int, plan: ExecutionPlan) -> None:
    model = rung(preset, scale)
    ref = Upscaler(model, scale=scale, device="cpu", precision="fp32", batch_size=1, channels_last=False)(frames())
    up = Upscaler(model, scale=scale, device="cpu", precision="fp32")
    up.apply_plan(plan)
    out = up(frames())
    assert out.shape == ref.shape == (3, 21 * scale, 35 * scale, 3)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


@pytest.mark.parametrize("preset", RUNGS)
def test_memory_guard_tiles_a_rung_that_would_not_fit(preset: str) -> None:
    up = Upscaler(rung(preset, 2), scale=2, device="cpu", precision="fp32", batch_size=2)
    baseline = Upscaler(rung("edsr_baseline", 2), scale=2, device="cpu", precision="fp32", batch_size=2)
    # A narrower body holds fewer features per pixel: the estimate knows it.
    assert estimate_bytes(up, 1920, 1080) < estimate_bytes(baseline, 1920, 1080)
    need = estimate_bytes(up, 3840, 2160)
    available = int((_SCRATCH + (need - _SCRATCH) // 3) / _USABLE)
    fitted = fit_in_memory(up, 3840, 2160, what="big.mp4", adapt=True, available=available)
    assert fitted is not up and fitted.model is up.model
    assert estimate_bytes(fitted, 3840, 2160) <= _USABLE * available
    # the tiles it chose give the untiled pixels (tiles overlap by the receptive margin)
    x = frames(2, 40, 56)
    fitted.tile = min(fitted.tile or 16, 24)
    assert np.abs(fitted(x).astype(int) - up(x).astype(int)).max() <= 1


@pytest.mark.slow
@pytest.mark.skipif(not openvino_status()[0], reason=openvino_status()[1])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_rungs_run_on_openvino_in_fp32_and_int8(precision: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    model = rung("edsr_fast", 2)
    ref = Upscaler(model, scale=2, device="cpu", precision="fp32", batch_size=1, channels_last=False)(frames())
    up = Upscaler(model, scale=2, device="cpu", precision=precision, runtime="openvino", batch_size=2, tile=16)
    out = up(frames())
    assert up.runtime_report("openvino").running
    diff = np.abs(out.astype(int) - ref.astype(int))
    if precision == "fp32":
        assert diff.max() <= 1
    else:  # int8 rounds activations and weights: close, not equal
        assert diff.mean() < 3.0


def test_segmented_run_of_a_rung_equals_the_single_run(tmp_path: Path, make_video) -> None:
    src = make_video("in.mkv", frames=12, options={"g": "4"})
    model = rung("edsr_fast", 2)
    kw = dict(scale=2, model=model, precision="fp32", codec="ffv1", progress=False)
    upscale_video(src, tmp_path / "ref.mkv", **kw)
    stats = upscale_segmented(src, tmp_path / "seg.mkv", segment_frames=5, batch_size=2, **kw)
    assert stats.frames == 12 and stats.segments >= 2

    def decode(p: Path) -> np.ndarray:
        with VideoReader(p) as r:
            return np.concatenate([b.frames for b in r])

    np.testing.assert_array_equal(decode(tmp_path / "ref.mkv"), decode(tmp_path / "seg.mkv"))


# --------------------------------------------------------------------------- sizes and FLOPs
@pytest.mark.parametrize("preset", ["edsr_fast", "edsr_medium", "edsr_baseline"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_flop_formula_counts_every_convolution(preset: str, scale: int) -> None:
    model = get_model(preset, scale=scale).eval()
    macs = 0

    def hook(m: torch.nn.Conv2d, _inp: object, out: torch.Tensor) -> None:
        nonlocal macs
        macs += m.kernel_size[0] * m.kernel_size[1] * m.in_channels * out.numel()

    # the 3x3 convolutions: the 1x1 mean shifts at both ends are left out, as in the formula
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    with torch.no_grad():
        model(torch.rand(1, 3, 8, 10))
    for h in handles:
        h.remove()
    _, blocks, feats = PRESET_SHAPES[preset]
    assert edsr_mflop_per_pixel(blocks, feats, scale) == pytest.approx(2 * macs / 80 / 1e6)


def test_the_ladder_is_ordered_fastest_first() -> None:
    cost = [edsr_mflop_per_pixel(*PRESET_SHAPES[r.preset][1:], 2) for r in LADDER]
    assert cost == sorted(cost) and [r.name for r in LADDER] == ["fast", "default", "edsr"]
    # the fastest rung costs at most a sixth of the default's FLOPs
    assert cost[0] * 6 < cost[1]


@pytest.mark.parametrize("flags,isa,kind", [
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, None, "amx"),
    ({"avx2", "avx512f", "avx512_bf16"}, None, "avx512_bf16"),
    ({"avx2", "avx512f"}, None, "avx512"),
    ({"avx2", "fma"}, None, "avx2"),
    ({"avx2", "avx512f", "avx512_bf16"}, "AVX2", "avx2"),
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AVX512_CORE_BF16", "avx512_bf16"),
    ({"avx2", "avx512f", "avx512_bf16"}, "AVX512_CORE", "avx512"),
    (set(), None, "other"),
])
def test_cpu_kind_follows_the_flags_and_the_kernel_limit(flags: set[str], isa: str | None, kind: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cpu, "cpu_info", lambda: ("test cpu", frozenset(flags)))
    if isa is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert _cpu.cpu_kind() == kind


# --------------------------------------------------------------------------- names
def fake_weights(*entries: tuple[str, str, int]) -> dict[str, BundledWeights]:
    out = {}
    for name, rung_name, scale in entries:
        out[name] = BundledWeights(name=name, file=f"{name}.pt", sha256="0" * 64, rung=rung_name, params=1,
                                   config={"arch": "edsr", "n_resblocks": 8, "n_feats": 32, "res_scale": 1.0,
                                           "scales": [scale]}, default_for=(scale,) if rung_name == "" else ())
    return out


def test_rung_names_pick_the_bundled_weights_of_the_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    weights = fake_weights(("fast_x2", "fast", 2), ("fast_x4", "fast", 4), ("base_x2", "", 2), ("base_x3", "", 3))
    monkeypatch.setattr(_ladder, "bundled_weights", lambda: weights)
    monkeypatch.setattr(_ladder, "default_model_name", lambda s: {2: "base_x2", 3: "base_x3"}[s])
    assert bundled_rung_name("fast", 4) == "fast_x4"
    assert bundled_rung_name("edsr_fast", 2) == "fast_x2"  # the preset name of a rung without official weights
    assert bundled_rung_name("default", 2) == "base_x2"
    with pytest.raises(CheckpointError, match=r"no bundled fast model for x3 \(it has x2, x4\); use --model default"):
        bundled_rung_name("fast", 3)
    for name in ("edsr", "edsr_medium", "medium"):  # the official model is downloaded; a preset is no rung
        with pytest.raises(CheckpointError, match="not a rung"):
            bundled_rung_name(name, 2)


def test_load_model_and_the_cli_take_rung_names() -> None:
    for scale in (2, 4):
        for name, preset in (("fast", "edsr_fast"), ("edsr_fast", "edsr_fast"), ("default", "edsr_baseline")):
            model = load_model(name, scale=scale)
            assert (model.config["n_resblocks"], model.config["n_feats"]) == PRESET_SHAPES[preset][1:]
            assert model.config["scales"] == [scale]
    with pytest.raises(CheckpointError, match="needs a scale"):
        load_model("fast")
    with pytest.raises(CheckpointError, match="edsr_medium is an architecture preset with no trained weights"):
        load_model("edsr_medium", scale=2)


def test_upscale_with_model_fast(tmp_path: Path, make_video) -> None:
    src = make_video("clip.mp4", frames=3, size=(32, 24))
    res = CliRunner().invoke(cli, ["upscale", str(src), "-s", "2", "--model", "fast", "-o", str(tmp_path / "o.mp4")])
    assert res.exit_code == 0, res.output
    with VideoReader(tmp_path / "o.mp4") as r:
        assert (r.info.width, r.info.height, r.info.num_frames) == (64, 48, 3)


def test_vsr_models_lists_every_rung_with_scores_and_this_cpu_kinds_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ladder, "_speeds", lambda: {"avx2": {
        "cpu": "Test CPU", "date": "2026-12-07", "size": "320x180", "precision": "fp32",
        "fps_model": {"x2": {"fast": 9.5, "medium": 4.25, "default": 1.5, "edsr": 0.05}}}})
    monkeypatch.setattr(vsr._core, "cpu_kind", lambda: "avx2")
    res = CliRunner().invoke(cli, ["models"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Speed/quality ladder"))
    assert "measured on AVX2 only (Test CPU, 2026-12-07" in lines[head]
    rows = {line.split()[0]: line for line in lines[head + 2 : head + 5]}
    assert list(rows) == ["fast", "default", "edsr"]
    assert "9.50" in rows["fast"] and "0.05" in rows["edsr"] and "*" in rows["edsr"] and "4.25" not in res.output
    # every bundled rung shows its measured Set5 PSNR at x2 and x4
    for name in ("fast", "default"):
        assert len([c for c in rows[name].split() if c.replace(".", "").isdigit() and 25 < float(c) < 40]) >= 2


# --------------------------------------------------------------------------- projections
def test_projection_scales_the_measured_frame_by_recorded_ratios(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_projection, "cpu_kind", lambda: "avx2")
    monkeypatch.setattr(_projection, "recorded_speeds", lambda kind: {
        "cpu": "Test CPU", "date": "2026-12-07", "fps_model": {"x2": {"fast": 10.0, "default": 2.0, "edsr": 0.1}}})
    monkeypatch.setattr(_projection, "bundled_rung_name", lambda name, scale: f"{name}_x{scale}")
    p = project_ladder(get_model("edsr_baseline", scale=2), 2, "cpu", frame_seconds=0.5, frames=100)
    assert p is not None and p.chosen == "default"
    assert dict(p.seconds) == pytest.approx({"fast": 10.0, "default": 50.0, "edsr (official)": 1000.0})
    assert "measured on avx2 CPUs (Test CPU, 2026-12-07)" in p.basis
    text = p.text(lambda s: f"{s:.0f}s")
    assert text.startswith("fast 10s, default 50s (this run), edsr (official) 1000s [")

    def no_fast(name: str, scale: int) -> str:
        if name == "fast":
            raise CheckpointError("no bundled fast model for x2")
        return name

    # a rung without weights at this scale cannot be picked: it is left out
    monkeypatch.setattr(_projection, "bundled_rung_name", no_fast)
    p = project_ladder(get_model("edsr_baseline", scale=2), 2, "cpu", frame_seconds=0.5, frames=100)
    assert p is not None and [name for name, _ in p.seconds] == ["default", "edsr (official)"]


def test_projection_falls_back_to_flops_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_projection, "recorded_speeds", lambda kind: None)
    monkeypatch.setattr(_projection, "bundled_rung_name", lambda name, scale: f"{name}_x{scale}")
    p = project_ladder(get_model("edsr_fast", scale=4), 4, "cpu", frame_seconds=1.0, frames=10)
    assert p is not None and p.chosen == "fast"
    seconds = dict(p.seconds)
    assert seconds["fast"] == pytest.approx(10.0)
    assert seconds["default"] / seconds["fast"] == pytest.approx(
        edsr_mflop_per_pixel(16, 64, 4) / edsr_mflop_per_pixel(8, 32, 4))
    assert "scaled by FLOPs" in p.basis
    assert project_ladder(get_model("mdsr_baseline"), 2, "cpu", 1.0, 10) is None


def test_recorded_speeds_file_is_valid_when_present() -> None:
    if not _ladder.SPEEDS_FILE.is_file():
        pytest.skip(f"{_ladder.SPEEDS_FILE} not recorded yet")
    record = json.loads(_ladder.SPEEDS_FILE.read_text(encoding="utf-8"))
    for kind, entry in record.items():
        assert kind in _cpu.CPU_KINDS
        for field in ("fps_model", "fps_e2e"):
            for by_rung in entry[field].values():
                assert {r.name for r in LADDER} <= set(by_rung) and all(v > 0 for v in by_rung.values())
                fps = [by_rung[r.name] for r in LADDER if r.name in by_rung]
                assert fps == sorted(fps, reverse=True)  # a larger rung is never measured faster
