"""Degradations that make low-resolution inputs from ground truth: BI and BD, optionally followed by compression.

- ``bi``: MATLAB bicubic downscaling, ``imresize(hr, 1/scale)`` (image SR benchmarks,
  Vid4-BI, Vimeo90K-BI, REDS).
- ``bd``: the video-SR "blur-downsample" protocol (Vid4-BD, Vimeo90K-BD, UDM10):
  MATLAB ``imfilter(hr, fspecial('gaussian', 12, 1.6), 'replicate')`` then
  ``lr = blurred(2:4:end, 2:4:end)``, i.e. every 4th pixel from 0-based index 1.
  The protocol is defined for x4 only.

A degradation is named by a spec (:mod:`vsr.data._specs`), whose base is one of these two.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import torch

from vsr.data._imresize import apply_taps_numpy, apply_taps_torch, spatial_axes, imresize
from vsr.errors import InvalidInputError, UnsupportedError

__all__ = ["DEGRADATIONS", "DegradationKind", "degrade", "degrade_bd"]

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)

DegradationKind = Literal["bi", "bd"]
DEGRADATIONS: tuple[str, ...] = ("bi", "bd")

_BD_SIZE = 12
_BD_SIGMA = 1.6
_BD_STEP = 4
_BD_OFFSET = 1


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """One factor of MATLAB ``fspecial('gaussian', size, sigma)``, which is separable."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _bd_taps(in_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights and replicate-clamped indices of the blur at the kept positions of one axis."""
    kept = np.arange(_BD_OFFSET, in_len, _BD_STEP)
    # imfilter's origin for an even kernel is element floor((12 + 1) / 2) = 6 (1-based): taps i-5 .. i+6.
    origin = (_BD_SIZE + 1) // 2 - 1
    indices = kept[:, None] + np.arange(_BD_SIZE)[None, :] - origin
    indices = np.clip(indices, 0, in_len - 1)
    weights = np.broadcast_to(_gaussian_1d(_BD_SIZE, _BD_SIGMA), indices.shape)
    return np.ascontiguousarray(weights), indices


def degrade_bd(img: ArrayOrTensor) -> ArrayOrTensor:
    """Blur with a 12×12 Gaussian (σ 1.6, replicate border) and keep every 4th pixel from index 1.

    Args:
        img: numpy array (H×W, H×W×C or N×H×W×C) or torch tensor (H×W, C×H×W or
            N×C×H×W), uint8 or float.

    Returns:
        The x4 low-resolution image, ``ceil((H - 1) / 4) × ceil((W - 1) / 4)``, in the
        same type, layout and dtype. Arithmetic is float64; uint8 results are
        rounded once, half away from zero, as MATLAB's ``imfilter`` does.
    """
    if not isinstance(img, (np.ndarray, torch.Tensor)):
        raise InvalidInputError(f"degrade_bd expects a numpy array or torch tensor, got {type(img).__name__}")
    h_axis, w_axis = spatial_axes(img, "degrade_bd")
    if img.shape[h_axis] < 2 or img.shape[w_axis] < 2:
        raise InvalidInputError(f"degrade_bd needs an image of at least 2x2 pixels, got shape {tuple(img.shape)}")
    if isinstance(img, torch.Tensor):
        if not torch.is_floating_point(img) and img.dtype != torch.uint8:
            raise InvalidInputError(f"degrade_bd supports uint8 and float tensors, got {img.dtype}")
        integer = img.dtype == torch.uint8
        x: np.ndarray | torch.Tensor = img.detach().to(torch.float64)
        if img.device.type == "cpu":
            x = x.numpy()  # numpy's gather is faster on the CPU; the memory is shared
    else:
        integer = img.dtype == np.uint8
        if not integer and not np.issubdtype(img.dtype, np.floating):
            raise InvalidInputError(f"degrade_bd supports uint8 and float arrays, got {img.dtype}")
        x = img.astype(np.float64)
    for axis in (h_axis, w_axis):
        taps = _bd_taps(int(img.shape[axis]))
        x = apply_taps_torch(x, *taps, axis) if isinstance(x, torch.Tensor) else apply_taps_numpy(x, *taps, axis)
    if isinstance(x, torch.Tensor):
        if integer:
            x = torch.floor(x.clamp_(0, 255) + 0.5)
        return x.to(img.dtype)
    if integer:
        x = np.floor(np.clip(x, 0, 255) + 0.5)
    if isinstance(img, torch.Tensor):
        return torch.from_numpy(x).to(img.dtype)
    return x.astype(img.dtype, copy=False)


def degrade(img: ArrayOrTensor, scale: int, kind: DegradationKind = "bi") -> ArrayOrTensor:
    """Make the low-resolution input for ``img`` by the ``bi`` or ``bd`` protocol.

    Args:
        img: ground truth, in a layout :func:`vsr.data.imresize` accepts. Its height
            and width must be multiples of ``scale`` (crop it first), so that
            ``scale * LR`` lines up with it.
        scale: the downscaling factor; ``bd`` is defined for 4 only.
        kind: ``"bi"`` (MATLAB bicubic) or ``"bd"`` (Gaussian blur + subsample).

    Returns:
        ``H/scale × W/scale`` low-resolution image of the same type and dtype.
    """
    if kind not in DEGRADATIONS:
        raise UnsupportedError(f"Unknown degradation {kind!r}. Allowed: {', '.join(DEGRADATIONS)}")
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise UnsupportedError(f"degrade scale must be a positive integer, got {scale!r}")
    if kind == "bd" and scale != _BD_STEP:
        raise UnsupportedError(f"The bd degradation is defined for scale 4 only, got scale {scale}; use 'bi'")
    if not isinstance(img, (np.ndarray, torch.Tensor)):
        raise InvalidInputError(f"degrade expects a numpy array or torch tensor, got {type(img).__name__}")
    h_axis, w_axis = spatial_axes(img, "degrade")
    h, w = int(img.shape[h_axis]), int(img.shape[w_axis])
    if h % scale or w % scale:
        raise InvalidInputError(
            f"degrade needs height and width divisible by the scale {scale}, got {h}x{w} (HxW); "
            f"crop it to {h - h % scale}x{w - w % scale} first"
        )
    if kind == "bd":
        return degrade_bd(img)
    return imresize(img, 1.0 / scale)
