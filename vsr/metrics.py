"""Image-quality metrics and the named evaluation protocols of the SR literature.

Pure functions on numpy arrays (H×W or H×W×C) or torch tensors (H×W or C×H×W,
or 1×C×H×W), uint8 or float on the 0..255 scale. All arithmetic is float64.
Papers differ exactly on the knobs these functions expose (Y or RGB, border
shave, how means are taken), so every one is a parameter or a named
:class:`Protocol`.

Conventions (BasicSR ``metrics/psnr_ssim.py`` and MATLAB):

- Y is BT.601 studio range, MATLAB ``rgb2ycbcr``'s first row:
  ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``, not rounded. A single
  channel image is treated as grey replicated to RGB, so its Y is
  ``16 + 219/255 * v`` (what EDSR-PyTorch and BasicSR compute for grey images).
- PSNR is ``10 log10(255² / MSE)``; identical inputs give ``inf``.
- SSIM follows Wang et al. 2004 / MATLAB ``ssim_index.m``: 11×11 Gaussian window
  (σ 1.5), C1 = (0.01·255)², C2 = (0.03·255)², "valid" filtering, mean of the
  map; for several channels the mean of the per-channel values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import torch

from vsr.errors import InvalidInputError, UnsupportedError

__all__ = [
    "PROTOCOLS",
    "Protocol",
    "VideoMeans",
    "finite_mean",
    "get_protocol",
    "psnr",
    "rgb_to_y",
    "ssim",
    "temporal_error",
    "video_means",
]

Image = np.ndarray | torch.Tensor

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64) / 255.0
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2
_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5


def _to_hwc(img: Image, name: str) -> np.ndarray:
    """``img`` as a float64 H×W×C numpy array (torch C×H×W and 1×C×H×W are permuted)."""
    if isinstance(img, torch.Tensor):
        t = img.detach()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim == 3:
            t = t.permute(1, 2, 0)
        elif t.ndim != 2:
            raise InvalidInputError(f"{name}: expected a tensor H x W, C x H x W or 1 x C x H x W, got shape {tuple(img.shape)}")
        arr = t.to("cpu", torch.float64).numpy()
    elif isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise InvalidInputError(f"{name}: expected an array H x W or H x W x C, got shape {img.shape}")
        if not (img.dtype == np.uint8 or np.issubdtype(img.dtype, np.floating) or np.issubdtype(img.dtype, np.integer)):
            raise InvalidInputError(f"{name}: expected uint8 or float pixels on 0..255, got dtype {img.dtype}")
        arr = img.astype(np.float64)
    else:
        raise InvalidInputError(f"{name}: expected a numpy array or torch tensor, got {type(img).__name__}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def _y_hwc(arr: np.ndarray, name: str) -> np.ndarray:
    """Y channel (H×W×1) of a float64 H×W×C array with C = 3 (RGB) or 1 (grey)."""
    c = arr.shape[2]
    if c == 3:
        return (16.0 + arr @ _Y_WEIGHTS)[:, :, None]
    if c == 1:
        return 16.0 + arr * _Y_WEIGHTS.sum()
    raise InvalidInputError(f"{name}: the Y channel needs an RGB (3-channel) or grey (1-channel) image, got {c} channels")


def rgb_to_y(img: Image) -> np.ndarray:
    """Y (BT.601 studio range, MATLAB ``rgb2ycbcr``) of an RGB or grey image on 0..255.

    Args:
        img: numpy H×W×3 / H×W (grey) / H×W×1, or torch 3×H×W / H×W / 1×H×W.

    Returns:
        float64 H×W numpy array with values in 16..235, not rounded.
    """
    return _y_hwc(_to_hwc(img, "rgb_to_y"), "rgb_to_y")[:, :, 0]


def _prepare(pred: Image, target: Image, crop_border: int, y_channel: bool, fn: str) -> tuple[np.ndarray, np.ndarray]:
    a = _to_hwc(pred, f"{fn} pred")
    b = _to_hwc(target, f"{fn} target")
    if a.shape != b.shape:
        raise InvalidInputError(
            f"{fn}: pred and target differ in shape: {a.shape} vs {b.shape} (H x W x C); "
            "crop the ground truth to scale x LR size before scoring"
        )
    if not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise InvalidInputError(f"{fn}: crop_border must be a non-negative integer, got {crop_border!r}")
    if crop_border:
        h, w = a.shape[:2]
        if 2 * crop_border >= min(h, w):
            raise InvalidInputError(f"{fn}: crop_border {crop_border} leaves nothing of a {h}x{w} image")
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        a = _y_hwc(a, f"{fn} pred")
        b = _y_hwc(b, f"{fn} target")
    return a, b


def psnr(pred: Image, target: Image, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB, peak 255.

    Args:
        pred: the image to score (quantize model outputs to uint8 first, as the
            official code does).
        target: the ground truth, same shape.
        crop_border: pixels removed from each of the four borders before scoring.
        y_channel: score the Y channel (BT.601 studio range) instead of all channels.

    Returns:
        ``10 log10(255² / MSE)``; ``math.inf`` when the images are identical.
    """
    a, b = _prepare(pred, target, crop_border, y_channel, "psnr")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 / mse)


def _gaussian_window_1d() -> np.ndarray:
    x = np.arange(_SSIM_SIZE, dtype=np.float64) - (_SSIM_SIZE - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * _SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Correlate an H×W array with the separable window ``g ⊗ g``, keeping the valid region."""
    k = len(g)
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    rows = g[0] * x[0:h]
    for i in range(1, k):
        rows += g[i] * x[i : i + h]
    out = g[0] * rows[:, 0:w]
    for i in range(1, k):
        out += g[i] * rows[:, i : i + w]
    return out


def _ssim_channel(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> float:
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    mu_aa, mu_bb, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = _filter_valid(a * a, g) - mu_aa
    var_b = _filter_valid(b * b, g) - mu_bb
    cov = _filter_valid(a * b, g) - mu_ab
    num = (2.0 * mu_ab + _SSIM_C1) * (2.0 * cov + _SSIM_C2)
    den = (mu_aa + mu_bb + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    return float(np.mean(num / den))


def ssim(pred: Image, target: Image, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity (Wang et al. 2004) as MATLAB ``ssim_index.m`` / BasicSR compute it.

    11×11 Gaussian window with σ 1.5, valid region only, C1 = (0.01·255)²,
    C2 = (0.03·255)²; with several channels, the mean of per-channel SSIM.
    Arguments are those of :func:`psnr`. Returns 1.0 for identical images.
    """
    a, b = _prepare(pred, target, crop_border, y_channel, "ssim")
    if min(a.shape[:2]) < _SSIM_SIZE:
        raise InvalidInputError(
            f"too small to score: SSIM needs at least {_SSIM_SIZE}x{_SSIM_SIZE} pixels after cropping the border, "
            f"got {a.shape[1]}x{a.shape[0]}"
        )
    g = _gaussian_window_1d()
    return float(np.mean([_ssim_channel(a[:, :, c], b[:, :, c], g) for c in range(a.shape[2])]))


def temporal_error(
    prev_pred: Image,
    pred: Image,
    prev_target: Image,
    target: Image,
    *,
    crop_border: int = 0,
    y_channel: bool = True,
) -> float:
    """Temporal-consistency error between two consecutive frames, in grey levels.

    Defined as the mean absolute difference between consecutive frames' error
    maps::

        TE(t) = mean | (pred_t - target_t) - (pred_{t-1} - target_{t-1}) |

    which equals the mean absolute difference between the frame-to-frame change
    of the output and that of the ground truth. A static error (the same blur
    on every frame) costs nothing; error that changes from frame to frame —
    the flicker of independently upscaled frames — does. 0 is perfectly steady;
    compare a model's value with bicubic's on the same frames. A clip's figure is
    the mean over its consecutive pairs.
    """
    a0, b0 = _prepare(prev_pred, prev_target, crop_border, y_channel, "temporal_error")
    a1, b1 = _prepare(pred, target, crop_border, y_channel, "temporal_error")
    if a0.shape != a1.shape:
        raise InvalidInputError(f"temporal_error: consecutive frames differ in shape: {a0.shape} vs {a1.shape}")
    return float(np.mean(np.abs((a1 - b1) - (a0 - b0))))


def finite_mean(values: Sequence[float]) -> float:
    """Mean of the finite values; ``inf`` when every value is infinite (identical images).

    Identical frames score ``inf`` dB; they are left out of means rather than
    turning every mean into ``inf``. Count them with ``sum(math.isinf(v) ...)``.
    """
    if len(values) == 0:
        raise InvalidInputError("finite_mean: no values to average")
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return math.inf
    return float(np.mean(finite))


@dataclass(frozen=True)
class VideoMeans:
    """Means of per-frame scores over several clips.

    Attributes:
        clip_means: each clip's mean over its frames.
        mean_of_clips: the mean of ``clip_means`` — the figure the video protocol
            reports (BasicSR/mmagic).
        frame_weighted: the mean over all frames of all clips (long clips weigh
            more); it differs from ``mean_of_clips`` when clips differ in length.
        n_frames: frames counted.
        n_infinite: frames left out of the means because they were identical (inf dB).
    """

    clip_means: Mapping[str, float]
    mean_of_clips: float
    frame_weighted: float
    n_frames: int
    n_infinite: int


def video_means(scores_by_clip: Mapping[str, Sequence[float]]) -> VideoMeans:
    """Per-clip means, their mean, and the frame-weighted mean of per-frame scores."""
    if not scores_by_clip or any(len(v) == 0 for v in scores_by_clip.values()):
        raise InvalidInputError("video_means needs at least one clip, each with at least one frame score")
    clip_means = {clip: finite_mean(v) for clip, v in scores_by_clip.items()}
    all_values = [float(x) for v in scores_by_clip.values() for x in v]
    return VideoMeans(
        clip_means=MappingProxyType(clip_means),
        mean_of_clips=finite_mean(list(clip_means.values())),
        frame_weighted=finite_mean(all_values),
        n_frames=len(all_values),
        n_infinite=sum(1 for x in all_values if math.isinf(x)),
    )


@dataclass(frozen=True)
class Protocol:
    """How a published number is computed: channel, border, frames and averaging.

    Attributes:
        name: the key in :data:`PROTOCOLS`.
        y_channel: score Y (BT.601 studio range) instead of RGB.
        shave_per_scale: pixels shaved per unit of scale (``crop = shave_per_scale * scale + shave_extra``).
        shave_extra: pixels shaved on top of that.
        aggregation: ``image-mean`` (mean over images) or ``clip-mean`` (per frame,
            mean per clip, then mean over clips; the frame-weighted mean is
            reported beside it).
        frames: ``all`` frames of a clip, or only the ``center`` one (Vimeo90K-T).
        description: where the convention comes from.
    """

    name: str
    y_channel: bool
    shave_per_scale: int
    shave_extra: int
    aggregation: Literal["image-mean", "clip-mean"]
    frames: Literal["all", "center"]
    description: str

    def crop_border(self, scale: int) -> int:
        """Pixels shaved from each border for ``scale``."""
        return self.shave_per_scale * int(scale) + self.shave_extra


PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {
        p.name: p
        for p in (
            Protocol(
                name="edsr-benchmark", y_channel=True, shave_per_scale=1, shave_extra=0,
                aggregation="image-mean", frames="all",
                description="Set5/Set14/B100/Urban100 (EDSR paper, Table 3): Y channel, shave = scale, mean over images",
            ),
            Protocol(
                name="div2k", y_channel=False, shave_per_scale=1, shave_extra=6,
                aggregation="image-mean", frames="all",
                description="DIV2K validation (EDSR code and paper): RGB, shave = scale + 6, mean over images",
            ),
            Protocol(
                name="video", y_channel=True, shave_per_scale=0, shave_extra=0,
                aggregation="clip-mean", frames="all",
                description="Vid4 (BasicSR/mmagic): Y channel, no shave, every frame; mean per clip, then mean over clips",
            ),
            Protocol(
                name="vimeo90k-t", y_channel=True, shave_per_scale=0, shave_extra=0,
                aggregation="clip-mean", frames="center",
                description="Vimeo90K-T (BasicSR/mmagic): Y channel, no shave, only the centre frame im4 of each septuplet",
            ),
        )
    }
)


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; the error lists the allowed names."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise UnsupportedError(f"Unknown protocol {name!r}. Allowed: {', '.join(PROTOCOLS)}") from None
