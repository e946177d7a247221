"""The results of an evaluation, as plain frozen dataclasses: what :func:`vsr.evaluation.evaluate` and
:func:`vsr.evaluation.score_frames` return, and what the reports (:mod:`vsr.evaluation._report`,
:mod:`vsr.compare._compare`) read. Kept apart from the evaluation so that writing a report needs no data
loading or video I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from vsr.evaluation._items import Layout
from vsr.metrics import Protocol

__all__ = [
    "ClipSummary",
    "PsnrReport",
    "EvalResult",
    "Example",
    "FrameScores",
    "ItemScore",
    "Summary",
]


@dataclass(frozen=True)
class ItemScore:
    """Scores of one image or frame.

    ``psnr``/``ssim`` are the model's (``None`` when only bicubic was run);
    ``clip`` is ``""`` for image sets; ``index`` is the frame's position in its
    clip (0-based) or the image's position in the set.
    """

    clip: str
    name: str
    index: int
    psnr: float | None
    ssim: float | None
    bicubic_psnr: float
    bicubic_ssim: float

    @property
    def gain(self) -> float | None:
        """Model PSNR minus bicubic PSNR, dB."""
        return None if self.psnr is None else self.psnr - self.bicubic_psnr


@dataclass(frozen=True)
class Summary:
    """Means of PSNR/SSIM (and, for video, of the temporal error) for the model and bicubic."""

    psnr: float | None
    ssim: float | None
    bicubic_psnr: float
    bicubic_ssim: float
    temporal: float | None = None
    bicubic_temporal: float | None = None

    @property
    def gain(self) -> float | None:
        """Model PSNR minus bicubic PSNR, dB."""
        return None if self.psnr is None else self.psnr - self.bicubic_psnr


@dataclass(frozen=True)
class ClipSummary:
    """Means over the scored frames of one clip; temporal errors over its consecutive pairs."""

    clip: str
    n_frames: int
    scores: Summary


@dataclass(frozen=True)
class Example:
    """Full images of one item for the visual report: ``images`` maps a label to uint8 RGB H×W×3."""

    label: str
    item: str
    psnr: float
    images: Mapping[str, np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class EvalResult:
    """Result of :func:`evaluate`.

    Attributes:
        mean: the protocol's figure: mean over images, or mean of clip means.
        frame_weighted: video only: mean over all scored frames, labelled as such.
        clips: video only: per-clip means.
        notes: how the data was read (LR made or loaded, grey images, inf scores).
    """

    dataset: str
    layout: Layout
    model: str
    scale: int
    protocol: Protocol
    degradation: str
    crop_border: int
    items: tuple[ItemScore, ...]
    clips: tuple[ClipSummary, ...]
    mean: Summary
    frame_weighted: Summary | None
    examples: tuple[Example, ...] = field(repr=False)
    notes: tuple[str, ...]

    @property
    def has_model(self) -> bool:
        """False when only bicubic was evaluated."""
        return any(i.psnr is not None for i in self.items)


@dataclass(frozen=True)
class FrameScores:
    """Scores of one frame pair in :func:`score_frames` (Y PSNR, RGB PSNR, Y SSIM)."""

    index: int
    psnr_y: float
    psnr_rgb: float
    ssim_y: float


@dataclass(frozen=True)
class PsnrReport:
    """Result of :func:`score_frames`: per-frame scores and their summary.

    Means leave out identical frames (``inf`` dB; counted in ``n_identical``).
    ``worst_index``/``best_index`` are by Y PSNR.
    """

    distorted: str
    reference: str
    frames: tuple[FrameScores, ...]
    height: int
    width: int
    n_distorted: int
    n_reference: int
    mean_psnr_y: float
    std_psnr_y: float
    mean_psnr_rgb: float
    mean_ssim_y: float
    worst_index: int
    best_index: int
    n_identical: int
    examples: tuple[Example, ...] = field(repr=False)
    notes: tuple[str, ...]
