"""Learning curves from training snapshots: each snapshot of each run scored on test sets after training.

A run trained with ``train.snapshot_every`` keeps its weights at every multiple
of it (:func:`vsr.train.list_snapshots`). :func:`score_snapshots` scores them
with :func:`vsr.evaluation._evaluate.evaluate` (image sets under ``edsr-benchmark``, video
sets under ``video``, optionally on every k-th frame to keep it cheap), caching
each score by the snapshot's SHA-256 in a JSON file so an interrupted or
repeated run redoes nothing. :func:`curve_figures` draws one plot per test set
with a line per run (or per group mean, in a band of its seeds' range) against
training iterations, and :func:`curve_section` the report's section around them.

A report folder keeps the curves in ``curves.csv`` (:func:`curve_rows`, read back by
:func:`read_curves`) and what else the section needs in ``curves.json``
(:func:`write_curve_settings`), so that the section can be drawn again without scoring.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vsr._core import sha256_file, write_text
from vsr.errors import InvalidInputError
from vsr.evaluation import detect_layout, evaluate
from vsr.inference import Upscaler
from vsr.models import load_model
from vsr._core import line_plot
from vsr.train import list_snapshots

__all__ = [
    "CURVE_SETTINGS",
    "Curve",
    "bicubic_reference",
    "curve_figures",
    "curve_rows",
    "curve_section",
    "first_reaching",
    "level_table",
    "read_curves",
    "score_snapshots",
    "write_curve_settings",
]

#: The file, beside ``curves.csv``, with the learning-curve section's other inputs (:func:`write_curve_settings`).
CURVE_SETTINGS = "curves.json"


@dataclass(frozen=True)
class Curve:
    """One run's PSNR on one test set at each snapshot iteration (same length, iteration order)."""

    label: str
    set_name: str
    iterations: tuple[int, ...]
    psnr: tuple[float, ...]


def _set_name(path: str) -> str:
    p = Path(path)
    return p.stem if p.is_file() else p.name


def _read_cache(path: Path | None) -> dict[str, float]:
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a damaged cache only costs a recomputation
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_cache(path: Path | None, cache: Mapping[str, float]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(dict(sorted(cache.items())), indent=1) + "\n", durable=False)


def score_snapshots(
    runs: Mapping[str, str | os.PathLike[str]],
    test_sets: Sequence[str | os.PathLike[str]],
    *,
    scale: int,
    device: str = "auto",
    precision: str = "auto",
    frame_stride: int = 1,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> list[Curve]:
    """PSNR of every snapshot of every run on every test set (LR by MATLAB bicubic).

    Args:
        runs: label -> run folder holding ``snapshots/iter_*.pt``.
        test_sets: image sets (EDSR layout or folders of images) and video sets
            (frame folders, video files); each is scored under its default protocol.
        frame_stride: on video sets, score every ``frame_stride``-th frame.
        cache: JSON file of earlier scores, keyed by snapshot hash and settings.

    Raises:
        InvalidInputError: a run has no snapshots (was ``train.snapshot_every`` set?).
    """
    cache_path = None if cache is None else Path(cache)
    scores = _read_cache(cache_path)
    curves: list[Curve] = []
    for label, run_dir in runs.items():
        snaps = list_snapshots(run_dir)
        if not snaps:
            raise InvalidInputError(f"{run_dir}: no snapshots to draw a learning curve from; set train.snapshot_every")
        per_set: dict[str, list[float]] = {os.fspath(s): [] for s in test_sets}
        for iteration, path in snaps:
            digest = sha256_file(path)
            upscaler: Upscaler | None = None
            for ts in test_sets:
                video = detect_layout(ts) not in ("edsr", "images")
                key = f"{digest}|{_set_name(os.fspath(ts))}|x{scale}|{precision}|stride{frame_stride if video else 1}"
                if key not in scores:
                    if upscaler is None:
                        upscaler = Upscaler(load_model(path, device="cpu"), scale=scale, device=device, precision=precision)
                    if progress:
                        print(f"vsr curves: {label} iteration {iteration} on {_set_name(os.fspath(ts))}", flush=True)
                    r = evaluate(ts, scale, upscaler, frame_stride=frame_stride if video else 1)
                    scores[key] = float(r.mean.psnr)  # type: ignore[arg-type]
                    _write_cache(cache_path, scores)
                per_set[os.fspath(ts)].append(scores[key])
        iterations = tuple(i for i, _ in snaps)
        curves += [Curve(label, _set_name(s), iterations, tuple(v)) for s, v in per_set.items()]
    return curves


def bicubic_reference(
    test_sets: Sequence[str | os.PathLike[str]], *, scale: int, frame_stride: int = 1
) -> dict[str, float]:
    """Bicubic PSNR of each test set scored exactly as :func:`score_snapshots` scores the models (set name -> dB)."""
    out = {}
    for ts in test_sets:
        video = detect_layout(ts) not in ("edsr", "images")
        out[_set_name(os.fspath(ts))] = float(evaluate(ts, scale, frame_stride=frame_stride if video else 1).mean.bicubic_psnr)
    return out


def curve_rows(curves: Sequence[Curve]) -> list[list[object]]:
    """``[label, set, iteration, psnr]`` rows, for CSV."""
    return [[c.label, c.set_name, i, p] for c in curves for i, p in zip(c.iterations, c.psnr)]


def curve_figures(
    curves: Sequence[Curve],
    *,
    groups: Mapping[str, str] | None = None,
    bicubic: Mapping[str, float] | None = None,
    colours: Mapping[str, str] | None = None,
) -> list[tuple[str, str, bytes]]:
    """(file stem, caption, PNG) per test set: PSNR against training iterations, one line per run.

    With ``groups`` (label -> group) each group is drawn as the mean of its runs,
    in a band from their minimum to their maximum (runs of a group must share
    their iterations). ``bicubic`` (set -> PSNR) adds a dashed reference line.
    ``colours`` maps a group (or an ungrouped run's label) to its colour in the
    rest of the report.
    """
    out: list[tuple[str, str, bytes]] = []
    for set_name in dict.fromkeys(c.set_name for c in curves):
        mine = [c for c in curves if c.set_name == set_name]
        series: dict[str, list[float]] = {}
        xs: dict[str, Sequence[int]] = {}
        spread: dict[str, list[list[float]]] = {}
        col: dict[str, str] = {}
        if groups:
            members: dict[str, list[Curve]] = {}
            for c in mine:
                members.setdefault(groups.get(c.label, c.label), []).append(c)
            for g, cs in members.items():
                if any(c.iterations != cs[0].iterations for c in cs):
                    raise InvalidInputError(f"runs of group {g!r} were snapshotted at different iterations")
                name = f"{g} (n={len(cs)})" if cs[0].label in groups else g
                series[name], xs[name] = list(np.mean([c.psnr for c in cs], axis=0)), cs[0].iterations
                spread[name] = [list(p) for p in zip(*(c.psnr for c in cs))]
                if colours and g in colours:
                    col[name] = colours[g]
        else:
            series = {c.label: list(c.psnr) for c in mine}
            xs = {c.label: c.iterations for c in mine}
            col = {lab: colours[lab] for lab in series if colours and lab in colours}
        references = {"bicubic": bicubic[set_name]} if bicubic and set_name in bicubic else {}
        if colours and "bicubic" in colours:
            col["bicubic"] = colours["bicubic"]
        png = line_plot(
            series, x=xs, title=f"{set_name}: PSNR against training iterations", xlabel="training iteration",
            ylabel="PSNR (dB)", spread=spread, spread_label="range over seeds", references=references, colours=col,
        )
        out.append((f"curve_{set_name}", f"{set_name}: learning curve", png))
    return out


def first_reaching(curve: Curve, level: float) -> int | None:
    """The first snapshot iteration at which ``curve`` is at or above ``level`` dB (None: never within the run).

    Snapshots are the resolution: a run that crosses the level between two snapshots is credited with the later one.
    """
    return next((i for i, p in zip(curve.iterations, curve.psnr) if p >= level), None)


def level_table(
    curves: Sequence[Curve], levels: Sequence[float], groups: Mapping[str, str] | None = None
) -> list[str]:
    """Markdown table: per curve set and group (or run), the iterations each run needs to reach each level.

    A cell lists the runs of the group in label order (e.g. ``750 / 1000``); ``>3000`` when a run never got there
    within its last snapshot.
    """
    if not levels or not curves:
        return []
    head = ["set", "model"] + [f"iterations to {lv:g} dB" for lv in levels] + ["last snapshot (dB)"]
    rows = []
    for set_name in dict.fromkeys(c.set_name for c in curves):
        members: dict[str, list[Curve]] = {}
        for c in sorted((c for c in curves if c.set_name == set_name), key=lambda c: c.label):
            members.setdefault((groups or {}).get(c.label, c.label), []).append(c)
        for g, cs in members.items():
            cells = [" / ".join(str(it) if (it := first_reaching(c, lv)) is not None else f">{c.iterations[-1]}"
                                for c in cs) for lv in levels]
            rows.append([set_name, g, *cells, " / ".join(f"{c.psnr[-1]:.2f}" for c in cs)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def curve_section(
    curves: Sequence[Curve],
    *,
    snapshot_every: int,
    precision: str,
    frame_stride: int = 1,
    groups: Mapping[str, str] | None = None,
    bicubic: Mapping[str, float] | None = None,
    colours: Mapping[str, str] | None = None,
    levels: Sequence[float] = (),
) -> tuple[str, str, list[tuple[str, str, bytes]]]:
    """The report's learning-curve section: its heading, its Markdown text (every run's values) and its figures.

    ``precision`` is the inference precision the snapshots were scored in and ``frame_stride`` the stride on
    video sets; ``groups``, ``bicubic`` and ``colours`` are :func:`curve_figures`'; ``levels`` (dB) add
    :func:`level_table`.
    """
    figures = curve_figures(curves, groups=groups or None, bicubic=bicubic, colours=colours)
    finals = [f"{cv.label} on {cv.set_name}: " + ", ".join(f"{p:.2f}" for p in cv.psnr) for cv in curves]
    stride = f", every {frame_stride}th frame of video sets" if frame_stride > 1 else ""
    text = (
        f"PSNR (dB) of each run's snapshot every {snapshot_every} iterations, inference in {precision}{stride}; "
        "lines are group means over seeds (bands: their range), with bicubic for reference. "
        "Values per run, first to last snapshot:\n\n" + "\n".join(f"- {f}" for f in finals)
    )
    table = level_table(curves, levels, groups)
    if table:
        text += ("\n\nIterations each run needed to reach each level (the first snapshot at or above it; runs of a "
                 "group in label order, i.e. by seed):\n\n" + "\n".join(table))
    return "Learning curves", text, figures


def read_curves(path: str | os.PathLike[str]) -> list[Curve]:
    """The curves of a ``curves.csv`` (:func:`curve_rows` under the header ``model,set,iteration,psnr``), in its order.

    Raises:
        InvalidInputError: the file is not such a table.
    """
    points: dict[tuple[str, str], list[tuple[int, float]]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ["model", "set", "iteration", "psnr"]:
            raise InvalidInputError(f"{path}: header {reader.fieldnames}, not model,set,iteration,psnr")
        try:
            for row in reader:
                points.setdefault((row["model"], row["set"]), []).append((int(row["iteration"]), float(row["psnr"])))
        except (ValueError, TypeError) as e:
            raise InvalidInputError(f"{path}: not a table of learning curves (line {reader.line_num}: {e})") from None
    return [Curve(label, set_name, tuple(i for i, _ in pts), tuple(p for _, p in pts))
            for (label, set_name), pts in points.items()]


def write_curve_settings(
    report_dir: str | os.PathLike[str], *, snapshot_every: int, frame_stride: int, bicubic: Mapping[str, float],
    levels: Sequence[float] = (),
) -> Path:
    """Write ``curves.json`` into ``report_dir``: what :func:`curve_section` needs besides the curves and the
    comparison (the snapshot interval, the frame stride, bicubic's PSNR per curve set, the levels of the table)."""
    data: dict[str, Any] = {"snapshot_every": snapshot_every, "frame_stride": frame_stride, "bicubic": dict(bicubic),
                            "levels": [float(v) for v in levels]}
    return write_text(Path(report_dir) / CURVE_SETTINGS, json.dumps(data, indent=1) + "\n", durable=False)
