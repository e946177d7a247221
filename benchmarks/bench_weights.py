"""Quality of trained weights: Set5/Set14 PSNR/SSIM (EDSR benchmark protocol) next to bicubic, fp32 vs bf16.

    python benchmarks/bench_weights.py                      # every bundled model, at each of its scales
    python benchmarks/bench_weights.py --model runs/x.pt --scale 2
    python benchmarks/bench_weights.py --json out.json      # numbers for the model card / manifest

For each model and scale it prints the fp32 PSNR/SSIM on each set, the PSNR of
the default inference precision (bf16 on CPUs with native bf16) and its change
against fp32 (with openvino installed, also that precision on OpenVINO's runtime,
which a long video's measured plan may pick), and bicubic. Data: ../shared/data (or $VSR_TEST_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from vsr.evaluation._evaluate import evaluate  # noqa: E402
from vsr.inference._openvino import openvino_status  # noqa: E402
from vsr.inference._upscaler import Upscaler  # noqa: E402
from vsr.models import bundled_weights, load_model  # noqa: E402

DATA = Path(os.environ.get("VSR_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="checkpoint path or bundled name (repeatable)")
    ap.add_argument("--scale", type=int, action="append", default=[], help="scales to test (default: the model's)")
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args()
    models = args.model or list(bundled_weights())
    if not models:
        sys.exit("no bundled weights and no --model given")
    print(f"# {machine()}")
    out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for src in models:
        model = load_model(src)
        for scale in args.scale or list(model.config["scales"]):
            fp32 = Upscaler(model, scale=scale, device="cpu", precision="fp32")
            auto = Upscaler(model, scale=scale, device="cpu", precision="auto")
            ov = (Upscaler(model, scale=scale, device="cpu", precision="auto", runtime="openvino")
                  if auto.precision != "fp32" and openvino_status()[0] else None)
            for name in args.sets:
                r32 = evaluate(DATA / name, scale, fp32, model_name=src)
                rau = evaluate(DATA / name, scale, auto, model_name=src)
                assert r32.mean.psnr is not None and rau.mean.psnr is not None and r32.mean.ssim is not None
                row = {
                    "psnr": round(r32.mean.psnr, 3),
                    "ssim": round(r32.mean.ssim, 4),
                    f"psnr_{auto.precision}": round(rau.mean.psnr, 3),
                    "bicubic_psnr": round(r32.mean.bicubic_psnr, 3),
                    "bicubic_ssim": round(r32.mean.bicubic_ssim, 4),
                }
                on_ov = ""
                if ov is not None:
                    psnr_ov = evaluate(DATA / name, scale, ov, model_name=src).mean.psnr
                    assert psnr_ov is not None
                    row[f"psnr_{ov.precision}_openvino"] = round(psnr_ov, 3)
                    on_ov = f"on OpenVINO {psnr_ov:.3f} dB ({psnr_ov - r32.mean.psnr:+.3f})   "
                out.setdefault(src, {}).setdefault(name, {})[str(scale)] = row
                print(
                    f"{src} x{scale} {name:<6} fp32 {row['psnr']:.3f} dB / {row['ssim']:.4f}   "
                    f"{auto.precision} {rau.mean.psnr:.3f} dB ({rau.mean.psnr - r32.mean.psnr:+.3f})   {on_ov}"
                    f"bicubic {row['bicubic_psnr']:.3f} / {row['bicubic_ssim']:.4f}   gain {r32.mean.psnr - r32.mean.bicubic_psnr:+.2f} dB"
                )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
