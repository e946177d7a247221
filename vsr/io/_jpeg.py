"""How hard a JPEG file was compressed: its IJG quality (1-100), estimated from the luminance quantisation table.

The IJG library (libjpeg, libjpeg-turbo: what cameras' software, browsers, OpenCV and Pillow use) scales the
JPEG standard's example luminance table (ITU-T T.81 Annex K, Table K.1) by the quality setting. Reading the table
back from the file's DQT segment and finding the quality that reproduces it best gives that setting exactly for
IJG-made files, and the nearest IJG equivalent for files from other encoders. Unlike the file's bits per pixel,
it does not depend on the picture's content.
"""

from __future__ import annotations

import os
from typing import BinaryIO

__all__ = ["jpeg_quality"]

#: ITU-T T.81 Table K.1, the luminance quantisation table, in natural (row-major) order.
_K1 = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)
#: Natural index of the k-th coefficient in zig-zag order (the order DQT segments store).
_ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
    54, 47, 55, 62, 63,
)
_SOS, _EOI, _DQT = 0xDA, 0xD9, 0xDB
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length


def _ijg_table(quality: int) -> list[int]:
    """The luminance table libjpeg writes for ``quality`` (``jpeg_quality_scaling``, values limited to 1..255)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((q * scale + 50) // 100, 1), 255) for q in _K1]


_IJG_TABLES = {q: _ijg_table(q) for q in range(1, 101)}


def _dqt_tables(payload: bytes) -> dict[int, list[int]]:
    """The tables of one DQT segment's payload, by id, in natural order (empty when the payload is malformed)."""
    tables: dict[int, list[int]] = {}
    j = 0
    while j < len(payload):
        precision, table_id = payload[j] >> 4, payload[j] & 0x0F
        size = 128 if precision else 64
        raw = payload[j + 1:j + 1 + size]
        if len(raw) < size:
            return {}
        values = [int.from_bytes(raw[2 * k:2 * k + 2], "big") for k in range(64)] if precision else list(raw)
        natural = [0] * 64
        for k, v in enumerate(values):
            natural[_ZIGZAG[k]] = v
        tables[table_id] = natural
        j += 1 + size
    return tables


def _luminance_table(f: BinaryIO) -> list[int] | None:
    """Table 0 of the file's first DQT segment that defines it, in natural order, or ``None``.

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

    # Relative differences, so that the large high-frequency entries do not outweigh the small low-frequency ones.
    def distance(q: int) -> float:
        return sum(abs(a - b) / (a + b) for a, b in zip(table, _IJG_TABLES[q]))

    return min(range(1, 101), key=lambda q: (distance(q), -q))
