"""Ctrl-C at every moment of a short ``vsr upscale``: SIGINT sent at evenly spread times, each run classified.

    python benchmarks/sigint_sweep.py [--trials 40] [--from 0.05] [--to SECONDS] [--variants quiet,plain,verbose]
                                      [--frames 150] [--extra '--runtime openvino'] [--before DIR]

Each trial starts ``python -m vsr [-v] upscale clip.mp4 --scale 2 --model tiny.pt -o out.mp4 --overwrite
[--quiet]`` on a 96x64 clip with a 1-block, 8-feature model (both made here, in a temporary folder), waits the
trial's delay and sends SIGINT to the process, as a terminal's Ctrl-C does. The delays run evenly from ``--from``
to ``--to`` seconds, by default the time one uninterrupted run takes (so the sweep covers start-up: imports of
torch, PyAV, decord and OpenCV, the model, the plan cache, and then the frames). Variants: ``quiet``
(``--quiet``), ``plain`` (progress bar), ``verbose`` (``-v``). With ``--before``, every trial also runs on that
tree, interleaved. Classes printed at the end (one per trial):

  interrupted   exit 130, stderr "Interrupted." (beside the progress bar and -v's log lines), nothing at the
                destination: the contract
  ignored       exit 0: the run went on to the end despite the signal
  abort         killed by a signal, the exit code is negative: SIGINT (-2, Python's own exit after an interrupt it
                counted as unhandled, or before the Python handler), SIGABRT (-6, a C++ terminate)
  other         anything else (another exit code, more stderr lines, a file left behind)
  too late      the output was already complete (published) when the signal came: the run was exiting
  finished      the run had already ended before the delay

A trial whose output is not the contract prints its last stderr lines.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

#: The vsr checkout under test (``--before`` adds another, e.g. an older commit unpacked with ``git archive``).
ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {"quiet": (["upscale"], ["--quiet"]), "plain": (["upscale"], []), "verbose": (["-v", "upscale"], [])}
_LOG_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")
CLASSES = ("interrupted", "ignored", "abort", "other", "too late", "finished")


def make_inputs(folder: Path, frames: int) -> tuple[Path, Path]:
    """A ``frames``-frame 96x64 x264 clip and a 1-block, 8-feature x2 model in ``folder``."""
    import av
    import numpy as np
    import torch

    from vsr.models import get_model, save_model

    torch.manual_seed(0)
    model = save_model(get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8), folder / "tiny.pt")
    clip = folder / "clip.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(clip), "w") as out:
        v = out.add_stream("libx264", rate=Fraction(25))
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        for _ in range(frames):
            for p in v.encode(av.VideoFrame.from_ndarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), format="rgb24")):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    return clip, model


def _one_line(stderr: str, variant: str) -> bool:
    """Whether stderr is "Interrupted." and nothing else but the progress bar (and, with -v, log lines)."""
    if not stderr.endswith("Interrupted.\n"):
        return False
    lines = [ln for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]
    if variant == "quiet":
        return lines == ["Interrupted."]
    # the progress bar's redraws; -v adds log lines ("vsr.upscaling._single_process: ...")
    rest = [ln for ln in lines[:-1] if "frame/s]" not in ln and not (variant == "verbose" and _LOG_LINE.match(ln))]
    return not rest


def trial(tree: Path, clip: Path, model: Path, out_dir: Path, variant: str, delay: float, extra: list[str]) -> tuple[str, int | None, str]:
    """One run interrupted after ``delay`` seconds: (class, exit code, stderr)."""
    before, after = VARIANTS[variant]
    out = out_dir / "out.mp4"
    args = [*before, str(clip), "--scale", "2", "--model", str(model), "-o", str(out), "--overwrite", "--device", "cpu", *after, *extra]
    env = {k: v for k, v in os.environ.items() if k != "VSR_DEBUG"}
    env["PYTHONPATH"] = str(tree)
    env["VSR_CACHE_DIR"] = str(out_dir.parent / "cache")  # no plan measured earlier on this machine
    with tempfile.TemporaryFile() as err:
        # cwd: not the checkout, whose vsr would come first on the path of `python -m`
        p = subprocess.Popen([sys.executable, "-m", "vsr", *args], env=env, cwd=out_dir.parent, stdout=subprocess.DEVNULL, stderr=err)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        finished = p.poll() is not None
        published = out.exists()  # the output is written atomically: complete when it has its name
        if not finished:
            p.send_signal(signal.SIGINT)
        try:
            code: int | None = p.wait(timeout=300)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            code = None
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    left = sorted(q.name for q in out_dir.iterdir())
    for q in out_dir.iterdir():
        q.unlink()
    if finished:
        return "finished", code, stderr
    if published:
        return "too late", code, stderr
    if code == 130 and not left and _one_line(stderr, variant):
        return "interrupted", code, stderr
    if code == 0:
        return "ignored", code, stderr
    if code is not None and code < 0:
        return "abort", code, stderr
    return "other", code, stderr + (f"\n(left behind: {left})" if left else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40, help="trials per variant")
    ap.add_argument("--from", dest="lo", type=float, default=0.05, help="earliest delay, seconds")
    ap.add_argument("--to", dest="hi", type=float, default=None,
                    help="latest delay, seconds (default: the wall time of one uninterrupted run, timed first)")
    ap.add_argument("--variants", default="quiet,plain,verbose", help=f"comma-separated, from {','.join(VARIANTS)}")
    ap.add_argument("--frames", type=int, default=150, help="frames in the clip")
    ap.add_argument("--extra", default="", help="more upscale options, e.g. '--runtime openvino'")
    ap.add_argument("--before", type=Path, default=None,
                    help="root of another checkout (e.g. `git archive OLD vsr | tar -x -C DIR`): each trial also runs there")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    trees = {"before": a.before.resolve(), "after": ROOT} if a.before else {"": ROOT}
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    if not set(variants) <= set(VARIANTS):
        raise SystemExit(f"--variants: choose from {','.join(VARIANTS)}, got {a.variants!r}")
    columns = [(t, v) for t in trees for v in variants]
    names = {c: " ".join(x for x in c if x) for c in columns}

    with tempfile.TemporaryDirectory(prefix="vsr-sigint-") as tmp:
        folder = Path(tmp)
        clip, model = make_inputs(folder, a.frames)
        out_dir = folder / "out"
        out_dir.mkdir()
        if a.hi is None:  # the whole run: start-up and the frames (a warm run, after one that fills the page cache)
            trial(ROOT, clip, model, out_dir, "quiet", 1e9, [])
            t0 = time.perf_counter()
            trial(ROOT, clip, model, out_dir, "quiet", 1e9, [])
            a.hi = time.perf_counter() - t0
            print(f"one uninterrupted run: {a.hi:.2f} s", flush=True)
        counts: dict[tuple[str, str], collections.Counter[str]] = {c: collections.Counter() for c in columns}
        codes: dict[tuple[str, str], collections.Counter[int | None]] = {c: collections.Counter() for c in columns}
        for i in range(a.trials):
            delay = a.lo + (a.hi - a.lo) * i / max(1, a.trials - 1)
            for c in columns:  # interleaved, so that load from other processes hits every column alike
                cls, code, stderr = trial(trees[c[0]], clip, model, out_dir, c[1], delay, a.extra.split())
                counts[c][cls] += 1
                codes[c][code] += 1
                print(f"{names[c]:<15} {delay:6.3f} s  {cls:<12} exit {code}", flush=True)
                if cls not in ("interrupted", "too late", "finished"):
                    for line in stderr.strip().splitlines()[-3:]:
                        print(f"             | {line[:160]}", flush=True)
    print(f"\n{a.trials} trials per column, SIGINT at {a.lo:.2f}-{a.hi:.2f} s, load average {os.getloadavg()[0]:.1f}:")
    width = max(8, *map(len, names.values()))
    print(f"  {'class':<14} " + " ".join(f"{names[c]:>{width}}" for c in columns))
    for cls in CLASSES:
        print(f"  {cls:<14} " + " ".join(f"{counts[c][cls]:>{width}}" for c in columns))
    for c in columns:
        print(f"  exit codes, {names[c]}: " + ", ".join(f"{k}: {n}" for k, n in sorted(codes[c].items(), key=lambda kv: str(kv[0]))))


if __name__ == "__main__":
    main()
