"""Two runs for the same output: the second refuses at once (lock), or the first to finish wins; never a mix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vsr._core._files import destination_lock
from vsr.cli import cli
from vsr.errors import InvalidInputError, OutputExistsError
from vsr.io import VideoReader, VideoWriter
from vsr import upscale_segmented, upscale_video

ROOT = Path(__file__).resolve().parents[1]

_HOLD = """
    import os, signal, sys
    from vsr._core._files import destination_lock
    with destination_lock(sys.argv[1]):
        print(os.getpid(), flush=True)
        if sys.argv[2] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.read()
"""


@pytest.fixture
def other_run(tmp_path: Path) -> Iterator[Callable[[Path], int]]:
    """Start a process that holds the lock of a destination (as a running ``vsr upscale`` does); returns its pid."""
    procs: list[subprocess.Popen[str]] = []

    def start(dst: Path) -> int:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_HOLD), str(dst), "hold"], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append(p)
        return int(p.stdout.readline())  # type: ignore[union-attr]

    yield start
    for p in procs:
        p.communicate("")


def test_second_run_for_the_same_output_refuses_at_once(tmp_path: Path, make_video: Callable[..., Path], ckpt: Path,
                                                        other_run: Callable[[Path], int]) -> None:
    src = make_video("in.mp4", frames=4)
    dst = tmp_path / "out.mp4"
    pid = other_run(dst)
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match=rf"another vsr run \(pid {pid}\) is writing this output"):
            upscale_video(src, dst, scale=2, model=str(ckpt), device="cpu", progress=False, overwrite=overwrite)
        with pytest.raises(OutputExistsError, match="another vsr run"):
            upscale_segmented(src, dst, scale=2, model=str(ckpt), device="cpu", progress=False, segment_frames=2, overwrite=overwrite)
    r = CliRunner().invoke(cli, ["upscale", str(src), "-o", str(dst), "-s", "2", "-m", str(ckpt), "--device", "cpu", "-q"])
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and f"pid {pid}" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mp4.lock", "in.mp4"]  # the other run's lock, nothing else


def test_lock_of_a_killed_run_is_taken_over_and_removed(tmp_path: Path, make_video: Callable[..., Path], ckpt: Path) -> None:
    src = make_video("in.mp4", frames=3)
    dst = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(_HOLD), str(dst), "kill"], env=env, capture_output=True, timeout=120)
    assert r.returncode == -signal.SIGKILL and (tmp_path / ".out.mp4.lock").exists()
    stats = upscale_video(src, dst, scale=2, model=str(ckpt), device="cpu", progress=False)
    assert stats.frames == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_lock_is_released_on_error_and_needs_the_folder(tmp_path: Path) -> None:
    dst = tmp_path / "o.mp4"
    with pytest.raises(RuntimeError), destination_lock(dst):
        raise RuntimeError("boom")
    with destination_lock(dst) as lock:
        assert lock.read_text().strip() == str(os.getpid())
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidInputError, match="does not exist"), destination_lock(tmp_path / "missing" / "o.mp4"):
        pass


def test_two_writers_without_overwrite_the_first_to_finish_wins(tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    frames = {v: np.full((2, 16, 32, 3), v, np.uint8) for v in (40, 200)}
    a = VideoWriter(dst, width=32, height=16, fps=10, codec="ffv1")
    b = VideoWriter(dst, width=32, height=16, fps=10, codec="ffv1")
    a.write(frames[40])
    b.write(frames[200])
    a.close()
    with pytest.raises(OutputExistsError, match="another run wrote this output first"):
        b.close()
    with VideoReader(dst, backend="pyav") as r:
        got = np.concatenate([batch.frames for batch in r])
    assert got.shape[0] == 2 and abs(int(got.mean()) - 40) <= 2
    assert list(tmp_path.iterdir()) == [dst]
