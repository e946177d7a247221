"""A comparison's report folder: writing it, and drawing it again from the numbers it holds.

:func:`write_report_folder` writes what :func:`vsr.compare._compare.write_comparison_report` builds.
:func:`rerender_report` (``vsr compare --rerender DIR``) rebuilds the tables, plots and pages of a folder written
earlier from its ``comparison.json`` (and, for the learning curves of ``vsr experiment``, its ``curves.csv`` and
``curves.json``) with the report code of today, scoring nothing. Crops are pixels, which the JSON does not hold:
the folder's ``crops/*.png`` are kept as they are.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsr._core import write_bytes, write_csv, write_text
from vsr.compare._plots import arm_colours, plots
from vsr.compare._report import Figure, ReportPage, csv_tables, example_stem, html_report, markdown_report
from vsr.compare._results import BICUBIC, Comparison, DiffExample
from vsr.compare._serial import comparison_from_dict
from vsr.errors import InputNotFoundError, InvalidInputError
from vsr.metrics import finite_mean

if TYPE_CHECKING:
    from vsr.compare._curves import Curve

__all__ = ["default_title", "rerender_report", "write_report_folder"]

_JSON = "comparison.json"
_CURVES = "curves.csv"


def default_title(comparison: Comparison) -> str:
    """The report's title when none is given: the scale and the models."""
    return f"Model comparison, x{comparison.scale}: " + " vs ".join(comparison.labels)


def write_report_folder(
    out_dir: str | os.PathLike[str], page: ReportPage, data: dict[str, Any], *, write_crops: bool = True
) -> list[Path]:
    """Write ``comparison.json`` (``data``), the CSV tables, the page's PNGs and ``report.md``/``report.html``.

    Every file is written atomically. A figure or crop whose PNG is ``None`` is not written (the pages name it
    instead); with ``write_crops`` False no crop is written, those on disk stay. Returns the paths written:
    ``comparison.json`` first, the two pages last.
    """
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    (out / "crops").mkdir(parents=True, exist_ok=True)
    written = [write_text(out / _JSON, json.dumps(data, indent=1, allow_nan=False) + "\n", durable=False)]
    for name, (header, rows) in csv_tables(page.comparison, data).items():
        written.append(write_csv(out / name, header, rows, durable=False))
    figures = [*page.figures, *(f for _, _, extra in page.sections for f in extra)]
    pngs = [(out / "plots" / f"{stem}.png", png) for stem, _, png in figures]
    if write_crops:
        pngs += [(out / "crops" / f"{stem}.png", png) for stem, _, png in page.crops]
    written += [write_bytes(path, png, durable=False) for path, png in pngs if png is not None]
    written.append(write_text(out / "report.md", markdown_report(page), durable=False))
    written.append(write_text(out / "report.html", html_report(page), durable=False))
    return written


# --------------------------------------------------------------------------- re-rendering


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputNotFoundError(f"{path}: not found; --rerender needs the comparison.json that vsr compare wrote")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: not a vsr comparison (a JSON {type(data).__name__}, not an object)")
    return data


def _page_text(data: dict[str, Any], old_md: str, comparison: Comparison) -> tuple[str, str]:
    """Title and intro: as ``comparison.json`` keeps them, else as the report's Markdown shows them (reports
    written before the JSON kept them: the title is the first line, the intro runs to the ``## Models`` heading)."""
    kept = data.get("report")
    if isinstance(kept, dict) and isinstance(kept.get("title"), str):
        return kept["title"], str(kept.get("intro", ""))
    lines = old_md.splitlines()
    if not lines or not lines[0].startswith("# "):
        return default_title(comparison), ""
    end = next((i for i, ln in enumerate(lines) if ln == "## Models"), None)
    return lines[0][2:].strip(), "" if end is None else "\n".join(lines[1:end]).strip()


def _bicubic_of_sets(comparison: Comparison, names: set[str], frame_stride: int) -> dict[str, float]:
    """Bicubic's PSNR on each curve set as the curves were scored (LR by plain bicubic, every ``frame_stride``-th
    frame of a clip, mean of clip means), from the comparison's per-item scores of the set of that name scored
    under ``bi``; sets the comparison did not score so are left out."""
    out: dict[str, float] = {}
    for s in comparison.sets:
        if s.test_set.name not in names or s.test_set.degradation != "bi":
            continue
        if s.bicubic.protocol.aggregation != "clip-mean":
            out[s.test_set.name] = float(s.summary(BICUBIC)[0])  # type: ignore[arg-type]
            continue
        clips: dict[str, list[float]] = {}
        for it in s.bicubic.items:
            if it.index % frame_stride == 0:
                clips.setdefault(it.clip, []).append(it.bicubic_psnr)
        if clips:
            out[s.test_set.name] = finite_mean([finite_mean(v) for v in clips.values()])
    return out


def _curve_settings(folder: Path, curves: list[Curve], comparison: Comparison, old_md: str) -> dict[str, Any]:
    """``curves.json``, or for a folder written before it existed, the same recovered: the snapshot interval from
    the iterations, the frame stride from the report's text, bicubic from the comparison's items."""
    from vsr.compare._curves import CURVE_SETTINGS

    path = folder / CURVE_SETTINGS
    if path.is_file():
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            return {"snapshot_every": int(kept["snapshot_every"]), "frame_stride": int(kept["frame_stride"]),
                    "bicubic": {str(k): float(v) for k, v in kept["bicubic"].items()},
                    "levels": [float(v) for v in kept.get("levels", [])]}
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise InvalidInputError(f"{path}: not the settings of a learning-curve section ({e!r})") from None
    iterations = sorted({i for c in curves for i in c.iterations})
    steps = [b - a for a, b in zip(iterations, iterations[1:])]
    found = re.search(r"every (\d+)th frame of video sets", old_md)
    stride = int(found.group(1)) if found else 1
    return {"snapshot_every": min(steps) if steps else iterations[0], "frame_stride": stride,
            "bicubic": _bicubic_of_sets(comparison, {c.set_name for c in curves}, stride)}


def _kept(folder: Path, stem: str, png: bytes | None, old_md: str) -> bytes | None:
    """``png``, or None for a plot that the old report showed (or named) but whose file is gone from the folder:
    it was left out on purpose (e.g. a plot of data that may not be published), so it stays out."""
    path = f"plots/{stem}.png"
    return None if path in old_md and not (folder / path).is_file() else png


def rerender_report(report_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw a report folder that :func:`vsr.compare._compare.write_comparison_report` wrote again, scoring nothing.

    Rewrites ``report.md``, ``report.html``, ``plots/*.png`` and the CSV tables from ``comparison.json``, and
    adds the title and intro to it when it lacks them (taken from the old ``report.md``); every number in it
    stays as it was. With ``curves.csv`` the learning-curve section is drawn again as well (its settings from
    ``curves.json``, or recovered for folders written before it). The folder is kept as it was trimmed: a plot
    the old report showed or named but whose file was removed is not drawn back (unless the folder holds no
    plot at all), and the ``crops/*.png`` are kept as they are; the pages name each plot or crop that is not
    there in its place. Plots the old report did not have are added.

    Returns the paths written (``comparison.json`` first, ``report.md`` and ``report.html`` last).

    Raises:
        InputNotFoundError: ``report_dir`` or its ``comparison.json`` does not exist.
        InvalidInputError: ``comparison.json`` (or ``curves.csv``/``curves.json``) is not what vsr writes.
    """
    folder = Path(report_dir)
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: no such report folder")
    path = folder / _JSON
    data = _load(path)
    try:
        comparison = comparison_from_dict(data)
    except InvalidInputError as e:
        raise InvalidInputError(f"{path}: {e}") from None
    old_md = (folder / "report.md").read_text(encoding="utf-8") if (folder / "report.md").is_file() else ""
    title, intro = _page_text(data, old_md, comparison)
    # A folder without any plot is drawn in full; otherwise plots removed from it stay out (see _kept).
    trimmed = old_md if any((folder / "plots").glob("*.png")) else ""
    figures = [(stem, cap, _kept(folder, stem, png, trimmed)) for stem, cap, png in plots(comparison)]
    sections: list[tuple[str, str, list[Figure]]] = []
    if (folder / _CURVES).is_file():
        # Imported here: the curves module loads the evaluation engine, which a report without curves never needs.
        from vsr.compare._curves import curve_section, read_curves

        curves = read_curves(folder / _CURVES)
        if curves:
            groups = {m.label: m.group for m in comparison.models if m.group}
            heading, text, extra = curve_section(
                curves, precision=comparison.precision, groups=groups, colours=arm_colours(comparison),
                **_curve_settings(folder, curves, comparison, old_md),
            )
            sections.append((heading, text, [(s, c, _kept(folder, s, p, trimmed)) for s, c, p in extra]))
    crops: list[tuple[str, DiffExample, bytes | None]] = []
    for e in comparison.examples:
        tiles = folder / "crops" / f"{example_stem(e)}.png"
        crops.append((example_stem(e), e, tiles.read_bytes() if tiles.is_file() else None))
    page = ReportPage(comparison, title, intro, sections, figures, crops)
    return write_report_folder(folder, page, {**data, "report": {"title": title, "intro": intro}}, write_crops=False)
