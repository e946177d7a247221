"""Plots as PNG bytes, drawn by matplotlib: lines over an ordered axis (frames, training iterations) and grouped
bars over named categories (test sets, conditions, images), with the spread of several members (seeds) shown.

Bottom tier: knows nothing about evaluation, models or video; imports only :mod:`vsr.errors`.

matplotlib is imported inside the functions, on first use, so that ``import vsr`` and ``vsr --help`` do not pay
for it. Figures are ``matplotlib.figure.Figure`` objects on an Agg canvas: no pyplot, no display and no global
figure state. They are drawn under matplotlib's default style whatever the local ``matplotlibrc`` says (one plot at
a time, as the style is global), and saved without the software version in the PNG, so the same data and the same
matplotlib give the same bytes.
"""

from __future__ import annotations

import io
import math
import textwrap
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from vsr.errors import InvalidInputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["REFERENCE_COLOUR", "bar_plot", "frontier_plot", "line_plot", "palette"]

#: The colour of references such as bicubic (matplotlib's ``tab:gray``), never given to a series by :func:`palette`.
REFERENCE_COLOUR = "#7f7f7f"

# matplotlib's tab10 without its grey (kept for references): distinct, and readable by most colour-blind readers.
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")

_DPI = 100
# matplotlib's style settings (rcParams) are global: one plot at a time sets and restores them.
_LOCK = threading.Lock()
_STYLE = {
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "legend.frameon": False,
    "legend.fontsize": 9,
}


def palette(keys: Sequence[str], *, reference: Collection[str] = ()) -> dict[str, str]:
    """One colour per key, in order (tab10 without grey, cycling after 9); keys in ``reference`` get grey.

    Compute it once per report and pass it to every plot, so that a model keeps its colour throughout.
    """
    out: dict[str, str] = {}
    for key in keys:
        if key not in out:
            used = sum(c != REFERENCE_COLOUR for c in out.values())
            out[key] = REFERENCE_COLOUR if key in reference else _PALETTE[used % len(_PALETTE)]
    return out


def line_plot(
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    x: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    spread: Mapping[str, Sequence[Sequence[float]]] | None = None,
    spread_label: str = "range over members",
    references: Mapping[str, float] | None = None,
    separators: Sequence[tuple[float, str]] = (),
    colours: Mapping[str, str] | None = None,
    xlim: tuple[float, float] | None = None,
    size: tuple[float, float] = (10.0, 4.2),
) -> bytes:
    """Lines of one or more series over an ordered x axis, as PNG bytes.

    Args:
        series: label -> y values, drawn in order (the first on top); ``+inf``
            (a PSNR of identical images) is a triangle at the top edge, NaN and
            ``-inf`` are left out, both counted in the legend.
        x: the x value of every point (e.g. training iterations), shared by all
            series or per series (label -> values); default 0, 1, 2, ... per series.
        spread: label -> for each point the values of its members (e.g. one per
            seed), drawn as a band from their minimum to their maximum.
        spread_label: the legend's name for those bands.
        references: label -> a constant drawn as a dashed horizontal line (e.g. bicubic).
        separators: ``(x, label)`` dashed vertical lines, e.g. where each clip
            starts; no line is drawn across one.
        colours: label -> colour (series and references); the rest follow :func:`palette`.
        xlim: the x axis range; default: every x value and separator.
        size: ``(width, height)`` in inches, at 100 pixels per inch.

    Raises:
        InvalidInputError: no series, an empty series, or lengths that do not match ``x``.
    """
    if not series or any(len(v) == 0 for v in series.values()):
        raise InvalidInputError(f"line_plot {title!r} needs at least one non-empty series, got lengths "
                                f"{ {k: len(v) for k, v in series.items()} }")
    xs = {label: _x_of(x, label, len(values)) for label, values in series.items()}
    for label, values in series.items():
        if len(values) != len(xs[label]):
            raise InvalidInputError(
                f"line_plot {title!r}: series {label!r} has {len(values)} values for {len(xs[label])} x values")
        if spread and label in spread and len(spread[label]) != len(values):
            raise InvalidInputError(
                f"line_plot {title!r}: spread of {label!r} has {len(spread[label])} points for {len(values)} values")
    refs = dict(references or {})
    col = palette([*series, *refs], reference=refs) | dict(colours or {})
    cuts = sorted(sx for sx, _ in separators)
    with _figure(size) as (fig, ax):
        hidden = infinite = 0
        for k, (label, values) in reversed(list(enumerate(series.items()))):
            ys = [float(v) if math.isfinite(v) else math.nan for v in values]
            hidden += sum(math.isnan(float(v)) or float(v) == -math.inf for v in values)
            infinite += _mark_infinite(ax, xs[label], values, col[label])
            many = len(ys) > 60
            ax.plot(*_break_at(xs[label], ys, cuts), color=col[label], label=label, linewidth=1.6 if many else 1.8,
                    zorder=3 + 0.01 * (len(series) - k), marker=None if many and sum(map(math.isfinite, ys)) > 1 else "o",
                    markersize=4)
            members = (spread or {}).get(label)
            if members and any(len(m) > 1 for m in members):
                band = [[float(v) for v in m if math.isfinite(v)] for m in members]
                band_x, lo = _break_at(xs[label], [min(m) if m else math.nan for m in band], cuts)
                _, hi = _break_at(xs[label], [max(m) if m else math.nan for m in band], cuts)
                ax.fill_between(band_x, lo, hi, color=col[label], alpha=0.18, linewidth=0, zorder=2)
        for label, value in refs.items():
            ax.axhline(value, color=col[label], linestyle="--", linewidth=1.4, label=label, zorder=2)
        for sx, slabel in separators:
            ax.axvline(sx, color="#999999", linestyle=":", linewidth=1.0, zorder=1)
            ax.annotate(slabel, (sx, 1), xycoords=("data", "axes fraction"), xytext=(3, -3), textcoords="offset points",
                        ha="left", va="top", fontsize=8, color="#555555")
        _x_axis(ax, [float(v) for vs in xs.values() for v in vs], cuts, xlim)
        if any(s > 1 for s in map(_members, (spread or {}).values())):
            ax.plot([], [], color="#555555", alpha=0.3, linewidth=8, label=spread_label)
        _finish(fig, ax, title=title, xlabel=xlabel, ylabel=ylabel, hidden=hidden, infinite=infinite,
                order=[*series, *refs])
        return _png(fig)


def bar_plot(
    values: Mapping[str, Sequence[float]],
    categories: Sequence[str],
    *,
    title: str,
    ylabel: str,
    xlabel: str = "",
    spread: Mapping[str, Sequence[Sequence[float]]] | None = None,
    spread_label: str = "members (bar: mean, whisker: range)",
    colours: Mapping[str, str] | None = None,
    size: tuple[float, float] | None = None,
) -> bytes:
    """Grouped bars as PNG bytes: one group per category, named on the x axis, and one bar per series in each group.

    Long category names are wrapped, and turned when they would still collide.

    Args:
        values: label -> one value per category; a non-finite value draws no bar
            (``+inf``: a triangle at the top edge) and is counted in the legend.
        categories: the names under the groups, in order.
        spread: label -> for each category the values of its members (e.g. one
            per seed): each shown as a dot, with an error bar from their minimum
            to their maximum around the bar (their mean, say).
        spread_label: the legend's name for those dots and whiskers.
        colours: label -> colour; the rest follow :func:`palette`.
        size: ``(width, height)`` in inches at 100 pixels per inch; default: as wide as the bars need.

    Raises:
        InvalidInputError: no category, no series, or a series whose length is not the number of categories.
    """
    if not categories or not values:
        raise InvalidInputError(f"bar_plot {title!r} needs at least one category and one series, got "
                                f"{len(categories)} categories and {len(values)} series")
    for label, vals in values.items():
        if len(vals) != len(categories):
            raise InvalidInputError(
                f"bar_plot {title!r}: series {label!r} has {len(vals)} values for {len(categories)} categories")
        if spread and label in spread and len(spread[label]) != len(categories):
            raise InvalidInputError(f"bar_plot {title!r}: spread of {label!r} has {len(spread[label])} entries "
                                    f"for {len(categories)} categories")
    n, k = len(categories), len(values)
    names = [textwrap.fill(c, 18, break_long_words=False, break_on_hyphens=False) for c in categories]
    longest = max(len(line) for c in names for line in c.split("\n"))
    width = size[0] if size else min(12.5, max(10.0, 1.8 + n * (0.25 + 0.2 * k)))  # 12.5: the report page's width
    per_group = (width - 1.8) / n  # inches under each group
    # About 0.075 inch per character at 9 points: turn the names when they would overlap their neighbours.
    angle = 0 if longest * 0.075 <= 0.92 * per_group else (90 if per_group < 0.3 else 30)
    height = size[1] if size else 4.2 + (0 if angle == 0 else min(3.0, longest * 0.075 * (1.0 if angle == 90 else 0.5)))
    col = palette(list(values)) | dict(colours or {})
    bar = 0.8 / k
    with _figure((width, height)) as (fig, ax):
        hidden = infinite = 0
        for j, (label, vals) in enumerate(values.items()):
            centres = [i - 0.4 + bar * (j + 0.5) for i in range(n)]
            ys = [float(v) if math.isfinite(v) else math.nan for v in vals]
            hidden += sum(math.isnan(float(v)) or float(v) == -math.inf for v in vals)
            infinite += _mark_infinite(ax, centres, vals, col[label])
            ax.bar(centres, [0.0 if math.isnan(v) else v for v in ys], bar * 0.92, color=col[label], label=label, zorder=2)
            members = (spread or {}).get(label)
            if not members or _members(members) < 2:
                continue
            for c, m, y in zip(centres, members, ys):
                finite = [float(v) for v in m if math.isfinite(v)]
                if len(finite) < 2 or math.isnan(y):
                    continue
                ax.errorbar([c], [y], yerr=[[y - min(finite)], [max(finite) - y]], fmt="none", ecolor="#222222",
                            elinewidth=1.1, capsize=max(2.0, min(5.0, 30 * bar / max(n, 1))), zorder=4)
                ax.plot([c] * len(finite), finite, linestyle="none", marker="o", markersize=3.2, markerfacecolor="white",
                        markeredgecolor="#222222", markeredgewidth=0.8, zorder=5)
        ax.axhline(0.0, color="#444444", linewidth=0.8, zorder=3)
        ax.grid(False, axis="x")
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_xticks(range(n))
        ax.set_xticklabels(names, rotation=angle, ha="center" if angle in (0, 90) else "right",
                           rotation_mode="anchor" if angle == 30 else "default", fontsize=9 if n <= 30 else 7)
        if any(_members(m) > 1 for m in (spread or {}).values()):
            ax.errorbar([], [], yerr=[], fmt="o", color="#222222", markerfacecolor="white", markersize=3.2,
                        label=spread_label)
        _finish(fig, ax, title=title, xlabel=xlabel, ylabel=ylabel, hidden=hidden, infinite=infinite, order=list(values))
        return _png(fig)


def frontier_plot(
    points: Mapping[str, tuple[float, float]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    hollow: Collection[str] = (),
    hollow_label: str = "published, not measured",
    references: Mapping[str, float] | None = None,
    log_x: bool = True,
    size: tuple[float, float] = (7.5, 4.5),
) -> bytes:
    """A speed/quality frontier: one labelled point per model (x: speed, y: quality), joined in x order.

    ``hollow`` points (e.g. published figures) are drawn unfilled and left off the joining line; ``references``
    are horizontal lines (e.g. bicubic's PSNR). Non-finite or non-positive (with ``log_x``) x values are errors.
    """
    if not points:
        raise InvalidInputError("frontier_plot: no points")
    for name, (x, y) in points.items():
        if not math.isfinite(x) or not math.isfinite(y) or (log_x and x <= 0):
            raise InvalidInputError(f"frontier_plot: point {name!r} = ({x}, {y}) cannot be drawn")
    colours = palette(list(points))
    with _figure(size) as (fig, ax):
        solid = sorted((xy, name) for name, xy in points.items() if name not in hollow)
        if len(solid) > 1:
            ax.plot([xy[0] for xy, _ in solid], [xy[1] for xy, _ in solid], color="#bbbbbb", linewidth=1, zorder=1)
        for name, (x, y) in points.items():
            face = "none" if name in hollow else colours[name]
            ax.plot([x], [y], linestyle="none", marker="o", markersize=8, markerfacecolor=face,
                    markeredgecolor=colours[name], markeredgewidth=1.5, zorder=3,
                    label=f"{name} ({hollow_label})" if name in hollow else name)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
        for name, value in (references or {}).items():
            ax.axhline(value, color=REFERENCE_COLOUR, linestyle="--", linewidth=1, label=name)
        if log_x:
            from matplotlib.ticker import FuncFormatter, LogLocator

            ax.set_xscale("log")
            # Plain numbers (0.1, 2, 15), not 10^k powers, and only the 1-2-5 ticks, so that labels never crowd.
            plain = FuncFormatter(lambda v, _pos: f"{v:g}")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: ""))
        ax.margins(x=0.15, y=0.12)
        _finish(fig, ax, title=title, xlabel=xlabel, ylabel=ylabel, hidden=0, infinite=0, order=[])
        return _png(fig)


def _x_axis(ax: Axes, xs: Sequence[float], cuts: Sequence[float], xlim: tuple[float, float] | None) -> None:
    """Integer ticks for integer x (frames, iterations); the range ``xlim``, or every x value and cut."""
    if all(v.is_integer() for v in xs):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    if xlim is None:  # every point's place, drawn or not, and every separator
        every = [*xs, *cuts]
        pad = 0.02 * (max(every) - min(every)) or 0.5
        xlim = (min(every) - pad, max(every) + pad)
    ax.set_xlim(*xlim)


def _x_of(x: Sequence[float] | Mapping[str, Sequence[float]] | None, label: str, n: int) -> Sequence[float]:
    """The x values of series ``label`` (of ``n`` points)."""
    if x is None:
        return range(n)
    if isinstance(x, Mapping):
        return x.get(label, range(n))
    return x


def _members(members: Sequence[Sequence[float]]) -> int:
    """The most members any point has."""
    return max((len(m) for m in members), default=0)


@contextmanager
def _figure(size: tuple[float, float]) -> Iterator[tuple[Figure, Axes]]:
    """A figure with one axes on its own Agg canvas, under matplotlib's default style plus vsr's few settings."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _LOCK, matplotlib.style.context(["default", _STYLE]):
        fig = Figure(figsize=size, dpi=_DPI, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig, fig.add_subplot()


def _finish(
    fig: Figure, ax: Axes, *, title: str, xlabel: str, ylabel: str, hidden: int, infinite: int, order: Sequence[str]
) -> None:
    """Title and axis labels; the legend right of the plot, in ``order``, so that it never hides data, with the
    count of infinite and missing values."""
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if infinite:
        ax.plot([], [], linestyle="none", marker="^", markersize=6, color="#555555",
                label=f"{infinite} infinite value(s), at the top edge")
    if hidden:
        ax.plot([], [], linestyle="none", label=f"{hidden} missing value(s), not drawn")
    handles, labels = ax.get_legend_handles_labels()
    by_label = dict(zip(labels, handles))
    ordered = [lab for lab in order if lab in by_label] + [lab for lab in by_label if lab not in order]
    if len(ordered) > 1:
        fig.legend([by_label[lab] for lab in ordered],
                   [textwrap.fill(lab, 24, break_long_words=False, break_on_hyphens=False) for lab in ordered],
                   loc="outside right upper")


def _mark_infinite(ax: Axes, xs: Sequence[float], values: Sequence[float], colour: str) -> int:
    """A triangle at the top edge over each ``+inf`` value (a PSNR of identical images); returns how many."""
    at = [x for x, v in zip(xs, values) if v == math.inf]
    if at:
        ax.plot(at, [0.985] * len(at), linestyle="none", marker="^", markersize=6, color=colour, clip_on=False,
                transform=ax.get_xaxis_transform(), zorder=6)
    return len(at)


def _break_at(xs: Sequence[float], ys: Sequence[float], cuts: Sequence[float]) -> tuple[list[float], list[float]]:
    """``xs`` and ``ys`` with a gap (NaN) at each cut that falls between two points, so that no line crosses it."""
    out_x: list[float] = []
    out_y: list[float] = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i and any(xs[i - 1] < c < x for c in cuts):
            out_x.append(math.nan)
            out_y.append(math.nan)
        out_x.append(float(x))
        out_y.append(y)
    return out_x, out_y


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes, without the software version (so the bytes depend on the data only)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()
