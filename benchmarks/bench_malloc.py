"""``vsr upscale`` with glibc's malloc defaults vs with freed memory kept (vsr._malloc), side by side.

    python benchmarks/bench_malloc.py [--frames 120] [--size 320x180] [--rounds 3] [--args "--precision int8"]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_malloc.py   # an AVX2-only CPU's kernels

Runs the command line (``python -m vsr upscale``) on one synthetic clip in a
fresh process per run, alternating ``VSR_MALLOC=system`` (glibc's defaults)
and the default (large blocks from the heap, no trimming), after one uncounted
run that fills a private plan cache. For each run it reads the rate the
command prints and, from the kernel (``wait4``), user and system CPU time,
minor page faults and peak RSS. Prints the medians and the median of each
round's ratio (kept / system), so that a round's load affects both alike.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from bench_cpu import cpu_flags  # noqa: E402
from bench_upscale import make_clip  # noqa: E402

VARIANTS = {"system": "glibc defaults (VSR_MALLOC=system)", "kept": "freed memory kept (vsr's default)"}


def run_once(src: Path, dst: Path, extra: list[str], env: dict[str, str]) -> dict[str, float]:
    """One ``vsr upscale`` in a fresh process: its printed fps, CPU times, minor faults and peak RSS."""
    cmd = [sys.executable, "-m", "vsr", "upscale", str(src), "-o", str(dst), "-s", "2", "--overwrite", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"vsr upscale failed ({proc.returncode}):\n{out}")
    fps = re.search(r"\(([\d.]+) fps\)", out)
    if fps is None:
        raise SystemExit(f"no rate in vsr's output:\n{out}")
    return {"fps": float(fps.group(1)), "user": usage.ru_utime, "sys": usage.ru_stime,
            "faults": usage.ru_minflt, "rss": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", default="320x180", help="input WxH")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--args", default="", help="further vsr upscale options for every run, e.g. '--precision int8'")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    extra = shlex.split(args.args)
    print(f"# {machine()}\n# CPU: {cpu_flags()}\n# ISA limits: ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')} "
          f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '-')}; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="vsr_bench_malloc_") as tmp_name:
        tmp = Path(tmp_name)
        src = make_clip(tmp / "clip.mp4", args.frames, w, h)
        base = {k: v for k, v in os.environ.items() if k != "VSR_MALLOC"}
        base["VSR_CACHE_DIR"] = str(tmp / "cache")
        envs = {"system": {**base, "VSR_MALLOC": "system"}, "kept": base}
        run_once(src, tmp / "warm.mp4", extra, envs["kept"])  # fills the plan cache: no run below measures plans
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in VARIANTS}
        for r in range(args.rounds):
            for key in VARIANTS:
                res = run_once(src, tmp / f"{key}.mp4", extra, envs[key])
                runs[key].append(res)
                print(f"round {r + 1} {key:<6}: {res['fps']:5.2f} fps, user {res['user']:6.1f} s, sys {res['sys']:5.1f} s, "
                      f"{res['faults']:9.0f} minor faults, peak RSS {res['rss']:6.1f} MiB", flush=True)
    print(f"\n{args.frames} frames {w}x{h} -> x2, `vsr upscale {' '.join(extra)}`, {args.rounds} alternating rounds (medians):")
    for key, label in VARIANTS.items():
        med = {m: statistics.median(x[m] for x in runs[key]) for m in ("fps", "user", "sys", "faults", "rss")}
        print(f"{label:<38} {med['fps']:5.2f} fps  user {med['user']:6.1f} s  sys {med['sys']:5.1f} s  "
              f"faults/frame {med['faults'] / args.frames:8.0f}  peak RSS {med['rss']:6.1f} MiB")
    ratio = statistics.median(k["fps"] / s["fps"] for k, s in zip(runs["kept"], runs["system"]))
    rss = statistics.median(k["rss"] / s["rss"] for k, s in zip(runs["kept"], runs["system"]))
    print(f"kept / system, median of the rounds' ratios: speed {ratio:.3f}x, peak RSS {rss:.3f}x")
    print(f"# load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
