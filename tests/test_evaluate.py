"""vsr.evaluation._evaluate: image sets, video layouts, bicubic baselines and frame-level comparisons."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from vsr.data import degrade_bd, imresize
from vsr.errors import DatasetError, InputNotFoundError, InvalidInputError, UnsupportedError
from vsr.evaluation._items import detect_layout
from vsr.evaluation._evaluate import score_frames, evaluate

from _images import write_rgb

DATA = Path(os.environ.get("VSR_TEST_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
needs_data = pytest.mark.skipif(
    not (DATA / "Set5").is_dir(), reason=f"benchmark data not found at {DATA} (set VSR_TEST_DATA to the shared/data folder)"
)


def _smooth(h: int, w: int, seed: int, channels: int = 3) -> np.ndarray:
    """A smooth random uint8 image (blurred noise), so bicubic scores are realistic."""
    noise = np.random.default_rng(seed).uniform(0, 255, (h, w, channels)).astype(np.float32)
    img = cv2.GaussianBlur(noise, (0, 0), 2.0)
    img = (img - img.min()) / (np.ptp(img) + 1e-6) * 220 + 20
    img = np.round(img).astype(np.uint8)
    return img if channels == 3 else img.reshape(h, w)


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _bicubic_model(scale: int):
    """A stand-in model with the Upscaler contract that returns MATLAB bicubic."""
    calls: list[tuple[int, ...]] = []

    def up(lr: np.ndarray) -> np.ndarray:
        assert lr.dtype == np.uint8 and lr.ndim == 4 and lr.shape[-1] == 3
        calls.append(lr.shape)
        return imresize(lr, scale)

    up.calls = calls  # type: ignore[attr-defined]
    return up


@pytest.fixture
def edsr_set(tmp_path: Path) -> Path:
    """EDSR layout, x2: an RGB image with odd sides and a grey one; LR made by imresize."""
    root = tmp_path / "Tiny"
    for name, img in (("rgb", _smooth(35, 41, 0)), ("grey", _smooth(30, 28, 1, channels=1))):
        write_rgb(root / "HR" / f"{name}.png", img)
        h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
        write_rgb(root / "LR_bicubic" / "X2" / f"{name}x2.png", imresize(img[:h, :w], 0.5))
    return root


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """Vid4-like: two clips of 3 and 2 frames named 'Frame 00N.png'."""
    root = tmp_path / "Clips"
    for clip, n, seed in (("alpha", 3, 10), ("beta", 2, 20)):
        for i in range(n):
            write_rgb(root / clip / f"Frame {i + 1:03d}.png", _smooth(32, 40, seed + i))
    return root


# --------------------------------------------------------------------------- published numbers


@needs_data
@pytest.mark.parametrize("scale, paper", [(2, 33.66), (3, 30.39), (4, 28.42)])
def test_set5_bicubic_reproduces_the_paper(scale: int, paper: float) -> None:
    r = evaluate(DATA / "Set5", scale)
    assert r.layout == "edsr" and r.protocol.name == "edsr-benchmark" and r.crop_border == scale
    assert len(r.items) == 5 and not r.has_model
    assert abs(r.mean.bicubic_psnr - paper) <= 0.03
    assert r.mean.psnr is None and r.mean.gain is None


@needs_data
def test_set14_difference_from_the_paper_is_the_grey_bridge() -> None:
    r = evaluate(DATA / "Set14", 4)
    assert any("grey" in n for n in r.notes)
    assert r.mean.bicubic_psnr == pytest.approx(26.09, abs=0.01)  # paper: 26.00
    # Scoring grey 'bridge' on Y scales its error by 219/255; MATLAB scripts score it raw,
    # which lowers it by 20 log10(255/219) dB and brings the mean to the paper's value.
    raw_mean = r.mean.bicubic_psnr - 20 * math.log10(255 / 219) / len(r.items)
    assert raw_mean == pytest.approx(26.00, abs=0.01)


@needs_data
def test_vimeo90k_septuplets_score_centre_frames() -> None:
    r = evaluate(DATA / "Vimeo90K", 4)
    assert r.layout == "septuplets" and r.protocol.name == "vimeo90k-t"
    assert len(r.clips) == 16 and len(r.items) == 16
    assert all(i.name == "im4" and i.index == 3 for i in r.items)


# --------------------------------------------------------------------------- image sets


def test_edsr_layout_with_a_model_crops_hr_and_handles_grey(edsr_set: Path) -> None:
    model = _bicubic_model(2)
    r = evaluate(edsr_set, 2, model, model_name="bicubic-as-model")
    assert r.layout == "edsr" and r.model == "bicubic-as-model" and r.has_model
    assert [i.name for i in r.items] == ["grey", "rgb"]
    assert model.calls == [(1, 15, 14, 3), (1, 17, 20, 3)]  # grey replicated to RGB; HR 35x41 -> LR 17x20
    for i in r.items:
        assert i.psnr == pytest.approx(i.bicubic_psnr) and i.gain == pytest.approx(0.0)
        assert 20 < i.bicubic_psnr < 60 and 0 < i.bicubic_ssim <= 1
    assert r.mean.bicubic_psnr == pytest.approx(np.mean([i.bicubic_psnr for i in r.items]))
    assert any("LR read from" in n for n in r.notes) and any("grey" in n for n in r.notes)
    worst, best = r.examples
    assert worst.psnr <= best.psnr and set(worst.images) == {"bicubic", "model", "ground truth"}
    assert worst.images["ground truth"].shape[2] == 3


def test_missing_lr_file_names_the_expected_path(edsr_set: Path) -> None:
    (edsr_set / "LR_bicubic" / "X2" / "rgbx2.png").unlink()
    with pytest.raises(DatasetError, match=r"rgbx2\.png: LR image for .*rgb\.png is missing"):
        evaluate(edsr_set, 2)


def test_missing_lr_folder_makes_lr_with_imresize(edsr_set: Path) -> None:
    from_disk = evaluate(edsr_set, 2)
    shutil.rmtree(edsr_set / "LR_bicubic")
    made = evaluate(edsr_set, 2)
    assert any("does not exist" in n and "X2" in n for n in made.notes)
    # The LR files on disk were made by imresize too, so the scores are the same.
    assert [i.bicubic_psnr for i in made.items] == [i.bicubic_psnr for i in from_disk.items]
    div2k = evaluate(edsr_set, 2, protocol="div2k")
    assert div2k.crop_border == 8 and not div2k.protocol.y_channel
    assert div2k.items[1].bicubic_psnr != made.items[1].bicubic_psnr


def test_plain_folder_of_images(tmp_path: Path) -> None:
    for k in range(3):
        write_rgb(tmp_path / "imgs" / f"{k}.png", _smooth(24 + k, 30, k))
    assert detect_layout(tmp_path / "imgs") == "images"
    r = evaluate(tmp_path / "imgs", 4, _bicubic_model(4), degradation="bd")
    assert len(r.items) == 3 and any("BD" in n for n in r.notes)
    gt = _read(tmp_path / "imgs" / "1.png")[:24, :28]
    bic = imresize(degrade_bd(gt), 4)
    from vsr.metrics import psnr

    assert r.items[1].bicubic_psnr == pytest.approx(psnr(bic, gt, crop_border=4, y_channel=True))


def test_model_with_wrong_output_is_reported(edsr_set: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"model returned uint8 \(1, 15, 14, 3\) .* expected uint8 \(1, 30, 28, 3\)"):
        evaluate(edsr_set, 2, lambda lr: lr)


def test_real_upscaler_with_a_tiny_random_model(edsr_set: Path) -> None:
    from vsr.inference._upscaler import Upscaler
    from _models import make_tiny_model

    up = Upscaler(make_tiny_model(), scale=2, device="cpu", precision="fp32")
    r = evaluate(edsr_set, 2, up, model_name="tiny")
    assert r.has_model and all(i.psnr is not None and math.isfinite(i.psnr) for i in r.items)


# --------------------------------------------------------------------------- video


def test_frame_folders_use_the_video_protocol(clips: Path) -> None:
    assert detect_layout(clips) == "clips"
    r = evaluate(clips, 2, _bicubic_model(2))
    assert r.protocol.name == "video" and r.crop_border == 0
    assert [(c.clip, c.n_frames) for c in r.clips] == [("alpha", 3), ("beta", 2)]
    assert [i.name for i in r.items[:3]] == ["Frame 001", "Frame 002", "Frame 003"]
    alpha = np.mean([i.bicubic_psnr for i in r.items[:3]])
    beta = np.mean([i.bicubic_psnr for i in r.items[3:]])
    assert r.mean.bicubic_psnr == pytest.approx((alpha + beta) / 2)
    assert r.frame_weighted is not None
    assert r.frame_weighted.bicubic_psnr == pytest.approx(np.mean([i.bicubic_psnr for i in r.items]))
    # Temporal error: the model here is bicubic, so both figures agree, and they are not zero.
    assert r.mean.temporal == pytest.approx(r.mean.bicubic_temporal) and r.mean.bicubic_temporal > 0


def test_bd_degradation_needs_x4(clips: Path) -> None:
    r = evaluate(clips, 4, degradation="bd")
    assert r.degradation == "bd" and len(r.items) == 5
    with pytest.raises(UnsupportedError, match="bd degradation is defined for x4 only, got x2"):
        evaluate(clips, 2, degradation="bd")


def test_septuplets_score_only_the_centre_frame(tmp_path: Path) -> None:
    for clip in ("00001/0001", "00001/0002"):
        for i in range(1, 8):
            write_rgb(tmp_path / "sequences" / clip / f"im{i}.png", _smooth(16, 24, i))
    assert detect_layout(tmp_path) == "septuplets"
    r = evaluate(tmp_path, 4)
    assert [(i.clip, i.name, i.index) for i in r.items] == [
        ("sequences/00001/0001", "im4", 3),
        ("sequences/00001/0002", "im4", 3),
    ]
    assert r.mean.bicubic_temporal is None
    every = evaluate(tmp_path, 4, protocol="video")
    assert len(every.items) == 14


def test_protocol_must_fit_the_data(clips: Path, edsr_set: Path) -> None:
    with pytest.raises(UnsupportedError, match="'div2k' scores image sets but this is video data"):
        evaluate(clips, 2, protocol="div2k")
    with pytest.raises(UnsupportedError, match="'video' scores video clips but this is an EDSR-layout image set"):
        evaluate(edsr_set, 2, protocol="video")
    with pytest.raises(UnsupportedError, match="Unknown protocol 'vid4'"):
        evaluate(clips, 2, protocol="vid4")


def test_missing_and_empty_datasets(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no such file or folder"):
        evaluate(tmp_path / "nope", 2)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images found; expected HR/"):
        evaluate(tmp_path / "empty", 2)


def _ffv1(frames: list[np.ndarray]) -> dict[str, Any]:
    """``make_video`` arguments for a lossless clip (FFV1, bgr0) of ``frames``: decoding returns the exact pixels."""
    h, w = frames[0].shape[:2]
    return {"frames": len(frames), "size": (w, h), "fps": 5, "codec": "ffv1", "pix_fmt": "bgr0", "content": frames.__getitem__}


def test_video_file_is_one_clip(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    frames = [_smooth(32, 32, s) for s in range(4)]
    make_video("clip.mkv", **_ffv1(frames))
    assert detect_layout(tmp_path / "clip.mkv") == "video"
    r = evaluate(tmp_path / "clip.mkv", 2)
    assert [c.clip for c in r.clips] == ["clip"] and [i.name for i in r.items] == [f"frame {k}" for k in (1, 2, 3, 4)]


# --------------------------------------------------------------------------- compare


def test_compare_identical_and_offset_frames(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    frames = [_smooth(24, 32, s) for s in range(3)]
    for k, f in enumerate(frames):
        write_rgb(tmp_path / "ref" / f"{k}.png", f)
        write_rgb(tmp_path / "dist" / f"{k}.png", f if k != 1 else f + 5)
    make_video("ref.mkv", **_ffv1(frames))
    same = score_frames(tmp_path / "ref.mkv", tmp_path / "ref")
    assert same.n_identical == 3 and same.mean_psnr_y == math.inf and len(same.frames) == 3
    r = score_frames(tmp_path / "dist", tmp_path / "ref")
    assert [f.psnr_rgb for f in r.frames] == [math.inf, pytest.approx(10 * math.log10(255**2 / 25)), math.inf]
    assert r.worst_index == 1 and r.n_identical == 2
    assert r.mean_psnr_y == pytest.approx(r.frames[1].psnr_y) and r.std_psnr_y == 0.0
    assert any("identical" in n for n in r.notes)
    assert set(r.examples[0].images) == {"distorted", "reference"}


def test_compare_frame_count_mismatch(tmp_path: Path, make_video: Callable[..., Path]) -> None:
    frames = [_smooth(24, 32, s) for s in range(3)]
    for k, f in enumerate(frames):
        write_rgb(tmp_path / "ref" / f"{k}.png", f)
    write_rgb(tmp_path / "one" / "0.png", frames[0])
    make_video("short.mkv", **_ffv1(frames[:2]))
    # Counts are compared before decoding when known (folders; videos by demuxing).
    with pytest.raises(InvalidInputError, match=r"short\.mkv has 2 frames, .*ref has 3; .*--common-prefix.* first 2"):
        score_frames(tmp_path / "short.mkv", tmp_path / "ref")
    with pytest.raises(InvalidInputError, match=r"one has 1 frames, .*ref has 3"):
        score_frames(tmp_path / "one", tmp_path / "ref")
    r = score_frames(tmp_path / "short.mkv", tmp_path / "ref", common_prefix=True)
    assert len(r.frames) == 2 and (r.n_distorted, r.n_reference) == (2, 3)
    assert any("frame counts differ" in n for n in r.notes)


def test_compare_size_mismatch(tmp_path: Path) -> None:
    big = _smooth(24, 32, 0)
    write_rgb(tmp_path / "a.png", big)
    write_rgb(tmp_path / "b.png", big[:20, :30])
    with pytest.raises(InvalidInputError, match=r"sizes differ: .*a\.png is 32x24, .*b\.png is 30x20; .*--crop-to-common"):
        score_frames(tmp_path / "a.png", tmp_path / "b.png")
    r = score_frames(tmp_path / "a.png", tmp_path / "b.png", crop_to_common=True)
    assert (r.width, r.height) == (30, 20) and r.mean_psnr_y == math.inf


# --------------------------------------------------------------------------- images too small to score
def test_an_image_too_small_to_score_is_named(tmp_path: Path) -> None:
    write_rgb(tmp_path / "set" / "tiny.png", _smooth(11, 9, 0))
    # x2 leaves 4x5 LR -> 8x10 scored after modcrop: below SSIM's 11x11 window.
    with pytest.raises(InvalidInputError, match=r"tiny\.png: too small to score: SSIM needs at least 11x11"):
        evaluate(tmp_path / "set", scale=2)
    write_rgb(tmp_path / "one" / "dot.png", _smooth(1, 1, 0))
    with pytest.raises(InvalidInputError, match=r"dot\.png: 1x1 pixels is smaller than the scale 2"):
        evaluate(tmp_path / "one", scale=2)


def test_frames_too_small_to_score_are_named(tmp_path: Path) -> None:
    write_rgb(tmp_path / "a.png", _smooth(9, 9, 0))
    write_rgb(tmp_path / "b.png", _smooth(9, 9, 1))
    with pytest.raises(InvalidInputError, match=r"a\.png frame 0: too small to score"):
        score_frames(tmp_path / "a.png", tmp_path / "b.png")
