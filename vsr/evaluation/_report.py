"""Reports of evaluation results: text tables, CSV, JSON, a per-frame PSNR plot and one HTML page.

Works on the dataclasses of :mod:`vsr.evaluation._results` (:class:`EvalResult` from
``vsr eval``, :class:`PsnrReport` from ``vsr psnr``). The plot comes from
:mod:`vsr._core._plots`; crops, tables and the page from :mod:`vsr._core._render`. The HTML
page is self-contained: the plot and the image crops are embedded as base64 PNG.

JSON has no infinity, so an infinite PSNR (identical images) is written as the
string ``"inf"``; CSV writes ``inf``, which ``float()`` reads back.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vsr.evaluation._results import PsnrReport, EvalResult, Example, Summary
from vsr._core import REFERENCE_COLOUR, bar_plot, line_plot, palette, write_bytes, write_csv, write_text
from vsr._core import (
    crop,
    crop_window,
    encode_png,
    html_document,
    html_table,
    number_text,
    png_data_uri,
    slug,
    text_table,
)

__all__ = ["format_psnr_report", "format_eval", "write_psnr_report", "write_eval_report"]

_CROP = 160  # side of the crops shown in the HTML page, in output pixels


# --------------------------------------------------------------------------- values


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return v


def _summary_dict(s: Summary | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        k: _json_value(v)
        for k, v in (
            ("psnr", s.psnr), ("ssim", s.ssim), ("bicubic_psnr", s.bicubic_psnr), ("bicubic_ssim", s.bicubic_ssim),
            ("gain", s.gain), ("temporal_error", s.temporal), ("bicubic_temporal_error", s.bicubic_temporal),
        )
    }


def eval_to_dict(result: EvalResult) -> dict[str, Any]:
    """JSON-ready dict of an :class:`EvalResult` (images left out)."""
    p = result.protocol
    return {
        "dataset": result.dataset,
        "layout": result.layout,
        "model": result.model,
        "scale": result.scale,
        "protocol": {
            "name": p.name, "description": p.description, "y_channel": p.y_channel,
            "crop_border": result.crop_border, "aggregation": p.aggregation, "frames": p.frames,
        },
        "degradation": result.degradation,
        "mean": _summary_dict(result.mean),
        "mean_label": "mean of clip means" if p.aggregation == "clip-mean" else "mean over images",
        "frame_weighted_mean": _summary_dict(result.frame_weighted),
        "clips": [{"clip": c.clip, "frames": c.n_frames, **(_summary_dict(c.scores) or {})} for c in result.clips],
        "items": [
            {k: _json_value(v) for k, v in (
                ("clip", i.clip), ("name", i.name), ("index", i.index), ("psnr", i.psnr), ("ssim", i.ssim),
                ("bicubic_psnr", i.bicubic_psnr), ("bicubic_ssim", i.bicubic_ssim), ("gain", i.gain),
            )}
            for i in result.items
        ],
        "notes": list(result.notes),
    }


def psnr_report_to_dict(result: PsnrReport) -> dict[str, Any]:
    """JSON-ready dict of a :class:`PsnrReport` (images left out)."""
    return {
        "distorted": result.distorted,
        "reference": result.reference,
        "width": result.width,
        "height": result.height,
        "frames_distorted": result.n_distorted,
        "frames_reference": result.n_reference,
        "frames_compared": len(result.frames),
        "mean_psnr_y": _json_value(result.mean_psnr_y),
        "std_psnr_y": result.std_psnr_y,
        "mean_psnr_rgb": _json_value(result.mean_psnr_rgb),
        "mean_ssim_y": result.mean_ssim_y,
        "worst_frame": {"index": result.worst_index, "psnr_y": _json_value(result.frames[result.worst_index].psnr_y)},
        "best_frame": {"index": result.best_index, "psnr_y": _json_value(result.frames[result.best_index].psnr_y)},
        "identical_frames": result.n_identical,
        "frames": [
            {"index": f.index, "psnr_y": _json_value(f.psnr_y), "psnr_rgb": _json_value(f.psnr_rgb), "ssim_y": f.ssim_y}
            for f in result.frames
        ],
        "notes": list(result.notes),
    }


# --------------------------------------------------------------------------- text


def _protocol_line(result: EvalResult) -> str:
    p = result.protocol
    channel = "Y" if p.y_channel else "RGB"
    frames = ", centre frame only" if p.frames == "center" else ""
    return (
        f"{result.dataset}  x{result.scale}  model: {result.model}  degradation: {result.degradation}\n"
        f"protocol {p.name}: {channel}, crop {result.crop_border}{frames}; {p.description}"
    )


def _score_cells(s: Summary, has_model: bool, video: bool) -> list[str]:
    cells = [number_text(s.psnr, 2), number_text(s.ssim, 4)] if has_model else []
    cells += [number_text(s.bicubic_psnr, 2), number_text(s.bicubic_ssim, 4)]
    if has_model:
        cells.append(number_text(s.gain, 2) if s.gain is None else f"{s.gain:+.2f}")
    if video:
        cells += ([number_text(s.temporal, 2)] if has_model else []) + [number_text(s.bicubic_temporal, 2)]
    return cells


def _score_header(has_model: bool, video: bool) -> list[str]:
    head = ["PSNR", "SSIM"] if has_model else []
    head += ["bicubic PSNR", "bicubic SSIM"] if has_model else ["PSNR", "SSIM"]
    if has_model:
        head.append("gain")
    if video:
        head += (["TE", "bicubic TE"] if has_model else ["TE"])
    return head


def _eval_rows(result: EvalResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the eval table: per image (image sets) or per clip (video), then the means."""
    has_model = result.has_model
    video = result.protocol.aggregation == "clip-mean"
    rows: list[list[str]] = []
    if video:
        header = ["clip", "frames", *_score_header(has_model, video)]
        for c in result.clips:
            rows.append([c.clip, str(c.n_frames), *_score_cells(c.scores, has_model, video)])
        rows.append(["mean of clips", str(len(result.items)), *_score_cells(result.mean, has_model, video)])
        if result.frame_weighted is not None:
            rows.append(["frame-weighted", str(len(result.items)), *_score_cells(result.frame_weighted, has_model, video)])
    else:
        header = ["image", *_score_header(has_model, video)]
        for i in result.items:
            s = Summary(i.psnr, i.ssim, i.bicubic_psnr, i.bicubic_ssim)
            rows.append([i.name, *_score_cells(s, has_model, video)])
        rows.append([f"mean ({len(result.items)})", *_score_cells(result.mean, has_model, video)])
    return header, rows


def format_eval(result: EvalResult) -> str:
    """Table of an :class:`EvalResult`: per image (image sets) or per clip (video), then the means.

    PSNR in dB; for video, TE is the temporal error of :func:`vsr.metrics.temporal_error`
    (grey levels, lower is steadier), per clip and mean over clips.
    """
    header, rows = _eval_rows(result)
    lines = [_protocol_line(result), "", *text_table(header, rows)]
    if not result.has_model:
        lines.append("(bicubic only: MATLAB imresize upscale of the LR)")
    if result.protocol.aggregation == "clip-mean":
        lines.append(
            "TE: temporal error, mean |change of the error map between consecutive frames|, grey levels (lower = steadier)"
        )
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def format_psnr_report(result: PsnrReport) -> str:
    """Summary of a :class:`PsnrReport`: mean, std, worst and best frame."""
    n = len(result.frames)
    worst, best = result.frames[result.worst_index], result.frames[result.best_index]
    lines = [
        f"{result.distorted} vs {result.reference}: {n} frames, {result.width}x{result.height}",
        f"PSNR-Y mean {number_text(result.mean_psnr_y, 2)} dB (std {result.std_psnr_y:.2f}), "
        f"PSNR-RGB mean {number_text(result.mean_psnr_rgb, 2)} dB, SSIM-Y mean {result.mean_ssim_y:.4f}; "
        f"worst frame {worst.index} ({number_text(worst.psnr_y, 2)} dB), best frame {best.index} ({number_text(best.psnr_y, 2)} dB)",
    ]
    lines += [f"note: {x}" for x in result.notes]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plot


def _eval_plot(result: EvalResult) -> bytes:
    """Video sets: PSNR per frame of the model and bicubic, clip after clip. Image sets: bars per image, of the
    model's gain over bicubic (or of bicubic's PSNR when there is no model)."""
    video = result.protocol.aggregation == "clip-mean"
    channel = "Y" if result.protocol.y_channel else "RGB"
    colours = palette([result.model] if result.has_model else []) | {"bicubic": REFERENCE_COLOUR}
    if not video:
        if result.has_model:
            values = {result.model: [float(i.psnr) - i.bicubic_psnr for i in result.items]}  # type: ignore[arg-type]
            what, ylabel = "PSNR gain over bicubic", f"PSNR-{channel} − bicubic (dB)"
        else:
            values = {"bicubic": [i.bicubic_psnr for i in result.items]}
            what, ylabel = "bicubic PSNR", f"PSNR-{channel} (dB)"
        return bar_plot(values, [i.name for i in result.items], colours=colours, ylabel=ylabel, xlabel="image",
                        title=f"{what} per image ({channel}, crop {result.crop_border}), x{result.scale}")
    series: dict[str, list[float]] = {}
    if result.has_model:
        series[result.model] = [float(i.psnr) for i in result.items]  # type: ignore[arg-type]
    series["bicubic"] = [i.bicubic_psnr for i in result.items]
    separators: list[tuple[float, str]] = []
    if len(result.clips) > 1:
        start = 0
        for c in result.clips:
            separators.append((start - 0.5, c.clip))
            start += c.n_frames
    return line_plot(
        series,
        title=f"PSNR per frame ({channel}, crop {result.crop_border}), x{result.scale}",
        xlabel="frame (all clips in order)",
        ylabel=f"PSNR-{channel} (dB)",
        separators=separators,
        colours=colours,
    )


def _psnr_plot(result: PsnrReport) -> bytes:
    return line_plot(
        {"PSNR-Y": [f.psnr_y for f in result.frames], "PSNR-RGB": [f.psnr_rgb for f in result.frames]},
        title=f"PSNR per frame: {Path(result.distorted).name} vs {Path(result.reference).name}",
        xlabel="frame",
        ylabel="PSNR (dB)",
    )


# --------------------------------------------------------------------------- HTML


def _crop_window(example: Example, scored: str, truth: str) -> tuple[int, int, int]:
    """(top, left, side) of the square where ``scored`` differs most from ``truth``."""
    a, b = example.images[scored].astype(np.float32), example.images[truth].astype(np.float32)
    return crop_window(np.abs(a - b).mean(axis=2), _CROP)


def _examples_html(examples: Sequence[Example], scored: str, truth: str, labels: Mapping[str, str] | None = None) -> str:
    """Side-by-side crops of each example; ``labels`` renames image keys in captions (e.g. model -> its name)."""
    labels = labels or {}
    parts = []
    for ex in examples:
        if scored not in ex.images or truth not in ex.images:
            continue
        window = _crop_window(ex, scored, truth)
        top, left, side = window
        cells = "".join(
            f'<figure><img class="crop" width="{2 * side}" height="{2 * side}" alt="{html.escape(labels.get(key, key))}" '
            f'src="{png_data_uri(encode_png(crop(img, window), what="an image crop"))}">'
            f"<figcaption>{html.escape(labels.get(key, key))}</figcaption></figure>"
            for key, img in ex.images.items()
        )
        parts.append(
            f"<h3>{html.escape(ex.label)} item: {html.escape(ex.item)} ({number_text(ex.psnr, 2)} dB)</h3>"
            f'<p class="small">{side}x{side} crop at x={left}, y={top}, where {html.escape(scored)} differs most '
            f"from {html.escape(truth)}; shown at 2x.</p><div class=\"row\">{cells}</div>"
        )
    return "\n".join(parts)


def _html_page(
    *,
    title: str,
    summary: str,
    tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]],
    plot_png: bytes,
    examples: str,
    plot_heading: str = "Per-frame PSNR",
) -> str:
    """A self-contained HTML page: a summary, tables (caption, header, rows), the plot and example crops."""
    tables_html = "\n".join(f"<h2>{html.escape(c)}</h2>{html_table(h, r)}" for c, h, r in tables)
    body = (
        f"<pre>{html.escape(summary)}</pre>\n{tables_html}\n<h2>{html.escape(plot_heading)}</h2>\n"
        f'<img alt="{html.escape(plot_heading)}" src="{png_data_uri(plot_png)}">\n<h2>Worst and best</h2>\n{examples}'
    )
    return html_document(title, body)


# --------------------------------------------------------------------------- writers


def _write_files(
    out: Path, stem: str, header: Sequence[str], rows: Sequence[Sequence[str]], data: Mapping[str, Any], plot: bytes
) -> list[Path]:
    """Write ``<stem>.csv`` (``header`` + ``rows``), ``<stem>.json`` (``data``) and ``<stem>_psnr.png``; their paths."""
    paths = [out / f"{stem}.csv", out / f"{stem}.json", out / f"{stem}_psnr.png"]
    write_csv(paths[0], header, rows, durable=False)
    write_text(paths[1], json.dumps(data, indent=2, allow_nan=False) + "\n", durable=False)
    write_bytes(paths[2], plot, durable=False)
    return paths


def write_eval_report(
    result: EvalResult, out_dir: str | os.PathLike[str], *, html_page: bool = False, prefix: str | None = None
) -> list[Path]:
    """Write ``<prefix>.csv`` (one row per image/frame), ``.json``, ``_psnr.png`` and optionally ``.html``.

    ``prefix`` defaults to ``<dataset>_x<scale>_<model>``. Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = prefix or slug(f"{Path(result.dataset).stem}_x{result.scale}_{Path(result.model).stem}")
    header = ["clip", "name", "index", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "gain"]
    rows = [
        [i.clip, i.name, str(i.index),
         *(number_text(v, 6) for v in (i.psnr, i.ssim, i.bicubic_psnr, i.bicubic_ssim, i.gain))]
        for i in result.items
    ]
    plot = _eval_plot(result)
    paths = _write_files(out, stem, header, rows, eval_to_dict(result), plot)
    if html_page:
        h, r = _eval_rows(result)
        scored = "model" if result.has_model else "bicubic"
        page = _html_page(
            title=f"{Path(result.dataset).name} x{result.scale}: {result.model} vs bicubic",
            summary="\n".join([_protocol_line(result), *(f"note: {n}" for n in result.notes)]),
            tables=[("Summary", h, r)],
            plot_png=plot,
            examples=_examples_html(result.examples, scored, "ground truth", {"model": result.model}),
            plot_heading="Per-frame PSNR" if result.protocol.aggregation == "clip-mean"
            else "Per-image PSNR gain over bicubic" if result.has_model else "Per-image PSNR",
        )
        paths.append(out / f"{stem}.html")
        write_text(paths[-1], page, durable=False)
    return paths


def write_psnr_report(
    result: PsnrReport, out_dir: str | os.PathLike[str], *, html_page: bool = False, prefix: str | None = None
) -> list[Path]:
    """Write ``<prefix>.csv`` (one row per frame), ``.json``, ``_psnr.png`` and optionally ``.html``.

    ``prefix`` defaults to ``<distorted>_vs_<reference>``. Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = prefix or slug(f"{Path(result.distorted).stem}_vs_{Path(result.reference).stem}")
    header = ["index", "psnr_y", "psnr_rgb", "ssim_y"]
    rows = [[str(f.index), number_text(f.psnr_y, 6), number_text(f.psnr_rgb, 6), number_text(f.ssim_y, 6)] for f in result.frames]
    plot = _psnr_plot(result)
    paths = _write_files(out, stem, header, rows, psnr_report_to_dict(result), plot)
    if html_page:
        page = _html_page(
            title=f"{Path(result.distorted).name} vs {Path(result.reference).name}",
            summary=format_psnr_report(result),
            tables=[("Per frame", ["frame", "PSNR-Y", "PSNR-RGB", "SSIM-Y"],
                     [[str(f.index), number_text(f.psnr_y, 2), number_text(f.psnr_rgb, 2), number_text(f.ssim_y, 4)] for f in result.frames])],
            plot_png=plot,
            examples=_examples_html(result.examples, "distorted", "reference"),
        )
        paths.append(out / f"{stem}.html")
        write_text(paths[-1], page, durable=False)
    return paths
