"""How close training's compressed patches come to real compressed video, and which vp9 crf matches x264's.

    python benchmarks/bench_degradation_realism.py [--patches 120] [--crf 23 28] [--vp9-crf 30 34 38 42 46 50]

The test condition of issue 26 is a whole clip (Vid4 calendar and city, x2 LR by MATLAB bicubic) encoded by
libx264 at crf 23 or 28, preset medium, yuv420p. Training cannot encode whole frames per patch, so it encodes
small clips around each patch (vsr.data._compress). This script measures, on the same Vid4 frames, the damage
(PSNR-Y of the compressed LR against the clean LR, in dB, lower = more damage) of:

  a) real:       the whole clip through the codec (what the tests score on); frame 0, the I-frame, left out
  b) neighbours: a 64x64 LR region of 5 real consecutive frames as one clip, patch from the middle frame
  c) pan:        the middle frame alone as a 5-frame simulated pan (what still images get in training)
  d) intra:      the middle frame alone, encoded as a one-frame clip (intra-only)

The simulation whose damage is closest to (a) at the same crf is the better training degradation. It also
encodes the whole clips with x265 (crf 28) and vp9 (several crf values) to pick the vp9 crf whose damage is
closest to x264 crf 28 (a "comparable quality" held-out codec). Needs ../shared/data/Vid4.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from vsr.data import imresize, parse_degradation  # noqa: E402
from vsr.data._compress import degraded_pair  # noqa: E402
from vsr.io import codec_roundtrip, list_images, read_rgb  # noqa: E402
from vsr.metrics import psnr  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SCALE = 2


def _clip(name: str) -> list[np.ndarray]:
    frames = [read_rgb(p) for p in list_images(SHARED / "Vid4" / name)]
    h, w = (frames[0].shape[0] // SCALE) * SCALE, (frames[0].shape[1] // SCALE) * SCALE
    return [np.ascontiguousarray(f[:h, :w]) for f in frames]


def _whole(lr: list[np.ndarray], spec: str) -> float:
    d = parse_degradation(spec)
    out = list(codec_roundtrip(lr, codec=d.codec or "", crf=d.crf, preset=d.preset, speed=d.speed))
    return statistics.mean(psnr(o, c, y_channel=True) for o, c in zip(out[1:], lr[1:]))


def _patches(hr: list[np.ndarray], spec: str, mode: str, n: int) -> float:
    d = parse_degradation(spec)
    rng = np.random.default_rng(0)
    scores = []
    for _ in range(n):
        t = int(rng.integers(2, len(hr) - 2))
        frames, center, clip_frames = (hr[t - 2 : t + 3], 2, 5) if mode == "neighbours" else ([hr[t]], 0, 5 if mode == "pan" else 1)
        lr, hr_p = degraded_pair(frames, center, scale=SCALE, lr_patch=48, degradation=d, clip_frames=clip_frames, rng=rng)
        clean = imresize(np.ascontiguousarray(hr_p), 1 / SCALE)
        scores.append(psnr(lr[3:-3, 3:-3], clean[3:-3, 3:-3], y_channel=True))  # interior: the crop's own bicubic edge differs
    return statistics.mean(scores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=120, help="patches per clip, mode and crf")
    ap.add_argument("--crf", type=int, nargs="+", default=[23, 28])
    ap.add_argument("--vp9-crf", type=int, nargs="+", default=[30, 34, 38, 42, 46, 50])
    args = ap.parse_args()
    if not (SHARED / "Vid4").is_dir():
        sys.exit(f"needs {SHARED}/Vid4")
    t0 = time.perf_counter()
    clips = {name: _clip(name) for name in ("calendar", "city")}
    lrs = {name: [imresize(f, 1 / SCALE) for f in hr] for name, hr in clips.items()}
    print(f"machine: {machine()}")
    print(f"Vid4 calendar+city, x{SCALE} LR, damage = PSNR-Y of compressed vs clean LR (dB), mean of the two clips")
    print(f"{'crf':>4} {'a) real':>9} {'b) neighbours':>14} {'c) pan':>8} {'d) intra':>9}   |c-a|  |d-a|")
    for crf in args.crf:
        spec = f"bi+x264:crf={crf}"
        real = statistics.mean(_whole(lrs[c], spec) for c in clips)
        sims = {m: statistics.mean(_patches(clips[c], spec, m, args.patches) for c in clips)
                for m in ("neighbours", "pan", "intra")}
        print(f"{crf:>4} {real:9.2f} {sims['neighbours']:14.2f} {sims['pan']:8.2f} {sims['intra']:9.2f}"
              f"   {abs(sims['pan'] - real):5.2f}  {abs(sims['intra'] - real):5.2f}")
    print("whole clips through other codecs (held out of training):")
    target = statistics.mean(_whole(lrs[c], "bi+x264:crf=28") for c in clips)
    print(f"  x264 crf 28: {target:.2f}")
    print(f"  x265 crf 28: {statistics.mean(_whole(lrs[c], 'bi+x265:crf=28') for c in clips):.2f}")
    best = None
    for crf in args.vp9_crf:
        v = statistics.mean(_whole(lrs[c], f"bi+vp9:crf={crf}") for c in clips)
        print(f"  vp9 crf {crf}: {v:.2f}")
        if best is None or abs(v - target) < best[1]:
            best = (crf, abs(v - target))
    assert best is not None
    print(f"vp9 crf closest to x264 crf 28: {best[0]} (|diff| {best[1]:.2f} dB); {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
