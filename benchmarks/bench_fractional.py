"""Quality of a fractional scale (x1.5) made by vsr's x2 model + area reduction, against bicubic x1.5.

For each Set5/Set14 image: LR = the set's MATLAB-made x2 LR file; the ground
truth at 1.5x the LR size is the HR image shrunk with MATLAB bicubic (vsr.imresize,
antialiased). Scored on Y, shave 2 pixels, mean of per-image PSNR:

    a) bicubic x1.5:          MATLAB bicubic of LR straight to the target size
    b) vsr x1.5:              bundled x2 model on LR, then the area filter to the target size
                              (what `vsr upscale --scale 1.5` does)
    c) ceiling of b:          the true HR (a perfect x2 model), area-reduced to the target size
    d) vsr x2 at x2:          the x2 output against HR, for reference (the published protocol)

Run: python benchmarks/bench_fractional.py [DATA_DIR [SET ...]] (default ../shared/data, Set5 Set14).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from vsr import Upscaler, imresize, psnr  # noqa: E402
from vsr.inference._output_size import OutputSize  # noqa: E402
from vsr.io import list_images, read_image  # noqa: E402
from vsr.inference._upscaler import area_resize, quantize  # noqa: E402

SCALE = 1.5


def _area(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    return quantize(area_resize(t, size))[0].permute(1, 2, 0).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                    help="folder holding the test sets (default: ../shared/data)")
    ap.add_argument("sets", nargs="*", default=["Set5", "Set14"], help="test sets (default: Set5 Set14)")
    a = ap.parse_args()
    data = a.data
    up2 = Upscaler("edsr_baseline_x2_t91_bsd200", scale=2, device="cpu", precision="fp32")
    up15 = Upscaler("edsr_baseline_x2_t91_bsd200", scale=2, device="cpu", precision="fp32", target=OutputSize(scale=SCALE))
    flags = open("/proc/cpuinfo").read()
    print(machine(), "| avx512_bf16:", "yes" if "avx512_bf16" in flags else "no")
    t0 = time.perf_counter()
    for name in a.sets:
        rows: dict[str, list[float]] = {"bicubic x1.5": [], "vsr x2 -> area x1.5": [], "HR -> area x1.5 (ceiling)": [], "vsr x2 at x2": []}
        for hr_path in list_images(data / name / "HR"):
            lr = read_image(data / name / "LR_bicubic" / "X2" / f"{hr_path.stem}x2.png")
            hr = read_image(hr_path)
            if lr.ndim == 2:  # Set14 holds grey images: score them as RGB like the model sees them
                lr, hr = np.repeat(lr[:, :, None], 3, 2), np.repeat(hr[:, :, None], 3, 2)
            hr = hr[: lr.shape[0] * 2, : lr.shape[1] * 2]
            w, h = up15.output_size(lr.shape[1], lr.shape[0])
            gt = imresize(hr, output_size=(h, w))
            sr2 = up2(lr)
            rows["bicubic x1.5"].append(psnr(imresize(lr, output_size=(h, w)), gt, crop_border=2, y_channel=True))
            rows["vsr x2 -> area x1.5"].append(psnr(up15(lr), gt, crop_border=2, y_channel=True))
            rows["HR -> area x1.5 (ceiling)"].append(psnr(_area(hr, (h, w)), gt, crop_border=2, y_channel=True))
            rows["vsr x2 at x2"].append(psnr(sr2, hr, crop_border=2, y_channel=True))
        print(f"{name} ({len(rows['vsr x2 at x2'])} images), PSNR Y dB, mean of images:")
        for k, v in rows.items():
            print(f"  {k:<28} {statistics.mean(v):.2f}")
        gain = statistics.mean(rows["vsr x2 -> area x1.5"]) - statistics.mean(rows["bicubic x1.5"])
        print(f"  gain of vsr x1.5 over bicubic x1.5: {gain:+.2f} dB", flush=True)
        print(f"  ({time.perf_counter() - t0:.0f} s so far)", flush=True)


if __name__ == "__main__":
    main()
