"""Still-image upscaling: read (PNG/JPEG/BMP/...), upscale with an :class:`Upscaler`, write atomically.

Grey images are replicated to RGB for the model and written back grey; the
alpha channel of RGBA images is resized with bicubic interpolation.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from ._atomic import write_bytes
from ._imsize import DEFAULT_MAX_PIXELS, check_pixels, declared_size
from .errors import EncodeError, InputNotFoundError, InvalidInputError, OutputExistsError
from .inference import Upscaler

__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_EXTENSIONS", "check_pixels", "is_image_path", "list_images", "natural_key", "read_image", "write_image", "upscale_image"]

#: File extensions treated as still images.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True when the extension is one of :data:`IMAGE_EXTENSIONS`."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def natural_key(name: str) -> list[object]:
    """Sort key under which ``im2`` comes before ``im10`` (case-insensitive)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files directly in ``folder`` (hidden files skipped), in :func:`natural_key` order.

    This order is how evaluation numbers frames and images, so every module that
    refers to "item k" of a folder must list it with this function.
    """
    files = [p for p in Path(folder).iterdir() if p.is_file() and is_image_path(p) and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


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
    """Write a uint8 grey/RGB/RGBA image atomically (complete or absent; see :mod:`vsr._atomic`)."""
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


def upscale_array(img: np.ndarray, upscaler: Upscaler) -> np.ndarray:
    """Upscale a uint8 grey/RGB/RGBA array; the layout of the result matches the input."""
    if img.ndim == 2:
        rgb = upscaler(np.repeat(img[:, :, None], 3, axis=2))
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if img.shape[2] == 4:
        rgb = upscaler(np.ascontiguousarray(img[:, :, :3]))
        alpha = cv2.resize(img[:, :, 3], upscaler.output_size(img.shape[1], img.shape[0]), interpolation=cv2.INTER_CUBIC)
        return np.concatenate([rgb, alpha[:, :, None]], axis=2)
    return upscaler(img)


def upscale_image(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    upscaler: Upscaler,
    *,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Path:
    """Read ``src``, upscale it, write ``dst`` (never a half-written file); returns ``dst``.

    Inputs above ``max_pixels`` (width x height) are refused before decoding.
    """
    d = Path(dst)
    if d.exists() and not overwrite:
        raise OutputExistsError(f"{d}: output exists; pass --overwrite to replace it")
    return write_image(d, upscale_array(read_image(src, max_pixels=max_pixels), upscaler), overwrite=overwrite)
