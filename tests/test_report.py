"""vsr.evaluation._report: tables, CSV/JSON with one row per item, the PNG plot, the HTML page."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vsr.data import imresize
from vsr.evaluation._results import PsnrReport, EvalResult
from vsr.evaluation._evaluate import score_frames, evaluate
from vsr.evaluation._report import (
    psnr_report_to_dict,
    eval_to_dict,
    format_psnr_report,
    format_eval,
    write_psnr_report,
    write_eval_report,
)
from vsr._core._files import write_csv
from vsr._core._render import crop, crop_window, encode_png, number_text

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
def psnr_result(tmp_path: Path) -> PsnrReport:
    for k in range(4):
        f = textured(k, 24, 32)
        write_rgb(tmp_path / "ref" / f"{k}.png", f)
        write_rgb(tmp_path / "dist" / f"{k}.png", f if k == 0 else np.clip(f.astype(int) + k, 0, 255).astype(np.uint8))
    return score_frames(tmp_path / "dist", tmp_path / "ref")


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


def test_psnr_report_files_and_summary(psnr_result: PsnrReport, tmp_path: Path) -> None:
    paths = write_psnr_report(psnr_result, tmp_path / "out", html_page=True)
    rows = list(csv.DictReader(paths[0].open(newline="")))
    assert len(rows) == 4 and rows[0]["psnr_y"] == "inf" and math.isinf(float(rows[0]["psnr_rgb"]))
    data = json.loads(paths[1].read_text())
    assert len(data["frames"]) == 4 and data["frames"][0]["psnr_y"] == "inf"
    assert data["worst_frame"]["index"] == 3 and data["best_frame"]["index"] == 0 and data["identical_frames"] == 1
    assert paths[2].read_bytes().startswith(_PNG_MAGIC)
    page = paths[3].read_text()
    assert "<table>" in page and "PSNR-Y" in page and "distorted</figcaption>" in page
    summary = format_psnr_report(psnr_result)
    assert "4 frames, 32x24" in summary and "worst frame 3" in summary and "best frame 0 (inf dB)" in summary
    assert "std" in summary


def test_dicts_are_strict_json(video_result: EvalResult, psnr_result: PsnrReport) -> None:
    json.dumps(eval_to_dict(video_result), allow_nan=False)
    json.dumps(psnr_report_to_dict(psnr_result), allow_nan=False)


def test_number_text_cells() -> None:
    assert number_text(1.23456, 2) == "1.23"
    assert number_text(0.5, 2, signed=True) == "+0.50"
    assert number_text(math.inf, 2) == "inf" and number_text(-math.inf, 2, signed=True) == "-inf"
    assert number_text(None, 2) == "" and number_text(None, 2, missing="n/a") == "n/a"


def test_encode_png_round_trip() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    back = cv2.imdecode(np.frombuffer(encode_png(rgb), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(back, rgb[:, :, ::-1])  # PNG stores RGB; OpenCV decodes to BGR
    same = cv2.imdecode(np.frombuffer(encode_png(rgb[:, :, ::-1].copy(), rgb=False, level=9), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(same, back)


def test_crop_window_finds_the_heaviest_square() -> None:
    weights = np.zeros((20, 30), np.float32)
    weights[5:9, 17:21] = 1.0
    assert crop_window(weights, 4) == (5, 17, 4)
    top, left, side = crop_window(weights, 50)  # the window shrinks to fit the map
    assert side == 20 and top == 0 and left <= 17
    image = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    cut = crop(image, (5, 17, 4))
    assert cut.flags["C_CONTIGUOUS"] and np.array_equal(cut, image[5:9, 17:21])


def test_write_csv_formats_cells_atomically(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["name", "value", "n"], [["a", 1.5, 3], ["b", None, math.inf]], durable=False)
    assert path == tmp_path / "t.csv"
    with path.open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [["name", "value", "n"], ["a", "1.500000", "3"], ["b", "", "inf"]]
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no partial file left behind
