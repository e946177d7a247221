"""Segmented upscaling in one process: the plan, frame-range reading, stream-copy joining, the manifest, --resume."""

from __future__ import annotations

import faulthandler
import hashlib
import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from click.testing import CliRunner
from torch import nn

from vsr.cli import cli
from vsr.errors import EncodeError, OutputExistsError, UnsupportedError
from vsr.io import VideoReader, VideoWriter, decord_available, join_segments, probe_segment
from vsr import SegmentedStats, upscale_segmented, upscale_video
from vsr.upscaling._manifest import MAX_AUTO_SEGMENT_FRAMES, default_segment_frames, plan_segments, work_dir_for

from _models import make_tiny_model

VFR_PTS = [0, 40, 70, 130, 150, 151, 220, 300, 340, 345, 420, 500, 510, 600, 640, 700, 760, 800, 870, 900, 1200, 1210]


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    """Kill the run with a traceback dump rather than hang."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def decode(path: Path) -> tuple[np.ndarray, list[Fraction]]:
    """Every frame (RGB) and its presentation time in seconds."""
    with VideoReader(path, backend="pyav") as r:
        batches = list(r)
    return np.concatenate([b.frames for b in batches]), [p * r.info.time_base for b in batches for p in b.pts]


def packets(path: Path, kind: str) -> list[tuple[bytes, Fraction | None]]:
    """Payload and pts (seconds) of every packet of the first stream of a kind."""
    with av.open(str(path)) as c:
        s = getattr(c.streams, kind)[0]
        return [(bytes(p), None if p.pts is None else p.pts * p.time_base) for p in c.demux(s) if p.size]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(*args: Any) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


# --------------------------------------------------------------------------- the plan
def test_plan_moves_borders_to_nearby_keyframes() -> None:
    assert plan_segments(100, 25, range(0, 100, 30)) == [(0, 30), (30, 60), (60, 90), (90, 100)]
    # keyframes 23 and 27 are equally near 25: the earlier wins
    assert plan_segments(60, 25, [0, 23, 27, 52]) == [(0, 23), (23, 52), (52, 60)]


def test_plan_without_nearby_keyframes_splits_exactly() -> None:
    assert plan_segments(10, 3) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    # the border after a keyframe-aligned one is again segment_frames later, exact when no keyframe is near
    assert plan_segments(30, 10, [0, 12, 13]) == [(0, 12), (12, 22), (22, 30)]


def test_plan_of_intra_only_video_is_exact_and_covers_every_frame_once() -> None:
    plan = plan_segments(1_000_003, 997, range(1_000_003))
    assert plan[0][0] == 0 and plan[-1][1] == 1_000_003
    assert all(b - a == 997 for a, b in plan[:-1])
    assert all(b == c for (_, b), (c, _) in zip(plan, plan[1:]))


def test_plan_of_a_short_video_is_one_segment() -> None:
    assert plan_segments(5, 10, [0, 2]) == [(0, 5)]


@pytest.mark.parametrize("n, size", [(0, 5), (5, 0)])
def test_plan_refuses_nonsense(n: int, size: int) -> None:
    with pytest.raises(UnsupportedError, match=">= 1|empty"):
        plan_segments(n, size)


def test_default_segment_size() -> None:
    assert default_segment_frames(40, 1) == 10
    assert default_segment_frames(40, 2) == 5
    assert default_segment_frames(3, 8) == 1
    assert default_segment_frames(10**7, 1) == MAX_AUTO_SEGMENT_FRAMES


# --------------------------------------------------------------------------- io: ranges, keyframes, joining
@pytest.mark.parametrize("backend", ["pyav", pytest.param("decord", marks=pytest.mark.skipif(not decord_available(), reason="no decord"))])
def test_iter_frames_equals_the_matching_slice_of_a_full_read(make_video, backend: str) -> None:
    path = make_video("k.mp4", frames=30, options={"bf": "2", "g": "7"})
    with VideoReader(path, backend=backend, batch_size=4) as r:
        full = list(r)
        frames = np.concatenate([b.frames for b in full])
        pts = [p for b in full for p in b.pts]
        assert list(r.frame_pts) == pts
        assert r.keyframes[0] == 0 and 7 in r.keyframes
        for first, end in [(0, 5), (7, 8), (9, 23), (23, 30)]:
            part = list(r.iter_frames(first, end))
            assert part[0].index == first
            np.testing.assert_array_equal(np.concatenate([b.frames for b in part]), frames[first:end])
            assert [p for b in part for p in b.pts] == pts[first:end]
        with pytest.raises(UnsupportedError, match="outside the 30 frames"):
            r.iter_frames(25, 31)


def test_iter_frames_is_relative_to_the_window(make_video, frame_code) -> None:
    path = make_video("w.mp4", frames=25)
    with VideoReader(path, backend="pyav", start=0.2, duration=0.4) as r:
        got = np.concatenate([b.frames for b in r.iter_frames(2, 6)])
    assert [frame_code.read(f) for f in got] == [7, 8, 9, 10]


def _segments(folder: Path, src: Path, ranges: list[tuple[int, int]], *, name: str = "seg", **writer_kw: Any) -> list[Path]:
    """Re-encode frame ranges of ``src`` into video-only .mp4 segment files, as each rank does."""
    with VideoReader(src, backend="pyav") as r:
        out = []
        for k, (a, b) in enumerate(ranges):
            p = folder / f"{name}{k}.mp4"
            with VideoWriter(p, width=r.info.width, height=r.info.height, source=r.info, copy_streams=False, **writer_kw) as w:
                for batch in r.iter_frames(a, b):
                    w.write(batch.frames, batch.pts, batch.durations)
            out.append(p)
    return out


def test_join_copies_packets_without_reencoding_and_keeps_vfr_timestamps(tmp_path: Path, make_video) -> None:
    # B-frames with variable frame rate: each segment's encoder delays its decoding timestamps differently.
    src = make_video("vfr.mp4", frames=len(VFR_PTS), time_base=Fraction(1, 1000), pts=VFR_PTS, audio=["aac"], options={"bf": "3"})
    segs = _segments(tmp_path, src, [(0, 5), (5, 13), (13, len(VFR_PTS))], encoder_options={"bf": "3"})
    probes = [probe_segment(p) for p in segs]
    assert [p.packets for p in probes] == [5, 8, 9]
    dst = tmp_path / "joined.mp4"
    with VideoReader(src, backend="pyav") as r:
        assert join_segments(probes, dst, source=r.info) == len(VFR_PTS)
    assert [bytes(b) for p in segs for b, _ in packets(p, "video")] == [b for b, _ in packets(dst, "video")]
    assert decode(dst)[1] == [Fraction(p, 1000) for p in VFR_PTS]
    assert packets(dst, "audio") == packets(src, "audio")
    with av.open(str(dst)) as c:
        dts = [p.dts for p in c.demux(video=0) if p.size]
    assert dts == sorted(set(dts))


def test_join_refuses_segments_from_different_encoders(tmp_path: Path, make_video) -> None:
    src = make_video("a.mp4", frames=10)
    a = _segments(tmp_path, src, [(0, 5)], name="a")[0]
    b = _segments(tmp_path, src, [(5, 10)], name="b", pix_fmt="yuv444p")[0]
    with VideoReader(src) as r, pytest.raises(EncodeError, match="pixel format"):
        join_segments([probe_segment(a), probe_segment(b)], tmp_path / "o.mp4", source=r.info)
    assert not (tmp_path / "o.mp4").exists()


# --------------------------------------------------------------------------- upscale_segmented, one process
def run_segmented(src: Path, dst: Path, model: nn.Module, **kw: Any) -> SegmentedStats:
    kw.setdefault("scale", 2)
    kw.setdefault("precision", "fp32")
    kw.setdefault("batch_size", 3)
    kw.setdefault("progress", False)
    return upscale_segmented(src, dst, model=model, **kw)


def test_lossless_segmented_output_equals_the_single_run(tmp_path: Path, make_video, tiny_model) -> None:
    src = make_video("in.mkv", frames=30, options={"g": "6", "bf": "2"}, audio=["aac"], subtitles=[(0, 500, "hello")])
    ref = upscale_video(src, tmp_path / "ref.mkv", scale=2, model=tiny_model, precision="fp32", codec="ffv1", progress=False)
    counts: list[int] = []
    stats = run_segmented(src, tmp_path / "seg.mkv", tiny_model, codec="ffv1", segment_frames=7, progress=counts.append)
    assert (stats.frames, stats.segments, stats.segments_reused, stats.output_size) == (30, 5, 0, ref.output_size)
    assert sum(counts) == 30
    a, b = decode(tmp_path / "ref.mkv"), decode(tmp_path / "seg.mkv")
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert packets(tmp_path / "seg.mkv", "audio") == packets(src, "audio")
    with av.open(str(tmp_path / "seg.mkv")) as c:
        assert (len(c.streams.audio), len(c.streams.subtitles)) == (1, 1)
    assert not work_dir_for(tmp_path / "seg.mkv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "ref.mkv", "seg.mkv"]


def test_lossy_segmented_output_has_the_same_frame_count_and_timestamps(tmp_path: Path, make_video, tiny_model) -> None:
    src = make_video("vfr.mp4", frames=len(VFR_PTS), time_base=Fraction(1, 1000), pts=VFR_PTS, audio=["aac"], options={"bf": "2"})
    upscale_video(src, tmp_path / "ref.mp4", scale=2, model=tiny_model, precision="fp32", progress=False)
    run_segmented(src, tmp_path / "seg.mp4", tiny_model, segment_frames=6)
    a, b = decode(tmp_path / "ref.mp4"), decode(tmp_path / "seg.mp4")
    assert a[1] == b[1] == [Fraction(p, 1000) for p in VFR_PTS]
    assert packets(tmp_path / "seg.mp4", "audio") == packets(src, "audio")


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_ntsc_timestamps_survive_segment_borders(tmp_path: Path, make_video, tiny_model, ext: str) -> None:
    # 30000/1001 fps: a segment starting at 15015/30000 s is not a whole millisecond (MP4 edit lists and
    # Matroska round to milliseconds), so segments must keep exact timestamps until the join.
    src = make_video("ntsc.mp4", frames=20, fps=30, time_base=Fraction(1, 30000), pts=[i * 1001 for i in range(20)], options={"bf": "2"})
    upscale_video(src, tmp_path / f"ref{ext}", scale=2, model=tiny_model, precision="fp32", progress=False)
    run_segmented(src, tmp_path / f"seg{ext}", tiny_model, segment_frames=7)
    a, b = decode(tmp_path / f"ref{ext}"), decode(tmp_path / f"seg{ext}")
    assert len(b[1]) == 20 and a[1] == b[1]


def test_window_matches_the_single_run(tmp_path: Path, make_video, frame_code, tiny_model) -> None:
    src = make_video("long.mp4", frames=25, audio=["aac"])
    upscale_video(src, tmp_path / "ref.mkv", scale=2, model=tiny_model, precision="fp32", codec="ffv1", start=0.4, duration=0.4, progress=False)
    stats = run_segmented(src, tmp_path / "seg.mkv", tiny_model, codec="ffv1", start=0.4, duration=0.4, segment_frames=3)
    assert stats.frames == 10 and stats.segments == 4
    a, b = decode(tmp_path / "ref.mkv"), decode(tmp_path / "seg.mkv")
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1] == [Fraction(i, 25) for i in range(10)]
    assert packets(tmp_path / "seg.mkv", "audio") == packets(tmp_path / "ref.mkv", "audio")


def test_manifest_lists_ranges_settings_and_hashes(tmp_path: Path, make_video, tiny_model) -> None:
    src = make_video("in.mp4", frames=20)
    dst = tmp_path / "out.mp4"
    stats = run_segmented(src, dst, tiny_model, segment_frames=6, crf=23, keep_segments=True)
    work = stats.work_dir
    assert work == work_dir_for(dst) == tmp_path / ".out.mp4.vsr-segments"
    manifest = json.loads((work / "manifest.json").read_text())
    segs = manifest["segments"]
    assert [s["frames"] for s in segs] == [[0, 6], [6, 12], [12, 18], [18, 20]]
    assert segs[1]["pts"] == [6 * 512, 11 * 512]  # 1/12800 time base at 25 fps
    assert manifest["settings"]["encoder"]["options"]["crf"] == "23"
    assert manifest["settings"]["segment_frames"] == 6
    for s in segs:
        done = s["done"]
        assert done["settings_sha256"] == manifest["settings_sha256"]
        assert done["sha256"] == sha256(work / done["file"])
        assert done["frames_written"] == s["frames"][1] - s["frames"][0]
    assert [p for p in work.iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------- resume
def _interrupt_on_call(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    import vsr.inference._upscaler

    calls = {"n": 0}
    original = vsr.inference._upscaler.Upscaler.__call__

    def interrupted(self, frames):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return original(self, frames)

    monkeypatch.setattr(vsr.inference._upscaler.Upscaler, "__call__", interrupted)


def test_cli_resume_continues_after_an_interruption(tmp_path: Path, make_video, ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_video("in.mp4", frames=24, audio=["aac"])
    ref = tmp_path / "ref.mkv"
    common = ["-s", "2", "-m", ckpt, "--precision", "fp32", "--codec", "ffv1", "--batch-size", "2", "-q"]
    assert run_cli("upscale", src, "-o", ref, *common)[0] == 0
    dst = tmp_path / "out.mkv"
    work = work_dir_for(dst)
    with monkeypatch.context() as m:
        _interrupt_on_call(m, 7)  # segments of 4 frames, 2 per batch: the 4th segment is cut short
        code, _, err = run_cli("upscale", src, "-o", dst, *common, "--segment-frames", "4")
    assert code == 130 and "Interrupted" in err
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == [".out.mkv.vsr-segments", "in.mp4", "ref.mkv"]
    records = sorted(work.glob("seg_*.json"))
    assert [r.name for r in records] == ["seg_00000.json", "seg_00001.json", "seg_00002.json"]
    before = {p.name: (p.stat().st_mtime_ns, sha256(p)) for p in work.glob("seg_*.nut")}
    assert len(before) == 3

    code, _, err = run_cli("upscale", src, "-o", dst, *common)  # no --resume: the leftover folder is refused
    assert code == 1 and "--resume" in err and str(work) in err and len(err.strip().splitlines()) == 1

    code, out, err = run_cli("upscale", src, "-o", dst, *common[:-1], "--resume", "--keep-segments")
    assert code == 0, err
    assert "3 of 6 segments reused" in out
    after = {p.name: (p.stat().st_mtime_ns, sha256(p)) for p in work.glob("seg_*.nut")}
    assert {k: after[k] for k in before} == before and len(after) == 6
    a, b = decode(ref), decode(dst)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert packets(dst, "audio") == packets(ref, "audio")  # .mkv keeps milliseconds: compare with the single run's


def test_resume_refuses_other_settings(tmp_path: Path, make_video, tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_video("in.mp4", frames=12)
    dst = tmp_path / "out.mp4"
    with monkeypatch.context() as m:
        _interrupt_on_call(m, 3)
        with pytest.raises(KeyboardInterrupt):
            run_segmented(src, dst, tiny_model, segment_frames=3, crf=20, batch_size=3)
    with pytest.raises(UnsupportedError, match=r"other settings \(encoder.options.crf: '20' -> '24'\)") as e:
        run_segmented(src, dst, tiny_model, segment_frames=3, crf=24, resume=True)
    assert "delete" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UnsupportedError, match="model.sha256"):
        run_segmented(src, dst, make_tiny_model(seed=1), segment_frames=3, crf=20, resume=True)
    with pytest.raises(UnsupportedError, match="segment_frames: 3 -> 4"):
        run_segmented(src, dst, tiny_model, segment_frames=4, crf=20, resume=True)
    assert not dst.exists()
    stats = run_segmented(src, dst, tiny_model, crf=20, resume=True)  # the recorded segment size is the default on resume
    assert (stats.segments, stats.segments_reused, stats.frames_reused) == (4, 2, 6)


def test_resume_redoes_damaged_segments_and_ignores_stale_partial_files(tmp_path: Path, make_video, tiny_model, monkeypatch) -> None:
    src = make_video("in.mp4", frames=12)
    dst = tmp_path / "out.mkv"
    ref = tmp_path / "ref.mkv"
    upscale_video(src, ref, scale=2, model=tiny_model, precision="fp32", codec="ffv1", progress=False)
    with monkeypatch.context() as m:
        _interrupt_on_call(m, 4)
        with pytest.raises(KeyboardInterrupt):
            run_segmented(src, dst, tiny_model, codec="ffv1", segment_frames=3)
    work = work_dir_for(dst)
    seg1 = work / "seg_00001.nut"
    seg1.write_bytes(seg1.read_bytes()[:-100])  # truncated by a crash of the disk, say
    (work / ".seg_00003.0badcafe.partial.nut").write_bytes(b"left by a killed process")
    stats = run_segmented(src, dst, tiny_model, codec="ffv1", resume=True, keep_segments=True)
    assert stats.segments_reused == 2  # segment 0 and 2; segment 1 was damaged
    assert not (work / ".seg_00003.0badcafe.partial.nut").exists()
    np.testing.assert_array_equal(decode(ref)[0], decode(dst)[0])


def test_resume_without_an_earlier_run_just_runs(tmp_path: Path, make_video, tiny_model) -> None:
    src = make_video("in.mp4", frames=6)
    stats = run_segmented(src, tmp_path / "o.mp4", tiny_model, resume=True)
    assert (stats.frames, stats.segments_reused) == (6, 0)


def test_existing_output_is_kept(tmp_path: Path, make_video, tiny_model) -> None:
    src = make_video("in.mp4", frames=6)
    dst = tmp_path / "o.mp4"
    dst.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_segmented(src, dst, tiny_model)
    assert dst.read_bytes() == b"precious" and not work_dir_for(dst).exists()
    run_segmented(src, dst, tiny_model, overwrite=True)
    assert len(decode(dst)[1]) == 6


@pytest.mark.parametrize("make_input", ["folder", "image"])
def test_cli_segmenting_needs_one_video(tmp_path: Path, make_video, ckpt: Path, make_input: str) -> None:
    make_video("a.mp4", frames=2)
    target = tmp_path
    if make_input == "image":
        import cv2

        target = tmp_path / "p.png"
        cv2.imwrite(str(target), np.zeros((8, 8, 3), np.uint8))
    code, _, err = run_cli("upscale", target, "-s", "2", "-m", ckpt, "--resume")
    assert code == 1 and "works on one video file" in err and len(err.strip().splitlines()) == 1
