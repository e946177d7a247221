"""`vsr eval` and `vsr psnr` through click's CliRunner."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.data import imresize

from _images import textured, write_rgb

DATA = Path(os.environ.get("VSR_TEST_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
needs_data = pytest.mark.skipif(
    not (DATA / "Set5").is_dir(), reason=f"benchmark data not found at {DATA} (set VSR_TEST_DATA to the shared/data folder)"
)


def _run(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def image_set(tmp_path: Path) -> Path:
    """EDSR layout x2 with two images; LR made by imresize."""
    root = tmp_path / "Tiny"
    for k in range(2):
        hr = textured(k)
        write_rgb(root / "HR" / f"img{k}.png", hr)
        write_rgb(root / "LR_bicubic" / "X2" / f"img{k}x2.png", imresize(hr, 0.5))
    return root


def test_eval_bicubic_writes_reports(image_set: Path, tmp_path: Path) -> None:
    code, out, err = _run("eval", "--model", "bicubic", "--dataset", image_set, "--scale", 2, "-o", tmp_path / "out", "--html")
    assert code == 0, err
    assert "protocol edsr-benchmark: Y, crop 2" in out and "mean (2)" in out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["Tiny_x2_bicubic.csv", "Tiny_x2_bicubic.html", "Tiny_x2_bicubic.json", "Tiny_x2_bicubic_psnr.png"]
    rows = list(csv.DictReader((tmp_path / "out" / "Tiny_x2_bicubic.csv").open(newline="")))
    assert [r["name"] for r in rows] == ["img0", "img1"]


def test_eval_with_a_checkpoint_shows_model_bicubic_and_gain(image_set: Path, ckpt: Path, tmp_path: Path) -> None:
    code, out, err = _run("eval", "-m", ckpt, "-d", image_set, "-s", 2, "--device", "cpu", "-o", tmp_path / "out")
    assert code == 0, err
    header = next(line for line in out.splitlines() if line.startswith("image"))
    assert re.split(r"\s{2,}", header) == ["image", "PSNR", "SSIM", "bicubic PSNR", "bicubic SSIM", "gain"]
    data = json.loads((tmp_path / "out" / "Tiny_x2_tiny_x2.json").read_text())
    assert data["model"] == str(ckpt) and data["mean"]["psnr"] is not None and data["mean"]["gain"] is not None


def test_eval_on_frame_folders_with_bd(tmp_path: Path) -> None:
    for clip in ("a", "b"):
        for i in range(2):
            write_rgb(tmp_path / "clips" / clip / f"Frame {i + 1:03d}.png", textured(i + ord(clip), 32, 32))
    code, out, err = _run("eval", "-m", "bicubic", "-d", tmp_path / "clips", "-s", 4, "--degradation", "bd")
    assert code == 0, err
    assert "protocol video" in out and "mean of clips" in out and "frame-weighted" in out and "degradation: bd" in out


def test_eval_errors_are_one_line_with_exit_1(image_set: Path) -> None:
    (image_set / "LR_bicubic" / "X2" / "img1x2.png").unlink()
    code, _, err = _run("eval", "-m", "bicubic", "-d", image_set, "-s", 2)
    assert code == 1
    assert err.startswith("Error: ") and "img1x2.png: LR image for" in err and len(err.strip().splitlines()) == 1


def test_eval_usage_errors_exit_2(image_set: Path) -> None:
    code, _, err = _run("eval", "-m", "bicubic", "-d", image_set, "-s", 2, "--html")
    assert code == 2 and "pass -o DIR" in err
    code, _, err = _run("eval", "-m", "bicubic", "-d", image_set, "-s", 2, "--self-ensemble")
    assert code == 2 and "--self-ensemble needs a model" in err
    code, _, err = _run("eval", "-m", "bicubic", "-d", image_set, "-s", 2, "--protocol", "vid4")
    assert code == 2 and "edsr-benchmark" in err


def test_psnr_frame_folders(tmp_path: Path) -> None:
    for k in range(3):
        f = textured(k)
        write_rgb(tmp_path / "ref" / f"{k:02d}.png", f)
        write_rgb(tmp_path / "dist" / f"{k:02d}.png", np.clip(f.astype(int) + 3 * k, 0, 255).astype(np.uint8))
    write_rgb(tmp_path / "dist" / "03.png", textured(9))
    code, _, err = _run("psnr", tmp_path / "dist", tmp_path / "ref")
    assert code == 1 and "4 frames" in err and "has 3" in err and "--common-prefix" in err
    code, out, err = _run("psnr", tmp_path / "dist", tmp_path / "ref", "--common-prefix", "-o", tmp_path / "out", "--html")
    assert code == 0, err
    assert "3 frames, 28x24" in out and "worst frame 2" in out and "best frame 0 (inf dB)" in out
    rows = list(csv.DictReader((tmp_path / "out" / "dist_vs_ref.csv").open(newline="")))
    assert [r["index"] for r in rows] == ["0", "1", "2"]
    assert (tmp_path / "out" / "dist_vs_ref_psnr.png").read_bytes().startswith(b"\x89PNG")
    assert "<table>" in (tmp_path / "out" / "dist_vs_ref.html").read_text()


def test_psnr_size_mismatch_and_crop_to_common(tmp_path: Path) -> None:
    f = textured(0)
    write_rgb(tmp_path / "a.png", f)
    write_rgb(tmp_path / "b.png", f[:20, :20])
    code, _, err = _run("psnr", tmp_path / "a.png", tmp_path / "b.png")
    assert code == 1 and "sizes differ" in err and "--crop-to-common" in err
    code, out, _ = _run("psnr", tmp_path / "a.png", tmp_path / "b.png", "--crop-to-common")
    assert code == 0 and "20x20" in out


@needs_data
def test_eval_set5_bicubic_prints_the_paper_number() -> None:
    code, out, err = _run("eval", "--model", "bicubic", "--dataset", DATA / "Set5", "--scale", 2)
    assert code == 0, err
    mean = float(re.search(r"^mean \(5\)\s+([\d.]+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert abs(mean - 33.66) <= 0.03
