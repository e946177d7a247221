"""Image files: the one list of image extensions, the one natural order, the one reader and writer.

Images are read as uint8 grey, RGB or RGBA (16-bit reduced to 8 bits, non-ASCII paths
working) after the declared size is checked, and written atomically.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from vsr._core import write_bytes
from vsr.io._imsize import DEFAULT_MAX_PIXELS, check_pixels, declared_format, declared_size
from vsr.errors import EncodeError, InputNotFoundError, InvalidInputError, OutputExistsError

__all__ = ["IMAGE_EXTENSIONS", "is_image_path", "list_images", "natural_key", "read_image", "read_rgb", "write_image"]

#: File extensions treated as still images.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True when the extension is one of :data:`IMAGE_EXTENSIONS`."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def natural_key(name: str) -> list[object]:
    """Sort key under which ``im2`` comes before ``im10`` (case-insensitive)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: str | os.PathLike[str], *, recursive: bool = False) -> list[Path]:
    """The image files in ``folder`` (hidden files skipped), in :func:`natural_key` order of their relative paths.

    This order is how evaluation numbers frames and images and how datasets index
    them, so every module that refers to "item k" of a folder lists it with this function.
    """
    root = Path(folder)
    found = root.rglob("*") if recursive else root.iterdir()
    files = [p for p in found if p.is_file() and is_image_path(p) and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.relative_to(root).as_posix()))


def read_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image as uint8 ``H x W`` (grey), ``H x W x 3`` (RGB) or ``H x W x 4`` (RGBA).

    16-bit images are reduced to 8 bits. The size the header declares is checked
    against ``max_pixels`` before anything is decoded or allocated.
    """
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise InvalidInputError(f"{p}: file is empty (0 bytes)")
    size = declared_size(p)
    if size is not None:
        check_pixels(p, *size, max_pixels)
    try:
        # imdecode (not imread) so paths with non-ASCII characters work everywhere.
        img = cv2.imdecode(np.fromfile(str(p), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:  # e.g. OpenCV's own pixel limit on a format whose header we do not read
        reason = str(e).strip().splitlines()[-1][:160]
        raise InvalidInputError(f"{p}: cannot decode image ({reason})") from None
    if img is None:
        kind = declared_format(p)
        if kind is not None:
            raise InvalidInputError(f"{p}: cannot decode image: it starts as a {kind} file but is truncated or corrupt")
        raise InvalidInputError(f"{p}: cannot decode image; expected a PNG, JPEG, BMP, TIFF or WebP file")
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise InvalidInputError(f"{p}: unsupported pixel type {img.dtype}; convert it to 8-bit")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    elif img.ndim != 2:
        raise InvalidInputError(f"{p}: unsupported image layout {img.shape}")
    check_pixels(p, img.shape[1], img.shape[0], max_pixels)  # formats whose header we could not read
    return img


def write_image(path: str | os.PathLike[str], img: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write a uint8 grey/RGB/RGBA image atomically (complete or absent; see :mod:`vsr._core._files`)."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p}: output exists; pass --overwrite to replace it")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    ext = p.suffix.lower() or ".png"
    ok, buf = cv2.imencode(ext, img)
    if not ok:
        raise EncodeError(f"{p}: cannot encode an image with extension {ext!r}; use .png, .jpg or .bmp")
    p.parent.mkdir(parents=True, exist_ok=True)
    # Without overwrite, an image another run wrote meanwhile is kept and this write refused.
    return write_bytes(p, buf.tobytes(), overwrite=overwrite)


def read_rgb(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image as ``H x W x 3`` uint8 RGB: grey is replicated to three channels, alpha dropped."""
    img = read_image(path, max_pixels=max_pixels)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3]) if img.shape[2] == 4 else img
