"""vsr.io: VideoReader (decord and PyAV backends agree, decord's defects are guarded) and VideoWriter."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from vsr.errors import EncodeError, InputNotFoundError, InvalidInputError, OutputExistsError, UnsupportedError
from vsr.io import FrameBatch, VideoReader, VideoWriter, decord_available

needs_decord = pytest.mark.skipif(not decord_available(), reason="decord is not installed (no wheel for this platform)")


def read_all(path: Path, **kw: Any) -> tuple[np.ndarray, list[int], list[int], VideoReader]:
    with VideoReader(path, **kw) as r:
        batches = list(r)
    return (
        np.concatenate([b.frames for b in batches]),
        [p for b in batches for p in b.pts],
        [d for b in batches for d in b.durations],
        r,
    )


def seconds(pts: list[int], tb: Fraction) -> list[Fraction]:
    return [p * tb for p in pts]


# --------------------------------------------------------------------------- reading
@pytest.mark.parametrize("backend", ["pyav", pytest.param("decord", marks=needs_decord)])
def test_every_frame_in_order_with_source_pts(make_video, frame_code, backend: str) -> None:
    # libx264 with B-frames: decode order differs from presentation order.
    path = make_video("idx.mp4", frames=30, options={"bf": "3"})
    frames, pts, durs, r = read_all(path, backend=backend, batch_size=7)
    assert r.backend == backend
    assert [frame_code.read(f) for f in frames] == list(range(30))
    assert pts == [i * r.info.time_base.denominator // 25 for i in range(30)]
    assert r.info.num_frames == 30 and r.info.num_frames_exact
    assert frames.dtype == np.uint8 and frames.shape == (30, 48, 64, 3)


@needs_decord
@pytest.mark.parametrize(
    "clip",
    [
        dict(name="b.mp4", frames=20, options={"bf": "2"}, content="noise"),
        dict(name="vfr.mp4", frames=15, time_base=Fraction(1, 1000), pts=[0, 30, 45, 100, 140, 141, 200, 260, 300, 333, 400, 410, 480, 500, 560]),
        dict(name="709full.mkv", frames=8, colorspace="bt709", color_range="full", content="bars"),
        dict(name="601.mp4", frames=8, colorspace="smpte170m", content="bars"),
    ],
    ids=lambda c: c["name"],
)
def test_decord_and_pyav_deliver_identical_frames_and_timestamps(make_video, clip: dict) -> None:
    path = make_video(**clip)
    f1, p1, d1, r1 = read_all(path, backend="decord", batch_size=3)
    f2, p2, d2, r2 = read_all(path, backend="pyav", batch_size=5)
    assert (r1.backend, r2.backend) == ("decord", "pyav")
    assert p1 == p2
    assert d1 == d2
    np.testing.assert_array_equal(f1, f2)


@needs_decord
def test_backends_agree_on_a_window(make_video, frame_code) -> None:
    path = make_video("w.mp4", frames=25)
    for backend in ("decord", "pyav"):
        frames, pts, _, r = read_all(path, backend=backend, start=0.2, duration=0.2)
        assert [frame_code.read(f) for f in frames] == [5, 6, 7, 8, 9], backend
        assert r.info.num_frames == 5


def test_vfr_timestamps_are_the_files(make_video) -> None:
    pts = [0, 30, 45, 100, 140, 141, 200, 260]
    path = make_video("vfr.mkv", frames=len(pts), time_base=Fraction(1, 1000), pts=pts)
    _, got, _, r = read_all(path, backend="pyav")
    assert seconds(got, r.info.time_base) == [Fraction(p, 1000) for p in pts]


def test_untagged_hd_is_read_as_bt709(make_video, bars) -> None:
    # Encoded with the BT.709 matrix but not tagged, as much HD video is.
    path = make_video("hd.mp4", frames=2, size=(1280, 720), content="bars", colorspace="bt709", tag_colour=False)
    frames, _, _, r = read_all(path)
    assert (r.info.colorspace, r.info.colorspace_tagged) == ("bt709", False)
    for i, rgb in enumerate(bars):
        x = (2 * i + 1) * 1280 // 14
        assert np.abs(frames[0, 360, x].astype(int) - rgb).max() <= 3, (i, frames[0, 360, x], rgb)
    if decord_available():
        # decord would use FFmpeg's BT.601 default here: auto must not pick it, and asking for it is refused.
        assert r.backend == "pyav" and "conversion" in r.backend_note
        with pytest.raises(UnsupportedError, match="--decoder pyav"):
            VideoReader(path, backend="decord")


def test_untagged_sd_is_read_as_bt601(make_video, bars) -> None:
    path = make_video("sd.mp4", frames=2, size=(112, 32), content="bars", colorspace="smpte170m", tag_colour=False)
    frames, _, _, r = read_all(path, backend="pyav")
    assert (r.info.colorspace, r.info.color_range) == ("smpte170m", "limited")
    for i, rgb in enumerate(bars):
        assert np.abs(frames[0, 16, 8 + 16 * i].astype(int) - rgb).max() <= 3


def test_10bit_is_read_by_pyav_with_exact_rounding(make_video, frame_code) -> None:
    path = make_video("ten.mkv", frames=6, pix_fmt="yuv420p10le")
    frames, _, _, r = read_all(path)
    assert r.backend == "pyav" and r.info.bit_depth == 10
    assert [frame_code.read(f) for f in frames] == list(range(6))
    if decord_available():
        with pytest.raises(UnsupportedError, match="10-bit"):
            VideoReader(path, backend="decord")


def test_rotation_and_metadata_are_reported(make_video) -> None:
    path = make_video("rot.mp4", frames=3, rotation=90, audio=["aac"])
    with VideoReader(path) as r:
        assert r.info.rotation == 90
        assert r.info.audio_streams == 1
        assert r.info.fps == 25


# --------------------------------------------------------------------------- decord's defects
class _FlakyDecord:
    """Wraps a decord reader: misreports its length and/or fails on the n-th get_batch."""

    def __init__(self, inner: Any, *, extra_len: int = 0, fail_on_call: int | None = None) -> None:
        self.inner, self.extra_len, self.fail_on_call, self.calls = inner, extra_len, fail_on_call, 0

    def __len__(self) -> int:
        return len(self.inner) + self.extra_len

    def get_batch(self, indices: list[int]) -> Any:
        self.calls += 1
        if self.fail_on_call is not None and self.calls >= self.fail_on_call:
            raise RuntimeError("DECORDError: simulated failure")
        if max(indices) >= len(self.inner):
            raise AssertionError("read past the real end (this can hang real decord)")
        return self.inner.get_batch(indices)


@needs_decord
@pytest.mark.parametrize(
    "kw",
    [dict(extra_len=5), dict(extra_len=-4), dict(fail_on_call=2), dict(fail_on_call=1)],
    ids=["len-over-reports", "len-under-reports", "fails-midway", "fails-at-once"],
)
def test_decord_defects_lose_no_frame(make_video, frame_code, kw: dict, caplog: pytest.LogCaptureFixture) -> None:
    path = make_video("d.mp4", frames=20, options={"bf": "2"})
    ref_frames, ref_pts, _, _ = read_all(path, backend="pyav")
    with VideoReader(path, backend="decord", batch_size=6) as r:
        r._decord = _FlakyDecord(r._decord, **kw)
        batches = list(r)
    frames = np.concatenate([b.frames for b in batches])
    assert [p for b in batches for p in b.pts] == ref_pts
    assert [b.index for b in batches] == sorted(b.index for b in batches)
    np.testing.assert_array_equal(frames, ref_frames)
    assert [frame_code.read(f) for f in frames] == list(range(20))


@needs_decord
def test_decord_does_not_break_png_reading(tmp_path: Path) -> None:
    # decord's bundled zlib, loaded before OpenCV, made every later PNG read fail. Import order is per
    # process, so check in a fresh one: decord first (through vsr.io), then OpenCV.
    import subprocess
    import sys

    import cv2

    png = tmp_path / "p.png"
    assert cv2.imwrite(str(png), np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    code = f"from vsr.io import decord_available; assert decord_available(); import cv2; assert cv2.imread({str(png)!r}) is not None"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def test_frame_batch_checks_itself() -> None:
    with pytest.raises(ValueError, match="uint8"):
        FrameBatch(np.zeros((2, 4, 4, 3), np.float32), (0, 1), (1, 1), 0)
    with pytest.raises(ValueError, match="2 frames but 1 pts"):
        FrameBatch(np.zeros((2, 4, 4, 3), np.uint8), (0,), (1,), 0)
    assert "frames=(2, 4, 4, 3)" in repr(FrameBatch(np.zeros((2, 4, 4, 3), np.uint8), (0, 1), (1, 1), 0))


# --------------------------------------------------------------------------- bad inputs
BAD = ["missing", "zero-byte", "garbage", "truncated", "truncated-faststart", "audio-only", "text", "folder"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_inputs_raise_one_line_errors_naming_the_file(bad_videos, kind: str) -> None:
    path = bad_videos[kind]
    expected = InputNotFoundError if kind == "missing" else InvalidInputError
    with pytest.raises(expected) as info:
        with VideoReader(path) as r:
            list(r)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    if kind == "audio-only":
        assert "no video stream" in msg


def test_bad_options_list_allowed_values(make_video) -> None:
    path = make_video(frames=2)
    with pytest.raises(UnsupportedError, match="allowed: auto, decord, pyav"):
        VideoReader(path, backend="ffmpeg")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedError, match="batch_size"):
        VideoReader(path, batch_size=0)


# --------------------------------------------------------------------------- writing
def test_lossless_round_trip_with_exact_timestamps(tmp_path: Path, make_video) -> None:
    pts = [0, 40, 55, 120, 121, 300]
    src = make_video("vfr.mkv", frames=len(pts), time_base=Fraction(1, 1000), pts=pts, content="noise")
    frames, got_pts, durs, r = read_all(src, backend="pyav")
    dst = tmp_path / "copy.mkv"
    with VideoWriter(dst, width=64, height=48, source=r.info, codec="ffv1", pix_fmt="bgr0") as w:
        w.write(frames, got_pts, durs)
    out, out_pts, _, r2 = read_all(dst, backend="pyav")
    np.testing.assert_array_equal(out, frames)
    assert seconds(out_pts, r2.info.time_base) == [Fraction(p, 1000) for p in pts]


def test_writer_without_source_uses_fps(tmp_path: Path) -> None:
    dst = tmp_path / "plain.mp4"
    with VideoWriter(dst, width=32, height=16, fps=10) as w:
        w.write(np.zeros((5, 16, 32, 3), np.uint8))
        w.write(np.full((16, 32, 3), 200, np.uint8))
    _, pts, _, r = read_all(dst, backend="pyav")
    assert seconds(pts, r.info.time_base) == [Fraction(i, 10) for i in range(6)]
    assert r.info.colorspace == "smpte170m" and r.info.colorspace_tagged


def test_odd_sizes_are_cropped_to_even_for_420(tmp_path: Path) -> None:
    dst = tmp_path / "odd.mp4"
    frame = np.zeros((45, 63, 3), np.uint8)
    frame[:, -1] = 255  # the cropped column
    with VideoWriter(dst, width=63, height=45, fps=25) as w:
        assert (w.width, w.height) == (62, 44)
        w.write(np.stack([frame] * 3))
    out, _, _, r = read_all(dst, backend="pyav")
    assert (r.info.width, r.info.height) == (62, 44)
    assert out.max() < 40  # the white column was cropped, not kept


def test_odd_sizes_are_kept_for_444(tmp_path: Path) -> None:
    dst = tmp_path / "odd.mkv"
    with VideoWriter(dst, width=63, height=45, fps=25, codec="ffv1", pix_fmt="yuv444p") as w:
        assert (w.width, w.height) == (63, 45)
        w.write(np.zeros((2, 45, 63, 3), np.uint8))
    assert read_all(dst)[3].info.width == 63


def test_existing_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    dst = tmp_path / "exists.mp4"
    dst.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        VideoWriter(dst, width=32, height=16, fps=10)
    assert dst.read_bytes() == b"keep me"
    with VideoWriter(dst, width=32, height=16, fps=10, overwrite=True) as w:
        w.write(np.zeros((2, 16, 32, 3), np.uint8))
    assert dst.read_bytes() != b"keep me"
    assert read_all(dst)[0].shape[0] == 2


def test_output_gets_the_usual_permissions(tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    dst = tmp_path / "perm.mp4"
    with VideoWriter(dst, width=32, height=16, fps=10) as w:
        w.write(np.zeros((2, 16, 32, 3), np.uint8))
    assert dst.stat().st_mode & 0o777 == 0o666 & ~mask


def test_error_inside_with_leaves_nothing(tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyError):
        with VideoWriter(dst, width=32, height=16, fps=10) as w:
            w.write(np.zeros((3, 16, 32, 3), np.uint8))
            assert w.tmp_path.exists()
            # Unnamed (O_TMPFILE) where the file system allows it: nothing a kill could leave behind.
            assert list(tmp_path.iterdir()) == ([] if str(w.tmp_path).startswith("/proc/") else [w.tmp_path])
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_temp_file_is_renamed_only_on_close(tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    w = VideoWriter(dst, width=32, height=16, fps=10)
    w.write(np.zeros((3, 16, 32, 3), np.uint8))
    w.finish()
    assert not dst.exists() and w.tmp_path.exists()
    w.close()
    assert dst.exists() and list(tmp_path.iterdir()) == [dst]


def test_writing_no_frames_is_an_error(tmp_path: Path) -> None:
    dst = tmp_path / "none.mp4"
    with pytest.raises(EncodeError, match="no frames"):
        with VideoWriter(dst, width=32, height=16, fps=10):
            pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(codec="libx999"), "unknown video encoder"),
        (dict(codec="aac"), "audio encoder"),
        (dict(codec="libx264", pix_fmt="yuv420p16le"), "cannot encode yuv420p16le"),
        (dict(codec="libx264", pix_fmt="nonsense"), "unknown pixel format"),
        (dict(codec="ffv1", crf=10), "no quality setting"),
        (dict(path="out.avi"), "unsupported output extension"),
        (dict(path="out.webm", codec="libx264"), "cannot hold libx264"),
    ],
)
def test_bad_encoder_settings_are_refused_up_front(tmp_path: Path, kw: dict, match: str) -> None:
    path = tmp_path / kw.pop("path", "out.mkv")
    with pytest.raises(UnsupportedError, match=match):
        VideoWriter(path, width=32, height=16, fps=10, **kw)
    assert list(tmp_path.iterdir()) == []


def test_encoder_options_reach_the_encoder(tmp_path: Path) -> None:
    dst = tmp_path / "gop.mp4"
    with VideoWriter(dst, width=32, height=16, fps=10, encoder_options={"g": "3", "bf": "0"}) as w:
        w.write(np.zeros((6, 16, 32, 3), np.uint8))
    with av.open(str(dst)) as c:
        keys = [p.is_keyframe for p in c.demux(video=0) if p.size]
    assert keys == [True, False, False] * 2


def test_unholdable_audio_is_reencoded_with_a_warning(tmp_path: Path, make_video, caplog: pytest.LogCaptureFixture) -> None:
    src = make_video("a.mp4", frames=10, audio=["aac"])
    frames, pts, durs, r = read_all(src)
    dst = tmp_path / "a.webm"
    with caplog.at_level(logging.WARNING, logger="vsr"):
        with VideoWriter(dst, width=64, height=48, source=r.info) as w:
            w.write(frames, pts, durs)
    assert "re-encoding it to libopus" in caplog.text
    with av.open(str(dst)) as c:
        assert [s.codec_context.name for s in c.streams.audio] == ["opus"]
        assert sum(1 for p in c.demux(c.streams.audio[0]) if p.size) > 10


def test_unholdable_subtitles_are_skipped_with_a_warning(tmp_path: Path, make_video, caplog: pytest.LogCaptureFixture) -> None:
    src = make_video("s.mkv", frames=10, subtitles=[(0, 100, "hi")])
    frames, pts, durs, r = read_all(src)
    with caplog.at_level(logging.WARNING, logger="vsr"):
        with VideoWriter(tmp_path / "s.mp4", width=64, height=48, source=r.info) as w:
            w.write(frames, pts, durs)
    assert "subrip subtitle stream 1; skipped" in caplog.text


# --------------------------------------------------------------------------- real clips
@needs_decord
def test_real_clip_backends_agree(shared_videos: Path) -> None:
    path = shared_videos / "carphone_pristine.mp4"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    f1, p1, _, r1 = read_all(path, backend="decord", batch_size=16)
    f2, p2, _, r2 = read_all(path, backend="pyav", batch_size=16)
    assert r1.info.num_frames == len(p1) == len(p2) == 120
    assert p1 == p2
    np.testing.assert_array_equal(f1, f2)


@needs_decord
def test_auto_leaves_decord_out_when_its_read_ahead_could_outgrow_the_limit(make_video, monkeypatch: pytest.MonkeyPatch) -> None:
    # decord's read-ahead is bounded only by the end of the file, so auto measures the file against the limit
    # before decord ever opens it (opening reads every packet; the first read starts the read-ahead).
    import decord

    import vsr.io._reader as reader_module

    path = make_video("long.mp4", frames=20, fps=10)
    with VideoReader(path) as r:
        w, h = r.info.width, r.info.height
        assert r.backend == "decord"
    monkeypatch.setattr(reader_module, "DECORD_AHEAD_LIMIT", 10 * w * h * 3)
    opened = []
    real = decord.VideoReader
    monkeypatch.setattr(decord, "VideoReader", lambda *a, **k: opened.append(a) or real(*a, **k))
    with VideoReader(path) as r:
        assert r.backend == "pyav" and "20 decoded frames" in r.backend_note and "--decoder decord" in r.backend_note
        assert opened == []
        assert sum(len(b.pts) for b in r) == 20
    # What counts is the rest of the file from the window's start: 9 frames from 1.1 s on fit.
    with VideoReader(path, start=1.1) as r:
        assert r.backend == "decord" and r.info.num_frames == 9
    # Asked for by name, decord is used whatever the file's length.
    with VideoReader(path, backend="decord") as r:
        assert r.backend == "decord" and r.backend_note == "requested"
