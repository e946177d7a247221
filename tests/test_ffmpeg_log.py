"""FFmpeg's own decode-error lines stay off stderr unless --debug asks for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.io import decord_available, set_ffmpeg_logging



@pytest.fixture(autouse=True)
def quiet_afterwards() -> Iterator[None]:
    yield
    set_ffmpeg_logging(False)


@pytest.mark.slow
@pytest.mark.parametrize("decoder", [pytest.param("decord", marks=pytest.mark.skipif(not decord_available(), reason="decord not installed")), "pyav"])
def test_damaged_video_upscales_without_ffmpeg_lines(damaged: Path, ckpt: Path, tmp_path: Path, decoder: str,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    args = ["upscale", str(damaged), "-o", str(tmp_path / "o.mp4"), "-s", "2", "-m", str(ckpt), "--device", "cpu",
            "--decoder", decoder, "-q"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.stderr
    err = capfd.readouterr().err + r.stderr
    assert " @ 0x" not in err, err

    for flag in ("--debug", "-v"):
        r = CliRunner().invoke(cli, [flag, *args, "--overwrite"])
        assert r.exit_code == 0
        # Both FFmpegs print straight to the terminal (PyAV's Python log callback could deadlock the decoder threads)
        assert "error while decoding" in capfd.readouterr().err
        set_ffmpeg_logging(False)
