"""Frames that would not fit in memory: tiled automatically when no tile was asked for, else refused before
decoding with the flags that would fit."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from vsr.inference._memory import _SCRATCH, _USABLE, estimate_bytes, fit_in_memory
from vsr.inference._upscaler import Upscaler
from vsr.cli import cli
from vsr.errors import OutOfMemoryError
from vsr.models import get_model, save_model

from _models import make_tiny_model


@pytest.fixture
def upscaler() -> Upscaler:
    return Upscaler(make_tiny_model(), scale=2, device="cpu", precision="fp32", batch_size=4)


def test_the_estimate_grows_with_pixels_and_batch_and_tiles_bound_it(upscaler: Upscaler) -> None:
    one = estimate_bytes(upscaler, 640, 360, batch=1) - _SCRATCH
    assert estimate_bytes(upscaler, 1280, 720, batch=1) - _SCRATCH > 3.5 * one
    assert estimate_bytes(upscaler, 640, 360, batch=4) - _SCRATCH > 3.5 * one
    # ~2.3 floats x F x s^2 per LR pixel measured for EDSR-baseline x2 (F=64): 2.35 KB/pixel at fp32.
    wide = Upscaler(get_model("edsr_baseline", scale=2), scale=2, device="cpu", precision="fp32", batch_size=1)
    per_px = estimate_bytes(wide, 640, 360) / (640 * 360)
    assert 2300 < per_px < 3500
    # Tiles bound the activations; the float output frame stays (48 bytes per LR pixel at x2).
    big = estimate_bytes(wide, 7680, 4320)
    assert estimate_bytes(wide, 7680, 4320, tile=256) < big / 10


def _a_third(need: int) -> int:
    """Memory available such that a third of what ``need`` asks for above the fixed scratch may be planned."""
    return int((_SCRATCH + (need - _SCRATCH) // 3) / _USABLE)


def test_without_a_tile_asked_for_the_upscaler_adapts(upscaler: Upscaler, caplog: pytest.LogCaptureFixture) -> None:
    need = estimate_bytes(upscaler, 3840, 2160)
    assert fit_in_memory(upscaler, 3840, 2160, what="big.mp4", adapt=True, available=2 * need) is upscaler
    fitted = fit_in_memory(upscaler, 3840, 2160, what="big.mp4", adapt=True, available=_a_third(need))
    assert fitted is not upscaler and fitted.model is upscaler.model  # a copy: other inputs keep the whole frames
    assert (upscaler.tile, upscaler.batch_size) == (None, 4)
    assert estimate_bytes(fitted, 3840, 2160) <= _USABLE * _a_third(need)
    assert "big.mp4: 3840x2160 frames" in caplog.text and "same output, slower" in caplog.text
    with pytest.raises(OutOfMemoryError, match="big.mp4: .* on a machine with more memory"):
        fit_in_memory(upscaler, 3840, 2160, what="big.mp4", adapt=True, available=1000)


def test_the_same_output_comes_from_the_adapted_upscaler(upscaler: Upscaler) -> None:
    frames = torch.randint(0, 256, (3, 40, 56, 3), dtype=torch.uint8)
    fitted = fit_in_memory(upscaler, 56, 40, what="x", adapt=True, available=_a_third(estimate_bytes(upscaler, 56, 40)))
    assert fitted.tile is not None or fitted.batch_size == 1
    diff = (fitted(frames).int() - upscaler(frames).int()).abs().max().item()
    assert diff <= 1  # tiles overlap by the receptive margin: equal up to float rounding


def test_with_a_tile_asked_for_a_run_that_cannot_fit_is_refused_with_the_flags_that_fit(upscaler: Upscaler) -> None:
    upscaler.tile = 2048
    need = estimate_bytes(upscaler, 3840, 2160)
    with pytest.raises(OutOfMemoryError) as e:
        fit_in_memory(upscaler, 3840, 2160, what="big.mp4", adapt=False, available=_a_third(need))
    msg = str(e.value)
    assert msg.startswith("big.mp4: 3840x2160 frames at x2 (4 per batch, 2048-pixel tiles, fp32) need about") and "pass --tile" in msg
    assert isinstance(e.value, MemoryError)
    flags = re.search(r"pass (--tile (\d+))?( --batch-size 1)? \(", msg)
    assert flags is not None and flags.group(2)
    upscaler.tile = int(flags.group(2))
    upscaler.batch_size = 1 if flags.group(3) else upscaler.batch_size
    assert fit_in_memory(upscaler, 3840, 2160, what="big.mp4", adapt=False, available=_a_third(need)) is upscaler  # it fits
    assert fit_in_memory(upscaler, 7680, 4320, what="big.mp4", adapt=False, available=None) is upscaler  # unknown: no refusal


def test_cli_adapts_or_refuses_before_writing_anything(
    make_video: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upscaler: Upscaler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    src = make_video("in.mp4", frames=3, size=(64, 48))
    model = save_model(upscaler.model, tmp_path / "tiny.pt")
    need = estimate_bytes(upscaler, 64, 48)
    monkeypatch.setattr("vsr.inference._memory.available_bytes", lambda device: _a_third(need))
    args = ["upscale", str(src), "-s", "2", "-m", str(model), "--device", "cpu", "--precision", "fp32", "--batch-size", "4", "-q"]
    r = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "auto.mp4")])
    assert r.exit_code == 0 and (tmp_path / "auto.mp4").is_file(), r.stderr
    # (the warning reaches stderr through logging's last-resort handler; pytest's capture takes it here)
    assert "in.mp4: 64x48 frames at x2 (4 per batch, fp32) need about" in caplog.text and "same output, slower" in caplog.text
    # An explicit tile is the user's: refused, one line, nothing written, and the flags that would fit.
    r = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "out.mp4"), "--tile", "64"])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "in.mp4: 64x48 frames at x2 (4 per batch, 64-pixel tiles, fp32) need about" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auto.mp4", "in.mp4", "tiny.pt"]
    fix = re.search(r"pass ((?:--[a-z-]+ \d+ ?)+)\(", r.stderr)
    assert fix is not None, r.stderr
    r = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "out.mp4"), *fix.group(1).split()])
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out.mp4").is_file()
