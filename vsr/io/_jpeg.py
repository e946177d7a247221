"""How hard a JPEG file was compressed: its IJG quality (1-100), estimated from the luminance quantisation table.

The IJG library (libjpeg, libjpeg-turbo: what cameras' software, browsers, OpenCV and Pillow use) scales one
luminance table by the quality setting. Reading the table back from the file's DQT segment and finding the quality
whose table is nearest gives that setting exactly for IJG-made files, and the nearest IJG equivalent for files from
other encoders. Unlike the file's bits per pixel, it does not depend on the picture's content. The reference tables
are libjpeg's own, read back from tiny JPEGs OpenCV writes once per process.
"""

from __future__ import annotations

import io
import os
from functools import cache
from typing import BinaryIO

__all__ = ["jpeg_quality"]

_SOS, _EOI, _DQT = 0xDA, 0xD9, 0xDB
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length


@cache
def _ijg_tables() -> dict[int, list[int]]:
    """quality -> the luminance table libjpeg writes for it (as stored, zig-zag order)."""
    import cv2
    import numpy as np

    tables = {}
    for quality in range(1, 101):
        ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
        table = _luminance_table(io.BytesIO(buf.tobytes())) if ok else None
        if table is None:
            raise RuntimeError(f"OpenCV wrote no luminance table for a JPEG of quality {quality}")
        tables[quality] = table
    return tables


def _dqt_tables(payload: bytes) -> dict[int, list[int]]:
    """The tables of one DQT segment's payload, by id, as stored (empty when the payload is malformed)."""
    tables: dict[int, list[int]] = {}
    j = 0
    while j < len(payload):
        precision, table_id = payload[j] >> 4, payload[j] & 0x0F
        size = 128 if precision else 64
        raw = payload[j + 1:j + 1 + size]
        if len(raw) < size:
            return {}
        tables[table_id] = [int.from_bytes(raw[2 * k:2 * k + 2], "big") for k in range(64)] if precision else list(raw)
        j += 1 + size
    return tables


def _luminance_table(f: BinaryIO) -> list[int] | None:
    """Table 0 of the file's first DQT segment that defines it, as stored, or ``None``.

    Walks the marker segments from the start of image, skipping the others (EXIF, ICC profiles) by their lengths,
    and stops at the first scan.
    """
    if f.read(2) != b"\xff\xd8":
        return None
    while True:
        b = f.read(1)
        if b != b"\xff":
            return None
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker or marker[0] in (_SOS, _EOI):
            return None
        if marker[0] in _STANDALONE:
            continue
        length_bytes = f.read(2)
        if len(length_bytes) < 2 or int.from_bytes(length_bytes, "big") < 2:
            return None
        length = int.from_bytes(length_bytes, "big") - 2
        if marker[0] == _DQT:
            table = _dqt_tables(f.read(length)).get(0)
            if table is not None:
                return table
        else:
            f.seek(length, os.SEEK_CUR)


def jpeg_quality(path: str | os.PathLike[str]) -> int | None:
    """The IJG quality (1-100) whose luminance table is nearest the file's, or ``None``.

    ``None`` when the file is not a JPEG, cannot be read, or has no luminance table before its image data.
    Only the marker segments before the first scan are read, never the image data.
    """
    try:
        with open(path, "rb") as f:
            table = _luminance_table(f)
    except OSError:
        return None
    if table is None or min(table) < 1:
        return None

    references = _ijg_tables()

    # Relative differences, so that the large high-frequency entries do not outweigh the small low-frequency ones.
    def distance(q: int) -> float:
        return sum(abs(a - b) / (a + b) for a, b in zip(table, references[q]))

    return min(range(1, 101), key=lambda q: (distance(q), -q))
