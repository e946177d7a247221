"""Execution plans: every plan computes the same pixels, measured plans are cached by key, tuning only for long inputs."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.inference import _plans
from vsr._core import _cache
from vsr.inference._autotune import worth_compiling
from vsr.inference._compiled import CompiledForward, compiler_status
from vsr.inference._plans import ExecutionPlan, PlanKey, Tuner, load_plan, save_plan, should_tune, tuning_candidates
from vsr import Upscaler

from _models import make_tiny_model


def tiny(name: str = "edsr_baseline", scale: int = 2) -> torch.nn.Module:
    return make_tiny_model(name, scale=scale, n_resblocks=2).eval()


def frames(n: int = 4, h: int = 21, w: int = 35, seed: int = 0) -> np.ndarray:
    """Odd-sized random frames: odd sizes exercise the edge tiles."""
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


PLANS = [
    ExecutionPlan(batch_size=1, channels_last=True),
    ExecutionPlan(batch_size=2, channels_last=False),
    ExecutionPlan(batch_size=4, channels_last=True, tile=16),
    ExecutionPlan(batch_size=3, channels_last=False, tile=16, threads=1),
]


@pytest.mark.parametrize("name,scale", [("edsr_baseline", 3), ("mdsr_baseline", 4)])
@pytest.mark.parametrize("ensemble", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["plain", "ensemble"])
@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.describe().replace(" ", ""))
def test_every_plan_matches_untiled_fp32_eager_within_one_level(name: str, scale: int, ensemble: bool, plan: ExecutionPlan) -> None:
    model = tiny(name, scale)
    ref = Upscaler(model, scale=scale, device="cpu", precision="fp32", batch_size=1, channels_last=False,
                   self_ensemble=ensemble)(frames())
    up = Upscaler(model, scale=scale, device="cpu", precision="fp32", self_ensemble=ensemble)
    up.apply_plan(plan)
    out = up(frames())
    assert out.shape == ref.shape == (4, 21 * scale, 35 * scale, 3)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


@pytest.mark.slow
@pytest.mark.skipif(not compiler_status()[0], reason="no C++ compiler for torch.compile")
def test_compiled_plan_matches_eager_within_one_level() -> None:
    model = tiny()
    ref = Upscaler(model, scale=2, device="cpu", precision="fp32", batch_size=1, channels_last=False)(frames(2))
    up = Upscaler(model, scale=2, device="cpu", precision="fp32", compile=True, batch_size=2)
    out = up(frames(2))
    report = up.runtime_report("compiled")
    assert report is not None and report.running and report.setup_seconds is not None
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_missing_compiler_falls_back_to_eager_with_one_line(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    ok, why = compiler_status()
    assert not ok and "/nonexistent/g++" in why
    model = tiny()
    with caplog.at_level(logging.WARNING):
        up = Upscaler(model, scale=2, device="cpu", precision="fp32", compile=True)
        out = up(frames(2))
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "no C++ compiler" in lines[0] and "eagerly" in lines[0]
    report = up.runtime_report("compiled")
    assert report is not None and not report.running
    ref = Upscaler(model, scale=2, device="cpu", precision="fp32")(frames(2))
    assert np.array_equal(out, ref)


def test_compile_failure_at_first_call_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    model = tiny()
    comp = CompiledForward(model, 2)

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("linker exploded\nsecond line")

    comp._fn = broken
    x = torch.rand(1, 3, 8, 8) * 255
    with caplog.at_level(logging.WARNING):
        y = comp(x)
    assert comp.fallback_reason == "RuntimeError: linker exploded"
    assert torch.equal(y, model(x, 2))


def test_single_images_and_short_clips_are_never_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_plans.TUNE_ENV, raising=False)
    assert should_tune(1, 4, 4) == (False, should_tune(1, 4, 4)[1])
    assert "single image" in should_tune(1, 4, 4)[1] and not should_tune(1, 4, 4)[0]
    assert not should_tune(100, 4, 4)[0]
    assert not should_tune(None, 4, 4)[0]
    assert should_tune(2000, 4, 4)[0]
    monkeypatch.setenv(_plans.TUNE_ENV, "0")
    assert not should_tune(10**6, 4, 4)[0]


def test_candidates_keep_pinned_choices_and_tile_only_large_frames() -> None:
    base = ExecutionPlan(batch_size=4, channels_last=True)
    small = tuning_candidates(base, width=320, height=180, margin=36, pinned=[], max_batch=4, cpus=2)
    assert small[0] == base and {p.batch_size for p in small} == {1, 2, 4}
    assert all(p.tile is None and p.threads == 0 for p in small)
    assert any(not p.channels_last for p in small)
    big = tuning_candidates(base, width=1920, height=1080, margin=36, pinned=[], max_batch=4, cpus=8)
    assert any(p.tile for p in big) and any(p.threads == 7 for p in big)
    pinned = tuning_candidates(base, width=1920, height=1080, margin=36, pinned=["batch_size", "tile", "channels_last", "threads"],
                               max_batch=4, cpus=8)
    assert pinned == [base]


def test_tuner_keeps_every_output_and_picks_the_fastest() -> None:
    applied: list[ExecutionPlan] = []
    slow, fast = ExecutionPlan(batch_size=1), ExecutionPlan(batch_size=2)
    cost = {slow: 0.02, fast: 0.0}
    done: dict[str, object] = {}

    class Runner:  # the plan interface a tuner uses (vsr.inference._plans.PlanRunner)
        def apply_plan(self, plan: ExecutionPlan) -> None:
            applied.append(plan)

        def upscale_frames(self, x: np.ndarray) -> np.ndarray:
            import time

            time.sleep(cost[applied[-1]])
            return x * 2

    t = Tuner([slow, fast], runner=Runner(), frames_total=None,
              on_done=lambda w, timings, used: done.update(winner=w, timings=timings, used=used))
    outs = [t(np.full((2, 1, 1, 3), i)) for i in range(4)]
    assert t.done and done["winner"] == fast and applied[-1] == fast and done["used"] == 8
    assert [int(o[0, 0, 0, 0]) for o in outs] == [0, 2, 4, 6]


def test_long_video_measures_then_caches_by_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", "/nonexistent/g++")  # keep the test fast: no compiled candidate
    model = tiny()
    up = Upscaler(model, scale=2, device="cpu", precision="fp32")
    decision = up.prepare(35, 21, frames=5000)
    assert decision.source == "measure" and len(decision.candidates) >= 3
    ref = Upscaler(model, scale=2, device="cpu", precision="fp32", batch_size=1, channels_last=False)
    for i in range(2 * len(decision.candidates)):
        f = frames(seed=i)
        assert np.abs(up(f).astype(int) - ref(f).astype(int)).max() <= 1
    assert not up.measuring and up.decision.source == "cached"
    files = list((tmp_path / "cache" / "plans").glob("*.json"))
    assert len(files) == 1
    rec = json.loads(files[0].read_text())
    assert rec["key"]["width"] == 35 and rec["key"]["cpu"] == _plans.cpu_signature() and rec["key"]["torch"] == torch.__version__
    assert len(rec["timings"]) == len(decision.candidates)

    again = Upscaler(model, scale=2, device="cpu", precision="fp32")
    d2 = again.prepare(35, 21, frames=5000)
    assert d2.source == "cached" and again.plan == ExecutionPlan.from_json(rec["plan"]) and not again.measuring
    # an image of the same size reuses the measured plan; another size is a different key
    assert Upscaler(model, scale=2, device="cpu", precision="fp32").prepare(35, 21, frames=1).source == "cached"
    assert Upscaler(model, scale=2, device="cpu", precision="fp32").prepare(36, 21, frames=1).source == "default"
    # the user's explicit choices win over the cached ones
    pinned = Upscaler(model, scale=2, device="cpu", precision="fp32", batch_size=3)
    pinned.prepare(35, 21, frames=5000)
    assert pinned.batch_size == 3


def test_damaged_or_foreign_cache_records_are_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    key = PlanKey(model="EDSR(x)", scale=2, width=8, height=8, device="cpu", precision="fp32")
    path = save_plan(key, ExecutionPlan(batch_size=2), fallback=ExecutionPlan(), timings={"batch 2": 0.1})
    assert path is not None and load_plan(key)["plan"] == ExecutionPlan(batch_size=2)  # type: ignore[index]
    other = dataclasses.replace(key, cpu="another CPU")
    assert load_plan(other) is None
    path.write_text("{not json")
    assert load_plan(key) is None
    path.write_text(json.dumps({"format": _plans._FORMAT, "key": dataclasses.asdict(key), "plan": {"batch_size": -1}}))
    assert load_plan(key) is None
    # A record of an older format (e.g. measured before bf16 could run on OpenVINO) is measured again
    path.write_text(json.dumps({"format": _plans._FORMAT - 1, "key": dataclasses.asdict(key), "plan": ExecutionPlan().to_json(),
                                "fallback": ExecutionPlan().to_json(), "timings": {}}))
    assert load_plan(key) is None


def test_cache_dir_follows_xdg_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VSR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cache.cache_dir() == tmp_path / "xdg" / "vsr"
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "mine"))
    assert _cache.cache_dir() == tmp_path / "mine"


def test_cpu_signature_includes_isa_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = _plans.cpu_signature()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert _plans.cpu_signature() != plain and "ONEDNN_MAX_CPU_ISA=AVX2" in _plans.cpu_signature()


def test_compiling_pays_only_for_long_runs() -> None:
    assert not worth_compiling(100, 1.0, 30.0)
    assert worth_compiling(1000, 1.0, 30.0)
    assert not worth_compiling(None, 1.0, 30.0)


def test_forced_bf16_on_an_emulating_cpu_warns_with_the_measured_cost(monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    from vsr._core import _device

    monkeypatch.setattr(_device, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(_device, "emulated_slowdown", lambda dtype=torch.bfloat16: 6.5)
    assert _device.resolve_precision("auto", torch.device("cpu")) == "fp32"
    with caplog.at_level(logging.WARNING):
        _device.warn_if_emulated("bf16", torch.device("cpu"))
    assert "emulated" in caplog.text and "6.5x slower" in caplog.text


def test_cli_plan_prints_the_plan_and_why_and_writes_nothing(tmp_path: Path, make_video, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from vsr.cli import cli
    from vsr.models import save_model

    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))
    ckpt = save_model(tiny(), tmp_path / "tiny_x2.pt")
    src = make_video("clip.mp4", frames=6, size=(32, 24))
    r = CliRunner().invoke(cli, ["upscale", str(src), "-s", "2", "-m", str(ckpt), "--precision", "fp32", "--plan"])
    assert r.exit_code == 0, r.output
    assert re.search(r"\(32x24, 6 frames, \d+\.\d{3} bits per pixel, tiny_x2 x2, cpu, fp32\): "
                     r"plan: batch 1, channels_last, whole frames, eager", r.stdout), r.stdout
    assert "too short to measure" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "tiny_x2.pt"]  # no output, no cache entry
    # after a measurement is cached for this size, --plan shows it and where it came from
    key = PlanKey(model=_plans.model_signature(tiny()), scale=2, width=32, height=24, device="cpu", precision="fp32")
    save_plan(key, ExecutionPlan(batch_size=2, channels_last=False), fallback=ExecutionPlan(), timings={"batch 2, NCHW, whole frames, eager": 0.5})
    r = CliRunner().invoke(cli, ["upscale", str(src), "-s", "2", "-m", str(ckpt), "--precision", "fp32", "--plan"])
    assert "plan: batch 2, NCHW, whole frames, eager (measured " in r.stdout and "cached in" in r.stdout


def test_upscale_video_measures_plans_on_its_first_frames(tmp_path: Path, make_video, monkeypatch: pytest.MonkeyPatch) -> None:
    import av

    from vsr import upscale_video

    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    # Enough frames for every candidate's rounds (4 plans x 2 rounds x 4-frame batches = 32): with fewer, the
    # measurement finished only when timing noise stopped it early, and the clip could end before it did.
    src = make_video("clip.mkv", frames=40, size=(40, 24), codec="ffv1", pix_fmt="bgr0")

    def frames_of(path: Path) -> np.ndarray:
        with av.open(str(path)) as c:
            return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])

    monkeypatch.setenv(_plans.TUNE_ENV, "0")
    upscale_video(src, tmp_path / "plain.mkv", scale=2, model=tiny(), precision="fp32", codec="ffv1", pix_fmt="bgr0",
                  progress=False)
    assert not (tmp_path / "cache" / "plans").exists()
    monkeypatch.setenv(_plans.TUNE_ENV, "1")
    stats = upscale_video(src, tmp_path / "tuned.mkv", scale=2, model=tiny(), precision="fp32", codec="ffv1", pix_fmt="bgr0",
                          progress=False)
    assert stats.frames == 40 and len(list((tmp_path / "cache" / "plans").glob("*.json"))) == 1
    a, b = frames_of(tmp_path / "plain.mkv"), frames_of(tmp_path / "tuned.mkv")
    assert a.shape == b.shape == (40, 48, 80, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_plans_respect_the_memory_guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(_plans.TUNE_ENV, "1")
    up = Upscaler(tiny(), scale=2, device="cpu", precision="fp32")
    # what vsr.inference._memory.fit_in_memory returns when a frame does not fit: a copy that tiles
    fitted = up.fitted(up.batch_size, 16)
    d = fitted.prepare(64, 64, 5000, fits=lambda batch, tile: batch == 1)
    assert all(c.tile == 16 and c.batch_size == 1 for c in d.candidates) or d.source != "measure"
    # without the guard's change, candidates that would not fit are dropped
    d2 = up.prepare(64, 64, 5000, fits=lambda batch, tile: batch <= 2)
    assert d2.source == "measure" and max(c.batch_size for c in d2.candidates) == 2
