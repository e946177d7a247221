"""Segmented runs killed (SIGKILL) at many points, then resumed: the destination is always absent or complete,
and a resume of a finished job reports "already complete" and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.errors import OutputExistsError
from vsr.io import VideoReader
from vsr import upscale_segmented
from vsr.upscaling._manifest import work_dir_for

from _models import save_tiny_model

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 6

# Runs the CLI, SIGKILLing itself just before or just after the N-th atomic commit (segment files, their
# records, the manifest, the output itself, the output's record). N = 0: no kill; prints the number of commits.
_KILL_AT_COMMIT = """
    import atexit, os, signal, sys
    import vsr._core._files as atomic
    target, when = int(sys.argv[1]), sys.argv[2]
    count = 0
    commit = atomic.AtomicFile.commit

    def killing_commit(self, **kw):
        global count
        count += 1
        if count == target and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        out = commit(self, **kw)
        if count == target and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    atomic.AtomicFile.commit = killing_commit
    if target == 0:
        atexit.register(lambda: print("COMMITS", count))
    from vsr.cli import main
    main(sys.argv[3:])
"""


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny.pt")


def _args(src: Path, dst: Path, ckpt: Path, *extra: str) -> list[str]:
    return ["upscale", str(src), "-o", str(dst), "-s", "2", "-m", str(ckpt), "--device", "cpu", "--precision", "fp32",
            "--batch-size", "2", "--segment-frames", "2", *extra]


def _killed_run(target: int, when: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(_KILL_AT_COMMIT), str(target), when, *args],
                          env=env, text=True, capture_output=True, timeout=300)


def _frames(path: Path) -> int:
    with VideoReader(path, backend="pyav") as r:
        return sum(len(b.pts) for b in r)


def _check_absent_or_complete(dst: Path) -> bool:
    """True when ``dst`` exists; then it must hold every input frame."""
    if not dst.exists():
        return False
    assert _frames(dst) == FRAMES
    return True


def _stray(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def _commits(make_video: Any, ckpt: Path, tmp_path: Path) -> int:
    src = make_video("count.mp4", frames=FRAMES)
    r = _killed_run(0, "never", _args(src, tmp_path / "count_x2.mp4", ckpt, "--resume", "-q"))
    assert r.returncode == 0, r.stderr
    return int(r.stdout.rsplit("COMMITS", 1)[1])


def _kill_then_resume(make_video: Any, ckpt: Path, tmp_path: Path, target: int, when: str, first: tuple[str, ...]) -> str:
    src = make_video("in.mp4", frames=FRAMES)
    dst = tmp_path / "out.mp4"
    r = _killed_run(target, when, _args(src, dst, ckpt, *first, "-q"))
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    _check_absent_or_complete(dst)
    res = CliRunner().invoke(cli, _args(src, dst, ckpt, "--resume"))
    assert res.exit_code == 0, res.stderr
    assert _check_absent_or_complete(dst)
    assert _stray(tmp_path) == []
    if work_dir_for(dst).exists():
        assert _stray(work_dir_for(dst)) == []
    return res.stdout


@pytest.mark.slow
def test_kill_around_the_final_rename_then_resume(make_video: Any, ckpt: Path, tmp_path: Path) -> None:
    n = _commits(make_video, ckpt, tmp_path)
    # The last three commits: the manifest with every segment, the output itself, the output's record.
    assert n == 3 * 2 + 4, n  # 3 segments (file + record) + plan manifest + final manifest + output + output record
    # Just before the output gets its name; just after (its record not yet written: the first run may not have
    # had --resume); after everything but removing the folder. Every commit: test_kill_at_every_commit_then_resume.
    for target, when, first in [(n - 1, "before", ("--resume",)), (n - 1, "after", ()), (n, "after", ("--resume",))]:
        folder = tmp_path / f"{target}{when}{len(first)}"
        folder.mkdir()
        out = _kill_then_resume(lambda name, **kw: _make(make_video, folder, name, **kw), ckpt, folder, target, when, first)
        if when == "after":
            assert "already complete" in out, (target, when, first, out)
        else:
            assert "already complete" not in out and f"{FRAMES} frames" in out


def _make(make_video: Any, folder: Path, name: str, **kw: Any) -> Path:
    path = make_video(name, **kw)
    return path.rename(folder / name)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("VSR_CAMPAIGN"), reason="the full kill sweep (about 40 subprocess runs, "
                    "minutes) is opt-in: VSR_CAMPAIGN=1 python -m pytest tests/test_resume_kill.py")
def test_kill_at_every_commit_then_resume(make_video: Any, ckpt: Path, tmp_path: Path) -> None:
    n = _commits(make_video, ckpt, tmp_path)
    for target in range(1, n + 1):
        for when in ("before", "after"):
            folder = tmp_path / f"{target}{when}"
            folder.mkdir()
            _kill_then_resume(lambda name, **kw: _make(make_video, folder, name, **kw), ckpt, folder, target, when, ("--resume",))


def test_resume_of_a_finished_job(make_video: Any, ckpt: Path, tmp_path: Path) -> None:
    src = make_video("in.mp4", frames=FRAMES)
    dst = tmp_path / "out.mp4"
    model = ckpt
    kw: dict[str, Any] = dict(scale=2, model=model, device="cpu", precision="fp32", batch_size=2, progress=False, segment_frames=2)
    first = upscale_segmented(src, dst, resume=True, **kw)
    assert not first.already_complete and first.frames == FRAMES
    before = (dst.stat().st_mtime_ns, dst.read_bytes())
    assert sorted(p.name for p in work_dir_for(dst).iterdir()) == ["manifest.json"]  # a --resume run keeps only this

    again = upscale_segmented(src, dst, resume=True, **{**kw, "segment_frames": None})
    assert again.already_complete and again.frames == FRAMES and again.bytes_written == len(before[1])
    assert "already complete" in again.summary()
    assert (dst.stat().st_mtime_ns, dst.read_bytes()) == before

    with pytest.raises(OutputExistsError, match="--overwrite"):  # other settings: not this job's output
        upscale_segmented(src, dst, resume=True, **{**kw, "crf": 30})
    dst.write_bytes(before[1][:-10] + b"0123456789")  # same size, other content: not this job's output either
    with pytest.raises(OutputExistsError, match="--overwrite"):
        upscale_segmented(src, dst, resume=True, **kw)

    redo = upscale_segmented(src, dst, overwrite=True, **kw)  # a plain run replaces it and drops the old record
    assert not redo.already_complete and _frames(dst) == FRAMES and not work_dir_for(dst).exists()


def test_plain_segmented_run_leaves_no_folder(make_video: Any, ckpt: Path, tmp_path: Path) -> None:
    src = make_video("in.mp4", frames=FRAMES)
    upscale_segmented(src, tmp_path / "o.mp4", scale=2, model=ckpt, device="cpu", precision="fp32", progress=False, segment_frames=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "o.mp4"]
