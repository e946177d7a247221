"""vsr._report: tables, CSV/JSON with one row per item, the PNG plot, the HTML page."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vsr.data import imresize
from vsr.errors import InvalidInputError
from vsr._evalresults import CompareResult, EvalResult
from vsr._evaluate import compare_frames, evaluate
from vsr._report import (
    compare_to_dict,
    eval_to_dict,
    format_compare,
    format_eval,
    write_compare_report,
    write_eval_report,
)

from vsr._render import render_plot

from _images import textured, write_rgb

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def video_result(tmp_path: Path) -> EvalResult:
    for clip, n in (("calendar", 3), ("city", 2)):
        for i in range(n):
            write_rgb(tmp_path / "Vid" / clip / f"Frame {i + 1:03d}.png", textured(10 * len(clip) + i, 24, 32))

    def model(lr: np.ndarray) -> np.ndarray:
        return np.clip(imresize(lr.astype(np.float64), 2) + 1, 0, 255).round().astype(np.uint8)

    return evaluate(tmp_path / "Vid", 2, model, model_name="edsr_test")


@pytest.fixture
def compare_result(tmp_path: Path) -> CompareResult:
    for k in range(4):
        f = textured(k, 24, 32)
        write_rgb(tmp_path / "ref" / f"{k}.png", f)
        write_rgb(tmp_path / "dist" / f"{k}.png", f if k == 0 else np.clip(f.astype(int) + k, 0, 255).astype(np.uint8))
    return compare_frames(tmp_path / "dist", tmp_path / "ref")


def test_eval_report_files(video_result: EvalResult, tmp_path: Path) -> None:
    paths = write_eval_report(video_result, tmp_path / "out", html_page=True)
    csv_path, json_path, png_path, html_path = paths
    stem = "Vid_x2_edsr_test"
    assert [p.name for p in paths] == [f"{stem}.csv", f"{stem}.json", f"{stem}_psnr.png", f"{stem}.html"]
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and rows[0]["clip"] == "calendar" and rows[0]["name"] == "Frame 001"
    assert float(rows[0]["psnr"]) == pytest.approx(video_result.items[0].psnr, abs=1e-6)
    data = json.loads(json_path.read_text())
    assert len(data["items"]) == 5 and data["protocol"]["name"] == "video"
    assert data["mean_label"] == "mean of clip means" and data["frame_weighted_mean"] is not None
    assert [c["clip"] for c in data["clips"]] == ["calendar", "city"]
    png = png_path.read_bytes()
    assert png.startswith(_PNG_MAGIC) and cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR) is not None
    page = html_path.read_text()
    assert "<table>" in page and "<td>calendar</td>" in page and "<td>mean of clips</td>" in page
    assert "<td>frame-weighted</td>" in page
    # Plot + (bicubic | model | ground truth) crops of the worst and best frames, all inline.
    assert page.count('src="data:image/png;base64,') == 1 + 2 * 3
    assert "edsr_test</figcaption>" in page and "ground truth</figcaption>" in page
    assert "http" not in page.replace("http-equiv", "")


def test_format_eval_video_labels_both_means(video_result: EvalResult) -> None:
    text = format_eval(video_result)
    lines = text.splitlines()
    assert "protocol video: Y, crop 0" in text
    for label in ("calendar", "city", "mean of clips", "frame-weighted"):
        assert any(line.startswith(label) for line in lines)
    assert "TE" in lines[3] and "gain" in lines[3]


def test_format_eval_image_set_bicubic_only(tmp_path: Path) -> None:
    for k in range(2):
        write_rgb(tmp_path / "set" / f"img{k}.png", textured(k, 20, 24))
    r = evaluate(tmp_path / "set", 2)
    text = format_eval(r)
    assert "mean (2)" in text and "bicubic only" in text and "gain" not in text
    paths = write_eval_report(r, tmp_path / "out", prefix="set")
    assert [p.name for p in paths] == ["set.csv", "set.json", "set_psnr.png"]
    rows = list(csv.reader(paths[0].open(newline="")))
    assert rows[0] == ["clip", "name", "index", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "gain"]
    assert len(rows) == 3 and rows[1][3] == "" and float(rows[1][5]) > 0


def test_compare_report_files_and_summary(compare_result: CompareResult, tmp_path: Path) -> None:
    paths = write_compare_report(compare_result, tmp_path / "out", html_page=True)
    rows = list(csv.DictReader(paths[0].open(newline="")))
    assert len(rows) == 4 and rows[0]["psnr_y"] == "inf" and math.isinf(float(rows[0]["psnr_rgb"]))
    data = json.loads(paths[1].read_text())
    assert len(data["frames"]) == 4 and data["frames"][0]["psnr_y"] == "inf"
    assert data["worst_frame"]["index"] == 3 and data["best_frame"]["index"] == 0 and data["identical_frames"] == 1
    assert paths[2].read_bytes().startswith(_PNG_MAGIC)
    page = paths[3].read_text()
    assert "<table>" in page and "PSNR-Y" in page and "distorted</figcaption>" in page
    summary = format_compare(compare_result)
    assert "4 frames, 32x24" in summary and "worst frame 3" in summary and "best frame 0 (inf dB)" in summary
    assert "std" in summary


def test_dicts_are_strict_json(video_result: EvalResult, compare_result: CompareResult) -> None:
    json.dumps(eval_to_dict(video_result), allow_nan=False)
    json.dumps(compare_to_dict(compare_result), allow_nan=False)


def test_render_plot_handles_inf_and_single_points() -> None:
    png = render_plot({"a": [30.0, math.inf, 31.0], "b": [29.0, 29.5, 30.0]}, title="t", separators=[(0, "x"), (2, "y")])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (400, 960, 3)
    one = cv2.imdecode(np.frombuffer(render_plot({"only": [25.0]}, title="one", size=(300, 200)), np.uint8), cv2.IMREAD_COLOR)
    assert one.shape == (200, 300, 3)
    # The series colour (blue, BGR (180, 119, 31)) is drawn somewhere in the plot area.
    assert np.any(np.all(one == (180, 119, 31), axis=2))
    with pytest.raises(InvalidInputError, match="at least one non-empty series"):
        render_plot({}, title="none")
