"""CLI start-up time: ``python -m vsr --help`` / ``--version`` / ``models`` for two source trees, in one run.

    python benchmarks/bench_startup.py [--before DIR] [--runs 5]

``--before`` is another checkout's root (e.g. ``git archive OLD vsr | tar -x -C /tmp/old``); without it only
this tree is timed. The trees alternate run by run, so that load from other processes hits both alike; the
median wall time of each and the ratio are printed, with the CPU (model name, whether it has AVX512-BF16).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["--version"], ["models"])


def cpu() -> str:
    """The CPU's model name and whether it has AVX512-BF16."""
    name, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return f"{name}, {'with' if 'avx512_bf16' in flags else 'no'} avx512_bf16, {os.cpu_count()} cores"


def run_once(tree: Path, args: list[str]) -> float:
    """Wall seconds of one ``python -m vsr ARGS`` with ``tree`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vsr", *args], env=env, cwd="/", check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, default=None, help="root of another checkout to compare with")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    trees = {"before": a.before, "after": ROOT} if a.before else {"this tree": ROOT}
    print(f"{cpu()}; load average {os.getloadavg()[0]:.1f}; {a.runs} runs each, median")
    for args in COMMANDS:
        times: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(a.runs):
            for label, tree in trees.items():
                times[label].append(run_once(tree, args))
        med = {k: statistics.median(v) for k, v in times.items()}
        line = ", ".join(f"{k} {v:.3f} s" for k, v in med.items())
        ratio = f" ({med['before'] / med['after']:.1f}x faster)" if "before" in med else ""
        print(f"vsr {' '.join(args):<10} {line}{ratio}")


if __name__ == "__main__":
    main()
