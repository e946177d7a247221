"""Where the end-to-end time goes: the model alone on decoded frames vs `vsr upscale` with x264 medium and ultrafast.

    python benchmarks/bench_e2e_breakdown.py --precision int8          # OpenVINO int8, batch 2
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_e2e_breakdown.py --precision fp32

One clip (bench_upscale's synthetic one), one precision, one fixed batch size;
the three variants run interleaved over ``--rounds`` rounds in one process with
freed memory kept, as the ``vsr`` command runs. For each it prints frames/s and
the CPU time the process used per frame (user + system, all threads) and how
many cores that kept busy. The model-only loop calls the same ``Upscaler`` on
frames decoded beforehand, so the differences are decoding, colour conversion,
the pipeline's threads and the encoder; ultrafast shows how much of it is x264.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from bench_cpu import cpu_flags  # noqa: E402
from bench_upscale import make_clip  # noqa: E402

from vsr import Upscaler, upscale_video  # noqa: E402
from vsr._core._malloc import keep_freed_memory  # noqa: E402
from vsr.io import VideoReader  # noqa: E402
from vsr.models import default_model_name, load_model  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precision", default="int8", choices=["fp32", "bf16", "int8"])
    ap.add_argument("--batch-size", type=int, default=None, help="default: 2 for int8 (its plan's), else 1")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    batch = args.batch_size or (2 if args.precision == "int8" else 1)
    isa = " ".join(f"{k}={os.environ[k]}" for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if k in os.environ)
    print(f"# {machine()}\n# lscpu: {cpu_flags()}\n# ISA limits by environment: {isa or 'none'}")
    print(f"# precision {args.precision}, batch {batch}, {args.frames} frames {w}x{h} -> x2")
    keep_freed_memory()
    tmp = Path(tempfile.mkdtemp(prefix="vsr_bench_breakdown_"))
    src = make_clip(tmp / "clip.mp4", args.frames, w, h)
    with VideoReader(src) as reader:
        frames = np.concatenate([b.frames for b in reader])
    model = load_model(default_model_name(2)).eval()
    extra = {"runtime": "openvino"} if args.precision == "int8" else {}
    up = Upscaler(copy.deepcopy(model), scale=2, device="cpu", precision=args.precision, batch_size=batch, **extra)
    up(frames[:batch])  # set-up (int8: calibration or the cached IR, compilation) outside the rounds

    def model_only() -> int:
        for i in range(0, len(frames), batch):
            up(frames[i:i + batch])
        return len(frames)

    def command(preset: str) -> Callable[[], int]:
        return lambda: upscale_video(src, tmp / "out.mp4", scale=2, model=copy.deepcopy(model), precision=args.precision,
                                     batch_size=batch, preset=preset, overwrite=True, progress=False, **extra).frames

    variants = {"model only (decoded frames)": model_only, "vsr upscale, x264 medium (default)": command("medium"),
                "vsr upscale, x264 ultrafast": command("ultrafast")}
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, fn in variants.items():
            t0, c0 = time.perf_counter(), cpu_seconds()
            n = fn()
            wall, used = time.perf_counter() - t0, cpu_seconds() - c0
            rows[name].append((n / wall, used / n * 1000, used / wall))
        print(f"# round {r + 1}/{args.rounds} done", flush=True)
    print(f"{'variant':<36} {'fps (runs)':<22} {'CPU ms/frame':<16} cores busy")
    for name, runs in rows.items():
        fps = ", ".join(f"{f:.2f}" for f, _, _ in runs)
        cpu = ", ".join(f"{c:.0f}" for _, c, _ in runs)
        busy = ", ".join(f"{b:.2f}" for _, _, b in runs)
        print(f"{name:<36} {fps:<22} {cpu:<16} {busy}")


if __name__ == "__main__":
    main()
