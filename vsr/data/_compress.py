"""Compressed LR training patches: the LR of a short clip goes through a real codec, and a patch is cut from one frame.

A codec's artefacts depend on what it predicts from: a frame encoded alone is intra-coded, while
most frames of a real video are P or B frames predicted from their neighbours. So a patch is made
from a clip of ``clip_frames`` LR frames, encoded as one stream (:func:`vsr.io.codec_roundtrip`),
and the patch is cut from the middle frame, which is inter-coded:

- from a video source, the clip is the frame's real neighbours (same crop window in each);
- from a still image, the clip is a simulated pan: the HR crop window moves by a random whole
  number of HR pixels per frame, which is a sub-pixel shift of the LR (``1/scale`` LR pixel steps).

The encoded region is larger than the patch (``lr_patch + 16`` LR pixels, even), and the patch sits
at a random offset inside it, so the codec's 16x16 block grid falls anywhere on the patch and the
encoder sees context around it. ``clip_frames = 1`` gives intra-only patches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vsr.data._degrade import degrade_bd
from vsr.data._patches import lr_patch_from_hr
from vsr.data._specs import Degradation
from vsr.io import codec_roundtrip

__all__ = ["CONTEXT", "MAX_PAN", "degraded_pair"]

#: LR pixels of codec context around a patch, in all (the encoded region is ``lr_patch + CONTEXT``).
CONTEXT = 16

#: Largest simulated pan speed, in LR pixels per frame along each axis.
MAX_PAN = 1.5

_BD_MARGIN = 2  # LR pixels: the 12-tap blur of an LR pixel reaches 6 HR pixels, under 2 LR pixels at x4


def lr_region(hr: np.ndarray, y: int, x: int, size: int, scale: int, kind: str) -> np.ndarray:
    """The ``size x size`` LR region at LR position ``(y, x)`` of ``hr`` under ``bi`` or ``bd``, from a local HR crop."""
    if kind == "bi":
        return lr_patch_from_hr(hr, y, x, size, scale)
    h_lr, w_lr = hr.shape[0] // scale, hr.shape[1] // scale
    y0, x0 = max(0, y - _BD_MARGIN), max(0, x - _BD_MARGIN)
    y1, x1 = min(h_lr, y + size + _BD_MARGIN), min(w_lr, x + size + _BD_MARGIN)
    lr = degrade_bd(np.ascontiguousarray(hr[y0 * scale : y1 * scale, x0 * scale : x1 * scale]))
    return lr[y - y0 : y - y0 + size, x - x0 : x - x0 + size]


def _pan(n: int, center: int, scale: int, rng: np.random.Generator) -> np.ndarray:
    """HR-pixel offsets of ``n`` frames along one axis for a constant random speed, 0 at ``center``."""
    speed = rng.uniform(-MAX_PAN, MAX_PAN) * scale
    return np.rint(speed * (np.arange(n) - center)).astype(int)


def _axis_origin(size_hr: int, usable: int, offsets: np.ndarray, scale: int, rng: np.random.Generator) -> int | None:
    """A random LR origin such that every frame's window (origin*scale + offset, size_hr long) fits; None if none does."""
    lo = -int(offsets.min())
    hi = usable - size_hr - int(offsets.max())
    lo_lr, hi_lr = -(-lo // scale), hi // scale
    if hi_lr < lo_lr:
        return None
    return int(rng.integers(lo_lr, hi_lr + 1))


def _shifted_region(hr: np.ndarray, y_hr: int, x_hr: int, size: int, scale: int, kind: str) -> np.ndarray:
    """The LR region whose HR window starts at HR pixel ``(y_hr, x_hr)``: the LR of the image shifted by that many pixels."""
    qy, ry = divmod(y_hr, scale)
    qx, rx = divmod(x_hr, scale)
    return lr_region(hr[ry:, rx:], qy, qx, size, scale, kind)


def degraded_pair(
    frames: Sequence[np.ndarray],
    center: int,
    *,
    scale: int,
    lr_patch: int,
    degradation: Degradation,
    clip_frames: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``(lr, hr)`` patch pair of ``frames[center]`` under ``degradation``, compressed as a clip.

    Args:
        frames: the HR clip around the frame (all the same size; uint8 ``H x W x 3``), or one still image.
        center: the index in ``frames`` of the frame the patch comes from (``0`` for a still).
        scale: the SR factor.
        lr_patch: patch side in LR pixels; the frame must be at least ``lr_patch * scale`` HR pixels.
        degradation: how the LR is made; with a codec, the LR clip goes through it as one stream.
        clip_frames: frames of the simulated pan made from a still (1: the still is encoded alone, intra-only).
        rng: every random choice (region, offset, pan) is drawn from it, in a fixed order.

    Returns:
        ``p x p x 3`` LR and ``ps x ps x 3`` HR uint8 patches (views or small arrays).
    """
    hr = frames[center]
    usable = ((hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale)
    # Codec context around the patch, even for 4:2:0, as far as the frame allows.
    region = min(lr_patch + CONTEXT, usable[0] // scale, usable[1] // scale)
    if region > lr_patch and region % 2:
        region -= 1
    oy = int(rng.integers(0, region - lr_patch + 1))
    ox = int(rng.integers(0, region - lr_patch + 1))
    still = len(frames) == 1
    if degradation.codec is None:
        n, center, sources = 1, 0, [hr]
    elif still:
        n, center, sources = clip_frames, clip_frames // 2, [hr] * clip_frames
    else:
        n, sources = len(frames), list(frames)
    dy, dx = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    if still and n > 1:
        dy, dx = _pan(n, center, scale, rng), _pan(n, center, scale, rng)
    size_hr = region * scale
    ry = _axis_origin(size_hr, usable[0], dy, scale, rng)
    if ry is None:  # the frame is too small for this pan along the axis: no motion along it
        dy, ry = np.zeros_like(dy), int(rng.integers(0, usable[0] // scale - region + 1))
    rx = _axis_origin(size_hr, usable[1], dx, scale, rng)
    if rx is None:
        dx, rx = np.zeros_like(dx), int(rng.integers(0, usable[1] // scale - region + 1))
    clip = [
        np.ascontiguousarray(_shifted_region(src, ry * scale + int(y), rx * scale + int(x), region, scale, degradation.kind))
        for src, y, x in zip(sources, dy, dx)
    ]
    if degradation.codec is not None:
        clip = list(codec_roundtrip(clip, codec=degradation.codec, crf=degradation.crf, preset=degradation.preset,
                                    speed=degradation.speed))
    lr = clip[center][oy : oy + lr_patch, ox : ox + lr_patch]
    y, x = (ry + oy) * scale, (rx + ox) * scale
    return lr, hr[y : y + lr_patch * scale, x : x + lr_patch * scale]
