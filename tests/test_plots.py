"""vsr._core._plots: line and bar plots as PNG bytes (matplotlib, Agg), their labels, spread, colours and errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from vsr._core._plots import REFERENCE_COLOUR, bar_plot, line_plot, palette
from vsr.errors import InvalidInputError

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_CATEGORIES = ["Set5", "Set14", "Vid4", "carphone_pristine", "Vid4 [bi+x264:crf=23]", "carphone_pristine [bi+x264:crf=28]"]


def _decode(png: bytes) -> np.ndarray:
    assert png.startswith(_PNG_MAGIC)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The matplotlib figures the plots save, kept for inspection."""
    from matplotlib.figure import Figure

    seen: list[Any] = []
    save = Figure.savefig

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return seen


def test_line_plot_is_a_png_and_handles_inf_and_single_points() -> None:
    png = line_plot({"a": [30.0, math.inf, 31.0], "b": [29.0, 29.5, 30.0]}, title="t", xlabel="frame", ylabel="dB",
                    separators=[(-0.5, "x"), (1.5, "y")])
    assert _decode(png).shape == (420, 1000, 3)
    one = _decode(line_plot({"only": [25.0]}, title="one", xlabel="x", ylabel="y", size=(3.0, 2.0)))
    assert one.shape == (200, 300, 3)
    # The series colour (the first of the palette, #1f77b4) is drawn somewhere.
    assert np.any(np.all(one == (0xB4, 0x77, 0x1F), axis=2))


def test_lines_do_not_cross_separators_and_inf_is_marked(figures: list[Any]) -> None:
    line_plot({"a": [30.0, 31.0, math.inf, 33.0], "b": [29.0, 29.5, 30.0, math.nan]}, title="t", xlabel="frame",
              ylabel="dB", separators=[(-0.5, "calendar"), (1.5, "city")])
    ax = figures[-1].axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "a")
    assert np.isnan(line.get_xdata()[2])  # the gap between frame 1 (calendar) and frame 2 (city)
    assert ax.get_xlim()[0] < -0.5 and ax.get_xlim()[1] > 3  # every frame and separator in view
    legend = [t.get_text().replace("\n", " ") for t in figures[-1].legends[0].get_texts()]
    assert legend == ["a", "b", "1 infinite value(s), at the top edge", "1 missing value(s), not drawn"]


def test_line_plot_over_iterations_with_a_band_and_a_reference(figures: list[Any]) -> None:
    its = [500, 1000, 1500]
    line_plot({"g (n=2)": [28.0, 28.4, 28.5], "solo": [27.9, 28.1, 28.2]}, x=its, title="t", xlabel="training iteration",
              ylabel="PSNR (dB)", spread={"g (n=2)": [[27.9, 28.1], [28.3, 28.5], [28.4, 28.6]]},
              references={"bicubic": 26.5}, colours={"bicubic": REFERENCE_COLOUR}, spread_label="range over seeds")
    ax = figures[-1].axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert list(lines["g (n=2)"].get_xdata()) == its and lines["solo"].get_xdata().tolist() == its
    assert len(ax.collections) == 1  # one band, for the group only
    legend = [t.get_text() for t in figures[-1].legends[0].get_texts()]
    assert legend == ["g (n=2)", "solo", "bicubic", "range over seeds"]


def test_bars_have_one_tick_label_per_category_and_nothing_is_cut_off(figures: list[Any]) -> None:
    png = bar_plot({"image-trained (n=2)": [2.8, 2.0, 2.1, 2.3, 1.4, 0.7], "video-trained": [1.8, 1.4, 1.9, 1.4, 1.3, 0.5]},
                   _CATEGORIES, title="PSNR gain over bicubic", ylabel="PSNR − bicubic (dB)")
    _decode(png)
    fig = figures[-1]
    ax = fig.axes[0]
    labels = ax.get_xticklabels()
    assert [t.get_text().replace("\n", " ") for t in labels] == _CATEGORIES
    assert len(ax.patches) == 2 * len(_CATEGORIES)
    renderer = fig.canvas.get_renderer()
    width, height = fig.canvas.get_width_height()
    for artist in [*labels, *fig.legends, ax.title, ax.yaxis.label]:
        box = artist.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, artist


def test_bar_spread_draws_every_member_and_its_range(figures: list[Any]) -> None:
    bar_plot({"g (n=3)": [1.0, 2.0], "h": [0.5, 0.4]}, ["A", "B"], title="t", ylabel="dB",
             spread={"g (n=3)": [[0.9, 1.0, 1.1], [1.5, 2.0, 2.5]], "h": [[0.5], [0.4]]}, colours={"h": "#123456"})
    ax = figures[-1].axes[0]
    dots = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None" and len(ln.get_ydata()) == 3]
    assert sorted(ln.get_ydata().tolist() for ln in dots) == [[0.9, 1.0, 1.1], [1.5, 2.0, 2.5]]
    whiskers = [c for c in ax.collections if len(c.get_segments()) == 1]
    assert sorted(tuple(np.round(c.get_segments()[0][:, 1], 6)) for c in whiskers) == [(0.9, 1.1), (1.5, 2.5)]
    from matplotlib.colors import to_hex

    assert sum(to_hex(p.get_facecolor()) == "#123456" for p in ax.patches) == 2  # the colour asked for


def test_empty_or_mismatched_series_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="needs at least one non-empty series"):
        line_plot({}, title="none", xlabel="x", ylabel="y")
    with pytest.raises(InvalidInputError, match="needs at least one non-empty series"):
        line_plot({"a": [1.0], "b": []}, title="one empty", xlabel="x", ylabel="y")
    with pytest.raises(InvalidInputError, match="series 'a' has 2 values for 3 x values"):
        line_plot({"a": [1.0, 2.0]}, x=[1, 2, 3], title="t", xlabel="x", ylabel="y")
    with pytest.raises(InvalidInputError, match="needs at least one category and one series"):
        bar_plot({}, ["A"], title="none", ylabel="y")
    with pytest.raises(InvalidInputError, match="needs at least one category and one series"):
        bar_plot({"a": []}, [], title="none", ylabel="y")
    with pytest.raises(InvalidInputError, match="series 'a' has 1 values for 2 categories"):
        bar_plot({"a": [1.0]}, ["A", "B"], title="t", ylabel="y")


def test_same_data_same_bytes_and_no_version_in_the_file() -> None:
    def draw() -> bytes:
        return bar_plot({"a": [1.0, math.nan], "b": [0.5, 0.7]}, ["A", "B"], title="t", ylabel="y")

    first = draw()
    assert draw() == first
    assert b"matplotlib" not in first.lower() and b"Software" not in first


def test_palette_keeps_grey_for_references() -> None:
    colours = palette(["a", "bicubic", "b", "a"], reference=("bicubic",))
    assert list(colours) == ["a", "bicubic", "b"]
    assert colours["bicubic"] == REFERENCE_COLOUR and len({colours["a"], colours["b"], REFERENCE_COLOUR}) == 3


def test_importing_the_module_does_not_import_matplotlib() -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    code = "import sys, vsr, vsr._core._plots, vsr.evaluation._report; assert 'matplotlib' not in sys.modules, 'imported'"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_frontier_plot_draws_labelled_points_and_refuses_what_a_log_axis_cannot_show() -> None:
    from vsr._core._plots import frontier_plot

    png = frontier_plot({"fast": (15.1, 37.21), "default": (2.39, 37.48), "edsr": (0.1, 38.11)}, title="Set5 x2",
                        xlabel="fps", ylabel="PSNR", hollow=["edsr"], references={"bicubic": 33.67})
    assert png.startswith(b"\x89PNG") and b"Software" not in png
    with pytest.raises(InvalidInputError, match="'slow' = \\(0"):
        frontier_plot({"slow": (0.0, 30.0)}, title="t", xlabel="x", ylabel="y")
    with pytest.raises(InvalidInputError, match="no points"):
        frontier_plot({}, title="t", xlabel="x", ylabel="y")
