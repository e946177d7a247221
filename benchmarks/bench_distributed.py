"""`vsr upscale` in one process vs split over N processes with torchrun, on the same clip and model, in one run.

    python benchmarks/bench_distributed.py [--nprocs 2] [--frames 32] [--size 320x180] [--clip PATH]
                                           [--model CKPT] [--device auto] [--codec libx264] [--rounds 2]

a) `vsr upscale CLIP -s 2` in one process (all cores, or one GPU);
b) `torchrun --standalone --nproc-per-node N -m vsr upscale CLIP -s 2` for each N of --nprocs: segments
   taken from a shared counter, joined by stream copy. On a CPU each rank gets cores/N threads (what
   torchrun's OMP_NUM_THREADS=1 default gives on a 2-core machine); on a multi-GPU machine each rank
   uses cuda:<local rank>, so the same command measures GPU scaling there.

The variants alternate for --rounds rounds (load from other processes then hits them alike). For each run
it prints the wall time of the whole command (interpreter start, model load, process group, join) and
the fps vsr reports (upscaling + join, without interpreter start); then the speed-up of each N over a).
It also checks that every output has the single run's frame count and timestamps (and, with a lossless
--codec such as ffv1, identical frames).

Model: EDSR-baseline x2 with random weights (speed does not depend on them) unless --model is given.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from bench_upscale import make_clip  # noqa: E402

from vsr.io import VideoReader  # noqa: E402
from vsr.models import get_model, save_model  # noqa: E402

_FPS = re.compile(r"frames in ([\d.]+) s \(([\d.]+) fps")


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run one upscale command; return its wall time, and the seconds and fps vsr reported."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-3000:]}")
    m = _FPS.search(out.stdout)
    if m is None:
        sys.exit(f"no summary line in the output of {' '.join(cmd)}:\n{out.stdout[-2000:]}")
    return wall, float(m.group(1)), float(m.group(2))


def decode(path: Path) -> tuple[np.ndarray, list[Fraction]]:
    with VideoReader(path, backend="pyav") as r:
        batches = list(r)
    return np.concatenate([b.frames for b in batches]), [p * r.info.time_base for b in batches for p in b.pts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gpus = torch.cuda.device_count()
    ap.add_argument("--nprocs", default=str(gpus if gpus > 1 else 2), help="comma-separated process counts, e.g. 2,4")
    ap.add_argument("--frames", type=int, default=32, help="frames of the synthetic clip")
    ap.add_argument("--size", default="320x180", help="WxH of the synthetic clip")
    ap.add_argument("--clip", type=Path, default=None, help="a video to use instead of the synthetic clip")
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: EDSR-baseline x2, random weights)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--codec", default="libx264", help="e.g. ffv1 (with an .mkv output) to also compare frames exactly")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="vsr_bench_dist_"))
    if args.clip is None:
        w, h = map(int, args.size.split("x"))
        clip = make_clip(tmp / "clip.mp4", args.frames, w, h)
    else:
        clip = args.clip
    if args.model is None:
        torch.manual_seed(0)
        ckpt = save_model(get_model("edsr_baseline", scale=2), tmp / "edsr_baseline_x2_random.pt")
    else:
        ckpt = args.model
    ext = ".mkv" if args.codec == "ffv1" else ".mp4"
    nprocs = [int(n) for n in args.nprocs.split(",")]
    cores = os.cpu_count() or 1
    with VideoReader(clip) as r:
        info = r.info
    print(f"# {machine()}")
    print(f"# {clip.name}: {info.width}x{info.height}, {info.num_frames} frames; model {ckpt.name} x2; device {args.device}; "
          f"codec {args.codec}; {args.rounds} rounds")

    common = ["-s", "2", "-m", str(ckpt), "--device", args.device, "--codec", args.codec, "--overwrite"]
    base_env = dict(os.environ)
    results: dict[str, list[tuple[float, float, float]]] = {}
    outputs: dict[str, Path] = {}
    for _ in range(args.rounds):
        outputs["a"] = tmp / f"one{ext}"
        cmd = [sys.executable, "-m", "vsr", "upscale", str(clip), "-o", str(outputs["a"]), *common]
        results.setdefault("a", []).append(run(cmd, base_env))
        for n in nprocs:
            key = f"b{n}"
            outputs[key] = tmp / f"n{n}{ext}"
            env = dict(base_env, OMP_NUM_THREADS=str(max(1, cores // n)))
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
                   "-m", "vsr", "upscale", str(clip), "-o", str(outputs[key]), *common]
            results.setdefault(key, []).append(run(cmd, env))

    ref_frames, ref_pts = decode(outputs["a"])
    fps: dict[str, float] = {}
    wall: dict[str, float] = {}
    for key, runs in results.items():
        wall[key] = statistics.median(r[0] for r in runs)
        fps[key] = statistics.median(r[2] for r in runs)
        label = "a) 1 process" if key == "a" else f"b) torchrun, {key[1:]} processes"
        per_round = ", ".join(f"{r[2]:.2f}" for r in runs)
        check = ""
        if key != "a":
            frames, pts = decode(outputs[key])
            same_ts = len(pts) == len(ref_pts) and pts == ref_pts
            check = f"  frames+timestamps {'equal' if same_ts else 'DIFFER'}"
            if args.codec == "ffv1":
                check += f", pixels {'identical' if same_ts and np.array_equal(frames, ref_frames) else 'DIFFER'}"
        print(f"{label:<28} wall {wall[key]:7.1f} s   vsr {fps[key]:6.2f} frames/s (rounds: {per_round}){check}")
    for n in nprocs:
        key = f"b{n}"
        print(f"speed-up {n} processes vs 1: {fps[key] / fps['a']:.2f}x (vsr fps), {wall['a'] / wall[key]:.2f}x (wall)")


if __name__ == "__main__":
    main()
