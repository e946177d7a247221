"""Model throughput: the official way (fp32 NCHW, batch 1) vs vsr's default policy, in one run.

    python benchmarks/bench_model.py [--frames 8] [--size 320x180] [--scale 2]

Prints GFLOP per frame, frames/s and achieved GFLOP/s for each variant and
the speed-up b/a. Weights are random: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, conv_gflop, machine  # noqa: E402

from vsr.inference._upscaler import Upscaler  # noqa: E402
from vsr.models import get_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", default="320x180", help="input WxH")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--model", default="edsr_baseline")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    torch.manual_seed(0)
    model = get_model(args.model, scale=args.scale).eval()
    gflop = conv_gflop(model, torch.rand(1, 3, h, w) * 255, args.scale)
    frames = np.random.default_rng(0).integers(0, 256, (args.frames, h, w, 3), dtype=np.uint8)

    def official() -> None:
        # What EDSR-PyTorch's demo does: one fp32 NCHW frame at a time.
        with torch.inference_mode():
            for f in frames:
                x = torch.from_numpy(f).permute(2, 0, 1)[None].float()
                model(x, args.scale).clamp(0, 255).round()

    ours = Upscaler(get_model(args.model, scale=args.scale).eval(), scale=args.scale, device="cpu", batch_size=4)
    variants = {
        "a) fp32 NCHW batch 1 (official)": official,
        f"b) default policy ({ours.precision}, channels_last, batch {ours.batch_size})": lambda: ours(frames),
    }
    print(f"# {machine()}")
    print(f"# {args.model} x{args.scale}, {w}x{h} input, {gflop:.1f} GFLOP/frame ({gflop * 1e3 / (w * h):.2f} MFLOP/pixel), {args.frames} frames")
    fps = {}
    for name, fn in variants.items():
        t = best_of(fn, repeats=2)
        fps[name] = args.frames / t
        print(f"{name:<55} {fps[name]:6.2f} frames/s  {fps[name] * gflop:7.1f} GFLOP/s")
    a, b = fps.values()
    print(f"speed-up b/a: {b / a:.2f}x")


if __name__ == "__main__":
    main()
