"""Training batches: random paired LR/HR patches drawn from frame sources, reproducible batch by batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from vsr.data._compress import degraded_pair
from vsr.data._datasets import FrameSource
from vsr.data._patches import DIHEDRAL, crop_pair, dihedral, hr_usable_shape
from vsr.data._specs import DegradationMix
from vsr.errors import DatasetError

__all__ = ["PatchBatch", "PatchSampler"]


@dataclass(frozen=True)
class PatchBatch:
    """One training mini-batch: uint8 RGB ``N x 3 x p x p`` LR and ``N x 3 x ps x ps`` HR, and its scale."""

    lr: torch.Tensor
    hr: torch.Tensor
    scale: int

    def __repr__(self) -> str:
        return f"PatchBatch(lr={tuple(self.lr.shape)}, hr={tuple(self.hr.shape)}, scale={self.scale})"


_MAX_REDRAWS = 100


class PatchSampler(Dataset):
    """Training batches of random paired patches, batch ``i`` a pure function of ``(seed, rank, i)``.

    Because each batch depends only on its index, a run resumed at iteration
    ``i`` sees exactly the batches an uninterrupted run would, without saving any
    loader state, and any number of DataLoader workers gives the same stream.

    Each patch picks a source with probability proportional to ``weights``,
    then a frame uniformly, then a position; frames smaller than the patch are
    redrawn. With several ``scales`` (MDSR), each batch uses one scale, chosen
    from ``(seed, i)`` only, so every DDP rank trains the same branch.

    Without a ``degradation`` the LR is the source's shipped LR or MATLAB bicubic.
    With one, each patch draws its degradation from the mixture; a codec
    degradation compresses a clip around the frame (its real neighbours in a
    video source, a simulated pan of ``clip_frames`` frames over a still) and
    cuts the patch from the middle frame (:func:`vsr.data._compress.degraded_pair`).
    The codecs run with one thread and fixed settings, and gave the same bits for
    the same clip in every repeat measured, so a batch stays a function of its index.

    Args:
        sources: frame sources to mix.
        weights: relative sampling weight of each source (default: equal).
        scales: scales to train; one is drawn per batch.
        lr_patch: patch side in LR pixels (HR patch = ``lr_patch * scale``).
        batch_size: patches per batch (per process under DDP).
        augment: apply one of the 8 dihedral transforms to each pair.
        seed: base seed of the stream.
        rank: DDP rank; ranks draw different patches.
        degradation: how LR patches are made (``None``: shipped LR or bicubic, as before mixtures existed).
        clip_frames: frames per compressed clip (1: each patch's frame is encoded alone, intra-only).
    """

    def __init__(
        self,
        sources: Sequence[FrameSource],
        *,
        weights: Sequence[float] | None = None,
        scales: Sequence[int],
        lr_patch: int,
        batch_size: int,
        augment: bool = True,
        seed: int = 0,
        rank: int = 0,
        degradation: DegradationMix | None = None,
        clip_frames: int = 5,
    ) -> None:
        if not sources:
            raise DatasetError("no training sources given; list at least one [[data.sources]]")
        for s in sources:
            if len(s) == 0:
                raise DatasetError(f"training source {s.name or s!r} is empty")
        w = [1.0] * len(sources) if weights is None else [float(x) for x in weights]
        if len(w) != len(sources) or any(x < 0 for x in w) or sum(w) <= 0:
            raise DatasetError(f"source weights must be {len(sources)} non-negative numbers with a positive sum, got {w}")
        if lr_patch < 1 or batch_size < 1:
            raise DatasetError(f"lr_patch and batch_size must be >= 1, got {lr_patch} and {batch_size}")
        if not scales:
            raise DatasetError("no training scale given")
        if clip_frames < 1:
            raise DatasetError(f"clip_frames must be >= 1, got {clip_frames}")
        if degradation is not None and "bd" in degradation.kinds and set(scales) != {4}:
            raise DatasetError(f"degradation {degradation.name!r}: bd is defined for x4 only, the scales are {list(scales)}")
        self.sources = list(sources)
        self.probs = np.asarray(w, dtype=np.float64) / sum(w)
        self.scales = tuple(int(s) for s in scales)
        self.lr_patch = int(lr_patch)
        self.batch_size = int(batch_size)
        self.augment = augment
        self.seed = int(seed)
        self.rank = int(rank)
        self.degradation = degradation
        self.clip_frames = int(clip_frames)
        self._check_sizes()

    def _check_sizes(self) -> None:
        """With cached sources, fail early if no frame is large enough for the patch."""
        for src in self.sources:
            frames = src.cached_frames()
            if frames is None:
                continue
            for s in self.scales:
                need = self.lr_patch * s
                if not any(min(hr_usable_shape(img.shape, s)) >= need for img in frames):
                    raise DatasetError(
                        f"{src.name}: no frame is at least {need}x{need} HR pixels, needed for a "
                        f"{self.lr_patch}x{self.lr_patch} LR patch at x{s}; lower data.lr_patch"
                    )

    def scale_for(self, index: int) -> int:
        """The scale of batch ``index``."""
        if len(self.scales) == 1:
            return self.scales[0]
        rng = np.random.default_rng([self.seed, index, 0x5CA1E])
        return self.scales[int(rng.integers(len(self.scales)))]

    def _patch(self, rng: np.random.Generator, scale: int) -> tuple[np.ndarray, np.ndarray]:
        need = self.lr_patch * scale
        for _ in range(_MAX_REDRAWS):
            src = self.sources[int(rng.choice(len(self.sources), p=self.probs))]
            i = int(rng.integers(len(src)))
            hr = src.hr(i)
            if min(hr_usable_shape(hr.shape, scale)) < need:
                continue
            lr_p, hr_p = self._pair(src, i, hr, scale, rng)
            if self.augment:
                k = int(rng.integers(len(DIHEDRAL)))
                lr_p, hr_p = dihedral(lr_p, k), dihedral(hr_p, k)
            return lr_p, hr_p
        raise DatasetError(
            f"{_MAX_REDRAWS} frames in a row were smaller than {need}x{need} HR pixels (a {self.lr_patch}-pixel "
            f"LR patch at x{scale}); last source {src.name}; lower data.lr_patch or drop small images"
        )

    def _pair(
        self, src: FrameSource, i: int, hr: np.ndarray, scale: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        deg = None if self.degradation is None else self.degradation.sample(rng)
        if deg is None or (deg.codec is None and deg.kind == "bi"):
            return crop_pair(hr, src.lr(i, scale), scale=scale, lr_patch=self.lr_patch, rng=rng)
        clip = src.neighbours(i, self.clip_frames) if deg.codec is not None else None
        frames = [hr] if clip is None else [src.hr(j) for j in clip]
        center = 0 if clip is None else len(clip) // 2
        return degraded_pair(frames, center, scale=scale, lr_patch=self.lr_patch, degradation=deg,
                             clip_frames=self.clip_frames, rng=rng)

    def batch(self, index: int) -> PatchBatch:
        """Batch number ``index`` (0-based) of the stream."""
        scale = self.scale_for(index)
        rng = np.random.default_rng([self.seed, self.rank, index])
        pairs = [self._patch(rng, scale) for _ in range(self.batch_size)]
        lr = np.stack([p[0] for p in pairs]).transpose(0, 3, 1, 2)
        hr = np.stack([p[1] for p in pairs]).transpose(0, 3, 1, 2)
        return PatchBatch(torch.from_numpy(np.ascontiguousarray(lr)), torch.from_numpy(np.ascontiguousarray(hr)), scale)

    def __getitem__(self, index: int) -> PatchBatch:
        return self.batch(index)

    def __len__(self) -> int:
        # The stream is unbounded; DataLoaders get an explicit range of indices as their sampler.
        return 2**62

    def __repr__(self) -> str:
        names = ", ".join(f"{s.name}:{p:.2f}" for s, p in zip(self.sources, self.probs))
        return (
            f"PatchSampler([{names}], scales={self.scales}, lr_patch={self.lr_patch}, "
            f"batch_size={self.batch_size}, augment={self.augment}"
            + ("" if self.degradation is None else f", degradation={self.degradation.name!r}, clip_frames={self.clip_frames}")
            + ")"
        )
