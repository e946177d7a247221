"""vsr.io.jpeg_quality: the IJG quality read back from a JPEG's luminance quantisation table."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vsr.io import jpeg_quality


def _jpeg(quality: int) -> bytes:
    img = (np.random.default_rng(0).random((24, 40, 3)) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("quality", [1, 10, 30, 49, 50, 51, 75, 90, 95, 99, 100])
def test_the_quality_libjpeg_was_given_is_read_back(tmp_path: Path, quality: int) -> None:
    p = tmp_path / "a.jpg"
    p.write_bytes(_jpeg(quality))
    assert jpeg_quality(p) == quality


def test_large_segments_before_the_tables_are_skipped(tmp_path: Path) -> None:
    # Cameras put EXIF (with a thumbnail) and ICC profiles, up to 64 KB each, before the quantisation tables.
    data = _jpeg(60)
    app = b"".join(b"\xff" + bytes([0xE1 + k]) + (65535).to_bytes(2, "big") + bytes(65533) for k in range(3))
    p = tmp_path / "exif.jpg"
    p.write_bytes(data[:2] + app + data[2:])
    assert jpeg_quality(p) == 60
    assert cv2.imread(str(p)) is not None  # still a valid JPEG


@pytest.mark.parametrize("content", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe0\x00", b"not a jpeg at all", b"\x89PNG\r\n\x1a\n"])
def test_anything_else_is_none(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "x.jpg"
    p.write_bytes(content)
    assert jpeg_quality(p) is None
    assert jpeg_quality(tmp_path / "missing.jpg") is None


def test_a_png_is_none(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), np.zeros((8, 8, 3), np.uint8))
    assert jpeg_quality(p) is None
