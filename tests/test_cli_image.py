"""`vsr` CLI for images, versions and model listing, through click's CliRunner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vsr import __version__
from vsr.cli import cli
from vsr.io import set_ffmpeg_logging
from vsr.io._opencv_log import OPENCV_LOG_ENV

from _models import save_tiny_model


@pytest.fixture()
def ckpt(tmp_path: Path) -> Path:
    return save_tiny_model(tmp_path / "tiny_mdsr.pt", "mdsr_baseline")


def _write(path: Path, img: np.ndarray) -> Path:
    # Synthetic test image: random pixels written with OpenCV (BGR order on disk).
    assert cv2.imwrite(str(path), img)
    return path


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_version_and_models() -> None:
    code, out, _ = _run("--version")
    assert code == 0 and __version__ in out
    code, out, _ = _run("models")
    assert code == 0 and "edsr_baseline" in out and "1.37M" in out and "mdsr" in out


def test_models_reports_vsrs_cache_folder_and_what_it_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path / "none"))
    code, out, _ = _run("models")
    assert code == 0 and f"vsr's cache ({tmp_path / 'none'}" in out and out.rstrip().endswith("empty")
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path))
    (tmp_path / "openvino").mkdir()
    (tmp_path / "openvino" / "a.bin").write_bytes(b"b" * (3 << 20))
    (tmp_path / "openvino" / "a.xml").write_bytes(b"x" * 100)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "p.json").write_text("{}")
    code, out, _ = _run("models")
    lines = out.rstrip().splitlines()[-2:]
    assert code == 0 and lines[0].split()[:4] == ["openvino", "2", "files", "3.0"] and "OpenVINO models" in lines[0]
    assert lines[1].split()[:3] == ["plans", "1", "files"] and "execution plans" in lines[1]


@pytest.mark.parametrize(("channels", "scale"), [(3, 3), (1, 2), (4, 4)])
def test_upscale_rgb_grey_and_rgba_images(tmp_path: Path, ckpt: Path, channels: int, scale: int) -> None:
    rng = np.random.default_rng(0)
    shape = (13, 11) if channels == 1 else (13, 11, channels)
    src = _write(tmp_path / "in.png", rng.integers(0, 256, shape, dtype=np.uint8))
    code, out, err = _run("upscale", str(src), "--scale", str(scale), "--model", str(ckpt), "--device", "cpu")
    assert code == 0, err
    dst = tmp_path / f"in_x{scale}.png"
    got = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
    assert got.shape[:2] == (13 * scale, 11 * scale)
    assert (got.ndim == 2) == (channels == 1)
    if channels == 4:
        assert got.shape[2] == 4
    assert str(dst) in out


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path, ckpt: Path) -> None:
    src = _write(tmp_path / "a.bmp", np.zeros((8, 8, 3), np.uint8))
    dst = tmp_path / "out.bmp"
    dst.write_bytes(b"keep me")
    code, _, err = _run("upscale", str(src), "-s", "2", "-m", str(ckpt), "-o", str(dst))
    assert code == 1 and "out.bmp: output exists; pass --overwrite" in err and "Traceback" not in err
    assert dst.read_bytes() == b"keep me"
    code, _, _ = _run("upscale", str(src), "-s", "2", "-m", str(ckpt), "-o", str(dst), "--overwrite")
    assert code == 0 and cv2.imread(str(dst)).shape == (16, 16, 3)


def test_errors_are_one_line_exit_1_and_usage_errors_exit_2(tmp_path: Path, ckpt: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    code, _, err = _run("upscale", str(bad), "-s", "2", "-m", str(ckpt))
    assert code == 1 and "broken.png: cannot decode image" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "broken_x2.png").exists()
    src = _write(tmp_path / "ok.png", np.zeros((8, 8, 3), np.uint8))
    code, _, err = _run("upscale", str(src), "-s", "2", "-m", str(tmp_path / "nope.pt"))
    assert code == 1 and "nope.pt: no such checkpoint file" in err
    code, _, err = _run("upscale", str(src), "-s", "5", "-m", str(ckpt))
    assert code == 2
    code, _, err = _run("upscale", str(tmp_path / "missing.png"), "-s", "2")
    assert code == 1 and "does not exist" in err
    code, _, err = _run("upscale", str(src), "-s", "2", "-m", str(ckpt), "--device", "cuda:7")
    assert code == 1 and ("CUDA is not available" in err or "cuda" in err.lower())


@pytest.fixture()
def library_logs_default_afterwards() -> Iterator[None]:
    """The test runs `vsr -v` in this process: FFmpeg's and OpenCV's lines go back to their defaults after it."""
    yield
    set_ffmpeg_logging(False)
    os.environ.pop(OPENCV_LOG_ENV, None)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_WARNING)  # OpenCV's own default


@pytest.mark.parametrize("command", ["upscale", "psnr"])
@pytest.mark.usefixtures("library_logs_default_afterwards")
def test_truncated_png_is_one_stderr_line(tmp_path: Path, ckpt: Path, command: str, capfd: pytest.CaptureFixture[str]) -> None:
    # Half of a valid PNG: OpenCV's decoder logs "PNG input buffer is incomplete" to the file descriptor itself.
    whole = _write(tmp_path / "whole.png", np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).read_bytes()
    bad = tmp_path / "cut.png"
    bad.write_bytes(whole[: len(whole) // 2])
    args = {"upscale": ["upscale", str(bad), "-s", "2", "-m", str(ckpt)], "psnr": ["psnr", str(bad), str(tmp_path / "whole.png")]}
    capfd.readouterr()
    code, _, err = _run(*args[command])
    lines = (capfd.readouterr().err + err).splitlines()
    assert code == 1
    assert lines == [f"Error: {bad}: cannot decode image: it starts as a PNG file but is truncated or corrupt"]
    # -v: OpenCV's own line is back, as FFmpeg's are
    code, _, err = _run("-v", *args[command])
    assert code == 1 and "PNG input buffer is incomplete" in capfd.readouterr().err
