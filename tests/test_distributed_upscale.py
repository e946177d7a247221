"""`vsr upscale` split over 2 CPU processes (gloo), launched as users launch it: torchrun, or by hand.

Each test starts real processes on a tiny generated clip with a tiny random
EDSR, and compares the result with a single-process run in this process.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vsr._core._distributed import DistEnv, Group, Progress, Terminated, dist_env, rank_device, sigterm_as_interrupt
from vsr.cli import cli
from vsr.errors import UnsupportedError
from vsr.io import VideoReader
from vsr.upscaling._manifest import work_dir_for

from _models import save_tiny_model

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 240

# On rank 1, block in the first forward pass until some segment is finished, then die as an OOM kill would.
_DYING_RANK = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path

    import vsr.inference._upscaler
    from vsr.cli import main

    if os.environ.get("RANK") == "1":
        work = Path(sys.argv[1])

        def die_once_a_segment_is_done(self, frames):
            deadline = time.monotonic() + 120
            while not any(work.glob("seg_*.json")) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)

        vsr.inference._upscaler.Upscaler.__call__ = die_once_a_segment_is_done
    main(sys.argv[2:])
    """
)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny_x2.pt")


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), **extra)


def torchrun(cwd: Path, *args: Any) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc-per-node 2 ARGS`` (``--master-port 0`` is not passed on to the workers)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)


def single(*args: Any) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def decode(path: Path) -> tuple[np.ndarray, list[Fraction]]:
    with VideoReader(path, backend="pyav") as r:
        batches = list(r)
    return np.concatenate([b.frames for b in batches]), [p * r.info.time_base for b in batches for p in b.pts]


def packets(path: Path, kind: str) -> list[tuple[bytes, Fraction | None]]:
    with av.open(str(path)) as c:
        streams = getattr(c.streams, kind)
        assert len(streams) == 1, f"{path}: {len(streams)} {kind} streams"
        return [(bytes(p), None if p.pts is None else p.pts * p.time_base) for p in c.demux(streams[0]) if p.size]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- the torchrun environment, in-process
def test_dist_env_reads_torchrun_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert dist_env() == DistEnv() and not dist_env().distributed
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert dist_env() == DistEnv(rank=3, world_size=4, local_rank=1, local_world_size=2)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(UnsupportedError, match="RANK=4, WORLD_SIZE=4"):
        dist_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(UnsupportedError, match="RANK='x' must be an integer"):
        dist_env()


def test_rank_device_spreads_ranks_over_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    env = DistEnv(rank=5, world_size=8, local_rank=5, local_world_size=8)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert [rank_device(d, env) for d in ("auto", None, "cuda", "cuda:0", "cpu")] == ["cuda:1", "cuda:1", "cuda:1", "cuda:0", "cpu"]
    assert rank_device("auto", DistEnv()) == "auto"


def test_master_port_0_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTER_PORT", "0")
    with pytest.raises(UnsupportedError, match="--standalone"):
        Group(DistEnv(rank=0, world_size=2, local_rank=0, local_world_size=2)).__enter__()


def test_one_process_group_counts_and_flags() -> None:
    with Group(DistEnv()) as g:
        assert [g.next_index("work") for _ in range(3)] == [0, 1, 2]
        assert g.flag("failed") is None
        g.set_flag("failed", "boom")
        assert g.flag("failed") == "boom"
        assert g.broadcast("plan") == "plan" and g.all_gather(7) == [7]
        seen: list[int] = []
        bar = Progress(g, total=10, done=4, show=seen.append)
        bar.add(2)
        bar.add(3)
        bar.close()
        assert seen == [2, 3] and g.add("frames_done", 0) == 5


def test_sigterm_becomes_an_interrupt_inside_the_block() -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_as_interrupt():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


# --------------------------------------------------------------------------- 2 processes
@pytest.mark.slow
def test_two_processes_lossless_equal_one_frame_for_frame(tmp_path: Path, make_video, ckpt: Path) -> None:
    src = make_video("in.mkv", frames=30, options={"g": "5", "bf": "2"}, audio=["aac"], subtitles=[(0, 400, "hi"), (600, 300, "yo")])
    common = ["-s", "2", "-m", ckpt, "--precision", "fp32", "--codec", "ffv1", "--batch-size", "2", "-q"]
    assert single("upscale", src, "-o", tmp_path / "one.mkv", *common)[0] == 0
    r = torchrun(tmp_path, "-m", "vsr", "upscale", src, "-o", tmp_path / "two.mkv", *common, "--segment-frames", "4")
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = decode(tmp_path / "one.mkv"), decode(tmp_path / "two.mkv")
    assert len(a[1]) == 30
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert packets(tmp_path / "two.mkv", "audio") == packets(src, "audio")  # copied once, same timestamps: in sync
    assert packets(tmp_path / "two.mkv", "subtitles") == packets(src, "subtitles")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "one.mkv", "two.mkv"]


@pytest.mark.slow
def test_two_processes_libx264_keep_frame_count_and_timestamps(tmp_path: Path, make_video, ckpt: Path) -> None:
    src = make_video("in.mp4", frames=36, options={"bf": "3", "g": "8"}, audio=["aac"])
    common = ["-s", "2", "-m", ckpt, "--precision", "fp32"]
    assert single("upscale", src, "-o", tmp_path / "one.mp4", *common, "-q")[0] == 0
    r = torchrun(tmp_path, "-m", "vsr", "upscale", src, "-o", tmp_path / "two.mp4", *common)  # automatic segment size
    assert r.returncode == 0, r.stderr[-3000:]
    assert "in.mp4 (2 processes)" in r.stderr and "36/36" in r.stderr  # rank 0's bar counts both ranks' frames
    assert r.stdout.count("36 frames in ") == 1 and "2 processes" in r.stdout
    a, b = decode(tmp_path / "one.mp4"), decode(tmp_path / "two.mp4")
    assert len(b[1]) == 36 and a[1] == b[1]
    assert np.abs(a[0].astype(int) - b[0]).mean() < 3  # same pictures, up to the two encodes' differences
    assert packets(tmp_path / "two.mp4", "audio") == packets(src, "audio")
    with av.open(str(tmp_path / "two.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        durations = (c.streams.video[0].duration * c.streams.video[0].time_base, c.streams.audio[0].duration)
    with av.open(str(tmp_path / "one.mp4")) as c:
        assert durations == (c.streams.video[0].duration * c.streams.video[0].time_base, c.streams.audio[0].duration)


def _killed_run_then_resume(tmp_path: Path, src: Path, ckpt: Path, launch: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Start 2 ranks; rank 1 dies mid-segment. Returns the launch's result and the output path."""
    worker = tmp_path / "dying_rank.py"
    worker.write_text(_DYING_RANK)
    dst = tmp_path / "out" / "two.mkv"
    dst.parent.mkdir()
    argv = ["upscale", src, "-o", dst, "-s", "2", "-m", ckpt, "--precision", "fp32", "--codec", "ffv1", "--batch-size", "2",
            "--segment-frames", "4", "-q"]
    if launch == "torchrun":
        return torchrun(tmp_path, worker, work_dir_for(dst), *argv), dst
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(work_dir_for(dst)), *map(str, argv)], cwd=tmp_path, text=True,
            env=_env(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                     MASTER_PORT=str(port)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for rank in range(2)
    ]
    outs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    assert procs[1].returncode == -9, outs[1][1][-2000:]
    return subprocess.CompletedProcess(procs[0].args, procs[0].returncode, outs[0][0], outs[0][1]), dst


@pytest.mark.slow
@pytest.mark.parametrize("launch", ["torchrun", "by-hand"])
def test_killed_rank_fails_the_job_and_resume_finishes_it(tmp_path: Path, make_video, ckpt: Path, launch: str) -> None:
    src = make_video("in.mp4", frames=24, audio=["aac"])
    ref = tmp_path / "one.mkv"
    assert single("upscale", src, "-o", ref, "-s", "2", "-m", ckpt, "--precision", "fp32", "--codec", "ffv1", "-q")[0] == 0

    result, dst = _killed_run_then_resume(tmp_path, src, ckpt, launch)
    assert result.returncode != 0
    if launch == "by-hand":
        # Without torchrun to stop it, rank 0 notices the lost rank itself and says what to do.
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "--resume" in lines[0], result.stderr[-2000:]
    work = work_dir_for(dst)
    assert sorted(p.name for p in dst.parent.iterdir()) == [work.name], "output or temporary file at the destination"
    finished = {p.name: (p.stat().st_mtime_ns, sha256(p)) for p in work.glob("seg_*.nut") if p.with_suffix(".json").exists()}
    assert 1 <= len(finished) < 6

    code, out, err = single("upscale", src, "-o", dst, "-s", "2", "-m", ckpt, "--precision", "fp32", "--codec", "ffv1",
                            "--resume", "--keep-segments")
    assert code == 0, err
    assert f"{len(finished)} of 6 segments reused" in out
    now = {p.name: (p.stat().st_mtime_ns, sha256(p)) for p in work.glob("seg_*.nut")}
    assert {k: now[k] for k in finished} == finished and len(now) == 6
    a, b = decode(ref), decode(dst)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert packets(dst, "audio") == packets(ref, "audio")


@pytest.mark.slow
@pytest.mark.parametrize("out, codec", [("mkv", "ffv1"), ("mp4", "libx264")])
def test_real_clip_two_processes_equal_one(tmp_path: Path, shared_videos: Path, ckpt: Path, out: str, codec: str) -> None:
    # 176x144, 120 frames, one keyframe, 30000/1001 fps: segment borders fall between milliseconds.
    src = shared_videos / "carphone_pristine.mp4"
    common = ["-s", "2", "-m", ckpt, "--codec", codec, "-q"]
    assert single("upscale", src, "-o", tmp_path / f"one.{out}", *common)[0] == 0
    r = torchrun(tmp_path, "-m", "vsr", "upscale", src, "-o", tmp_path / f"two.{out}", *common, "--segment-frames", "25")
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = decode(tmp_path / f"one.{out}"), decode(tmp_path / f"two.{out}")
    assert len(b[1]) == 120 and a[1] == b[1]
    if codec == "ffv1":
        np.testing.assert_array_equal(a[0], b[0])
