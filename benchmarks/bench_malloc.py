"""A ``vsr`` command with glibc's malloc defaults vs with freed memory kept (vsr._core._malloc), side by side.

    python benchmarks/bench_malloc.py [--frames 120] [--size 320x180] [--rounds 3] [--args "--precision int8"]
    python benchmarks/bench_malloc.py --command eval [--args "-d ../shared/data/Set5"]
    python benchmarks/bench_malloc.py --command train [--iterations 100]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_malloc.py   # an AVX2-only CPU's kernels

Runs the command line in a fresh process per run, alternating
``VSR_MALLOC=system`` (glibc's defaults) and the default (large blocks from the
heap, no trimming), after one uncounted run that fills a private plan cache:
``upscale`` (the default) on one synthetic clip, ``eval`` of the bundled x2
model on Set14 (fp32, as ``vsr eval`` scores by default), or ``train`` of
``pipelines/edsr_baseline_x2_t91_bsd200.toml`` for ``--iterations`` steps
(T91/BSD200 from ../shared/data; its closing Set5 validation included). For
each run it reads the wall time (and the rate ``upscale`` prints) and, from the
kernel (``wait4``), user and system CPU time, minor page faults and peak RSS.
Prints the medians and the median of each round's ratio (kept / system), so
that a round's load affects both alike.
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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from bench_cpu import cpu_flags  # noqa: E402
from bench_upscale import make_clip  # noqa: E402

VARIANTS = {"system": "glibc defaults (VSR_MALLOC=system)", "kept": "freed memory kept (vsr's default)"}
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VSR_TEST_DATA", ROOT.parent / "shared" / "data"))


def run_once(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """One ``vsr`` command in a fresh process: wall time, the fps it prints (``upscale``), CPU times, faults, peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vsr", *cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"vsr {cmd[0]} failed ({proc.returncode}):\n{out}")
    fps = re.search(r"\(([\d.]+) fps\)", out)
    if cmd[0] == "upscale" and fps is None:
        raise SystemExit(f"no rate in vsr's output:\n{out}")
    return {"fps": float(fps.group(1)) if fps else 1 / wall, "wall": wall, "user": usage.ru_utime,
            "sys": usage.ru_stime, "faults": usage.ru_minflt, "rss": usage.ru_maxrss / 1024}


def command(kind: str, tmp: Path, args: argparse.Namespace, extra: list[str]) -> tuple[list[str], str]:
    """The ``vsr`` arguments of one measured run and what it does, for ``upscale``, ``eval`` or ``train``."""
    w, h = map(int, args.size.split("x"))
    if kind == "upscale":
        src = tmp / "clip.mp4"
        if not src.exists():
            make_clip(src, args.frames, w, h)
        return (["upscale", str(src), "-o", str(tmp / "out.mp4"), "-s", "2", "--overwrite", *extra],
                f"{args.frames} frames {w}x{h} -> x2, `vsr upscale {' '.join(extra)}`")
    if kind == "eval":
        opts = extra or ["-d", str(DATA / "Set14")]
        return ["eval", "-s", "2", *opts], f"`vsr eval -s 2 {' '.join(opts)}`"
    recipe = ROOT / "pipelines" / "edsr_baseline_x2_t91_bsd200.toml"
    return (["train", "-c", str(recipe), "--no-progress", "--set", f"train.iterations={args.iterations}",
             "--set", f"optim.warmup={min(200, args.iterations)}", "--set", f"train.out_dir={tmp / 'runs'}", *extra],
            f"`vsr train` {recipe.name}, {args.iterations} iterations")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", default="320x180", help="input WxH")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--args", default="", help="further options for every run, e.g. '--precision int8'")
    ap.add_argument("--command", choices=["upscale", "eval", "train"], default="upscale")
    ap.add_argument("--iterations", type=int, default=100, help="training steps of --command train")
    args = ap.parse_args()
    extra = shlex.split(args.args)
    print(f"# {machine()}\n# CPU: {cpu_flags()}\n# ISA limits: ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '-')} "
          f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '-')}; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="vsr_bench_malloc_") as tmp_name:
        tmp = Path(tmp_name)
        cmd, what = command(args.command, tmp, args, extra)
        base = {k: v for k, v in os.environ.items() if k != "VSR_MALLOC"}
        base["VSR_CACHE_DIR"] = str(tmp / "cache")
        envs = {"system": {**base, "VSR_MALLOC": "system"}, "kept": base}
        run_once(cmd, envs["kept"])  # fills the plan cache: no run below measures plans
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in VARIANTS}
        for r in range(args.rounds):
            for key in VARIANTS:
                res = run_once(cmd, envs[key])
                runs[key].append(res)
                print(f"round {r + 1} {key:<6}: {res['wall']:6.1f} s wall ({res['fps']:5.2f} /s), user {res['user']:6.1f} s, "
                      f"sys {res['sys']:5.1f} s, {res['faults']:9.0f} minor faults, peak RSS {res['rss']:6.1f} MiB", flush=True)
    per, unit = (args.frames, "frame") if args.command == "upscale" else (1, "run")
    print(f"\n{what}, {args.rounds} alternating rounds (medians):")
    for key, label in VARIANTS.items():
        med = {m: statistics.median(x[m] for x in runs[key]) for m in ("fps", "wall", "user", "sys", "faults", "rss")}
        rate = f"{med['fps']:5.2f} fps" if args.command == "upscale" else f"{med['wall']:6.1f} s"
        print(f"{label:<38} {rate}  user {med['user']:6.1f} s  sys {med['sys']:5.1f} s  "
              f"faults/{unit} {med['faults'] / per:9.0f}  peak RSS {med['rss']:6.1f} MiB")
    ratio = statistics.median(k["fps"] / s["fps"] for k, s in zip(runs["kept"], runs["system"]))
    rss = statistics.median(k["rss"] / s["rss"] for k, s in zip(runs["kept"], runs["system"]))
    print(f"kept / system, median of the rounds' ratios: speed {ratio:.3f}x, peak RSS {rss:.3f}x")
    print(f"# load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
