"""PSNR, SSIM, Y conversion, protocols and video means."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.data import imresize
from vsr.errors import InvalidInputError, UnsupportedError
from vsr.io import read_image
from vsr.metrics import PROTOCOLS, finite_mean, get_protocol, psnr, rgb_to_y, ssim, temporal_error, video_means

DATA = Path(os.environ.get("VSR_TEST_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
needs_data = pytest.mark.skipif(
    not (DATA / "Set14").is_dir(), reason=f"benchmark data not found at {DATA} (set VSR_TEST_DATA to the shared/data folder)"
)

_Y_SUM = (65.481 + 128.553 + 24.966) / 255  # = 219/255


def _image(seed: int = 0, h: int = 32, w: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 230, (h, w, 3), dtype=np.uint8)


def test_psnr_of_a_constant_offset() -> None:
    target = _image().astype(np.float64)
    assert psnr(target + 5, target) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    # On Y, an offset of 5 on R, G and B is an offset of 5 * 219/255.
    assert psnr(target + 5, target, y_channel=True) == pytest.approx(10 * math.log10(255**2 / (5 * _Y_SUM) ** 2), abs=1e-12)


def test_identical_images_give_inf_and_ssim_one() -> None:
    img = _image()
    assert psnr(img, img) == math.inf
    assert psnr(img, img.copy(), y_channel=True, crop_border=3) == math.inf
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert ssim(img, img, y_channel=True) == pytest.approx(1.0, abs=1e-12)


def test_crop_border_removes_exactly_that_many_pixels() -> None:
    target = _image()
    pred = target.copy()
    pred[:2, :] = 0
    pred[:, -2:] = 0
    assert psnr(pred, target, crop_border=2) == math.inf
    assert math.isfinite(psnr(pred, target, crop_border=1))
    with pytest.raises(InvalidInputError, match="crop_border 16 leaves nothing of a 32x40 image"):
        psnr(pred, target, crop_border=16)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    # With zero variance SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 100.0, 120.0
    c1 = (0.01 * 255) ** 2
    got = ssim(np.full((16, 16), a), np.full((16, 16), b))
    assert got == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-12)


def test_ssim_of_rgb_is_the_mean_of_channels() -> None:
    t, p = _image(1), _image(2)
    per_channel = [ssim(p[:, :, c], t[:, :, c]) for c in range(3)]
    assert ssim(p, t) == pytest.approx(float(np.mean(per_channel)), rel=1e-12)
    assert ssim(p, t) < 0.5


def test_rgb_to_y_is_bt601_studio_range() -> None:
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    y = rgb_to_y(rgb)
    np.testing.assert_allclose(y, [[16.0, 235.0, 16 + 65.481]], atol=1e-9)
    grey = np.array([[0, 128, 255]], np.uint8)
    np.testing.assert_allclose(rgb_to_y(grey), rgb_to_y(np.repeat(grey[:, :, None], 3, axis=2)), atol=1e-12)


def test_torch_chw_and_numpy_hwc_agree() -> None:
    p, t = _image(3), _image(4)
    tp, tt = torch.from_numpy(p).permute(2, 0, 1), torch.from_numpy(t).permute(2, 0, 1).float()
    assert psnr(tp, tt, crop_border=2, y_channel=True) == pytest.approx(psnr(p, t, crop_border=2, y_channel=True), abs=1e-12)
    assert ssim(tp[None], tt, y_channel=True) == pytest.approx(ssim(p, t, y_channel=True), abs=1e-12)
    np.testing.assert_allclose(rgb_to_y(tp), rgb_to_y(p), atol=1e-12)


def test_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match=r"differ in shape: \(32, 40, 3\) vs \(30, 40, 3\)"):
        psnr(_image(), _image(h=30))
    with pytest.raises(InvalidInputError, match="RGB .3-channel. or grey .1-channel. image, got 4 channels"):
        psnr(np.zeros((8, 8, 4)), np.zeros((8, 8, 4)), y_channel=True)
    with pytest.raises(InvalidInputError, match="at least 11x11 pixels"):
        ssim(np.zeros((10, 30)), np.zeros((10, 30)))


@needs_data
def test_basicsr_oracle_on_set14_baboon() -> None:
    # BasicSR's tests/data/bic/baboon.png: GT mod-cropped to 12, LR = imresize(im2double(GT), 1/4)
    # saved as uint8, then imresize(im2double(LR), 4) saved as uint8 (scripts/matlab_scripts/
    # generate_bicubic_img.m). Its documented scores (docs/Metrics.md, crop 4) are reproduced below.
    hr = read_image(DATA / "Set14" / "HR" / "baboon.png")
    gt = hr[: hr.shape[0] // 12 * 12, : hr.shape[1] // 12 * 12]
    lr = np.floor(np.clip(imresize(gt.astype(np.float64), 1 / 4), 0, 255) + 0.5)
    bic = np.floor(np.clip(imresize(lr, 4), 0, 255) + 0.5).astype(np.uint8)
    assert psnr(bic, gt, crop_border=4) == pytest.approx(20.419710, abs=2e-6)
    # BasicSR computes Y in float32; float64 here moves the 6th decimal by one.
    assert psnr(bic, gt, crop_border=4, y_channel=True) == pytest.approx(22.441898, abs=2e-6)
    assert ssim(bic, gt, crop_border=4) == pytest.approx(0.391853, abs=2e-6)
    assert ssim(bic, gt, crop_border=4, y_channel=True) == pytest.approx(0.453097, abs=2e-6)


@pytest.mark.parametrize(
    "name, scale, y, crop",
    [("edsr-benchmark", 3, True, 3), ("div2k", 4, False, 10), ("video", 4, True, 0), ("vimeo90k-t", 4, True, 0)],
)
def test_protocol_table(name: str, scale: int, y: bool, crop: int) -> None:
    p = get_protocol(name)
    assert p is PROTOCOLS[name] and p.name == name
    assert p.y_channel is y and p.crop_border(scale) == crop


def test_protocol_aggregation_and_frames() -> None:
    assert get_protocol("edsr-benchmark").aggregation == "image-mean"
    assert get_protocol("video").aggregation == "clip-mean" and get_protocol("video").frames == "all"
    assert get_protocol("vimeo90k-t").frames == "center"


def test_unknown_protocol_lists_the_allowed_names() -> None:
    with pytest.raises(UnsupportedError, match="Unknown protocol 'vid4'. Allowed: edsr-benchmark, div2k, video, vimeo90k-t"):
        get_protocol("vid4")


def test_video_means_by_hand() -> None:
    m = video_means({"a": [30.0, 32.0], "b": [20.0]})
    assert dict(m.clip_means) == {"a": 31.0, "b": 20.0}
    assert m.mean_of_clips == pytest.approx(25.5)
    assert m.frame_weighted == pytest.approx(82.0 / 3)
    assert (m.n_frames, m.n_infinite) == (3, 0)


def test_infinite_scores_are_left_out_of_means() -> None:
    assert finite_mean([math.inf, 30.0, 32.0]) == 31.0
    assert finite_mean([math.inf]) == math.inf
    m = video_means({"a": [math.inf, 30.0], "b": [math.inf]})
    assert m.clip_means["b"] == math.inf and m.mean_of_clips == 30.0 and m.n_infinite == 2
    with pytest.raises(InvalidInputError, match="no values"):
        finite_mean([])


def test_temporal_error_by_hand() -> None:
    gt0, gt1 = np.full((4, 4), 100.0), np.full((4, 4), 110.0)
    # A static error costs nothing ...
    assert temporal_error(gt0 + 3, gt1 + 3, gt0, gt1, y_channel=False) == 0.0
    # ... an error that changes between frames costs its change: |(+3) - (-2)| = 5.
    assert temporal_error(gt0 - 2, gt1 + 3, gt0, gt1, y_channel=False) == pytest.approx(5.0)
    rgb0, rgb1 = np.full((4, 4, 3), 100.0), np.full((4, 4, 3), 110.0)
    assert temporal_error(rgb0 - 2, rgb1 + 3, rgb0, rgb1) == pytest.approx(5.0 * _Y_SUM)
