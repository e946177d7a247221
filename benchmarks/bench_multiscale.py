"""One MDSR-baseline against three EDSR-baselines: parameters, inference fps per scale, training iterations per second.

    python benchmarks/bench_multiscale.py [--json OUT]

Random weights (speed does not depend on them), this machine's CPU, all threads torch is given.
- Parameters: the MDSR-baseline's total against the sum of the three EDSR-baselines (x2, x3, x4).
- Inference, model only: frames per second of one 320x180 frame at batch 1 through ``Upscaler`` at the default
  precision (bf16 autocast on CPUs with native bf16, else fp32), the best of two timed passes, per scale.
- Training: seconds per iteration of the experiment's step (batch 8, LR patch 24, L1, Adam, bf16 autocast where
  native), EDSR at each scale and MDSR at each of its scales, the median of 10 after 3 warm-up steps. The same-wall
  comparison of pipelines/compare_mdsr_vs_three_edsr.toml rests on this ratio (MDSR draws a random scale per batch,
  so its mean over the scales is its cost per iteration).
Prints a table with the ratios; ``--json`` writes the numbers with the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from bench_ladder import model_fps  # noqa: E402

from vsr._core import cpu_kind  # noqa: E402
from vsr.models import get_model  # noqa: E402

SCALES = (2, 3, 4)


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)  # as vsr counts them: no mean-shift constants


def train_step_s(model: torch.nn.Module, scale: int, *, mdsr: bool, patch: int = 24, batch: int = 8) -> float:
    """Median seconds of one training step (forward, L1, backward, Adam) at ``scale``."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    bf16 = cpu_kind() in ("amx", "avx512_bf16")
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(batch, 3, patch, patch, generator=g).mul(255).contiguous(memory_format=torch.channels_last)
    hr = torch.rand(batch, 3, patch * scale, patch * scale, generator=g).mul(255)
    times = []
    for i in range(13):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            sr = model(lr, scale) if mdsr else model(lr)
        loss = torch.nn.functional.l1_loss(sr.float(), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--budget", type=float, default=4.0, help="seconds per inference measurement")
    args = ap.parse_args()
    torch.manual_seed(0)
    frames = np.random.default_rng(0).integers(0, 256, (8, 180, 320, 3), dtype=np.uint8)
    edsr = {s: get_model("edsr_baseline", scale=s).to(memory_format=torch.channels_last) for s in SCALES}
    mdsr = get_model("mdsr_baseline").to(memory_format=torch.channels_last)
    out: dict[str, object] = {"machine": machine(), "cpu_kind": cpu_kind(), "date": time.strftime("%Y-%m-%d"),
                              "params": {"mdsr_baseline": params(mdsr), **{f"edsr_baseline_x{s}": params(m) for s, m in edsr.items()}}}
    rows = []
    for s in SCALES:
        fe, prec = model_fps(edsr[s], s, frames, args.budget)
        fm, _ = model_fps(mdsr, s, frames, args.budget)
        te = train_step_s(edsr[s], s, mdsr=False)
        tm = train_step_s(mdsr, s, mdsr=True)
        rows.append({"scale": s, "precision": prec, "fps_edsr": round(fe, 3), "fps_mdsr": round(fm, 3),
                     "train_s_edsr": round(te, 4), "train_s_mdsr": round(tm, 4)})
    out["rows"] = rows
    p = out["params"]
    three = sum(p[f"edsr_baseline_x{s}"] for s in SCALES)  # type: ignore[index]
    print(machine())
    print(f"parameters: MDSR-baseline {p['mdsr_baseline']:,} vs three EDSR-baselines {three:,} "  # type: ignore[index]
          f"({p['mdsr_baseline'] / three:.2f}x)")  # type: ignore[index]
    print("scale | precision | fps EDSR | fps MDSR | MDSR/EDSR | train s/it EDSR | train s/it MDSR | MDSR/EDSR")
    for r in rows:
        print(f"x{r['scale']} | {r['precision']} | {r['fps_edsr']:.2f} | {r['fps_mdsr']:.2f} | "
              f"{r['fps_mdsr'] / r['fps_edsr']:.2f} | {r['train_s_edsr']:.3f} | {r['train_s_mdsr']:.3f} | "
              f"{r['train_s_mdsr'] / r['train_s_edsr']:.2f}")
    mean_m = statistics.mean(r["train_s_mdsr"] for r in rows)
    mean_e = statistics.mean(r["train_s_edsr"] for r in rows)
    print(f"an MDSR iteration (mean over its scales) costs {mean_m / mean_e:.2f}x an EDSR iteration (mean over scales)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
