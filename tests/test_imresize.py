"""MATLAB-exact bicubic resize and the BI/BD degradations."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.data import degrade, degrade_bd, imresize
from vsr.errors import InvalidInputError, UnsupportedError
from vsr.io import read_image

DATA = Path(os.environ.get("VSR_TEST_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
needs_data = pytest.mark.skipif(
    not (DATA / "Set5").is_dir(), reason=f"benchmark data not found at {DATA} (set VSR_TEST_DATA to the shared/data folder)"
)


def _rng_image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


@needs_data
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reproduces_matlab_lr_files_of_set5(scale: int) -> None:
    total = off_by_more_than_one = 0
    abs_sum = 0.0
    for hr_path in sorted((DATA / "Set5" / "HR").glob("*.png")):
        hr = read_image(hr_path)
        lr = read_image(DATA / "Set5" / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png")
        h, w = lr.shape[0] * scale, lr.shape[1] * scale
        ours = imresize(hr[:h, :w], 1 / scale)
        assert ours.shape == lr.shape and ours.dtype == np.uint8
        diff = np.abs(ours.astype(np.int32) - lr.astype(np.int32))
        abs_sum += float(diff.sum())
        off_by_more_than_one += int((diff > 1).sum())
        total += diff.size
    # The bar is <= 0.2 mean and < 1e-4 off by more than one; rounding after each
    # axis (as MATLAB does for uint8) actually reproduces the files bit for bit.
    assert abs_sum / total <= 0.2
    assert off_by_more_than_one / total < 1e-4
    assert abs_sum == 0.0


@needs_data
def test_reproduces_grey_lr_file_of_set14_bridge() -> None:
    hr = read_image(DATA / "Set14" / "HR" / "bridge.png")
    lr = read_image(DATA / "Set14" / "LR_bicubic" / "X3" / "bridgex3.png")
    assert hr.ndim == 2
    ours = imresize(hr[: lr.shape[0] * 3, : lr.shape[1] * 3], 1 / 3)
    np.testing.assert_array_equal(ours, lr)


@pytest.mark.parametrize("scale, shape", [(0.5, (8, 12)), (1 / 3, (6, 8)), (0.25, (4, 6)), (2, (32, 48)), (3, (48, 72))])
def test_output_size_is_ceil_of_scaled_size(scale: float, shape: tuple[int, int]) -> None:
    out = imresize(_rng_image(16, 24), scale)
    assert out.shape == (*shape, 3)


def test_odd_sizes_round_up_like_matlab() -> None:
    assert imresize(_rng_image(17, 10), 0.5).shape == (9, 5, 3)
    assert imresize(_rng_image(255, 10), 1 / 3).shape == (85, 4, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("scale", [0.25, 0.5, 2, 3])
def test_constant_image_stays_constant(dtype: type, scale: float) -> None:
    img = np.full((12, 20, 3), 77, dtype=dtype)
    out = imresize(img, scale)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, 77, atol=1e-9)


def test_upscaling_reproduces_a_linear_ramp_away_from_borders() -> None:
    # The cubic kernel (a = -0.5) interpolates linear functions exactly; output pixel x (1-based)
    # samples the input at u = x/s + (1 - 1/s)/2.
    ramp = np.tile(np.arange(1, 21, dtype=np.float64), (6, 1))
    out = imresize(ramp, 2)
    u = np.arange(1, 41) / 2 + 0.25
    np.testing.assert_allclose(out[0, 4:-4], u[4:-4], atol=1e-12)


def test_uint8_rounds_after_each_axis_and_float_does_not() -> None:
    img = _rng_image(20, 24)
    u8 = imresize(img, 0.5)
    f = imresize(img.astype(np.float64), 0.5)
    assert np.any(f != np.round(f))
    # Rounding the intermediate (uint8) result moves some pixels by one level, never more.
    diff = np.abs(np.floor(f + 0.5) - u8)
    assert diff.max() == 1.0


def test_float_results_are_not_clipped() -> None:
    img = np.zeros((8, 8), np.float64)
    img[:, 4:] = 255.0
    out = imresize(img, 2)
    assert out.max() > 255.0 and out.min() < 0.0  # bicubic overshoot at the edge
    assert imresize(img.astype(np.uint8), 2).max() == 255


def test_torch_chw_matches_numpy_hwc_and_keeps_device_and_dtype() -> None:
    img = _rng_image(18, 22)
    ref = imresize(img, 0.5)
    t = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    out = imresize(t, 0.5)
    assert out.dtype == torch.uint8 and out.shape == (3, 9, 11)
    np.testing.assert_array_equal(out.permute(1, 2, 0).numpy(), ref)
    batch = imresize(t[None].float(), 2)
    assert batch.dtype == torch.float32 and batch.shape == (1, 3, 36, 44)


def test_batched_frames_match_single_frames() -> None:
    frames = np.stack([_rng_image(12, 16, seed=s) for s in range(3)])
    out = imresize(frames, 0.25)
    assert out.shape == (3, 3, 4, 3)
    for k in range(3):
        np.testing.assert_array_equal(out[k], imresize(frames[k], 0.25))


def test_output_size_argument_and_grey_images() -> None:
    grey = _rng_image(10, 14, 1)[:, :, 0]
    out = imresize(grey, output_size=(20, 7))
    assert out.shape == (20, 7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "exactly one of scale or output_size"),
        ({"scale": 2, "output_size": (2, 2)}, "exactly one"),
        ({"scale": 0}, "scale must be > 0"),
        ({"scale": -1}, "scale must be > 0"),
        ({"output_size": (0, 3)}, "output_size must be positive"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        imresize(_rng_image(4, 4), **kwargs)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="HxW, HxWxC or NxHxWxC array, got shape"):
        imresize(np.zeros(5, np.uint8), 2)
    with pytest.raises(InvalidInputError, match="uint8 and float arrays, got int16"):
        imresize(np.zeros((4, 4), np.int16), 2)
    with pytest.raises(InvalidInputError, match="numpy array or torch tensor, got list"):
        imresize([[1, 2], [3, 4]], 2)  # type: ignore[type-var]


# --------------------------------------------------------------------------- BD


def _fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """MATLAB fspecial('gaussian', size, sigma), written out in 2-D."""
    half = (size - 1) / 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def test_bd_output_size_keeps_every_fourth_pixel_from_index_one() -> None:
    assert degrade_bd(_rng_image(576, 720)).shape == (144, 180, 3)
    assert degrade_bd(_rng_image(10, 7)).shape == (3, 2, 3)


def test_bd_impulse_response_is_the_matlab_kernel() -> None:
    img = np.zeros((24, 24), np.float64)
    img[9, 13] = 1.0  # LR pixel (2, 3) sits on HR (1 + 4*2, 1 + 4*3) = (9, 13)
    lr = degrade_bd(img)
    h = _fspecial_gaussian(12, 1.6)
    # imfilter's origin for an even 12-tap kernel is its 6th element (index 5).
    assert lr[2, 3] == pytest.approx(h[5, 5], rel=1e-12)
    # HR (9, 13) is tap (9 - 5 + 5, 13 - 9 + 5) = (9, 9) for the LR pixel at HR (5, 9).
    assert lr[1, 2] == pytest.approx(h[9, 9], rel=1e-12)
    assert lr[3, 4] == pytest.approx(h[1, 1], rel=1e-12)
    assert lr.sum() == pytest.approx(h[np.ix_([1, 5, 9], [1, 5, 9])].sum(), rel=1e-12)


def test_bd_border_is_replicated() -> None:
    img = np.zeros((16, 16), np.float64)
    img[0, :] = 255.0
    lr = degrade_bd(img)
    # LR row 0 is HR row 1 and reads HR rows -4..7; rows -4..0 (taps 0..4) all replicate row 0.
    g = _fspecial_gaussian(12, 1.6).sum(axis=1)
    np.testing.assert_allclose(lr[0], 255.0 * g[:5].sum(), rtol=1e-12)
    np.testing.assert_allclose(lr[1], 255.0 * g[0], rtol=1e-12)  # HR row 5 reads rows 0..11
    np.testing.assert_allclose(lr[2:], 0.0, atol=1e-12)


def test_bd_uint8_rounds_once_and_torch_matches_numpy() -> None:
    img = _rng_image(32, 40)
    u8 = degrade_bd(img)
    f = degrade_bd(img.astype(np.float64))
    np.testing.assert_array_equal(u8, np.floor(f + 0.5).astype(np.uint8))
    t = degrade_bd(torch.from_numpy(img).permute(2, 0, 1)[None])
    np.testing.assert_array_equal(t[0].permute(1, 2, 0).numpy(), u8)


def test_degrade_dispatches_and_checks() -> None:
    img = _rng_image(16, 24)
    np.testing.assert_array_equal(degrade(img, 2, "bi"), imresize(img, 0.5))
    np.testing.assert_array_equal(degrade(img, 4, "bd"), degrade_bd(img))
    with pytest.raises(UnsupportedError, match="scale 4 only, got scale 2"):
        degrade(img, 2, "bd")
    with pytest.raises(UnsupportedError, match="Unknown degradation 'gauss'. Allowed: bi, bd"):
        degrade(img, 2, "gauss")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"divisible by the scale 3, got 16x24 .* crop it to 15x24"):
        degrade(img, 3)
    assert math.isclose(float(degrade(np.full((8, 8), 9.0), 4, "bd").mean()), 9.0)
