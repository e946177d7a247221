"""Do JPEG images want the compression-aware model? Clean against ``_x264`` models on JPEG-compressed LR images.

    python examples/compressed_video/jpeg_images.py [--rung default|fast] [--scales 2 3 4] [--qualities 95 90 75 50 30]
    python examples/compressed_video/jpeg_images.py --sets Vimeo90K --qualities 95 90 85   # the held-out check

The measurement behind the default rule for images: a JPEG of quality at most a variant's ``max_jpeg_quality`` gets
the compression-aware model, any other image the clean one. Are the images people have, which are JPEGs, better
served by the ``_x264`` models? for Set5 and Set14 (the EDSR benchmark protocol:
PSNR-Y, ``scale`` pixels shaved) the LR is MATLAB bicubic of the mod-cropped HR, then a JPEG round trip through
OpenCV's libjpeg at each quality (4:2:0 chroma, its default), and each bundled default model and its ``_x264``
variant upscale it (fp32). The rate of each JPEG is recorded in bits per pixel, the measure the video rule uses.
Writes ``jpeg_images/scores.csv`` (one row per image, quality and scale) and ``jpeg_images/summary.md`` (means per
scale and quality) beside this file (``scores_fast.csv`` and ``summary_fast.md`` for ``--rung fast``, the fast
models and their variants). Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "jpeg_images"
SHARED = HERE.parents[2] / "shared" / "data"
SETS = ("Set5", "Set14")


def _jpeg(lr: np.ndarray, quality: int) -> tuple[np.ndarray, float]:
    """``lr`` (RGB uint8) through a JPEG encode and decode at ``quality``, and the JPEG's bits per pixel."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(lr, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a JPEG at quality {quality}")
    out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out, 8 * buf.size / (lr.shape[0] * lr.shape[1])


def _images(name: str) -> list[tuple[str, np.ndarray]]:
    """The set's ground-truth images: ``HR/*.png`` of Set5/Set14; for Vimeo90K, the middle frame of each septuplet."""
    from vsr.io import natural_key, read_rgb

    if name == "Vimeo90K":
        paths = sorted((SHARED / name / "sequences").glob("*/*/im4.png"))
        return [(f"{p.parent.parent.name}_{p.parent.name}", read_rgb(p)) for p in paths]
    paths = sorted((SHARED / name / "HR").glob("*.png"), key=lambda p: natural_key(p.name))
    return [(p.stem, read_rgb(p)) for p in paths]


def score(scales: list[int], qualities: list[int], rung: str = "default", sets: tuple[str, ...] = SETS) -> list[dict[str, object]]:
    from vsr.data import degrade, imresize
    from vsr.inference import Upscaler
    from vsr.metrics import psnr
    from vsr.models import bundled_weights, default_model_name, load_model

    rows: list[dict[str, object]] = []
    variants = {w.variant_of: w.name for w in bundled_weights().values() if w.variant_of}
    for scale in scales:
        clean = default_model_name(scale) if rung == "default" else f"edsr_{rung}_x{scale}_t91_bsd200"
        if clean not in variants:
            print(f"x{scale}: {clean} has no compression-aware variant; skipped", flush=True)
            continue
        models = {"clean": clean, "aware": variants[clean]}
        ups = {k: Upscaler(load_model(v, device="cpu"), scale=scale, device="cpu", precision="fp32") for k, v in models.items()}
        for set_name in sets:
            for image, hr in _images(set_name):
                hr = hr[: hr.shape[0] // scale * scale, : hr.shape[1] // scale * scale]
                lr = degrade(hr, scale)
                for q in [0, *qualities]:  # 0: no JPEG (clean LR)
                    inp, bpp = (lr, float("nan")) if q == 0 else _jpeg(lr, q)
                    row: dict[str, object] = {"scale": scale, "set": set_name, "image": image, "quality": q or "",
                                              "bpp": "" if q == 0 else round(bpp, 4)}
                    row["bicubic"] = round(psnr(imresize(inp, scale), hr, crop_border=scale, y_channel=True), 4)
                    for k, up in ups.items():
                        row[k] = round(psnr(up(inp), hr, crop_border=scale, y_channel=True), 4)
                    rows.append(row)
            print(f"x{scale} {set_name} done", flush=True)
    return rows


def summary(rows: list[dict[str, object]]) -> str:
    """Means per scale, set and quality: bits per pixel, bicubic, clean, aware, aware - clean."""
    lines = ["PSNR-Y (dB), EDSR benchmark protocol; LR = MATLAB bicubic, then a JPEG round trip (OpenCV libjpeg, "
             "4:2:0) at the quality given; mean over the set's images. bpp: the JPEG's bits per LR pixel.", "",
             "| scale | set | JPEG quality | bpp | bicubic | clean model | `_x264` model | aware − clean | images where aware wins |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(int(r["scale"]), str(r["set"]), int(r["quality"] or 101)) for r in rows}, key=lambda k: (k[0], k[1], -k[2]))
    for scale, set_name, q in keys:
        sel = [r for r in rows if (r["scale"], r["set"], int(r["quality"] or 101)) == (scale, set_name, q)]
        mean = {k: float(np.mean([float(r[k]) for r in sel])) for k in ("bicubic", "clean", "aware")}
        bpp = "" if q == 101 else f"{np.mean([float(r['bpp']) for r in sel]):.2f}"
        wins = sum(float(r["aware"]) > float(r["clean"]) for r in sel)
        lines.append(f"| x{scale} | {set_name} | {'clean LR' if q == 101 else q} | {bpp} | {mean['bicubic']:.2f} | "
                     f"{mean['clean']:.2f} | {mean['aware']:.2f} | {mean['aware'] - mean['clean']:+.2f} | {wins} of {len(sel)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rung", choices=["default", "fast"], default="default")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=[*SETS, "Vimeo90K"],
                    help="Vimeo90K: the middle frame of each septuplet, a check the quality was not chosen on")
    ap.add_argument("--qualities", type=int, nargs="+", default=[95, 90, 75, 50, 30])
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED}")
    rows = score(args.scales, args.qualities, args.rung, tuple(args.sets))
    OUT.mkdir(exist_ok=True)
    suffix = ("" if args.rung == "default" else f"_{args.rung}") + ("" if tuple(args.sets) == SETS else "_" + "_".join(args.sets))
    with (OUT / f"scores{suffix}.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    text = summary(rows)
    (OUT / f"summary{suffix}.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
