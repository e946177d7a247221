"""The OpenVINO runtime: fp32 with the pixels of untiled fp32 eager, int8 with vsr's recipe, the IR exported once
and cached without telemetry, a clean fallback, a plan candidate."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr import Upscaler
from vsr.inference import _autotune, _openvino, _plans, _upscaler
from vsr.inference._openvino import OpenVINOForward, ir_path, openvino_status
from vsr.inference._plans import ExecutionPlan, PlanKey, save_plan

from _models import make_tiny_model

needs_openvino = pytest.mark.skipif(not openvino_status()[0], reason=openvino_status()[1])


def tiny(name: str = "edsr_baseline", scale: int = 2, seed: int = 0) -> torch.nn.Module:
    return make_tiny_model(name, scale=scale, seed=seed, n_resblocks=2).eval()


def frames(n: int = 3, h: int = 21, w: int = 35, seed: int = 0) -> np.ndarray:
    """Odd sizes and an odd count: edge tiles and a last batch smaller than the plan's."""
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.slow
@needs_openvino
@pytest.mark.parametrize("name,scale", [("edsr_baseline", 3), ("mdsr_baseline", 4)])
@pytest.mark.parametrize("plan,ensemble", [
    (ExecutionPlan(batch_size=2, runtime="openvino"), False),
    (ExecutionPlan(batch_size=1, channels_last=False, tile=16, runtime="openvino"), False),
    (ExecutionPlan(batch_size=2, tile=16, runtime="openvino"), True),
], ids=["batch2", "tiled", "tiled-ensemble"])
def test_openvino_plan_matches_untiled_fp32_eager_within_one_level(
    name: str, scale: int, plan: ExecutionPlan, ensemble: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    model = tiny(name, scale)
    ref = Upscaler(model, scale=scale, device="cpu", precision="fp32", batch_size=1, channels_last=False,
                   self_ensemble=ensemble)(frames())
    up = Upscaler(model, scale=scale, device="cpu", precision="fp32", self_ensemble=ensemble)
    up.apply_plan(plan)
    out = up(frames())
    report = up.runtime_report("openvino")
    assert report is not None and report.running and report.setup_seconds is not None
    assert out.shape == ref.shape == (3, 21 * scale, 35 * scale, 3)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


@needs_openvino
def test_ir_is_converted_once_and_keyed_by_the_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import openvino as ov

    model = tiny()
    x = torch.rand(1, 3, 12, 10) * 255
    first = OpenVINOForward(model, 2, cache=tmp_path)
    y1 = first(x)
    path = ir_path(model, 2, tmp_path)
    assert path.exists() and path.with_suffix(".bin").exists()
    # fp32 forced: on a CPU with native bf16 the plugin's default would be bf16 (other pixels)
    assert first._compiled[tuple(x.shape)].get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial")] == []

    def no_conversion(*a: object, **k: object) -> None:
        raise AssertionError("converted again despite a cached IR")

    monkeypatch.setattr(_openvino, "export_onnx", no_conversion)
    again = OpenVINOForward(model, 2, cache=tmp_path)
    assert torch.equal(again(x), y1) and again.active
    assert ir_path(tiny(seed=1), 2, tmp_path) != path and ir_path(model, 3, tmp_path) != path
    int8 = ir_path(model, 2, tmp_path, "int8")
    assert int8 != path and ir_path(model, 2, tmp_path, "int8", keep=["head"]) not in (int8, path)


def test_missing_openvino_falls_back_to_eager_with_one_line(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                                             tmp_path: Path) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_openvino.importlib.util, "find_spec", lambda name: None)
    ok, why = openvino_status()
    assert not ok and "pip install 'vsr[cpu-openvino]'" in why
    model = tiny()
    with caplog.at_level(logging.WARNING):
        up = Upscaler(model, scale=2, device="cpu", precision="fp32")
        up.apply_plan(ExecutionPlan(runtime="openvino"))
        out = up(frames(2))
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "not installed" in lines[0] and "eagerly" in lines[0]
    assert not up.runtime_report("openvino").running  # type: ignore[union-attr]
    assert np.array_equal(out, Upscaler(model, scale=2, device="cpu", precision="fp32")(frames(2)))


@needs_openvino
def test_conversion_failure_falls_back_to_eager(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("unsupported op\nmore detail")

    monkeypatch.setattr(_openvino, "export_onnx", broken)
    model = tiny()
    fwd = OpenVINOForward(model, 2, cache=None)
    x = torch.rand(1, 3, 8, 8) * 255
    with caplog.at_level(logging.WARNING), torch.inference_mode():
        y = fwd(x)
        assert torch.equal(y, model(x, 2))
    assert fwd.fallback_reason == "RuntimeError: unsupported op" and not fwd.active


@pytest.mark.slow
@needs_openvino
def test_long_run_times_openvino_against_the_eager_winner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "/nonexistent/g++")  # no compiled candidate: only OpenVINO joins the second round
    monkeypatch.setattr(_autotune, "worth_compiling", lambda *a: True)  # a tiny model never pays for set-up on its own
    model = tiny()
    up = Upscaler(model, scale=2, device="cpu", precision="fp32")
    decision = up.prepare(35, 21, frames=5000)
    assert decision.source == "measure"
    ref = Upscaler(model, scale=2, device="cpu", precision="fp32", batch_size=1, channels_last=False)
    for i in range(2 * len(decision.candidates) + 4):
        f = frames(4, seed=i)
        assert np.abs(up(f).astype(int) - ref(f).astype(int)).max() <= 1
    assert not up.measuring and up.decision.source == "cached"
    rec = json.loads(next((tmp_path / "plans").glob("*.json")).read_text())
    assert any(name.endswith("openvino") for name in rec["timings"])
    assert rec["fallback"]["runtime"] == "eager"


@pytest.mark.slow
@needs_openvino
def test_a_run_too_short_for_compiling_still_measures_openvino(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each runtime is offered when the rest of the run pays for its own set-up (OpenVINO's is seconds, inductor's tens)."""
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", sys.executable)  # a compiler "exists": only the set-up guess keeps compiled out
    monkeypatch.setitem(_autotune.SETUP_SECONDS_GUESS, "compiled", 1e9)
    monkeypatch.setitem(_autotune.SETUP_SECONDS_GUESS, "openvino", 1e-6)
    model = tiny()
    up = Upscaler(model, scale=2, device="cpu", precision="fp32")
    assert up.prepare(35, 21, frames=5000).source == "measure"
    for i in range(40):
        up(frames(4, seed=i))
        if not up.measuring and up.decision.source == "cached":
            break
    rec = json.loads(next((tmp_path / "plans").glob("*.json")).read_text())
    assert any(name.endswith("openvino") for name in rec["timings"])
    assert not any(name.endswith("compiled") for name in rec["timings"])


def test_cached_openvino_plan_runs_eagerly_without_openvino(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_autotune, "openvino_status", lambda: (False, "openvino is not installed"))
    model = tiny()
    key = PlanKey(model=_plans.model_signature(model), scale=2, width=35, height=21, device="cpu", precision="fp32")
    fast = ExecutionPlan(batch_size=2, runtime="openvino")
    save_plan(key, fast, fallback=dataclasses.replace(fast, runtime="eager"),
              timings={fast.describe(): 0.01}, compile_seconds=2.0)
    up = Upscaler(model, scale=2, device="cpu", precision="fp32")
    d = up.prepare(35, 21, frames=100000)
    assert up.plan == ExecutionPlan(batch_size=2) and "eager because openvino is not installed" in d.reason
    assert ExecutionPlan.from_json(fast.to_json()) == fast and fast.describe().endswith("openvino")


def test_runtime_choice_is_validated_and_openvino_means_fp32_bf16_or_int8(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsr._core._device import resolve_precision
    from vsr.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="contradicts"):
        Upscaler(tiny(), scale=2, device="cpu", compile=True, runtime="openvino")
    with pytest.raises(UnsupportedError, match="runs fp32, bf16 or int8"):
        Upscaler(tiny(), scale=2, device="cpu", precision="fp16", runtime="openvino")
    with pytest.raises(UnsupportedError, match="runs on the CPU, not cuda"):  # where auto would mean fp16
        _upscaler._runtime_choice(None, "openvino", "auto", torch.device("cuda"))
    with pytest.raises(UnsupportedError, match="not eagerly"):
        Upscaler(tiny(), scale=2, device="cpu", precision="int8", runtime="eager")
    # int8 runs on OpenVINO when it is installed (faster and closer to fp32 in every measurement), else torchao
    monkeypatch.setattr(_openvino, "openvino_status", lambda: (True, "openvino"))
    assert Upscaler(tiny(), scale=2, device="cpu", precision="int8").plan.runtime == "openvino"
    monkeypatch.setattr(_openvino, "openvino_status", lambda: (False, "openvino is not installed"))
    assert Upscaler(tiny(), scale=2, device="cpu", precision="int8").plan.runtime == "compiled"
    with pytest.raises(UnsupportedError, match="runtime must be one of"):
        Upscaler(tiny(), scale=2, device="cpu", runtime="tensorrt")
    # auto means what it means on the other runtimes: bf16 where the CPU has it natively, else fp32
    up = Upscaler(tiny(), scale=2, device="cpu", precision="auto", runtime="openvino")
    assert up.precision == resolve_precision("auto", torch.device("cpu"))
    assert up.plan.runtime == "openvino" and "runtime" in up.pinned
    assert Upscaler(tiny(), scale=2, device="cpu", precision="bf16", runtime="openvino").precision == "bf16"
    assert Upscaler(tiny(), scale=2, device="cpu", compile=False).plan.runtime == "eager"


@needs_openvino
def test_cli_runtime_openvino_upscales_a_video_like_eager(tmp_path: Path, make_video, monkeypatch: pytest.MonkeyPatch) -> None:
    import av
    from click.testing import CliRunner

    from vsr.cli import cli
    from vsr.models import save_model

    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))
    ckpt = save_model(tiny(), tmp_path / "tiny_x2.pt")
    src = make_video("clip.mkv", frames=5, size=(40, 24), codec="ffv1", pix_fmt="bgr0")
    outs = []
    for runtime in ("eager", "openvino"):
        dst = tmp_path / f"{runtime}.mkv"
        r = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(dst), "-s", "2", "-m", str(ckpt), "--runtime", runtime,
                                     "--codec", "ffv1", "--pix-fmt", "bgr0", "--precision", "fp32"])
        assert r.exit_code == 0, r.output
        with av.open(str(dst)) as c:
            outs.append(np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]))
    assert outs[0].shape == outs[1].shape == (5, 48, 80, 3)
    assert np.abs(outs[0].astype(int) - outs[1].astype(int)).max() <= 1
    assert list((tmp_path / "cache" / "openvino").glob("*.xml"))


needs_bf16_plugin = pytest.mark.skipif(not openvino_status()[0] or not _openvino.plugin_has_bf16(),
                                       reason="OpenVINO's CPU plugin has no native bf16 on this CPU")


@needs_bf16_plugin
@pytest.mark.parametrize("name,scale", [("edsr_baseline", 3), ("mdsr_baseline", 4)])
def test_openvino_bf16_is_as_close_to_fp32_as_eager_bf16(name: str, scale: int, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """bf16 inference on the fp32 IR: the plugin really runs bf16, with the error of torch's bf16 autocast, tiled too."""
    import openvino as ov

    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    model = tiny(name, scale)
    ref = Upscaler(model, scale=scale, device="cpu", precision="fp32", batch_size=1, channels_last=False)(frames())
    eager = Upscaler(model, scale=scale, device="cpu", precision="bf16")(frames())
    for plan in (ExecutionPlan(batch_size=2, runtime="openvino"), ExecutionPlan(batch_size=1, tile=16, runtime="openvino")):
        up = Upscaler(model, scale=scale, device="cpu", precision="bf16")
        up.apply_plan(plan)
        out = up(frames())
        fwd = up._openvino
        assert fwd.active and fwd.precision == "bf16"
        assert all(c.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16 for c in fwd._compiled.values())
        err = np.abs(out.astype(int) - ref.astype(int))
        eager_err = np.abs(eager.astype(int) - ref.astype(int))
        assert 0 < err.mean() < 2 * eager_err.mean() + 0.05 and err.max() <= max(8, 2 * eager_err.max())
    # The bf16 plan shares the fp32 IR: one conversion, one cache entry
    assert len(list((tmp_path / "openvino").glob("*.xml"))) == 1


@needs_openvino
def test_openvino_bf16_without_the_plugin_s_bf16_runs_eager_bf16(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Never emulated by OpenVINO: one line, then the model runs under torch's bf16 autocast (what eager bf16 gives)."""
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_openvino, "plugin_has_bf16", lambda: False)
    model = tiny()
    up = Upscaler(model, scale=2, device="cpu", precision="bf16", runtime="openvino")
    with caplog.at_level(logging.WARNING):
        out = up(frames())
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "OpenVINO" in r.getMessage()]
    assert len(lines) == 1 and "no native bf16" in lines[0] and "eagerly in bf16" in lines[0]
    assert not up.runtime_report("openvino").running  # type: ignore[union-attr]
    eager = Upscaler(model, scale=2, device="cpu", precision="bf16", channels_last=False, batch_size=up.batch_size)
    assert np.array_equal(out, eager(frames()))


@pytest.mark.parametrize("precision,native,offered", [
    ("fp32", False, True), ("bf16", True, True), ("bf16", False, False), ("int8", True, False),
])
def test_openvino_is_a_runtime_candidate_in_fp32_and_in_native_bf16(
    precision: str, native: bool, offered: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_autotune, "cpu_has_native_bf16", lambda: native)
    got = _autotune._runtime_candidates(ExecutionPlan(batch_size=2), precision, compiler=(False, "no compiler"), openvino=True,
                                        pays=lambda runtime: runtime == "openvino")
    assert got == ([ExecutionPlan(batch_size=2, runtime="openvino")] if offered else [])


@pytest.mark.slow
@needs_openvino
def test_export_never_sends_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """openvino.convert_model reports usage unless the user opted out; vsr's export path (ONNX, read_model) must not."""
    import openvino as ov

    sent: list[object] = []
    try:
        from openvino_telemetry.utils import sender
    except ImportError:
        pass
    else:
        monkeypatch.setattr(sender.TelemetrySender, "send", lambda *a, **k: sent.append(a))

    def forbidden(*a: object, **k: object) -> None:
        raise AssertionError("openvino.convert_model sends telemetry")

    monkeypatch.setattr(ov, "convert_model", forbidden)
    for precision in ("fp32", "int8"):
        fwd = OpenVINOForward(tiny(), 2, cache=None, precision=precision)
        fwd(torch.rand(1, 3, 12, 10) * 255)
        assert fwd.active, fwd.fallback_reason
    assert sent == []


@pytest.mark.slow
def test_fake_quantized_weights_are_7_bit_and_edges_stay_fp32() -> None:
    """u8 x s8 pair sums must fit the int16 of non-VNNI kernels: |w| <= 63, as for the torchao recipe."""
    from vsr.inference._int8 import _FakeQuantConv, edge_layers, fake_quantized

    for name, scale, upsampler in (("edsr_baseline", 2, "tail.0.0"), ("mdsr_baseline", 3, "upsample.1.0")):
        model = tiny(name, scale)
        q = fake_quantized(model, scale)
        fq = {n: m for n, m in q.model.named_modules() if isinstance(m, _FakeQuantConv)}
        kept = tuple(f"{k}." for k in edge_layers(model, outputs_rounded=False)) + tuple(edge_layers(model, outputs_rounded=False))
        assert fq and not any(n.startswith(kept) for n in fq)
        assert upsampler in fq and "body.0.body.0" in fq and "body.2" in fq and "head.0" not in fq
        for m in fq.values():
            ints = torch.round(m.conv.weight / m.w_scale[:, None, None, None])
            assert ints.abs().max() <= 63 and 0 <= m.act_zero <= 255
        x = torch.rand(2, 3, 11, 13) * 255
        with torch.no_grad():
            assert (q(x) - model(x, scale)).abs().mean() < 2.0  # fake quantization only rounds


@pytest.mark.slow
@needs_openvino
@pytest.mark.parametrize("name,scale", [("edsr_baseline", 3), ("mdsr_baseline", 4)])
def test_openvino_int8_is_the_fake_quantized_model_under_every_plan(
    name: str, scale: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """Tiles, self-ensemble, odd sizes and a short last batch give the int8 pixels of one whole-frame int8 call."""
    from vsr.inference._int8 import fake_quantized

    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    model = tiny(name, scale)
    x = torch.from_numpy(frames()).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        ref_q = fake_quantized(model, scale)(x).clamp(0, 255).round()
    whole = Upscaler(model, scale=scale, device="cpu", precision="int8", runtime="openvino")
    out = torch.from_numpy(whole(frames())).permute(0, 3, 1, 2).float()
    assert whole.runtime_report("openvino").running and whole._openvino.precision == "int8"
    # OpenVINO's int8 kernels compute what the fake-quantized float graph describes (rounding apart)
    assert (out - ref_q).abs().mean() < 0.05 and (out - ref_q).abs().max() <= 2
    for batch, tile, ensemble in ((2, 16, False), (1, 16, True)):
        up = Upscaler(model, scale=scale, device="cpu", precision="int8", runtime="openvino", batch_size=batch, tile=tile,
                      self_ensemble=ensemble)
        got = up(frames())
        assert got.shape == (3, 21 * scale, 35 * scale, 3)
        if not ensemble:
            assert np.abs(got.astype(int) - out.permute(0, 2, 3, 1).numpy().astype(int)).max() <= 2


@pytest.mark.slow
@needs_openvino
def test_int8_on_openvino_measures_its_plans_and_caches_the_winner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Batch sizes are timed as for fp32 (after the base plan, once the run pays for compiling their shapes)."""
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_autotune, "worth_compiling", lambda *a: True)
    model = tiny()
    up = Upscaler(model, scale=2, device="cpu", precision="int8")
    assert up.plan.runtime == "openvino" and "batch_size" not in up.pinned
    # A long run: each shape's compilation costs the tiny model ~100 frames' time, which the 5% budget must cover.
    decision = up.prepare(35, 21, frames=10**6)
    assert decision.source == "measure"
    sizes = sorted(c.batch_size for c in decision.candidates)
    assert sizes == [1, 2, 4] and {c.runtime for c in decision.candidates} == {"openvino"}
    ref = Upscaler(model, scale=2, device="cpu", precision="int8", batch_size=1)  # never prepared: no measuring
    for i in range(2 * len(decision.candidates) + 2):
        f = frames(4, seed=i)
        assert np.abs(up(f).astype(int) - ref(f).astype(int)).max() <= 2
    assert not up.measuring and up.decision.source == "cached"
    rec = json.loads(next((tmp_path / "plans").glob("*.json")).read_text())
    assert len(rec["timings"]) == 3 and all(name.endswith("openvino") for name in rec["timings"])
    assert rec["key"]["precision"] == "int8" and len(up.runtime_report("openvino").shape_seconds) >= 3
    again = Upscaler(model, scale=2, device="cpu", precision="int8")
    assert again.prepare(35, 21, frames=10**6).source == "cached" and again.plan == up.plan


@pytest.mark.slow
@needs_openvino
def test_int8_on_openvino_measures_nothing_more_when_compiling_shapes_does_not_pay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    paid = []
    monkeypatch.setattr(_autotune, "worth_compiling", lambda *a: paid.append(a) and False)
    model = tiny()
    up = Upscaler(model, scale=2, device="cpu", precision="int8")
    assert up.prepare(35, 21, frames=5000).source == "measure"
    for i in range(3):
        up(frames(4, seed=i))
    assert not up.measuring and up.plan.batch_size == 2
    assert up.decision.source == "default" and "does not pay for compiling 2 more input shapes" in up.decision.reason
    assert not (tmp_path / "plans").exists() and len(up.runtime_report("openvino").shape_seconds) == 1
    # The question asked: do the 5000 - 8 frames left, at the base plan's speed, pay for compiling 2 shapes?
    (left, per_frame, cost), = paid
    assert left == 4992 and 0 < per_frame < 1 and cost == pytest.approx(2 * up.runtime_report("openvino").shape_seconds[0])


def test_int8_on_torchao_keeps_a_fixed_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_autotune, "openvino_status", lambda: (False, "openvino is not installed"))
    up = Upscaler(tiny(), scale=2, device="cpu", precision="int8", runtime="compiled")
    d = up.prepare(35, 21, frames=100000)
    assert d.source == "pinned" and "int8 on torchao runs a fixed plan" in d.reason


_CTRL_C_AFTER_OPENVINO = """
import gc, signal, torch
from vsr.inference._openvino import OpenVINOForward
from vsr.models import get_model
torch.manual_seed(0)
model = get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=4).eval()
a, b = OpenVINOForward(model, 2), OpenVINOForward(model, 2)
a(torch.zeros(1, 3, 8, 8)); b(torch.zeros(1, 3, 8, 8))
del a; gc.collect(); del b; gc.collect()  # destroyed in the order they were compiled: not nested
try:
    signal.raise_signal(signal.SIGINT)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


@pytest.mark.slow
@needs_openvino
def test_ctrl_c_after_openvino_models_are_destroyed_raises_keyboard_interrupt() -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _CTRL_C_AFTER_OPENVINO], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "KeyboardInterrupt", (r.returncode, r.stderr[-500:])


def test_ir_cache_drops_least_recently_used_entries_and_what_killed_saves_left(tmp_path: Path) -> None:
    """Old recipes and OpenVINO versions leave entries nobody reads again: the cache stays under its budget."""
    now = time.time()

    def entry(name: str, size: int, used_days_ago: float) -> Path:
        xml = tmp_path / f"{name}.xml"
        xml.write_bytes(b"x" * 10)
        xml.with_suffix(".bin").write_bytes(b"b" * size)
        t = now - used_days_ago * 86400
        os.utime(xml, (t, t))
        return xml

    old, recent, newest = entry("old", 400, 3), entry("recent", 400, 1), entry("newest", 400, 0)
    forgotten = entry("forgotten", 10, 31)  # small, but unused for longer than UNUSED_SECONDS
    orphan = tmp_path / "orphan.bin"  # a save killed between its two renames
    orphan.write_bytes(b"b" * 50)
    os.utime(orphan, (now - 7200, now - 7200))
    saving = tmp_path / "saving.bin"  # another process's save in progress
    saving.write_bytes(b"b" * 50)
    partial = tmp_path / ".partial-abc"
    partial.mkdir()
    os.utime(partial, (now - 7200, now - 7200))
    _openvino._prune_cache(tmp_path, keep=newest, budget=900)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["newest.bin", "newest.xml", "recent.bin", "recent.xml", "saving.bin"]
    assert not old.exists() and not forgotten.exists() and not orphan.exists() and not partial.exists()
    # under budget and recently used: nothing goes; the entry just written stays even when it alone is over budget
    _openvino._prune_cache(tmp_path, keep=newest, budget=10**6)
    assert recent.exists()
    _openvino._prune_cache(tmp_path, keep=newest, budget=1)
    assert newest.exists() and not recent.exists()


@needs_openvino
def test_reading_a_cached_ir_marks_it_used(tmp_path: Path) -> None:
    model = tiny()
    OpenVINOForward(model, 2, cache=tmp_path)(torch.rand(1, 3, 8, 8))
    path = ir_path(model, 2, tmp_path)
    os.utime(path, (1, 1))
    OpenVINOForward(model, 2, cache=tmp_path)(torch.rand(1, 3, 8, 8))
    assert path.stat().st_mtime > time.time() - 600


@needs_openvino
def test_a_failing_cache_prune_does_not_stop_openvino(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(*a: object, **k: object) -> None:
        raise PermissionError("folder went away")

    monkeypatch.setattr(_openvino, "_prune_cache", broken)
    f = OpenVINOForward(tiny(), 2, cache=tmp_path)
    f(torch.rand(1, 3, 8, 8))
    assert f.active and ir_path(f.model, 2, tmp_path).exists()
