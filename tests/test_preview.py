"""`vsr upscale --preview`: one PNG (bicubic | vsr, zoomed detail), speed and projection printed, no video written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from vsr.cli import cli
from vsr.io import read_image, write_image
from vsr.upscaling._preview import compose, detail_region


def run(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def test_detail_region_finds_the_textured_corner() -> None:
    img = np.full((64, 96, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:16, 0:24]
    img[40:56, 64:88] = np.where((yy + xx) % 2 == 0, 0, 255)[:, :, None]  # a checkerboard bottom right
    x, y, w, h = detail_region(img)
    assert (w, h) == (24, 16)
    assert 52 <= x <= 72 and 32 <= y <= 48  # the window overlaps the checkerboard (its edges count too)


def test_compose_puts_bicubic_left_vsr_right_and_zooms_the_region() -> None:
    left, right = np.zeros((40, 60, 3), np.uint8), np.full((40, 60, 3), 200, np.uint8)
    pic = compose(left, right, (5, 5, 10, 8), (30, 20), ("bicubic", "vsr"), ("bicubic", "vsr"))
    banner = 30
    assert pic.shape[1] == 60 + 8 + 60
    assert (pic[banner + 20, 2] == 0).all() and (pic[banner + 20, 68 + 2] == 200).all()
    row2 = banner + 40 + 8 + banner  # zoomed crops below the full frames and an 8-pixel margin
    assert (pic[row2 + 5, 5] == 0).all() and (pic[row2 + 5, 68 + 5] == 200).all()
    assert pic.shape[0] == row2 + 16 * 3 + 8  # region 20x16 output pixels zoomed x3 (60 // 20), then the margin


def test_image_preview_writes_one_png_and_no_output(tmp_path: Path, ckpt: Path) -> None:
    src = write_image(tmp_path / "in.png", np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    code, out, err = run("upscale", src, "-s", "2", "-m", ckpt, "--device", "cpu", "--preview")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "in_x2_preview.png"]
    assert f"preview -> {tmp_path / 'in_x2_preview.png'} (32x24 -> 64x48): " in out and " fps, cpu, " in out
    pic = read_image(tmp_path / "in_x2_preview.png")
    assert pic.shape[1] == 64 + 8 + 64 and pic.shape[0] > 2 * 48


def test_video_preview_at_a_time_prints_speed_and_projection(tmp_path: Path, make_video, ckpt: Path) -> None:
    src = make_video("clip.mp4", frames=12, size=(32, 24), audio=["aac"])
    code, out, err = run("upscale", src, "--scale", "1.5", "-m", ckpt, "--device", "cpu", "--preview", "--at", "00:00:00.2")
    assert code == 0, err
    line, rungs = out.strip().splitlines()[-2:]
    assert line.startswith(f"preview at 00:00:00.20 -> {tmp_path / 'clip_x1.5_preview.png'} (32x24 -> 48x36): ")
    assert "the whole file (12 frames) would take about " in line
    # The tiny model is no rung: every rung's time is projected, none is marked as this run's.
    assert rungs.startswith("  every rung for the whole file: fast ") and ", edsr (official) " in rungs
    assert "(this run)" not in rungs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip_x1.5_preview.png"]


def test_preview_refusals(tmp_path: Path, make_video, ckpt: Path) -> None:
    src = make_video("clip.mp4", frames=5, size=(32, 24))
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt, "--preview", "--at", "10")
    assert code == 1 and "clip.mp4: --at 00:00:10.00 is past the end (the video lasts 00:00:00.20)" in err
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt, "--at", "0.1")
    assert code == 2 and "--at chooses the --preview frame; add --preview" in err
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt, "--preview", "--segment-frames", "2")
    assert code == 2 and "--preview upscales one frame in one process" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_folder_preview_makes_one_png_per_file_and_skips_old_previews(tmp_path: Path, make_video, ckpt: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", np.zeros((16, 16, 3), np.uint8))
    make_video("in/b.mp4", frames=4, size=(32, 24))
    write_image(folder / "old_x2_preview.png", np.zeros((8, 8, 3), np.uint8))
    code, out, err = run("upscale", folder, "-s", "2", "-m", ckpt, "--device", "cpu", "--preview", "-o", tmp_path / "out")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x2_preview.png", "b_x2_preview.png"]
    assert "2 files: 2 previewed, 0 failed, 1 earlier outputs (*_x2/_x3/_x4/_preview) skipped" in out
