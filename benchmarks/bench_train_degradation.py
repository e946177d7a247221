"""Training throughput with and without a codec degradation, in one run: what compressing LR clips costs.

    python benchmarks/bench_train_degradation.py [--iters 20] [--rounds 3] [--workers 0 1]
        [--degradation "30% bi | 70% bi+x264:crf=20..32"] [--clip-frames 5] [--scale 2]

The recipe of the bundled models (EDSR-baseline, T91 + BSD200, batch 8, LR patch 48, the default precision
policy) trains for ``--iters`` iterations per variant per round, data loading included, exactly as ``vsr train``
feeds it (:class:`vsr.data.PatchSampler` through the loop's loader with ``num_workers`` worker processes).
Variants alternate in rounds, so load from other processes hits them alike. Printed: the median iterations/s of
each, the time one batch takes to make on its own, and each variant's slowdown against clean LR with the same
number of workers (target: at most 1.3x). Needs ../shared/data (T91, BSD200).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from vsr._core._device import autocast_dtype, resolve_device, resolve_precision  # noqa: E402
from vsr.data import ImageFolder, PatchSampler, parse_degradation_mix  # noqa: E402
from vsr.models import get_model  # noqa: E402
from vsr.train._loop import _batches, train_step  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


class _Variant:
    def __init__(self, name: str, sampler: PatchSampler, workers: int, *, device: torch.device, precision: str) -> None:
        torch.manual_seed(0)
        self.name, self.sampler, self.workers, self.device = name, sampler, workers, device
        self.model = get_model("edsr_baseline", scale=sampler.scales[0]).to(device, memory_format=torch.channels_last).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.scaler = torch.amp.GradScaler("cuda", enabled=False)
        self.amp = autocast_dtype(precision)
        self.rates: list[float] = []
        self.next = 0

    def run(self, iters: int, record: bool = True) -> None:
        t0 = time.perf_counter()
        loss = torch.zeros(())
        for b in _batches(self.sampler, self.next, self.next + iters, self.workers):
            loss = train_step(self.model, self.opt, self.scaler, b, device=self.device, amp_dtype=self.amp)
        float(loss)
        self.next += iters
        if record:
            self.rates.append(iters / (time.perf_counter() - t0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=20, help="iterations per variant per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1], help="DataLoader worker counts to compare")
    ap.add_argument("--degradation", default="30% bi | 70% bi+x264:crf=20..32", help="the compressed variant's spec")
    ap.add_argument("--clip-frames", type=int, default=5)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    if not (SHARED / "T91").is_dir():
        sys.exit(f"needs {SHARED}/T91 and BSD200")
    device = resolve_device("auto")
    precision = resolve_precision("auto", device)
    sources = [ImageFolder(SHARED / "T91"), ImageFolder(SHARED / "BSD200")]
    for s in sources:
        s.preload()
    mix = parse_degradation_mix(args.degradation)

    def sampler(degraded: bool) -> PatchSampler:
        return PatchSampler(sources, weights=[91, 200], scales=[args.scale], lr_patch=48, batch_size=args.batch, seed=0,
                            degradation=mix if degraded else None, clip_frames=args.clip_frames)

    variants = [
        _Variant(f"{'compressed' if d else 'clean'}, {w} worker(s)", sampler(d), w, device=device, precision=precision)
        for w in args.workers for d in (False, True)
    ]
    make = {}
    for degraded in (False, True):
        s = sampler(degraded)
        t0 = time.perf_counter()
        for i in range(10):
            s.batch(i)
        make[degraded] = (time.perf_counter() - t0) / 10
    for v in variants:
        v.run(2, record=False)  # warm-up: oneDNN primitives, worker start
    for _ in range(args.rounds):
        for v in variants:
            v.run(args.iters)
    print(f"machine: {machine()}, device {device}, precision {precision}")
    print(f"EDSR-baseline x{args.scale}, T91+BSD200, batch {args.batch}, LR patch 48; compressed = {mix.name!r}, "
          f"clip_frames {args.clip_frames}; {args.rounds} rounds x {args.iters} iterations")
    print(f"making one batch alone: clean {make[False] * 1e3:.1f} ms, compressed {make[True] * 1e3:.1f} ms")
    med = {v.name: statistics.median(v.rates) for v in variants}
    for v in variants:
        print(f"  {v.name:<28} {med[v.name]:6.3f} it/s   (rounds: {', '.join(f'{r:.3f}' for r in v.rates)})")
    for w in args.workers:
        clean, comp = med[f"clean, {w} worker(s)"], med[f"compressed, {w} worker(s)"]
        print(f"slowdown with {w} worker(s): {clean / comp:.2f}x per iteration (target <= 1.3)")
    best_clean = max(v for k, v in med.items() if k.startswith("clean"))
    best_comp = max(v for k, v in med.items() if k.startswith("compressed"))
    print(f"best compressed vs best clean: {best_clean / best_comp:.2f}x")


if __name__ == "__main__":
    main()
