"""upscale_video end to end on tiny generated clips: nothing lost, nothing left behind on failure."""

from __future__ import annotations

import faulthandler
import signal
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vsr.errors import OutputExistsError
from vsr.io import VideoReader, VideoWriter
from vsr import UpscaleStats, upscale_video
from vsr.upscaling._entry import default_output_path

VFR_PTS = [0, 40, 70, 130, 150, 151, 220, 300, 340, 345, 420, 500, 510, 600, 640, 700, 760, 800, 870, 900]


class NearestUpscale(nn.Module):
    """A stand-in for EDSR that repeats pixels, so frame content can be checked after upscaling."""

    scales = (2, 3, 4)

    def __init__(self) -> None:
        super().__init__()
        self.zero = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        return F.interpolate(x.float(), scale_factor=scale, mode="nearest") + self.zero


@pytest.fixture
def nearest_model() -> nn.Module:
    return NearestUpscale()


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    """Kill the run with a traceback dump rather than hang if a pipeline deadlocks."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def vsr_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vsr-") and t.is_alive()]


def decode(path: Path) -> tuple[np.ndarray, list[Fraction], Any]:
    with VideoReader(path, backend="pyav") as r:
        batches = list(r)
    frames = np.concatenate([b.frames for b in batches])
    return frames, [p * r.info.time_base for b in batches for p in b.pts], r.info


def packets(path: Path, kind: str) -> list[list[tuple[bytes, Fraction | None]]]:
    """Payload and pts (seconds) of every packet of each stream of a kind."""
    out = []
    with av.open(str(path)) as c:
        for s in getattr(c.streams, kind):
            with av.open(str(path)) as c2:
                s2 = c2.streams[s.index]
                out.append([(bytes(p), None if p.pts is None else p.pts * p.time_base) for p in c2.demux(s2) if p.size])
    return out


def run(src: Path, dst: Path, model: nn.Module, **kw: Any) -> UpscaleStats:
    kw.setdefault("scale", 2)
    kw.setdefault("precision", "fp32")
    kw.setdefault("batch_size", 3)
    kw.setdefault("progress", False)
    return upscale_video(src, dst, model=model, **kw)


# --------------------------------------------------------------------------- nothing lost
@pytest.mark.parametrize("decoder", ["auto", "pyav"])
def test_every_frame_in_order_vfr_timestamps_and_audio_bytes(tmp_path: Path, make_video, frame_code, nearest_model, decoder: str) -> None:
    src = make_video("vfr.mp4", frames=len(VFR_PTS), time_base=Fraction(1, 1000), pts=VFR_PTS, audio=["aac"], options={"bf": "2"})
    dst = tmp_path / "out.mp4"
    stats = run(src, dst, nearest_model, decoder=decoder)
    frames, pts, info = decode(dst)
    assert [frame_code.read(f) for f in frames] == list(range(len(VFR_PTS)))
    assert pts == [Fraction(p, 1000) for p in VFR_PTS]
    assert (info.width, info.height) == (128, 96)
    assert packets(dst, "audio") == packets(src, "audio")
    assert stats.frames == stats.frames_expected == len(VFR_PTS) and stats.frames_expected_exact
    assert stats.output_size == (128, 96) and stats.bytes_written == dst.stat().st_size
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        assert b.streams.video[0].duration * b.streams.video[0].time_base == a.streams.video[0].duration * a.streams.video[0].time_base
    assert not vsr_threads()


def test_all_audio_and_subtitle_streams_are_copied_to_mkv(tmp_path: Path, make_video, nearest_model) -> None:
    cues = [(0, 200, "first line"), (300, 200, "second line")]
    src = make_video("multi.mkv", frames=15, audio=["aac", "libopus"], subtitles=cues, metadata={"title": "My clip"})
    dst = tmp_path / "multi_x2.mkv"
    run(src, dst, nearest_model)
    assert packets(dst, "audio") == packets(src, "audio")
    subs = packets(dst, "subtitles")
    assert subs == packets(src, "subtitles")
    assert [b for b, _ in subs[0]] == [b"first line", b"second line"]
    with av.open(str(dst)) as c:
        assert c.metadata.get("title") == "My clip"
        assert c.streams.subtitles[0].metadata.get("language") == "eng"


def test_rotation_is_kept(tmp_path: Path, make_video, nearest_model) -> None:
    src = make_video("phone.mp4", frames=4, rotation=-90)
    dst = tmp_path / "phone_x2.mp4"
    run(src, dst, nearest_model)
    assert decode(dst)[2].rotation == -90


def test_10bit_in_10bit_out(tmp_path: Path, make_video, frame_code, nearest_model) -> None:
    src = make_video("ten.mkv", frames=5, pix_fmt="yuv420p10le")
    dst = tmp_path / "ten_x2.mkv"
    stats = run(src, dst, nearest_model, pix_fmt="yuv420p10le")
    frames, _, info = decode(dst)
    assert (info.pix_fmt, info.bit_depth, stats.pix_fmt) == ("yuv420p10le", 10, "yuv420p10le")
    assert [frame_code.read(f) for f in frames] == list(range(5))


def test_x3_on_odd_sizes(tmp_path: Path, make_video, frame_code, nearest_model) -> None:
    # ffv1/yuv444p allows an odd source; x3 gives 63x45, cropped to 62x44 for yuv420p output.
    src = make_video("odd.mkv", frames=6, size=(21, 15), codec="ffv1", pix_fmt="yuv444p")
    dst = tmp_path / "odd_x3.mp4"
    stats = run(src, dst, nearest_model, scale=3)
    frames, _, info = decode(dst)
    assert (info.width, info.height) == stats.output_size == (62, 44)
    assert [frame_code.read(f) for f in frames] == list(range(6))


@pytest.mark.parametrize("colorspace, size", [("bt709", (112, 32)), ("smpte170m", (112, 32))])
def test_colour_bars_keep_their_colours_and_tags(tmp_path: Path, make_video, bars, nearest_model, colorspace: str, size) -> None:
    src = make_video("bars.mp4", frames=3, size=size, content="bars", colorspace=colorspace, color_range="limited")
    dst = tmp_path / "bars_x2.mp4"
    run(src, dst, nearest_model)
    before, _, _ = decode(src)
    after, _, info = decode(dst)
    assert (info.colorspace, info.color_range, info.colorspace_tagged) == (colorspace, "limited", True)
    for i in range(len(bars)):
        x = (2 * i + 1) * size[0] // 14
        want = before[:, size[1] // 2, x].astype(int)
        got = after[:, size[1], 2 * x].astype(int)
        assert np.abs(got - want).max() <= 3, (i, got[0], want[0])
        # the source clip itself is right: a wrong matrix anywhere would be off by 10+ levels
        assert np.abs(want - bars[i]).max() <= 4, (i, want[0], bars[i])


def test_start_and_duration_trim_video_and_audio_together(tmp_path: Path, make_video, frame_code, nearest_model) -> None:
    src = make_video("long.mp4", frames=25, audio=["aac"])
    dst = tmp_path / "cut.mp4"
    stats = run(src, dst, nearest_model, start=0.4, duration=0.4)
    frames, pts, _ = decode(dst)
    assert [frame_code.read(f) for f in frames] == list(range(10, 20))
    assert pts == [Fraction(i, 25) for i in range(10)]
    assert stats.frames == 10
    audio = packets(dst, "audio")[0]
    first, last = audio[0][1], audio[-1][1]
    assert first is not None and last is not None and 0 <= first < Fraction(1, 10) and Fraction(3, 10) < last < Fraction(2, 5)


def test_real_edsr_model_runs_end_to_end(tmp_path: Path, make_video, tiny_model) -> None:
    src = make_video("e.mp4", frames=5, audio=["aac"])
    dst = tmp_path / "e_x2.mp4"
    stats = run(src, dst, tiny_model, precision="auto")
    assert stats.frames == 5 and stats.output_size == (128, 96) and stats.device == "cpu"
    assert stats.summary().startswith("5 frames in ") and str(dst) in stats.summary()
    assert decode(dst)[0].shape == (5, 96, 128, 3)


def test_default_output_path() -> None:
    assert default_output_path("/a/b/movie.final.mp4", 3) == Path("/a/b/movie.final_x3.mp4")


# --------------------------------------------------------------------------- failures leave nothing
class FailingModel(nn.Module):
    """Nearest upscaling that raises (or sends Ctrl-C to this process) when it reaches frame ``k``."""

    scales = (2,)

    def __init__(self, k: int, *, interrupt: bool = False) -> None:
        super().__init__()
        self.k, self.interrupt, self.seen = k, interrupt, 0
        self.zero = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        self.seen += x.shape[0]
        if self.seen > self.k:
            if self.interrupt:
                signal.raise_signal(signal.SIGINT)
            else:
                raise RuntimeError(f"model failed on frame {self.k}")
        return F.interpolate(x, scale_factor=scale, mode="nearest") + self.zero


def assert_nothing_left(folder: Path, src: Path) -> None:
    assert sorted(folder.iterdir()) == [src], "partial output or temporary file left behind"
    assert not vsr_threads()


def test_model_error_on_frame_k_leaves_no_output_and_returns(tmp_path: Path, make_video) -> None:
    src = make_video("in.mp4", frames=40, audio=["aac"])
    dst = tmp_path / "out.mp4"
    result: dict[str, BaseException] = {}

    def target() -> None:
        try:
            run(src, dst, FailingModel(k=7), batch_size=2)
        except BaseException as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "upscale_video did not return after the model failed"
    assert isinstance(result.get("error"), RuntimeError) and "frame 7" in str(result["error"])
    assert_nothing_left(tmp_path, src)


def test_ctrl_c_leaves_no_output(tmp_path: Path, make_video) -> None:
    src = make_video("in.mp4", frames=40)
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        run(src, dst, FailingModel(k=9, interrupt=True), batch_size=2)
    assert_nothing_left(tmp_path, src)


def test_encoder_failure_midway_leaves_no_output(tmp_path: Path, make_video, nearest_model, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_video("in.mp4", frames=30)
    dst = tmp_path / "out.mp4"
    calls = {"n": 0}
    original = VideoWriter.write

    def flaky(self: VideoWriter, *a: Any, **kw: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        original(self, *a, **kw)

    monkeypatch.setattr(VideoWriter, "write", flaky)
    with pytest.raises(OSError, match="No space left"):
        run(src, dst, nearest_model, batch_size=2)
    assert_nothing_left(tmp_path, src)


def test_decoder_failure_midway_leaves_no_output(tmp_path: Path, make_video, nearest_model, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_video("in.mp4", frames=30)
    dst = tmp_path / "out.mp4"
    original = VideoReader.__iter__

    def flaky(self: VideoReader) -> Iterator[Any]:
        for i, batch in enumerate(original(self)):
            if i == 2:
                raise ValueError("decoder broke")
            yield batch

    monkeypatch.setattr(VideoReader, "__iter__", flaky)
    with pytest.raises(ValueError, match="decoder broke"):
        run(src, dst, nearest_model, batch_size=2)
    assert_nothing_left(tmp_path, src)


def test_existing_output_is_not_overwritten(tmp_path: Path, make_video, nearest_model) -> None:
    src = make_video("in.mp4", frames=3)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run(src, dst, nearest_model)
    assert dst.read_bytes() == b"precious"
    run(src, dst, nearest_model, overwrite=True)
    assert decode(dst)[0].shape[0] == 3


def test_failed_overwrite_keeps_the_old_file(tmp_path: Path, make_video) -> None:
    src = make_video("in.mp4", frames=10)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"precious")
    with pytest.raises(RuntimeError):
        run(src, dst, FailingModel(k=4), overwrite=True)
    assert dst.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_empty_window_is_an_error(tmp_path: Path, make_video, nearest_model) -> None:
    src = make_video("in.mp4", frames=5)
    with pytest.raises(ValueError, match="no frames from 9 s"):
        run(src, tmp_path / "o.mp4", nearest_model, start=9)
    assert sorted(tmp_path.iterdir()) == [src]


def test_output_cannot_replace_input(make_video, nearest_model) -> None:
    src = make_video("in.mp4", frames=3)
    with pytest.raises(ValueError, match="overwrite the input"):
        run(src, src, nearest_model, overwrite=True)


def test_progress_callback_counts_every_frame(tmp_path: Path, make_video, nearest_model) -> None:
    src = make_video("in.mp4", frames=11)
    counts: list[int] = []
    run(src, tmp_path / "o.mp4", nearest_model, progress=counts.append, batch_size=4)
    assert sum(counts) == 11
