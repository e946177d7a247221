"""Absurd image and frame sizes are refused from the header, before decoding, with the size, the limit and --max-pixels."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vsr.io import DEFAULT_MAX_PIXELS, declared_size
from vsr.cli import cli
from vsr.errors import InvalidInputError
from vsr.io import read_image
from vsr import upscale_video


def forged_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` and that holds no pixel data (as in the fuzz campaign)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tif", ".ppm", ".pgm"])
def test_declared_size_matches_what_opencv_writes(tmp_path: Path, ext: str) -> None:
    img = np.random.default_rng(0).integers(0, 255, (23, 37, 3), dtype=np.uint8)
    if ext == ".pgm":
        img = img[:, :, 0]
    path = tmp_path / f"i{ext}"
    assert cv2.imwrite(str(path), img)
    assert declared_size(path) == (37, 23)


def test_declared_size_of_gif_and_unknown_files(tmp_path: Path) -> None:
    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a" + struct.pack("<HH", 300, 200) + b"\x00" * 20)
    assert declared_size(gif) == (300, 200)
    for junk in (b"", b"not an image at all", b"\x89PNG\r\n\x1a\n"):
        (tmp_path / "j.png").write_bytes(junk)
        assert declared_size(tmp_path / "j.png") is None
    assert declared_size(tmp_path / "missing.png") is None


def test_huge_png_header_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = forged_png(tmp_path / "huge.png", 100000, 100000)

    def no_decode(*a: object, **k: object) -> None:
        raise AssertionError("decoded despite the size")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    with pytest.raises(InvalidInputError) as e:
        read_image(path)
    msg = str(e.value)
    assert str(path) in msg and "100000x100000" in msg and "limit of 100 megapixels" in msg and "--max-pixels 10000000000" in msg
    assert "\n" not in msg


def test_cli_refuses_a_huge_image_in_one_line_and_max_pixels_raises_the_limit(tmp_path: Path, ckpt: Path) -> None:
    huge = forged_png(tmp_path / "huge.png", 100000, 100000)
    r = CliRunner().invoke(cli, ["upscale", str(huge), "-s", "2", "-m", str(ckpt), "--device", "cpu"])
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and "100000x100000" in r.stderr and "--max-pixels" in r.stderr
    assert "internal error" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.png"]

    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((16, 16, 3), np.uint8))
    args = ["upscale", str(small), "-s", "2", "-m", str(ckpt), "--device", "cpu", "-o", str(tmp_path / "out.png")]
    r = CliRunner().invoke(cli, [*args, "--max-pixels", "255"])
    assert r.exit_code == 1 and "16x16" in r.stderr and "--max-pixels 256" in r.stderr
    r = CliRunner().invoke(cli, [*args, "--max-pixels", "256"])
    assert r.exit_code == 0, r.stderr
    assert cv2.imread(str(tmp_path / "out.png")).shape == (32, 32, 3)


def test_video_frames_above_the_limit_are_refused(tmp_path: Path, make_video: Callable[..., Path], ckpt: Path) -> None:
    src = make_video("in.mp4", frames=2, size=(64, 48))
    dst = tmp_path / "out.mp4"
    with pytest.raises(InvalidInputError, match=r"64x48 pixels .* --max-pixels 3072"):
        upscale_video(src, dst, scale=2, model=str(ckpt), device="cpu", progress=False, max_pixels=3071)
    assert not dst.exists()
    assert DEFAULT_MAX_PIXELS >= 7680 * 4320  # 8K frames are allowed by default
