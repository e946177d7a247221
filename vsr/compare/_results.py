"""The result of a model comparison (:func:`vsr.compare._compare.compare_models`) as plain frozen dataclasses,
and the group statistics derived from it: what :mod:`vsr.compare._report` tabulates and draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vsr.evaluation import Layout, EvalResult

__all__ = [
    "BICUBIC",
    "Comparison",
    "DiffExample",
    "ModelInfo",
    "SetKind",
    "SetScores",
    "TestSet",
    "group_stats",
]

#: Row label of the bicubic baseline (reserved: no model may use it).
BICUBIC = "bicubic"

SetKind = Literal["image", "video"]


@dataclass(frozen=True)
class TestSet:
    """One test set under one degradation: ``name`` heads its table column; ``kind`` picks the protocol.

    ``degradation`` is a spec (:func:`vsr.data.parse_degradation`); a set scored
    under several conditions appears once per condition, named ``set [spec]``.
    """

    name: str
    path: str
    kind: SetKind
    layout: Layout
    degradation: str = "bi"


@dataclass(frozen=True)
class ModelInfo:
    """A compared model: its row label, where it came from, its shape and its group (``""`` for none)."""

    label: str
    source: str
    description: str
    params: int
    group: str = ""


@dataclass(frozen=True)
class SetScores:
    """The evaluation of every model on one test set, by label (bicubic is in each result)."""

    test_set: TestSet
    results: Mapping[str, EvalResult] = field(repr=False)

    @property
    def bicubic(self) -> EvalResult:
        """Any of the results: each carries the (deterministic) bicubic scores."""
        return next(iter(self.results.values()))

    def summary(self, label: str) -> tuple[float | None, float | None, float | None]:
        """(PSNR, SSIM, temporal error) of ``label`` (or :data:`BICUBIC`) under the set's protocol."""
        if label == BICUBIC:
            m = self.bicubic.mean
            return m.bicubic_psnr, m.bicubic_ssim, m.bicubic_temporal
        m = self.results[label].mean
        return m.psnr, m.ssim, m.temporal

    def item_psnr(self, label: str) -> list[float]:
        """Per-item (image or frame) PSNR of ``label`` in evaluation order."""
        if label == BICUBIC:
            return [i.bicubic_psnr for i in self.bicubic.items]
        return [float(i.psnr) for i in self.results[label].items]  # type: ignore[arg-type]


@dataclass(frozen=True)
class DiffExample:
    """Crops of the item (image or frame) of a set where the models differ most.

    ``psnr`` maps each label (and bicubic) to its PSNR on the whole item, as the
    protocol scores it; ``crops`` maps ``ground truth``, ``bicubic`` and each label
    to the same ``side × side`` window at ``(top, left)`` of the output.
    """

    set_name: str
    clip: str
    item: str
    spread: float
    top: int
    left: int
    side: int
    psnr: Mapping[str, float]
    crops: Mapping[str, np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`vsr.compare._compare.compare_models`: every model and bicubic on every set, and the crops."""

    scale: int
    models: tuple[ModelInfo, ...]
    sets: tuple[SetScores, ...]
    examples: tuple[DiffExample, ...]
    degradation: str
    device: str
    precision: str
    notes: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """Model labels in the order given (bicubic not included)."""
        return tuple(m.label for m in self.models)

    @property
    def groups(self) -> dict[str, list[str]]:
        """Group name -> member labels, in order; empty when the models are not grouped."""
        out: dict[str, list[str]] = {}
        for m in self.models:
            if m.group:
                out.setdefault(m.group, []).append(m.label)
        return out


@dataclass(frozen=True)
class GroupStats:
    """A group's mean on one set and metric, its members' values, and its difference from the first group.

    ``spread`` is max - min over the members (the seed-to-seed range; ``None``
    with one member). ``delta`` is this group's mean minus the first group's;
    ``paired`` lists member-by-member differences (members matched by position,
    e.g. by seed) when both groups have the same size.
    """

    group: str
    set_name: str
    metric: str
    values: tuple[float, ...]
    mean: float
    spread: float | None
    delta: float | None
    paired: tuple[float, ...] | None


def group_stats(comparison: Comparison, metric: Literal["psnr", "ssim", "temporal"] = "psnr") -> list[GroupStats]:
    """Per group and set: the members' values, their mean and range, and the difference from the first group."""
    groups = comparison.groups
    if not groups:
        return []
    col = {"psnr": 0, "ssim": 1, "temporal": 2}[metric]
    out: list[GroupStats] = []
    for scores in comparison.sets:
        base: list[float] | None = None
        for name, members in groups.items():
            vals = [scores.summary(m)[col] for m in members]
            if any(v is None for v in vals):
                continue
            values = [float(v) for v in vals]  # type: ignore[arg-type]
            mean = float(np.mean(values))
            if base is None:
                base = values
                delta, paired = None, None
            else:
                delta = mean - float(np.mean(base))
                paired = tuple(a - b for a, b in zip(values, base)) if len(values) == len(base) else None
            spread = max(values) - min(values) if len(values) > 1 else None
            out.append(GroupStats(name, scores.test_set.name, metric, tuple(values), mean, spread, delta, paired))
    return out
