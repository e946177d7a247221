"""`vsr upscale` on videos and folders, through click's CliRunner, with a tiny random EDSR checkpoint."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vsr.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def stream_info(path: Path) -> tuple[str, str, int, int, int]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return v.codec_context.name, v.codec_context.pix_fmt, v.codec_context.width, len(c.streams.audio), len(c.streams.subtitles)


def test_video_with_defaults(make_video, ckpt: Path) -> None:
    src = make_video("my clip.mp4", frames=8, audio=["aac"])  # a space in the name must not matter
    code, out, err = run("upscale", src, "-s", "2", "-m", ckpt, "--device", "cpu")
    assert code == 0, err
    dst = src.with_name("my clip_x2.mp4")
    assert count_frames(dst) == 8
    assert stream_info(dst) == ("h264", "yuv420p", 128, 1, 0)
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(f"{src}: 8 frames in ") and str(dst) in summary and "MB)" in summary
    assert "8/8" in err  # the progress bar


def test_encoder_and_window_options(tmp_path: Path, make_video, ckpt: Path) -> None:
    src = make_video("in.mkv", frames=25, subtitles=[(0, 100, "hi")])
    dst = tmp_path / "out.mkv"
    code, out, err = run(
        "upscale", src, "-s", "2", "-m", ckpt, "-o", dst, "--batch-size", "3", "--codec", "libx265", "--crf", "30",
        "--preset", "ultrafast", "--pix-fmt", "yuv420p10le", "--encoder-opt", "x265-params=log-level=none",
        "--decoder", "pyav", "--start", "00:00.2", "--duration", "0.2", "--precision", "fp32", "--quiet",
    )
    assert code == 0, err
    assert out == ""
    assert count_frames(dst) == 5
    assert stream_info(dst) == ("hevc", "yuv420p10le", 128, 0, 1)


@pytest.mark.parametrize("kind", ["missing", "zero-byte", "garbage", "truncated", "truncated-faststart", "audio-only", "text", "text-named-txt"])
def test_bad_inputs_fail_with_one_line_and_leave_nothing(bad_videos: dict[str, Path], ckpt: Path, kind: str) -> None:
    src = bad_videos["text"].with_suffix(".txt") if kind == "text-named-txt" else bad_videos[kind]
    if kind == "text-named-txt":
        bad_videos["text"].rename(src)  # a non-video file with a non-video name
    folder = src.parent
    before = set(folder.iterdir())
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and src.name in lines[0] and "Traceback" not in err
    assert set(folder.iterdir()) == before


def test_existing_output_needs_overwrite(make_video, ckpt: Path) -> None:
    src = make_video("a.mp4", frames=3)
    dst = src.with_name("a_x2.mp4")
    dst.write_bytes(b"keep")
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt)
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert dst.read_bytes() == b"keep"
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt, "--overwrite", "-q")
    assert code == 0, err
    assert count_frames(dst) == 3


def test_folder_continues_past_failures_and_exits_1(tmp_path: Path, make_video, ckpt: Path) -> None:
    make_video("good.mp4", frames=4)
    cv2.imwrite(str(tmp_path / "pic.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "old_x2.mp4").write_bytes(b"an earlier output: skipped")
    out_dir = tmp_path / "out"
    code, out, err = run("upscale", tmp_path, "-s", "2", "-m", ckpt, "-o", out_dir, "-q")
    assert code == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["good_x2.mp4", "pic_x2.png"]
    assert "Failed: " in err and "broken.mp4" in err
    assert "3 files: 2 upscaled, 1 failed, 1 earlier outputs (*_x2/_x3/_x4) skipped" in err
    assert count_frames(out_dir / "good_x2.mp4") == 4


def test_folder_without_failures_exits_0(tmp_path: Path, make_video, ckpt: Path) -> None:
    make_video("a.mp4", frames=2)
    make_video("b.mkv", frames=3)
    code, out, err = run("upscale", tmp_path, "-s", "2", "-m", ckpt, "--precision", "fp32")
    assert code == 0, err
    assert (tmp_path / "a_x2.mp4").exists() and (tmp_path / "b_x2.mkv").exists()
    assert out.strip().splitlines()[-1] == "2 files: 2 upscaled, 0 failed"


def test_ctrl_c_exits_130_and_leaves_nothing(make_video, ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vsr.upscaling._single_process

    src = make_video("in.mp4", frames=20)
    calls = {"n": 0}
    original = vsr.upscaling._single_process.Upscaler.__call__

    def interrupted(self, frames):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, frames)

    monkeypatch.setattr(vsr.upscaling._single_process.Upscaler, "__call__", interrupted)
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt, "--batch-size", "2", "-q")
    assert code == 130 and "Interrupted" in err
    assert sorted(p.name for p in src.parent.iterdir()) == ["in.mp4"]


@pytest.mark.parametrize(
    "args, match",
    [(["--encoder-opt", "crf"], "KEY=VALUE"), (["--start", "1:xx"], "not a time"), (["--decoder", "ffmpeg"], "ffmpeg")],
)
def test_usage_errors_exit_2(make_video, ckpt: Path, args: list[str], match: str) -> None:
    src = make_video("in.mp4", frames=2)
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt, *args)
    assert code == 2 and match in err


def test_encoder_errors_are_one_line(make_video, ckpt: Path) -> None:
    src = make_video("in.mp4", frames=2)
    code, _, err = run("upscale", src, "-s", "2", "-m", ckpt, "--codec", "libx264", "-o", src.with_name("o.webm"))
    assert code == 1 and "cannot hold libx264" in err and len(err.strip().splitlines()) == 1
