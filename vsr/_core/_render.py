"""Drawing and page primitives shared by every report: image tiles (PNG bytes drawn with OpenCV),
the one PNG encoder, the crop window of a report's close-ups, number cells, plain-text / Markdown /
HTML tables and the one self-contained HTML page style. Plots are :mod:`vsr._core._plots`' (matplotlib).

Bottom tier: knows nothing about evaluation, models or video; imports only :mod:`vsr.errors`.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Collection, Sequence

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
    "render_tiles",
    "slug",
    "text_table",
]

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
img {{ max-width: 100%; height: auto; }}
img.crop {{ image-rendering: pixelated; border: 1px solid #999; }}
img.tiles {{ image-rendering: pixelated; max-width: 100%; }}
.small {{ font-size: 0.9em; color: #555; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{body}
</body></html>
"""


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
