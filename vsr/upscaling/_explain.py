"""``vsr upscale --plan``: the execution plan each input would run with, and why, without upscaling anything."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from vsr.upscaling._models import Upscalers
from vsr.upscaling._settings import InferenceSettings
from vsr.errors import InputNotFoundError
from vsr.io import VideoReader, declared_size, is_image_path, is_video_path, jpeg_quality, read_image

__all__ = ["describe_plans"]


def _size_and_frames(src: Path) -> tuple[int, int, int | None, float | None]:
    """Width, height, frame count (1 for an image, ``None`` when unknown) and bits per pixel (videos)."""
    if is_image_path(src):
        size = declared_size(src)
        if size is None:
            h, w = read_image(src).shape[:2]
            return w, h, 1, None
        return size[0], size[1], 1, None
    with VideoReader(src) as reader:
        info = reader.info
        return info.width, info.height, info.num_frames or None, info.lossy_bits_per_pixel


def describe_plans(path: Path, inference: InferenceSettings, *, progress: bool = True) -> list[str]:
    """One line per video or image at ``path`` (a file or a folder): size, length, factor, precision, plan and why.

    Nothing is measured or written: a plan measured earlier (the cache) is shown
    as it will be reused; otherwise the line says whether the first frames will
    be measured, or why the default plan runs.
    """
    if path.is_dir():
        inputs = sorted(p for p in path.iterdir() if p.is_file() and (is_video_path(p) or is_image_path(p)))
        if not inputs:
            raise InputNotFoundError(f"{path}: no videos or images in this folder")
    else:
        inputs = [path]
    upscalers = Upscalers(inference, progress=progress)
    lines = []
    for src in inputs:
        w, h, frames, bpp = _size_and_frames(src)
        quality = jpeg_quality(src) if is_image_path(src) else None
        up = upscalers.for_size(w, h, what=str(src), bits_per_pixel=bpp, jpeg_quality=quality)
        decision = up.prepare(w, h, frames, dry_run=True)
        what = "1 image" if frames == 1 else f"{frames} frames" if frames else "unknown length"
        coded = (f", {bpp:.3f} bits per pixel" if bpp is not None else
                 f", JPEG quality {quality}" if quality is not None else "")
        source = upscalers.source(up.scale, bpp, quality)
        name = "the model given" if isinstance(source, nn.Module) else Path(source).stem
        lines.append(f"{src} ({w}x{h}, {what}{coded}, {name} x{up.scale}, {up.device}, {up.precision}): "
                     f"{decision.summary()}")
    return lines
