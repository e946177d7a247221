"""Tables, crops and pages of a model comparison (:class:`vsr.compare._results.Comparison`).

:func:`vsr.compare._compare.write_comparison_report` writes what this module builds:
the summary table (best value per column in bold, signed differences between
models), per-clip and group tables, the tiles of the crops where the models
differ most, the CSV rows, and the Markdown and HTML pages around them and
around the plots of :mod:`vsr.compare._plots` (the JSON: :mod:`vsr.compare._serial`).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vsr.compare._results import BICUBIC, Comparison, DiffExample, SetScores, group_stats
from vsr.evaluation import Summary
from vsr._core import (
    html_document,
    html_table,
    markdown_table,
    number_text,
    png_data_uri,
    render_tiles,
    slug,
)

__all__ = [
    "ReportPage",
    "csv_tables",
    "example_stem",
    "example_tiles",
    "group_table",
    "html_report",
    "markdown_report",
    "protocol_lines",
    "summary_table",
]

#: (file stem, caption, PNG) of a figure of the report; PNG ``None``: a figure left out of the report's folder.
Figure = tuple[str, str, "bytes | None"]


@dataclass(frozen=True)
class ReportPage:
    """What ``report.md`` and ``report.html`` show: the comparison, and the figures and crops drawn from it.

    ``sections`` are ``(heading, Markdown text, figures)`` placed after the group
    tables; ``figures`` are the per-frame/per-image plots (:func:`plots`) and
    ``crops`` the tiles of :func:`example_tiles`. A figure or crop whose PNG is
    ``None`` is not in the report's folder (a re-rendered report keeps a folder as
    it was trimmed, and cannot draw crops): both pages name its file instead.
    """

    comparison: Comparison
    title: str
    intro: str
    sections: Sequence[tuple[str, str, Sequence[Figure]]]
    figures: Sequence[Figure]
    crops: Sequence[tuple[str, DiffExample, bytes | None]]


# --------------------------------------------------------------------------- tables


def _cell(v: float | None, digits: int, signed: bool = False) -> str:
    return number_text(v, digits, signed=signed, missing="n/a")


def _columns(comparison: Comparison) -> list[tuple[SetScores, str, int, int, bool]]:
    """(set, header, summary index, digits, higher is better) for each column of the summary table."""
    cols = []
    for s in comparison.sets:
        cols.append((s, f"{s.test_set.name} PSNR", 0, 2, True))
        cols.append((s, f"{s.test_set.name} SSIM", 1, 4, True))
        if s.test_set.kind == "video" and s.bicubic.mean.bicubic_temporal is not None:
            cols.append((s, f"{s.test_set.name} TE", 2, 2, False))
    return cols


def _best_cells(rows: Sequence[Sequence[float | None]], higher: Sequence[bool]) -> set[tuple[int, int]]:
    """(row, column) of the best value in each column (ties all marked); columns are 1-based in the table."""
    best: set[tuple[int, int]] = set()
    for j, hi in enumerate(higher):
        vals = [(i, r[j]) for i, r in enumerate(rows) if r[j] is not None and math.isfinite(r[j])]  # type: ignore[arg-type]
        if not vals:
            continue
        target = max(v for _, v in vals) if hi else min(v for _, v in vals)  # type: ignore[type-var]
        best.update((i, j + 1) for i, v in vals if round(v, 6) == round(target, 6))  # type: ignore[arg-type]
    return best


def summary_table(comparison: Comparison) -> tuple[list[str], list[list[str]], set[tuple[int, int]]]:
    """Header, rows (models, bicubic, then differences from the first model) and the best cells."""
    cols = _columns(comparison)
    labels = [*comparison.labels, BICUBIC]
    values = [[s.summary(lab)[k] for s, _, k, _, _ in cols] for lab in labels]
    rows = [[lab, *(_cell(v, d) for v, (_, _, _, d, _) in zip(vals, cols))] for lab, vals in zip(labels, values)]
    best = _best_cells(values, [hi for *_, hi in cols])
    ref = comparison.labels[0]
    for lab in comparison.labels[1:]:
        diffs = []
        for s, _, k, d, _ in cols:
            a, b = s.summary(lab)[k], s.summary(ref)[k]
            diffs.append(_cell(None if a is None or b is None else a - b, d, signed=True))
        rows.append([f"Δ {lab} − {ref}", *diffs])
    return ["model", *(h for _, h, _, _, _ in cols)], rows, best


def _clip_table(scores: SetScores, labels: Sequence[str]) -> tuple[list[str], list[list[str]], set[tuple[int, int]]]:
    """Per-clip PSNR / SSIM / TE of every model and bicubic on one video set."""
    clips = [c.clip for c in scores.bicubic.clips]
    header = ["model"]
    for c in clips:
        header += [f"{c} PSNR", f"{c} SSIM", f"{c} TE"]
    values: list[list[float | None]] = []
    for lab in [*labels, BICUBIC]:
        row: list[float | None] = []
        for c in clips:
            cs: Summary = next(x.scores for x in scores.results[labels[0] if lab == BICUBIC else lab].clips if x.clip == c)
            row += [cs.bicubic_psnr, cs.bicubic_ssim, cs.bicubic_temporal] if lab == BICUBIC else [cs.psnr, cs.ssim, cs.temporal]
        values.append(row)
    digits = [2, 4, 2] * len(clips)
    rows = [[lab, *(_cell(v, d) for v, d in zip(vals, digits))] for lab, vals in zip([*labels, BICUBIC], values)]
    return header, rows, _best_cells(values, [True, True, False] * len(clips))


def group_table(
    comparison: Comparison, metric: Literal["psnr", "temporal"] = "psnr"
) -> tuple[list[str], list[list[str]]] | None:
    """Group means ± range, bicubic, and the difference between groups per set, or None without groups.

    ``metric`` ``temporal`` tabulates the temporal error (video sets only; lower is steadier).
    """
    stats = group_stats(comparison, metric)
    if not stats:
        return None
    sets = [s for s in comparison.sets if metric == "psnr" or s.summary(BICUBIC)[2] is not None]
    if not sets:
        return None
    col = 0 if metric == "psnr" else 2
    unit = "PSNR, dB" if metric == "psnr" else "TE, grey levels"
    header = [f"group ({unit})", *(s.test_set.name for s in sets)]
    rows: list[list[str]] = []
    groups = list(comparison.groups)
    for g in groups:
        row = [f"{g} (n={len(comparison.groups[g])})"]
        for s in sets:
            st = next((x for x in stats if x.group == g and x.set_name == s.test_set.name), None)
            row.append("" if st is None else f"{st.mean:.3f}" + ("" if st.spread is None else f" (range {st.spread:.3f})"))
        rows.append(row)
    rows.append([BICUBIC, *(_cell(s.summary(BICUBIC)[col], 3) for s in sets)])
    for g in groups[1:]:
        row = [f"Δ {g} − {groups[0]}"]
        for s in sets:
            st = next((x for x in stats if x.group == g and x.set_name == s.test_set.name), None)
            if st is None or st.delta is None:
                row.append("")
                continue
            base = next(x for x in stats if x.group == groups[0] and x.set_name == s.test_set.name)
            noise = max((v for v in (st.spread, base.spread) if v is not None), default=None)
            cell = f"{st.delta:+.3f}"
            if st.paired is not None and len(st.paired) > 1:
                cell += " (paired " + ", ".join(f"{p:+.3f}" for p in st.paired) + ")"
            if noise is not None and noise > 0:
                cell += " > seed range" if abs(st.delta) > noise else " ≤ seed range"
            row.append(cell)
        rows.append(row)
    return header, rows


def _shown(path: str) -> str:
    """``path`` relative to the current directory when it lies at most one level above it (for readable reports)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return rel if not rel.startswith(os.pardir + os.sep + os.pardir) else path


def _params(n: int) -> str:
    return f"{n / 1e6:.2f}M parameters" if n >= 10_000 else f"{n:,} parameters"


def protocol_lines(comparison: Comparison) -> list[str]:
    lines = []
    for s in comparison.sets:
        r = s.bicubic
        p = r.protocol
        mean = "mean of clip means" if p.aggregation == "clip-mean" else "mean over images"
        count = f"{len(r.clips)} clip(s), {len(r.items)} frames" if p.aggregation == "clip-mean" else f"{len(r.items)} images"
        lines.append(
            f"{s.test_set.name} ({s.test_set.kind} set, {count}, {_shown(s.test_set.path)}): protocol {p.name}, "
            f"{'Y' if p.y_channel else 'RGB'} channel, crop {r.crop_border}, {mean}, LR by {r.degradation}"
        )
    return lines


# --------------------------------------------------------------------------- CSV


def csv_tables(comparison: Comparison, data: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """File name -> (header, rows) of ``summary.csv``, ``clips.csv`` and ``items.csv``; ``data`` is :func:`comparison_to_dict`'s."""
    labels = (*comparison.labels, BICUBIC)
    return {
        "summary.csv": (
            ["set", "kind", "protocol", "model", "psnr", "ssim", "temporal_error"],
            [[s.test_set.name, s.test_set.kind, s.bicubic.protocol.name, lab, *s.summary(lab)]
             for s in comparison.sets for lab in labels],
        ),
        "clips.csv": (
            ["set", "clip", "frames", "model", "psnr", "ssim", "temporal_error"],
            [[s.test_set.name, c["clip"], c["frames"], lab, c[lab]["psnr"], c[lab]["ssim"], c[lab]["temporal_error"]]
             for s, d in zip(comparison.sets, data["sets"]) for c in d.get("clips", []) for lab in labels],
        ),
        "items.csv": (
            ["set", "clip", "name", "index", "model", "psnr", "ssim"],
            [[d["name"], it["clip"], it["name"], it["index"], lab, it["psnr"][lab], it["ssim"][lab]]
             for d in data["sets"] for it in d["items"] for lab in labels],
        ),
    }


# --------------------------------------------------------------------------- crops


def _example_png(e: DiffExample, labels: Sequence[str]) -> bytes:
    tiles = [("ground truth", e.crops["ground truth"])]
    tiles += [(f"{lab}\n{_cell(e.psnr[lab], 2)} dB", e.crops[lab]) for lab in (*labels, BICUBIC)]
    return render_tiles(tiles, magnify=2)


def _example_caption(e: DiffExample) -> str:
    where = f"{e.clip}/{e.item}" if e.clip else e.item
    return (
        f"{e.set_name}: {where} (PSNR spread {e.spread:.2f} dB), {e.side}x{e.side} window at x={e.left}, y={e.top} "
        "where the outputs differ most, shown at 2x; dB = PSNR of the whole image/frame"
    )




def example_stem(e: DiffExample) -> str:
    """The file stem of an example's tiles in ``crops/``."""
    return slug(f"{e.set_name}_{e.clip}_{e.item}" if e.clip else f"{e.set_name}_{e.item}")


def example_tiles(comparison: Comparison) -> list[tuple[str, DiffExample, bytes | None]]:
    """(file stem, example, PNG of its side-by-side tiles) for every example of the comparison."""
    labels = list(comparison.labels)
    return [(example_stem(e), e, _example_png(e, labels)) for e in comparison.examples]


# --------------------------------------------------------------------------- pages


def _left_out(path: str, what: str) -> str:
    """The sentence that stands in for a figure the folder does not hold."""
    return f"(`{path}`, {what}, is not in this folder; the command that made the report draws it)"


def _md_figure(folder: str, stem: str, caption: str, png: bytes | None) -> str:
    path = f"{folder}/{stem}.png"
    return f"![{caption}]({path})\n" if png is not None else _left_out(path, caption) + "\n"


def _page_parts(comparison: Comparison) -> tuple[Any, ...]:
    """What both pages show: the labels, the summary table, the two group tables, the protocol and settings lines."""
    settings = (f"x{comparison.scale}; inference on {comparison.device} in {comparison.precision}; "
                f"outputs quantized to 8 bits before scoring")
    groups = (group_table(comparison), group_table(comparison, "temporal"))
    return list(comparison.labels), summary_table(comparison), groups, (protocol_lines(comparison), settings)


def markdown_report(page: ReportPage) -> str:
    """``report.md``: the figures are linked from ``plots/`` and the crops from ``crops/``."""
    comparison, title, intro = page.comparison, page.title, page.intro
    labels, (header, rows, best), (grp, grp_te), (proto, settings) = _page_parts(comparison)
    md = [f"# {title}", ""]
    if intro:
        md += [intro.strip(), ""]
    md += ["## Models", "", *(f"- **{m.label}**: `{_shown(m.source)}` ({m.description}, {_params(m.params)})"
                              + (f", group {m.group}" if m.group else "") for m in comparison.models), ""]
    md += ["## Protocols", "", *(f"- {p}" for p in proto), f"- {settings}", ""]
    md += ["## Summary", "",
           f"PSNR in dB, SSIM, and for video sets TE (temporal error, grey levels, lower = steadier). Best per column in bold; "
           f"Δ rows are the signed difference from {labels[0]}.", "", *markdown_table(header, rows, strong=best), ""]
    if grp is not None:
        md += ["## Groups (run-to-run noise)", "",
               "Mean PSNR of each group, the range between its members (seeds), and the difference between groups "
               "with the member-by-member (paired) differences; '> seed range' when the difference exceeds the larger "
               "of the two groups' ranges.", "", *markdown_table(*grp), ""]
    if grp_te is not None:
        md += ["## Groups: temporal error", "",
               "Mean temporal error of each group on the video sets (grey levels; lower = steadier, closer to the "
               "ground truth's own frame-to-frame change), with the same seed-range test.", "", *markdown_table(*grp_te), ""]
    for heading, text, extra in page.sections:
        md += [f"## {heading}", "", text.strip(), ""]
        md += [_md_figure("plots", stem, cap, png) for stem, cap, png in extra]
    for s in (s for s in comparison.sets if s.test_set.kind == "video"):
        h, r, b = _clip_table(s, labels)
        md += [f"## {s.test_set.name}: per clip", "", *markdown_table(h, r, strong=b), ""]
    md += ["## Plots", ""]
    md += [_md_figure("plots", stem, cap, png) for stem, cap, png in page.figures]
    md += ["## Where the models differ most", ""]
    md += [f"{_example_caption(e)}\n\n{_md_figure('crops', stem, f'{e.set_name} {e.item}', png)}"
           for stem, e, png in page.crops]
    if comparison.notes:
        md += ["## Notes", "", *(f"- {n}" for n in comparison.notes), ""]
    md += ["Numbers: `summary.csv`, `clips.csv`, `items.csv` (one row per image/frame and model), `comparison.json`.", ""]
    return "\n".join(md)


def _img(caption: str, png: bytes | None, path: str = "") -> str:
    if png is None:
        return f'<p class="small">{html.escape(_left_out(path, caption))}</p>'
    return f'<p><img alt="{html.escape(caption)}" src="{png_data_uri(png)}"></p>'


def html_report(page: ReportPage) -> str:
    """``report.html``: the content of :func:`markdown_report` as one self-contained page (PNGs embedded)."""
    comparison, title, intro = page.comparison, page.title, page.intro
    labels, (header, rows, best), (grp, grp_te), (proto, settings) = _page_parts(comparison)
    body = [f"<pre>{html.escape(intro.strip())}</pre>"] if intro else []
    body.append("<h2>Models</h2><ul>" + "".join(
        f"<li><b>{html.escape(m.label)}</b>: <code>{html.escape(_shown(m.source))}</code> ({html.escape(m.description)}, "
        f"{_params(m.params)}){html.escape(', group ' + m.group) if m.group else ''}</li>"
        for m in comparison.models) + "</ul>")
    body.append("<h2>Protocols</h2><ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in (*proto, settings)) + "</ul>")
    body.append("<h2>Summary</h2><p class=\"small\">PSNR in dB, SSIM, TE = temporal error (grey levels, lower = steadier). "
                f"Best per column in bold; Δ rows: signed difference from {html.escape(labels[0])}.</p>")
    body.append(html_table(header, rows, strong=best))
    if grp is not None:
        body.append("<h2>Groups (run-to-run noise)</h2>" + html_table(*grp))
    if grp_te is not None:
        body.append("<h2>Groups: temporal error</h2>" + html_table(*grp_te))
    for heading, text, extra in page.sections:
        body.append(f"<h2>{html.escape(heading)}</h2><pre>{html.escape(text.strip())}</pre>")
        body += [_img(cap, png, f"plots/{stem}.png") for stem, cap, png in extra]
    for s in (s for s in comparison.sets if s.test_set.kind == "video"):
        h, r, b = _clip_table(s, labels)
        body.append(f"<h2>{html.escape(s.test_set.name)}: per clip</h2>" + html_table(h, r, strong=b))
    body.append("<h2>Plots</h2>")
    body += [_img(cap, png, f"plots/{stem}.png") for stem, cap, png in page.figures]
    body.append("<h2>Where the models differ most</h2>")
    body += [f'<p class="small">{html.escape(_example_caption(e))}</p>' + (
        _img(e.item, None, f"crops/{stem}.png") if png is None else
        f'<p><img class="tiles" alt="{html.escape(e.item)}" src="{png_data_uri(png)}"></p>')
        for stem, e, png in page.crops]
    if comparison.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in comparison.notes) + "</ul>")
    return html_document(title, "\n".join(body))
