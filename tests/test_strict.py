"""Frames that cannot be decoded: counted in the stats and the summary, or, with --strict, a failure with nothing written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.errors import InvalidInputError
from vsr.io import FrameBatch, VideoReader
from vsr import upscale_segmented, upscale_video


@pytest.fixture
def lose_frame_3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding loses frame 3, as a decoder does with a damaged packet (the index still lists it)."""

    def drop(batches: Iterator[FrameBatch]) -> Iterator[FrameBatch]:
        for b in batches:
            keep = [k for k, i in enumerate(range(b.index, b.index + len(b))) if i != 3]
            if keep:
                yield FrameBatch(b.frames[keep], tuple(b.pts[k] for k in keep), tuple(b.durations[k] for k in keep), b.index)

    iter_all, iter_range = VideoReader.__iter__, VideoReader.iter_frames
    monkeypatch.setattr(VideoReader, "__iter__", lambda self: drop(iter_all(self)))
    monkeypatch.setattr(VideoReader, "iter_frames", lambda self, a, b: drop(iter_range(self, a, b)))


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:  # not VideoReader: the fixture makes it lose a frame
        return sum(1 for _ in c.decode(video=0))


def test_missing_frames_are_counted_and_reported(make_video: Callable[..., Path], tmp_path: Path, ckpt: Path, lose_frame_3: None) -> None:
    src = make_video("in.mp4", frames=8)
    stats = upscale_video(src, tmp_path / "o.mp4", scale=2, model=str(ckpt), device="cpu", batch_size=2, progress=False)
    assert (stats.frames, stats.frames_missing) == (7, 1)
    assert stats.missing_at == pytest.approx((3 / 25,))  # frame 3 of a 25 fps clip
    assert "1 of 8 frames could not be decoded at 00:00:00.1" in stats.summary()
    assert _frames(tmp_path / "o.mp4") == 7


def test_strict_fails_with_nothing_written(make_video: Callable[..., Path], tmp_path: Path, ckpt: Path, lose_frame_3: None) -> None:
    src = make_video("in.mp4", frames=8)
    with pytest.raises(InvalidInputError, match="1 of 8 frames could not be decoded"):
        upscale_video(src, tmp_path / "o.mp4", scale=2, model=str(ckpt), device="cpu", batch_size=2, progress=False, strict=True)
    with pytest.raises(InvalidInputError, match="1 of 8 frames could not be decoded"):
        upscale_segmented(src, tmp_path / "s.mp4", scale=2, model=str(ckpt), device="cpu", batch_size=2, progress=False,
                          segment_frames=2, strict=True)
    r = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(tmp_path / "c.mp4"), "-s", "2", "-m", str(ckpt), "--device", "cpu",
                                 "--strict", "-q"])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "--strict" in r.stderr
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["in.mp4", ".s.mp4.vsr-segments"] or left == [".s.mp4.vsr-segments", "in.mp4"]  # segments kept for a rerun


def test_intact_input_has_no_damage_note(make_video: Callable[..., Path], tmp_path: Path, ckpt: Path) -> None:
    src = make_video("in.mp4", frames=4)
    stats = upscale_video(src, tmp_path / "o.mp4", scale=2, model=str(ckpt), device="cpu", progress=False, strict=True)
    assert stats.frames_missing == 0 and "could not be decoded" not in stats.summary()



def test_frames_decoded_with_errors_are_counted_by_pyav(damaged: Path, tmp_path: Path, ckpt: Path) -> None:
    kw = dict(scale=2, model=str(ckpt), device="cpu", progress=False, decoder="pyav")
    stats = upscale_video(damaged, tmp_path / "o.mp4", **kw)  # type: ignore[arg-type]
    assert stats.frames == 30 and stats.frames_missing == 0
    assert stats.frames_damaged is not None and 0 < stats.frames_damaged < 30
    assert f"{stats.frames_damaged} frames decoded with errors at 00:00:" in stats.summary()
    assert len(stats.damaged_at) == stats.frames_damaged and all(0 <= t < 30 / 25 for t in stats.damaged_at)
    with pytest.raises(InvalidInputError, match="frames decoded with errors"):
        upscale_video(damaged, tmp_path / "strict.mp4", strict=True, **kw)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.mp4", "o.mp4"]


def test_damage_times_are_merged_into_places() -> None:
    from vsr.upscaling._single_process import _when

    assert _when(()) == ""
    assert _when((4.2, 4.24, 4.28, 70.0)) == " at 00:00:04.2-00:00:04.3, 00:01:10.0"
    assert _when((1.0, 10.0, 20.0, 30.0, 3725.5)) == " at 00:00:01.0, 00:00:10.0, 00:00:20.0 and 2 more places"


def test_delivered_flags_frames_in_place_of_a_growing_set() -> None:
    """Missing frames are found from one flag per indexed frame: the record does not grow with what is delivered."""
    from types import SimpleNamespace

    import numpy as np

    from vsr.upscaling._single_process import _Delivered
    from vsr.io import FrameBatch

    index = (30, 10, 20, 20, 40, 50)  # out of order and a duplicate, as damaged files have
    delivered = _Delivered(SimpleNamespace(frame_pts=index))
    size = delivered._seen.nbytes
    batches = [FrameBatch(np.zeros((n, 2, 2, 3), np.uint8), pts, (0,) * n, 0) for n, pts in ((2, (30, 20)), (1, (50,)))]
    assert list(delivered.note(batches)) == batches
    assert delivered.missing() == [10, 40]
    assert delivered._seen.nbytes == size == len(index)
