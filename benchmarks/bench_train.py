"""Training speed: fp32 NCHW (how the official code trains on a CPU) vs vsr's default policy, in one run.

    python benchmarks/bench_train.py [--batch 16] [--lr-patch 48] [--iters 4] [--rounds 3]

EDSR-baseline x2, Adam, L1: the exact step ``vsr train`` runs (:func:`vsr.train._loop.train_step`), on
real T91 patches when ../shared/data is present (random patches otherwise; speed does not depend on
content). The variants alternate in rounds so that load from other processes hits both alike; the
median iterations/s of each and the ratio b/a are printed. Target: >= 2x on a CPU with native bf16.
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
from vsr.data import ImageFolder, PatchBatch, PatchSampler  # noqa: E402
from vsr.models import get_model  # noqa: E402
from vsr.train._loop import train_step  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _batches(batch: int, lr_patch: int, n: int) -> list[PatchBatch]:
    if (SHARED / "T91").is_dir():
        src = ImageFolder(SHARED / "T91")
        sampler = PatchSampler([src], scales=[2], lr_patch=lr_patch, batch_size=batch, seed=0)
        return [sampler.batch(i) for i in range(n)]
    g = torch.Generator().manual_seed(0)
    return [
        PatchBatch(
            torch.randint(0, 256, (batch, 3, lr_patch, lr_patch), dtype=torch.uint8, generator=g),
            torch.randint(0, 256, (batch, 3, 2 * lr_patch, 2 * lr_patch), dtype=torch.uint8, generator=g),
            2,
        )
        for _ in range(n)
    ]


class _Variant:
    """A model + optimizer trained with one precision/memory-format policy."""

    def __init__(self, name: str, *, precision: str, channels_last: bool, device: torch.device) -> None:
        torch.manual_seed(0)
        self.name = name
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = get_model("edsr_baseline", scale=2).to(device=device, memory_format=self.memory_format).train()
        self.opt = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=1e-4)
        self.scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
        self.amp_dtype = autocast_dtype(precision)
        self.rates: list[float] = []

    def run(self, batches: list[PatchBatch]) -> None:
        t0 = time.perf_counter()
        for b in batches:
            loss = train_step(self.model, self.opt, self.scaler, b, device=self.device,
                              memory_format=self.memory_format, amp_dtype=self.amp_dtype)
        float(loss)  # waits for the device
        self.rates.append(len(batches) / (time.perf_counter() - t0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr-patch", type=int, default=48, help="LR patch side (HR = 2x)")
    ap.add_argument("--iters", type=int, default=4, help="iterations per variant per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    policy = resolve_precision("auto", device)
    batches = _batches(args.batch, args.lr_patch, args.iters)
    a = _Variant("a) fp32 NCHW", precision="fp32", channels_last=False, device=device)
    b = _Variant(f"b) default policy: {policy} autocast + channels_last", precision=policy, channels_last=True, device=device)
    for v in (a, b):
        v.run(batches[:1])  # warm-up (oneDNN primitive creation)
        v.rates.clear()
    for _ in range(args.rounds):
        for v in (a, b):
            v.run(batches)
    print(f"machine: {machine()}, device {device}")
    print(f"EDSR-baseline x2 training step, batch {args.batch}, LR patch {args.lr_patch} (HR {2 * args.lr_patch}), "
          f"{args.rounds} rounds x {args.iters} iterations, median it/s:")
    for v in (a, b):
        print(f"  {v.name:<50} {statistics.median(v.rates):6.3f} it/s   (rounds: {', '.join(f'{r:.3f}' for r in v.rates)})")
    ratio = statistics.median(b.rates) / statistics.median(a.rates)
    print(f"speed-up b/a: {ratio:.2f}x (target >= 2)")


if __name__ == "__main__":
    main()
