"""Choose the blend weight of a compression-aware fine-tune on validation data, never on the test sets.

    python examples/compressed_video/choose_blend.py --run runs/edsr_baseline_x2_t91_bsd200_x264 --scale 2

The fine-tune's last weights are interpolated with the clean model it started from (``vsr export --blend``) at each
weight W (the fine-tune's share), stored in fp16 as the bundled file would be, and scored in fp32 on
- Set5 with clean LR (the EDSR benchmark protocol): what the blend costs on clean input;
- the Vimeo90K septuplets with their LR through x264 at crf 23 and crf 28 (preset medium, each septuplet one
  stream; every frame, Y, no shave): what it gains on compressed video. The septuplets are in no training set of
  these models, and neither Vid4 nor carphone (the test clips) is looked at.

The rule: the largest W whose clean Set5 loss against the clean model stays within ``--max-loss`` dB (0.25: the issue
allows 0.3 on clean LR, and the margin covers Set14 and Vid4, which are not looked at here). Writes
``blend_x<s>.csv`` (``blend_x<s>_fast.csv`` for the fast rung) beside this file (one row per W, W 0 being the clean
model) and prints the chosen W.

``--onto NEWER`` scores ``NEWER + W * (fine-tune - clean)`` instead (``vsr export --onto``): the fine-tune's change
carried over to a clean model trained further since the fine-tune started (``--clean`` is then the model it started
from); the loss is measured against NEWER, and the table is ``blend_x<s>_onto.csv``.
Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data"
VALIDATION = [("Set5", "bi"), ("Vimeo90K", "bi+x264:crf=23"), ("Vimeo90K", "bi+x264:crf=28")]


def _score(model: str, scale: int) -> dict[str, float]:
    from vsr.evaluation import evaluate
    from vsr.inference import Upscaler
    from vsr.models import load_model

    up = Upscaler(load_model(model, device="cpu"), scale=scale, device="cpu", precision="fp32")
    out: dict[str, float] = {}
    for name, deg in VALIDATION:
        r = evaluate(SHARED / name, scale, up, degradation=deg)
        out[f"{name} {deg}"] = round(float(r.mean.psnr), 4)
        out[f"{name} {deg} bicubic"] = round(float(r.mean.bicubic_psnr), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="the fine-tune's run folder")
    ap.add_argument("--scale", type=int, required=True)
    ap.add_argument("--clean", default=None, help="the clean model it started from (default: the bundled one)")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.4, 0.5, 0.6, 0.7, 0.8, 1.0])
    ap.add_argument("--max-loss", type=float, default=0.25, help="largest clean Set5 loss allowed (dB)")
    ap.add_argument("--onto", default=None, help="carry the fine-tune's change over to this newer clean model")
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED}")
    from vsr.train import export

    clean = args.clean or f"edsr_baseline_x{args.scale}_t91_bsd200"
    rows = [{"weight": 0.0, **_score(args.onto or clean, args.scale)}]
    print(rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.weights:
            path = export(args.run, Path(tmp) / f"w{w}.pt", which="latest", half=True, blend=clean, blend_weight=w,
                          onto=args.onto)
            rows.append({"weight": w, **_score(str(path), args.scale)})
            print(rows[-1], flush=True)
    key = "Set5 bi"
    ok = [r for r in rows[1:] if rows[0][key] - r[key] <= args.max_loss]
    chosen = max(ok, key=lambda r: r["weight"]) if ok else None
    rung = "_fast" if clean.startswith("edsr_fast") else ""  # the fast rung's table beside the default's
    out = HERE / f"blend_x{args.scale}{rung}{'_onto' if args.onto else ''}.csv"
    with out.open("w", newline="", encoding="utf-8") as f:
        wr = csv.DictWriter(f, fieldnames=["chosen", *rows[0]])
        wr.writeheader()
        for r in rows:
            wr.writerow({"chosen": "yes" if r is chosen else "", **r})
    print(f"wrote {out}")
    print(f"chosen W = {chosen['weight']}" if chosen else f"no W keeps the Set5 loss within {args.max_loss} dB")


if __name__ == "__main__":
    main()
