"""Make MATLAB-exact bicubic LR folders from an HR folder (what the benchmark LR files are).

Each HR image is cropped to a multiple of the scale (top-left kept, as the benchmarks do) and shrunk
with ``vsr.data.imresize`` (MATLAB ``imresize(img, 1/s, 'bicubic')``). Two naming schemes:

* ``edsr`` (default): ``OUT/X{s}/<name>x{s}.png``, the layout of DIV2K's ``DIV2K_train_LR_bicubic`` and of
  the EDSR benchmark folders (``LR_bicubic``);
* ``same``: ``OUT/X{s}/<relative path>.png``, the layout of REDS's ``train_sharp_bicubic`` (use ``--recursive``).

Examples::

    python datasets/make_lr.py DIV2K/DIV2K_train_HR DIV2K/DIV2K_train_LR_bicubic --scales 2 3 4
    python datasets/make_lr.py REDS/train_sharp REDS/train_sharp_bicubic --scales 4 --naming same --recursive
    python datasets/make_lr.py MySet/HR MySet/LR_bicubic --scales 2 3 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from vsr.data import imresize
from vsr.errors import VSRError
from vsr.io import IMAGE_EXTENSIONS, list_images, read_image, write_image


def make_lr(hr_dir: Path, out_dir: Path, *, scales: list[int], naming: str, recursive: bool, overwrite: bool) -> int:
    """Write the LR images; return how many files were written."""
    files = list_images(hr_dir, recursive=recursive)
    if not files:
        raise SystemExit(f"{hr_dir}: no images found ({', '.join(IMAGE_EXTENSIONS)})")
    written = 0
    for i, path in enumerate(files, 1):
        try:
            img = read_image(path)  # 16-bit files are rounded to 8 bits, as the benchmarks are
        except VSRError as e:
            raise SystemExit(str(e)) from None
        for s in scales:
            rel = path.relative_to(hr_dir)
            name = rel.with_name(f"{rel.stem}x{s}.png") if naming == "edsr" else rel.with_suffix(".png")
            dest = out_dir / f"X{s}" / name
            if dest.exists() and not overwrite:
                continue
            h, w = (img.shape[0] // s) * s, (img.shape[1] // s) * s
            if h == 0 or w == 0:
                raise SystemExit(f"{path}: {img.shape[1]}x{img.shape[0]} is smaller than the scale {s}")
            lr = imresize(np.ascontiguousarray(img[:h, :w]), 1.0 / s)
            write_image(dest, lr, overwrite=True)  # atomic: a killed run leaves no half-written PNG
            written += 1
        print(f"\r{i}/{len(files)} {path.name}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hr_dir", type=Path, help="folder of HR images")
    ap.add_argument("out_dir", type=Path, help="LR root; X{s} sub-folders are created in it")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4], help="scales to make (default: 2 3 4)")
    ap.add_argument("--naming", choices=["edsr", "same"], default="edsr", help="<name>x{s}.png (edsr) or the HR name (same)")
    ap.add_argument("--recursive", action="store_true", help="also read sub-folders (kept in the output)")
    ap.add_argument("--overwrite", action="store_true", help="remake files that exist")
    args = ap.parse_args(argv)
    if not args.hr_dir.is_dir():
        raise SystemExit(f"{args.hr_dir}: not a folder")
    if any(s < 2 for s in args.scales):
        raise SystemExit(f"--scales must be integers >= 2, got {args.scales}")
    n = make_lr(args.hr_dir, args.out_dir, scales=args.scales, naming=args.naming, recursive=args.recursive,
                overwrite=args.overwrite)
    print(f"wrote {n} LR images under {args.out_dir}")


if __name__ == "__main__":
    main()
