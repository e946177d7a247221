"""Drawing and page primitives shared by every report: line plots and image tiles (PNG bytes drawn
with OpenCV, no plotting dependency), the one PNG encoder, the crop window of a report's close-ups,
number cells, plain-text / Markdown / HTML tables and the one self-contained HTML page style.

Bottom tier: knows nothing about evaluation, models or video; imports only :mod:`vsr.errors`.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Collection, Mapping, Sequence

import cv2
import numpy as np

from vsr.errors import InvalidInputError

__all__ = [
    "clock_text",
    "crop",
    "crop_window",
    "encode_png",
    "html_document",
    "html_table",
    "markdown_table",
    "number_text",
    "png_data_uri",
    "render_plot",
    "render_tiles",
    "slug",
    "text_table",
]

_COLOURS_BGR = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148)]


def slug(text: str) -> str:
    """``text`` made safe as a file-name stem (runs of other characters become one ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "report"


def number_text(v: float | None, digits: int, *, signed: bool = False, missing: str = "") -> str:
    """``v`` in fixed point for a table cell: ``inf``/``-inf`` for infinities, ``missing`` for None."""
    if v is None:
        return missing
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def clock_text(seconds: float, decimals: int = 2) -> str:
    """``hh:mm:ss.ss`` for a time in a video (negative times read as 0)."""
    m, sec = divmod(max(0.0, seconds), 60)
    h, m = divmod(int(m), 60)
    return f"{h:02d}:{m:02d}:{sec:0{3 + decimals}.{decimals}f}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a plain-text table with aligned columns (first column left-aligned, the others right-aligned)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if k == 0 else c.rjust(w) for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding PNG bytes in a self-contained HTML page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def encode_png(image: np.ndarray, *, rgb: bool = True, level: int | None = None, what: str = "an image") -> bytes:
    """PNG bytes of a uint8 H×W×3 image, RGB (or OpenCV's BGR with ``rgb=False``).

    ``level`` is the zlib compression level (0-9; None: OpenCV's default). ``what``
    names the image in the error raised when encoding fails.
    """
    params = [] if level is None else [cv2.IMWRITE_PNG_COMPRESSION, level]
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image, params)
    if not ok:
        raise InvalidInputError(f"could not encode {what} as PNG")
    return buf.tobytes()


def crop_window(weights: np.ndarray, side: int) -> tuple[int, int, int]:
    """``(top, left, side)`` of the square whose ``weights`` (an H×W map, e.g. an error map) sum highest.

    ``side`` shrinks to fit the map; ties go to the first window in row-major order.
    """
    h, w = weights.shape
    side = min(side, h, w)
    integral = cv2.integral(weights)
    sums = integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), side


def crop(image: np.ndarray, window: tuple[int, int, int]) -> np.ndarray:
    """The ``(top, left, side)`` square of ``image`` (from :func:`crop_window`), as its own contiguous array."""
    top, left, side = window
    return np.ascontiguousarray(image[top:top + side, left:left + side])


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, strong: Collection[tuple[int, int]] = ()) -> str:
    """An HTML table; ``strong`` holds ``(row, column)`` cells to set in bold (e.g. the best per column)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td><strong>{html.escape(c)}</strong></td>" if (i, j) in strong else f"<td>{html.escape(c)}</td>"
            for j, c in enumerate(r)
        )
        + "</tr>"
        for i, r in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, strong: Collection[tuple[int, int]] = ()) -> list[str]:
    """Lines of a GitHub-flavoured Markdown table (first column left-aligned, the others right-aligned)."""

    def cell(text: str, bold: bool) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}**" if bold and text else text

    lines = ["| " + " | ".join(cell(h, False) for h in header) + " |"]
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
    lines += ["| " + " | ".join(cell(c, (i, j) in strong) for j, c in enumerate(r)) + " |" for i, r in enumerate(rows)]
    return lines


def html_document(title: str, body: str) -> str:
    """A self-contained HTML page, titled ``title``, around ``body`` (HTML): the one page style of every report.

    Classes for the body: ``row`` (figures side by side), ``crop`` and ``tiles``
    (images enlarged without smoothing), ``small`` (explanations).
    """
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 0.8em; overflow-x: auto; }}
.row {{ display: flex; gap: 1em; flex-wrap: wrap; }}
figure {{ margin: 0; }} figcaption {{ text-align: center; }}
img.crop {{ image-rendering: pixelated; border: 1px solid #999; }}
img.tiles {{ image-rendering: pixelated; max-width: 100%; }}
.small {{ font-size: 0.9em; color: #555; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{body}
</body></html>
"""


def _nice_step(span: float, target_ticks: int) -> float:
    raw = span / max(target_ticks, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def render_plot(
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    xlabel: str = "frame",
    ylabel: str = "PSNR (dB)",
    separators: Sequence[tuple[int, str]] = (),
    size: tuple[int, int] = (960, 400),
) -> bytes:
    """Line plot of one or more equally long series as PNG bytes (OpenCV drawing).

    Args:
        series: label -> values (x is the index); non-finite values are not drawn.
        separators: ``(x, label)`` vertical dashed lines, e.g. clip boundaries.
        size: ``(width, height)`` in pixels.
    """
    if not series or any(len(v) == 0 for v in series.values()):
        raise InvalidInputError("render_plot needs at least one non-empty series")
    n = max(len(v) for v in series.values())
    width, height = size
    left, right, top, bottom = 72, 20, 56, 48
    img = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    finite = [float(x) for v in series.values() for x in v if math.isfinite(x)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    step = _nice_step(hi - lo, 6)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    x_max = max(n - 1, 1)

    def px(x: float, y: float) -> tuple[int, int]:
        return (
            int(round(left + (width - left - right) * x / x_max)),
            int(round(height - bottom - (height - top - bottom) * (y - lo) / (hi - lo))),
        )

    grey, dark = (225, 225, 225), (60, 60, 60)
    yv = lo
    while yv <= hi + step / 2:
        _, y = px(0, yv)
        cv2.line(img, (left, y), (width - right, y), grey, 1)
        label = f"{yv:.{max(0, -math.floor(math.log10(step)))}f}" if step < 1 else f"{yv:.0f}"
        (tw, th), _ = cv2.getTextSize(label, font, 0.4, 1)
        cv2.putText(img, label, (left - tw - 6, y + th // 2), font, 0.4, dark, 1, cv2.LINE_AA)
        yv += step
    xstep = max(1, int(_nice_step(x_max, 10)))
    for xv in range(0, n, xstep):
        x, _ = px(xv, lo)
        cv2.line(img, (x, height - bottom), (x, height - bottom + 4), dark, 1)
        (tw, _), _ = cv2.getTextSize(str(xv), font, 0.4, 1)
        cv2.putText(img, str(xv), (x - tw // 2, height - bottom + 18), font, 0.4, dark, 1, cv2.LINE_AA)
    for xv, label in separators:
        x, _ = px(xv - 0.5 if xv > 0 else 0, lo)
        for y0 in range(top, height - bottom, 8):
            cv2.line(img, (x, y0), (x, min(y0 + 4, height - bottom)), (150, 150, 150), 1)
        cv2.putText(img, label, (x + 4, top + 14), font, 0.4, (110, 110, 110), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (width - right, height - bottom), dark, 1)
    # Drawn last-to-first so the first series (the model) lies on top.
    for k, values in reversed(list(enumerate(series.values()))):
        colour = _COLOURS_BGR[k % len(_COLOURS_BGR)]
        pts = [px(i, float(v)) if math.isfinite(v) else None for i, v in enumerate(values)]
        for a, b in zip(pts, pts[1:]):
            if a is not None and b is not None:
                cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        if n <= 80 or sum(p is not None for p in pts) == 1:
            for p in pts:
                if p is not None:
                    cv2.circle(img, p, 3, colour, -1, cv2.LINE_AA)
    _draw_labels(img, title, xlabel, ylabel, left)
    _draw_legend(img, list(series), width - right, top)
    hidden = sum(1 for v in series.values() for x in v if not math.isfinite(x))
    if hidden:
        cv2.putText(img, f"{hidden} inf value(s) not drawn", (left + 6, height - bottom - 8), font, 0.4, dark, 1, cv2.LINE_AA)
    return encode_png(img, rgb=False, what="the plot")


def _draw_labels(img: np.ndarray, title: str, xlabel: str, ylabel: str, left: int) -> None:
    """The title above the plot area (from ``left``), the x label centred below, the y label turned along the left edge."""
    height, width = img.shape[:2]
    font, dark = cv2.FONT_HERSHEY_SIMPLEX, (60, 60, 60)
    cv2.putText(img, title, (left, 22), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    (tw, _), _ = cv2.getTextSize(xlabel, font, 0.45, 1)
    cv2.putText(img, xlabel, ((width - tw) // 2, height - 10), font, 0.45, dark, 1, cv2.LINE_AA)
    ylab = np.full((24, height), 255, np.uint8)
    (tw, _), _ = cv2.getTextSize(ylabel, font, 0.45, 1)
    cv2.putText(ylab, ylabel, ((height - tw) // 2, 17), font, 0.45, 60, 1, cv2.LINE_AA)
    img[:, 4:28] = np.minimum(img[:, 4:28], np.rot90(ylab)[:, :, None])


def _draw_legend(img: np.ndarray, names: Sequence[str], right: int, top: int) -> None:
    """One row in the top margin, right-aligned at x = ``right``, so it never hides data."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    x = right
    for k, name in reversed(list(enumerate(names))):
        (tw, _), _ = cv2.getTextSize(name, font, 0.45, 1)
        x -= tw
        cv2.putText(img, name, (x, top - 10), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.line(img, (x - 30, top - 14), (x - 6, top - 14), _COLOURS_BGR[k % len(_COLOURS_BGR)], 2, cv2.LINE_AA)
        x -= 30 + 18


def render_tiles(tiles: Sequence[tuple[str, np.ndarray]], *, magnify: int = 2, gap: int = 6) -> bytes:
    """Equally sized uint8 RGB images side by side, each with its caption below, as PNG bytes.

    Tiles are enlarged ``magnify`` times by pixel repetition (no smoothing, so
    the differences between upscalers stay visible). Captions may hold several
    lines separated by ``\\n``.
    """
    if not tiles:
        raise InvalidInputError("render_tiles needs at least one tile")
    shape = tiles[0][1].shape
    if any(t.shape != shape or t.ndim != 3 or t.dtype != np.uint8 for _, t in tiles):
        raise InvalidInputError(f"render_tiles needs uint8 H x W x 3 tiles of one size, got {[t.shape for _, t in tiles]}")
    font, fs = cv2.FONT_HERSHEY_SIMPLEX, 0.42
    th, tw = shape[0] * magnify, shape[1] * magnify
    n_lines = max(len(c.split("\n")) for c, _ in tiles)
    cap_h = 8 + 17 * n_lines
    img = np.full((th + cap_h, len(tiles) * tw + (len(tiles) - 1) * gap, 3), 255, np.uint8)
    for k, (caption, tile) in enumerate(tiles):
        x0 = k * (tw + gap)
        big = np.repeat(np.repeat(tile, magnify, axis=0), magnify, axis=1)
        img[:th, x0:x0 + tw] = cv2.cvtColor(big, cv2.COLOR_RGB2BGR)
        for j, line in enumerate(caption.split("\n")):
            (w, _), _ = cv2.getTextSize(line, font, fs, 1)
            cv2.putText(img, line, (x0 + max(0, (tw - w) // 2), th + 17 * (j + 1)), font, fs, (0, 0, 0), 1, cv2.LINE_AA)
    return encode_png(img, rgb=False, level=9, what="the tiles")
