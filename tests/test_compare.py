"""`vsr compare`: several models and bicubic on a tiny image set and a tiny clip folder, and its errors."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.compare._compare import compare_models, format_comparison, write_comparison_report
from vsr.compare._results import BICUBIC, group_stats
from vsr.data import imresize
from vsr.errors import DatasetError, InputNotFoundError, InvalidInputError, UnsupportedError
from vsr.metrics import psnr

from _images import textured, write_rgb
from _models import save_tiny_model


@pytest.fixture
def image_set(tmp_path: Path) -> Path:
    """EDSR layout, x2, three images (one grey, one of odd size); LR made by imresize."""
    root = tmp_path / "TinySet"
    for k, (h, w) in enumerate(((24, 28), (25, 30), (24, 24))):
        hr = textured(k, h, w)
        if k == 2:
            hr = np.repeat(hr[:, :, :1], 3, axis=2)
        write_rgb(root / "HR" / f"img{k}.png", hr)
        write_rgb(root / "LR_bicubic" / "X2" / f"img{k}x2.png", imresize(np.ascontiguousarray(hr[: h // 2 * 2, : w // 2 * 2]), 0.5))
    return root


@pytest.fixture
def clip_set(tmp_path: Path) -> Path:
    """A Vid4-like folder of two clips with 'Frame NNN.png' names (3 and 2 frames)."""
    root = tmp_path / "TinyVid"
    for clip, n in (("calendar", 3), ("city", 2)):
        for i in range(n):
            write_rgb(root / clip / f"Frame {i + 1:03d}.png", textured(100 + 10 * len(clip) + i, 20, 24))
    return root


@pytest.fixture
def two_models(tmp_path: Path) -> tuple[Path, Path]:
    return save_tiny_model(tmp_path / "alpha.pt", seed=1), save_tiny_model(tmp_path / "beta.pt", seed=2)


def _run(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def test_cli_compare_writes_the_report(image_set: Path, clip_set: Path, two_models: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_models
    out = tmp_path / "report"
    code, stdout, stderr = _run(
        "compare", "--model", a, "--model", b, "--label", "beta=B-model", "--image-set", image_set,
        "--video-set", clip_set, "--scale", 2, "-o", out, "--device", "cpu",
    )
    assert code == 0, stderr
    assert "TinySet PSNR" in stdout and "B-model" in stdout

    md = (out / "report.md").read_text(encoding="utf-8")
    table = [ln for ln in md.splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == ["model", "TinySet PSNR", "TinySet SSIM", "TinyVid PSNR", "TinyVid SSIM", "TinyVid TE"]
    first_col = [ln.strip("|").split("|")[0].strip() for ln in table[1:5]]
    assert first_col == ["alpha", "B-model", "bicubic", "Δ B-model − alpha"]

    # The numbers in the table are the ones in the JSON, and the bold cell is the column's best.
    data = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    tiny = next(s for s in data["sets"] if s["name"] == "TinySet")
    psnrs = {lab: tiny["summary"][lab]["psnr"] for lab in ("alpha", "B-model", BICUBIC)}
    cells = {ln.strip("|").split("|")[0].strip(): ln.strip("|").split("|")[1].strip() for ln in table[1:4]}
    best = max(psnrs, key=lambda k: psnrs[k])
    for lab, v in psnrs.items():
        assert cells[lab] == (f"**{v:.2f}**" if lab == best else f"{v:.2f}")
    delta = table[4].strip("|").split("|")[1].strip()
    assert delta == f"{psnrs['B-model'] - psnrs['alpha']:+.2f}"

    vid = next(s for s in data["sets"] if s["name"] == "TinyVid")
    assert vid["protocol"]["name"] == "video" and tiny["protocol"]["name"] == "edsr-benchmark"
    assert [c["clip"] for c in vid["clips"]] == ["calendar", "city"]
    assert len(vid["items"]) == 5 and len(tiny["items"]) == 3

    # One per-frame plot per clip, one per-image plot per image set; crops for the set and each clip.
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert plots == ["gain_over_bicubic.png", "psnr_TinySet.png", "psnr_TinyVid_calendar.png", "psnr_TinyVid_city.png"]
    assert len(list((out / "crops").iterdir())) == 3
    assert not [p.name for p in out.rglob(".*")]  # every file written atomically: no partials or temporaries left
    for p in re.findall(r"\]\(((?:plots|crops)/[^)]+)\)", md):
        assert (out / p).is_file(), p
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "src=\"plots/" not in html and html.count("data:image/png;base64,") == 7  # 4 plots + 3 crops

    with (out / "items.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == (3 + 5) * 3
    with (out / "summary.csv").open(encoding="utf-8") as f:
        summary = {(r["set"], r["model"]): float(r["psnr"]) for r in csv.DictReader(f)}
    assert summary[("TinySet", "B-model")] == pytest.approx(psnrs["B-model"], abs=1e-5)


def test_compare_examples_show_where_models_differ(image_set: Path, clip_set: Path, two_models: tuple[Path, Path]) -> None:
    c = compare_models(list(two_models), scale=2, image_sets=[image_set], video_sets=[clip_set], device="cpu")
    assert c.labels == ("alpha", "beta")
    assert not c.notes or all("redone" not in n for n in c.notes)
    assert [(e.set_name, e.clip) for e in c.examples] == [("TinySet", ""), ("TinyVid", "calendar"), ("TinyVid", "city")]
    img = c.sets[0]
    diffs = [abs(a - b) for a, b in zip(img.item_psnr("alpha"), img.item_psnr("beta"))]
    ex = c.examples[0]
    assert ex.item == img.bicubic.items[int(np.argmax(diffs))].name
    assert ex.spread == pytest.approx(max(diffs))
    assert set(ex.crops) == {"ground truth", "bicubic", "alpha", "beta"}
    assert all(v.shape == (ex.side, ex.side, 3) for v in ex.crops.values())
    # The crop of the ground truth is the ground truth of that item (modcropped HR).
    hr = cv2.cvtColor(cv2.imread(str(image_set / "HR" / f"{ex.item}.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(ex.crops["ground truth"], hr[ex.top:ex.top + ex.side, ex.left:ex.left + ex.side])
    # Bicubic's per-item PSNR is the one a direct computation gives.
    lr = cv2.cvtColor(cv2.imread(str(image_set / "LR_bicubic" / "X2" / "img0x2.png")), cv2.COLOR_BGR2RGB)
    hr0 = cv2.cvtColor(cv2.imread(str(image_set / "HR" / "img0.png")), cv2.COLOR_BGR2RGB)
    assert img.item_psnr(BICUBIC)[0] == pytest.approx(psnr(imresize(lr, 2), hr0, crop_border=2, y_channel=True))
    assert "alpha" in format_comparison(c)


def test_groups_report_means_ranges_and_paired_differences(image_set: Path, tmp_path: Path) -> None:
    paths = [save_tiny_model(tmp_path / f"m{k}.pt", seed=k) for k in range(4)]
    labels = {"m0": "img s0", "m1": "img s1", "m2": "vid s0", "m3": "vid s1"}
    groups = {"img s0": "img", "img s1": "img", "vid s0": "vid", "vid s1": "vid"}
    c = compare_models(paths, scale=2, image_sets=[image_set], labels=labels, groups=groups, device="cpu")
    stats = {g.group: g for g in group_stats(c)}
    p = {lab: c.sets[0].summary(lab)[0] for lab in labels.values()}
    assert stats["img"].mean == pytest.approx((p["img s0"] + p["img s1"]) / 2)
    assert stats["img"].spread == pytest.approx(abs(p["img s0"] - p["img s1"]))
    assert stats["vid"].delta == pytest.approx(stats["vid"].mean - stats["img"].mean)
    assert stats["vid"].paired == pytest.approx((p["vid s0"] - p["img s0"], p["vid s1"] - p["img s1"]))
    md = (write_comparison_report(c, tmp_path / "r")[0].parent / "report.md").read_text(encoding="utf-8")
    assert "## Groups (run-to-run noise)" in md and "Δ vid − img" in md


def test_models_of_different_scales_are_refused(image_set: Path, tmp_path: Path) -> None:
    a, b = save_tiny_model(tmp_path / "a.pt", scale=2), save_tiny_model(tmp_path / "b.pt", scale=4)
    with pytest.raises(UnsupportedError, match=r"a\.pt: x2; .*b\.pt: x4"):
        compare_models([a, b], scale=2, image_sets=[image_set], device="cpu")
    code, _, err = _run("compare", "--model", a, "--model", b, "--image-set", image_set, "--scale", 2, "-o", tmp_path / "o")
    assert code == 1 and "every model must upscale x2" in err and "Traceback" not in err


def test_missing_and_empty_sets_are_refused(
    two_models: tuple[Path, Path], clip_set: Path, image_set: Path, tmp_path: Path
) -> None:
    models = list(two_models)
    with pytest.raises(InputNotFoundError, match="nope: test set not found"):
        compare_models(models, scale=2, image_sets=[tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        compare_models(models, scale=2, video_sets=[tmp_path / "empty"])
    (tmp_path / "EmptyHR" / "HR").mkdir(parents=True)
    with pytest.raises(DatasetError, match="HR folder .* is empty"):
        compare_models(models, scale=2, image_sets=[tmp_path / "EmptyHR"])
    with pytest.raises(UnsupportedError, match="pass it with --video-set"):
        compare_models(models, scale=2, image_sets=[clip_set])
    with pytest.raises(UnsupportedError, match="pass it with --image-set"):
        compare_models(models, scale=2, video_sets=[image_set])
    with pytest.raises(InvalidInputError, match="no test sets"):
        compare_models(models, scale=2)


def test_labels_must_be_unique_and_known(two_models: tuple[Path, Path], image_set: Path) -> None:
    a, b = two_models
    with pytest.raises(InvalidInputError, match="both be labelled 'same'"):
        compare_models([a, b], scale=2, image_sets=[image_set], labels={"alpha": "same", "beta": "same"})
    with pytest.raises(InvalidInputError, match="--label names gamma"):
        compare_models([a, b], scale=2, image_sets=[image_set], labels={"gamma": "g"})
    with pytest.raises(InvalidInputError, match="reserved"):
        compare_models([a], scale=2, image_sets=[image_set], labels={"alpha": "bicubic"})
