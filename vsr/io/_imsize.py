"""The width and height an image file declares in its header, read without decoding it, and the pixel limit.

Used to refuse absurd sizes (a 100000x100000 PNG header is 100 bytes) before a
decoder allocates for them. Knows PNG, JPEG, BMP, WebP, GIF, TIFF and PNM/PPM/PGM;
returns ``None`` for anything else or for a header it cannot parse (the decoder
then has the last word).
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from vsr.errors import InvalidInputError

__all__ = ["DEFAULT_MAX_PIXELS", "check_pixels", "declared_format", "declared_size"]

#: Largest image or video frame (width x height) read unless the caller raises the limit (``--max-pixels``):
#: 100 megapixels, e.g. 12000x8000. Upscaled x4 that is 1.6 gigapixels (4.8 GB as 8-bit RGB) before any model memory.
DEFAULT_MAX_PIXELS = 100_000_000

# JPEG start-of-frame markers: SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def check_pixels(what: str | os.PathLike[str], width: int, height: int, max_pixels: int) -> None:
    """Raise :class:`InvalidInputError` when ``width x height`` is above ``max_pixels`` (the error says how to raise it)."""
    if width * height > max_pixels:
        raise InvalidInputError(
            f"{what}: {width}x{height} pixels ({width * height / 1e6:,.0f} megapixels) is above the limit of "
            f"{max_pixels / 1e6:,.0f} megapixels; if the file is genuine, pass --max-pixels {width * height} (needs the memory)"
        )


#: Leading bytes of the formats vsr reads, and their names.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)


def declared_format(path: str | os.PathLike[str]) -> str | None:
    """The image format the file's first bytes announce (``"PNG"``, ``"JPEG"``, ``"BMP"``, ``"TIFF"``, ``"WebP"``), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def declared_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header, or ``None`` when the format or header is not understood."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            for parse in (_png, _gif, _bmp, _webp, _pnm):
                size = parse(head, f)
                if size is not None:
                    return size
            if head[:2] == b"\xff\xd8":
                return _jpeg(f)
            if head[:4] in (b"II*\x00", b"MM\x00*"):
                return _tiff(f, "<" if head[:2] == b"II" else ">")
    except (OSError, struct.error, ValueError):
        return None
    return None


def _png(head: bytes, f: BinaryIO) -> tuple[int, int] | None:
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", head[16:24])
    return w, h


def _gif(head: bytes, f: BinaryIO) -> tuple[int, int] | None:
    if head[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    w, h = struct.unpack("<HH", head[6:10])
    return w, h


def _bmp(head: bytes, f: BinaryIO) -> tuple[int, int] | None:
    if head[:2] != b"BM" or len(head) < 26:
        return None
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        w, h = struct.unpack("<HH", head[18:22])
        return w, h
    w, h = struct.unpack("<ii", head[18:26])
    return abs(w), abs(h)  # a negative height means top-down rows


def _webp(head: bytes, f: BinaryIO) -> tuple[int, int] | None:
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    f.seek(20)
    data = f.read(10)
    if chunk == b"VP8X":
        w = int.from_bytes(data[4:7], "little") + 1
        h = int.from_bytes(data[7:10], "little") + 1
        return w, h
    if chunk == b"VP8L" and data[:1] == b"\x2f":
        bits = int.from_bytes(data[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and data[3:6] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[6:10])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _pnm(head: bytes, f: BinaryIO) -> tuple[int, int] | None:
    if len(head) < 2 or head[:1] != b"P" or head[1:2] not in b"123456":
        return None
    f.seek(2)
    text = f.read(256).decode("ascii", errors="replace")
    fields = []
    for line in text.splitlines():
        fields += line.split("#", 1)[0].split()
        if len(fields) >= 2:
            return int(fields[0]), int(fields[1])
    return None


def _jpeg(f: BinaryIO) -> tuple[int, int] | None:
    f.seek(2)
    while True:
        b = f.read(1)
        while b and b != b"\xff":
            b = f.read(1)
        while b == b"\xff":
            b = f.read(1)
        if not b:
            return None
        marker = b[0]
        if marker in (0x01, *range(0xD0, 0xDA)):  # standalone markers: no length
            continue
        (length,) = struct.unpack(">H", f.read(2))
        if marker in _JPEG_SOF:
            _precision, h, w = struct.unpack(">BHH", f.read(5))
            return w, h
        if marker == 0xDA:  # start of scan without a frame header: give up
            return None
        f.seek(length - 2, os.SEEK_CUR)


def _tiff(f: BinaryIO, order: str) -> tuple[int, int] | None:
    f.seek(4)
    (ifd,) = struct.unpack(order + "I", f.read(4))
    f.seek(ifd)
    (count,) = struct.unpack(order + "H", f.read(2))
    size: dict[int, int] = {}
    for _ in range(min(count, 512)):
        tag, typ, _n, value = struct.unpack(order + "HHI4s", f.read(12))
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            size[tag] = struct.unpack(order + ("H" if typ == 3 else "I"), value[: 2 if typ == 3 else 4])[0]
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None
