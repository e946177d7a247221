"""Paired LR/HR patch cropping and 8-way dihedral augmentation.

Sizes are in LR pixels unless a name says ``hr``: an LR patch of ``p x p``
pairs with an HR patch of ``p*s x p*s`` (the EDSR paper's "48x48 LR patch",
i.e. 96/144/192 HR pixels at x2/x3/x4).
"""

from __future__ import annotations

import numpy as np

from vsr.data._imresize import imresize

__all__ = ["DIHEDRAL", "dihedral", "hr_usable_shape", "crop_pair", "lr_patch_from_hr"]

#: The 8 symmetries of the square as (flip W, flip H, transpose), applied in that order.
DIHEDRAL: tuple[tuple[bool, bool, bool], ...] = tuple(
    (bool(k & 1), bool(k & 2), bool(k & 4)) for k in range(8)
)

# LR pixels of HR context kept around a crop so that MATLAB's bicubic of the crop
# equals the crop of the full image's bicubic: the antialiased kernel reaches
# 2*s + 1 HR pixels (< 3 LR pixels) on each side of an LR pixel centre.
_LR_MARGIN = 3


def dihedral(img: np.ndarray, k: int) -> np.ndarray:
    """Apply the ``k``-th (0..7) dihedral transform to an ``H x W x C`` array (a view)."""
    flip_w, flip_h, transpose = DIHEDRAL[k]
    if flip_w:
        img = img[:, ::-1]
    if flip_h:
        img = img[::-1]
    if transpose:
        img = img.transpose(1, 0, 2)
    return img


def hr_usable_shape(hr_shape: tuple[int, ...], scale: int) -> tuple[int, int]:
    """The HR size cropped to a multiple of ``scale`` (what has an LR counterpart)."""
    return (hr_shape[0] // scale) * scale, (hr_shape[1] // scale) * scale


def lr_patch_from_hr(hr: np.ndarray, y: int, x: int, lr_patch: int, scale: int) -> np.ndarray:
    """MATLAB-bicubic LR patch at LR position ``(y, x)`` of ``hr``, computed from a local HR crop.

    The result equals ``imresize(hr_cropped_to_multiple, 1/scale)[y:y+p, x:x+p]``
    exactly: the crop keeps a 3-LR-pixel margin of real pixels wherever the
    image has them, and where it does not, the crop edge is the image edge, so
    the symmetric border extension is the same as for the full image.
    """
    h_lr, w_lr = hr.shape[0] // scale, hr.shape[1] // scale
    y0, x0 = max(0, y - _LR_MARGIN), max(0, x - _LR_MARGIN)
    y1, x1 = min(h_lr, y + lr_patch + _LR_MARGIN), min(w_lr, x + lr_patch + _LR_MARGIN)
    region = np.ascontiguousarray(hr[y0 * scale : y1 * scale, x0 * scale : x1 * scale])
    lr = imresize(region, 1.0 / scale)
    return lr[y - y0 : y - y0 + lr_patch, x - x0 : x - x0 + lr_patch]


def crop_pair(
    hr: np.ndarray,
    lr: np.ndarray | None,
    *,
    scale: int,
    lr_patch: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A random aligned ``(lr, hr)`` patch pair: ``p x p`` LR and ``p*s x p*s`` HR.

    ``lr`` is the LR image from disk, or ``None`` to make the LR patch with
    MATLAB-exact bicubic from ``hr``. The caller checks the image is large enough.
    """
    h_lr, w_lr = hr.shape[0] // scale, hr.shape[1] // scale
    y = int(rng.integers(0, h_lr - lr_patch + 1))
    x = int(rng.integers(0, w_lr - lr_patch + 1))
    hr_patch = hr[y * scale : (y + lr_patch) * scale, x * scale : (x + lr_patch) * scale]
    if lr is None:
        lr_p = lr_patch_from_hr(hr, y, x, lr_patch, scale)
    else:
        lr_p = lr[y : y + lr_patch, x : x + lr_patch]
    return lr_p, hr_patch
