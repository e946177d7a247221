"""Output sizes and fractional scales: the arithmetic, the area filter, and `vsr upscale --size/--width/--scale 1.5`."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from vsr.inference._output_size import OutputSize, choose_model_scale
from vsr.cli import cli
from vsr.errors import UnsupportedError
from vsr.io import read_image, write_image
from vsr.inference._upscaler import Upscaler, area_resize, quantize
from vsr import upscale_segmented, upscale_video

from _models import save_tiny_model


@pytest.fixture()
def tiny(tiny_model: nn.Module) -> nn.Module:
    """The shared tiny EDSR-baseline x2, in eval mode."""
    return tiny_model.eval()


def run(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def decode(path: Path) -> tuple[list[np.ndarray], list[Fraction]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return [f.to_ndarray(format="rgb24") for f in frames], [f.pts * f.time_base for f in frames]


def packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


# --------------------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(
    ("target", "size_in", "size_out", "k"),
    [
        (OutputSize(scale=1.5), (1280, 720), (1920, 1080), 2),
        (OutputSize(scale=2.5), (100, 60), (250, 150), 3),
        (OutputSize(width=1920, height=1080), (640, 360), (1920, 1080), 3),
        (OutputSize(width=3840), (1920, 800), (3840, 1600), 2),
        (OutputSize(width=1000), (640, 272), (1000, 426), 2),  # 425.0 -> nearest even
        (OutputSize(height=1080), (853, 480), (1920, 1080), 3),  # 1919.25 -> 1920 (even), beyond x2 (1706)
        (OutputSize(scale=1.5, model_scale=4), (10, 10), (15, 15), 4),
    ],
)
def test_sizes_and_model_scales(target: OutputSize, size_in: tuple[int, int], size_out: tuple[int, int], k: int) -> None:
    assert target.size_for(*size_in) == size_out
    assert target.model_scale_for(*size_in) == k
    if target.scale is None and (target.width is None or target.height is None):
        assert size_out[0] % 2 == 0 and size_out[1] % 2 == 0  # the derived side is even for 4:2:0


def test_impossible_requests_are_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedError, match="scale must be a number greater than 1, got 1; vsr only enlarges"):
        OutputSize(scale=1.0)
    with pytest.raises(UnsupportedError, match="scale must be a number greater than 1, got -2"):
        OutputSize(scale=-2)
    with pytest.raises(UnsupportedError, match="width must be a positive number of pixels, got 0"):
        OutputSize(width=0)
    with pytest.raises(UnsupportedError, match="height must be a positive number of pixels, got -5"):
        OutputSize(height=-5, width=10)
    with pytest.raises(UnsupportedError, match=r"no model reaches x4.5: the largest model factor is x4"):
        OutputSize(scale=4.5)
    with pytest.raises(UnsupportedError, match="size '1920' is not WIDTHxHEIGHT"):
        OutputSize.parse_size("1920")
    with pytest.raises(UnsupportedError, match=r"clip.mp4: target 600x300 is smaller than the input 640x360"):
        OutputSize.parse_size("600x300").size_for(640, 360, what="clip.mp4")
    with pytest.raises(UnsupportedError, match="is the input's own size"):
        OutputSize(width=640).size_for(640, 360)
    with pytest.raises(UnsupportedError, match=r"no model reaches 3000x1688 from 640x360 \(x4.69 needed"):
        OutputSize(width=3000).model_scale_for(640, 360)
    with pytest.raises(UnsupportedError, match=r"model scale x2 gives 200x100, smaller than the target 300x150; use a model scale of at least 3"):
        OutputSize(scale=3.0, model_scale=2).model_scale_for(100, 50)
    with pytest.raises(UnsupportedError, match=r"no model reaches 25x25 from 10x10 \(x2.5 needed; model factors: x2\)"):
        choose_model_scale(None, OutputSize(scale=2.5), 10, 10, (2,))
    assert choose_model_scale(None, OutputSize(scale=2.5), 10, 10, (2, 3, 4)) == 3
    assert choose_model_scale(4, OutputSize(scale=2.5), 10, 10) == 4
    assert choose_model_scale(2, None, 10, 10) == 2


def test_integer_scales_need_no_resize() -> None:
    assert OutputSize(scale=2.0).integer_scale == 2
    assert OutputSize(scale=1.5).integer_scale is None
    assert OutputSize(scale=2.0, model_scale=3).integer_scale is None
    assert [OutputSize(scale=1.5).tag, OutputSize.parse_size("1920x1080").tag, OutputSize(width=8).tag, OutputSize(height=6).tag] == [
        "x1.5", "1920x1080", "w8", "h6"]


# --------------------------------------------------------------------------- the area filter
def test_the_old_name_target_still_works_with_a_deprecation_warning() -> None:
    import vsr

    with pytest.warns(DeprecationWarning, match="vsr.Target is deprecated; use vsr.OutputSize"):
        old = vsr.Target
    assert old is OutputSize is vsr.OutputSize
    assert "Target" not in vsr.__all__ and "Target" not in dir(vsr) and "OutputSize" in vsr.__all__


@pytest.mark.parametrize(("h", "w", "oh", "ow"), [(40, 60, 30, 45), (37, 53, 20, 41), (48, 64, 48, 50), (100, 90, 33, 71)])
def test_area_resize_matches_opencv_inter_area(h: int, w: int, oh: int, ow: int) -> None:
    img = np.random.default_rng(h).uniform(0, 255, (h, w, 3)).astype(np.float32)
    ref = cv2.resize(img, (ow, oh), interpolation=cv2.INTER_AREA)
    out = area_resize(torch.from_numpy(img).permute(2, 0, 1)[None], (oh, ow))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-3)


def test_area_resize_keeps_constants_and_refuses_enlarging() -> None:
    x = torch.full((2, 3, 9, 7), 77.0)
    assert torch.allclose(area_resize(x, (5, 4)), torch.full((2, 3, 5, 4), 77.0))
    with pytest.raises(UnsupportedError, match="only reduces"):
        area_resize(x, (10, 7))


def test_upscaler_with_a_target_reduces_the_model_output_before_rounding(tiny: nn.Module) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (2, 12, 16, 3), dtype=np.uint8)
    up = Upscaler(tiny, scale=2, device="cpu", precision="fp32", target=OutputSize(scale=1.5))
    assert up.output_size(16, 12) == (24, 18)
    out = up(frames)
    assert out.shape == (2, 18, 24, 3) and out.dtype == np.uint8
    plain = Upscaler(tiny, scale=2, device="cpu", precision="fp32")
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    ref = quantize(area_resize(plain.upscale_tensor(x), (18, 24))).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(UnsupportedError, match="larger than the model's x2 output"):
        Upscaler(tiny, scale=2, device="cpu", target=OutputSize(scale=2.5)).output_size(16, 12)


# --------------------------------------------------------------------------- the command line
def test_cli_images_by_factor_size_and_side(tmp_path: Path, ckpt: Path) -> None:
    src = write_image(tmp_path / "in.png", np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8))
    rgba = write_image(tmp_path / "alpha.png", np.random.default_rng(1).integers(0, 256, (20, 30, 4), dtype=np.uint8))
    for args, name, shape in [
        (["--scale", "1.5"], "in_x1.5.png", (30, 45, 3)),
        (["--size", "40x30"], "in_40x30.png", (30, 40, 3)),
        (["--width", "50"], "in_w50.png", (34, 50, 3)),  # 33.3 -> 34 (even)
        (["--height", "25"], "in_h25.png", (25, 38, 3)),  # 37.5 -> 38
    ]:
        code, out, err = run("upscale", src, *args, "-m", ckpt, "--device", "cpu")
        assert code == 0, err
        assert read_image(tmp_path / name).shape == shape
        assert "via x2" in out
    code, _, err = run("upscale", rgba, "--scale", "1.5", "-m", ckpt, "--device", "cpu")
    assert code == 0, err
    assert read_image(tmp_path / "alpha_x1.5.png").shape == (30, 45, 4)


@pytest.mark.parametrize(
    ("args", "code", "match"),
    [
        (["--scale", "abc"], 2, "'abc' is not a number; use e.g. 2, 3, 4 or 1.5"),
        (["--scale", "0"], 2, "'0' must be greater than 1; vsr only enlarges"),
        (["--scale", "5"], 2, "no model reaches x5: the largest model factor is x4"),
        (["--width", "-4"], 2, "width must be a positive number of pixels, got -4"),
        (["--size", "big"], 2, "size 'big' is not WIDTHxHEIGHT"),
        (["--scale", "1.5", "--width", "40"], 2, "give --scale or a size"),
        ([], 2, "give --scale (2, 3, 4, or e.g. 1.5), --size WxH, --width W or --height H"),
        (["--size", "20x10"], 1, "in.png: target 20x10 is smaller than the input 30x20"),
        (["--width", "200"], 1, "in.png: no model reaches 200x134 from 30x20 (x6.7 needed; model factors: x2/x3/x4)"),
        (["--scale", "2.5"], 1, "tiny_x2.pt: checkpoint holds EDSR x2, 1 blocks x 8 features; it cannot upscale x3 (available: x2)"),
    ],
)
def test_cli_impossible_requests(tmp_path: Path, ckpt: Path, args: list[str], code: int, match: str) -> None:
    src = write_image(tmp_path / "in.png", np.zeros((20, 30, 3), np.uint8))
    got, _, err = run("upscale", src, *args, "-m", ckpt, "--device", "cpu")
    assert got == code and match in err, err
    if code == 1:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_cli_video_to_a_size_keeps_frames_timestamps_and_audio(tmp_path: Path, make_video, ckpt: Path) -> None:
    pts = [0, 40, 80, 160, 200, 240, 320, 360]  # variable frame rate, ms
    src = make_video("in.mp4", frames=len(pts), size=(64, 48), time_base=Fraction(1, 1000), pts=pts, audio=["aac"])
    code, out, err = run("upscale", src, "--size", "96x72", "-m", ckpt, "--device", "cpu", "-q")
    assert code == 0, err
    dst = tmp_path / "in_96x72.mp4"
    frames, times = decode(dst)
    assert len(frames) == len(pts) and frames[0].shape == (72, 96, 3)
    assert times == [Fraction(p, 1000) for p in pts]
    assert packets(dst) == packets(src)


def test_video_and_segments_give_the_same_frames_at_a_fractional_scale(tmp_path: Path, make_video, tiny: nn.Module) -> None:
    src = make_video("in.mkv", frames=10, size=(32, 24), options={"g": "3"}, audio=["aac"])
    kw = dict(model=tiny, precision="fp32", codec="ffv1", progress=False, target=OutputSize(scale=1.5))
    single = upscale_video(src, tmp_path / "one.mkv", scale=None, **kw)
    seg = upscale_segmented(src, tmp_path / "seg.mkv", scale=None, segment_frames=4, **kw)
    assert single.output_size == seg.output_size == (48, 36) and single.scale == seg.scale == 2
    a, b = decode(tmp_path / "one.mkv"), decode(tmp_path / "seg.mkv")
    assert len(a[0]) == 10 and a[1] == b[1]
    np.testing.assert_array_equal(np.stack(a[0]), np.stack(b[0]))
    assert packets(tmp_path / "seg.mkv") == packets(src)


def test_cli_model_scale_picks_the_branch_of_a_multi_scale_model(tmp_path: Path) -> None:
    mdsr = save_tiny_model(tmp_path / "tiny_mdsr.pt", "mdsr_baseline")
    src = write_image(tmp_path / "in.png", np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8))
    code, out, err = run("upscale", src, "--scale", "2", "--model-scale", "3", "-m", mdsr, "--device", "cpu", "-o", tmp_path / "a.png")
    assert code == 0, err
    assert "(x2 via x3, " in out and read_image(tmp_path / "a.png").shape == (20, 24, 3)
    code, out, err = run("upscale", src, "--scale", "2.5", "-m", mdsr, "--device", "cpu", "-o", tmp_path / "b.png")
    assert code == 0 and "(x2.5 via x3, " in out and read_image(tmp_path / "b.png").shape == (25, 30, 3)
    code, _, err = run("upscale", src, "--scale", "3.5", "--model-scale", "3", "-m", mdsr, "--device", "cpu")
    assert code == 1 and "in.png: model scale x3 gives 36x30, smaller than the target 42x35; use a model scale of at least 4" in err
