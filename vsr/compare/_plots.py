"""The plots of a model comparison (:class:`vsr.compare._results.Comparison`), as PNG bytes drawn by :mod:`vsr._core._plots`.

The report compares arms: a group of models (one per seed, say) or a model without a group. Each arm has one
colour in every plot of a report (:func:`arm_colours`, grey for bicubic); a group is drawn as the mean of its
members, with their range (whiskers on bars, bands around lines) and each member as a dot on bars.

- Across test sets and conditions (when there are two or more): bars of the PSNR gain over bicubic, and of the
  temporal error of the video sets.
- Per image set: bars of each image's PSNR gain over bicubic, named by image.
- Per video clip: PSNR per frame, with bicubic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from vsr._core import bar_plot, line_plot, palette, slug
from vsr.compare._results import BICUBIC, Comparison, SetScores

__all__ = ["arm_colours", "plots"]

_SEEDS = "seeds (bar: mean, whisker: range)"
_SEEDS_RANGE = "range over seeds"


def _arms(comparison: Comparison) -> dict[str, list[str]]:
    """Arm (a group, or an ungrouped model) -> its member labels, in the order of the models."""
    arms: dict[str, list[str]] = {}
    for m in comparison.models:
        arms.setdefault(m.group or m.label, []).append(m.label)
    return arms


def _arm_label(comparison: Comparison, arm: str) -> str:
    """How an arm is named in the plots: a group with its size, a model by its label."""
    return f"{arm} (n={len(comparison.groups[arm])})" if arm in comparison.groups else arm


def arm_colours(comparison: Comparison) -> dict[str, str]:
    """Arm (group name or ungrouped model label) -> colour, and grey for bicubic: the colours of all plots of a report."""
    return palette([*_arms(comparison), BICUBIC], reference=(BICUBIC,))


def _plot_colours(comparison: Comparison) -> dict[str, str]:
    """:func:`arm_colours` under the names the plots give the arms."""
    return {(_arm_label(comparison, a) if a != BICUBIC else a): c for a, c in arm_colours(comparison).items()}


def _rows_by_group(
    comparison: Comparison, col: int, sets: Sequence[SetScores]
) -> tuple[dict[str, list[float]], dict[str, list[list[float]]]]:
    """Per arm (group or ungrouped model), on each set: the mean of summary column ``col`` over its members (bicubic
    last), and the members' values."""
    means: dict[str, list[float]] = {}
    members: dict[str, list[list[float]]] = {}
    for g, labels in _arms(comparison).items():
        vals = [[s.summary(m)[col] for s in sets] for m in labels]
        name = _arm_label(comparison, g)
        members[name] = [[float(v[k]) for v in vals if v[k] is not None] for k in range(len(sets))]  # type: ignore[arg-type]
        means[name] = [
            float(np.mean([v[k] for v in vals])) if all(v[k] is not None for v in vals) else math.nan  # type: ignore[misc]
            for k in range(len(sets))
        ]
    bicubic = [s.summary(BICUBIC)[col] for s in sets]
    means[BICUBIC] = [math.nan if v is None else float(v) for v in bicubic]
    return means, members


def _condition_plots(comparison: Comparison) -> Iterator[tuple[str, str, bytes]]:
    """Across sets and conditions: PSNR gain over bicubic, and the video sets' temporal error (when there are >= 2).

    Bars per set and condition, one per arm (a group's bar is its mean, with its seeds as dots and their range).
    """
    sets = list(comparison.sets)
    colours = _plot_colours(comparison)
    if len(sets) >= 2:
        psnrs, members = _rows_by_group(comparison, 0, sets)
        bic = psnrs.pop(BICUBIC)
        gains = {lab: [v - b for v, b in zip(vals, bic)] for lab, vals in psnrs.items()}
        spread = {lab: [[v - b for v in m] for m, b in zip(ms, bic)] for lab, ms in members.items()}
        yield ("gain_over_bicubic", "PSNR gain over bicubic on every set and condition",
               bar_plot(gains, [s.test_set.name for s in sets], title=f"PSNR gain over bicubic, x{comparison.scale}",
                        ylabel="PSNR − bicubic (dB)", spread=spread, spread_label=_SEEDS, colours=colours))
    video = [s for s in sets if s.test_set.kind == "video" and s.summary(BICUBIC)[2] is not None]
    if len(video) >= 2:
        te, members = _rows_by_group(comparison, 2, video)
        yield ("temporal_error", "Temporal error on every video set and condition",
               bar_plot(te, [s.test_set.name for s in video], title="Temporal error (lower = steadier)",
                        ylabel="TE (grey levels)", spread=members, spread_label=_SEEDS, colours=colours))


def plots(comparison: Comparison) -> Iterator[tuple[str, str, bytes]]:
    """(file stem, caption, PNG) of the plots across sets and conditions, then of every per-image (image set) and
    per-frame (video clip) PSNR plot; one colour per arm (group or ungrouped model) throughout."""
    yield from _condition_plots(comparison)
    arms = {_arm_label(comparison, a): members for a, members in _arms(comparison).items()}
    colours = _plot_colours(comparison)
    for s in comparison.sets:
        r0 = s.bicubic
        channel = "Y" if r0.protocol.y_channel else "RGB"
        bicubic = s.item_psnr(BICUBIC)
        per_model = {lab: s.item_psnr(lab) for lab in comparison.labels}
        if s.test_set.kind == "image":
            # Gains, not absolute PSNR: bars start at 0 dB, and the models' differences are fractions of a dB.
            gain = {lab: [v - b for v, b in zip(vals, bicubic)] for lab, vals in per_model.items()}
            means, spread = _arm_series(arms, gain, range(len(bicubic)))
            yield (
                slug(f"psnr_{s.test_set.name}"),
                f"{s.test_set.name}: PSNR gain over bicubic per image",
                bar_plot(means, [i.name for i in r0.items], spread=spread,
                         title=f"{s.test_set.name}: PSNR-{channel} gain over bicubic per image (crop {r0.crop_border}), "
                               f"x{comparison.scale}",
                         xlabel="image", ylabel=f"PSNR-{channel} − bicubic (dB)", spread_label=_SEEDS, colours=colours),
            )
            continue
        for c in r0.clips:
            idx = [k for k, it in enumerate(r0.items) if it.clip == c.clip]
            means, spread = _arm_series(arms, per_model, idx)
            yield (
                slug(f"psnr_{s.test_set.name}_{c.clip}"),
                f"{s.test_set.name} / {c.clip}: PSNR per frame",
                line_plot({**means, BICUBIC: [bicubic[k] for k in idx]},
                          title=f"{s.test_set.name} / {c.clip}: PSNR-{channel} per frame, x{comparison.scale}",
                          xlabel="frame", ylabel=f"PSNR-{channel} (dB)", spread=spread, spread_label=_SEEDS_RANGE,
                          colours=colours),
            )


def _arm_series(
    arms: Mapping[str, Sequence[str]], per_model: Mapping[str, Sequence[float]], idx: Iterable[int]
) -> tuple[dict[str, list[float]], dict[str, list[list[float]]]]:
    """Per arm, at each index of ``idx``: the mean of its models' values, and the values themselves."""
    idx = list(idx)
    means: dict[str, list[float]] = {}
    spread: dict[str, list[list[float]]] = {}
    for arm, labels in arms.items():
        spread[arm] = [[float(per_model[lab][k]) for lab in labels] for k in idx]
        means[arm] = [float(np.mean(m)) for m in spread[arm]]
    return means, spread
