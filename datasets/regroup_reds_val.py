"""Regroup the REDS validation clips as training clips 240-269 (the BasicSR/mmagic convention).

REDS ships ``val_sharp/000..029`` (and ``val_sharp_bicubic/X4/000..029``); toolkits move them into
``train_sharp/240..269`` (and ``train_sharp_bicubic/X4/240..269``) so one folder holds all 270 clips. The test
splits are then REDS4 (000, 011, 015, 020, excluded from training by ``vsr``'s REDS dataset by default) or
REDSofficial4 (240, 241, 246, 257).

Example::

    python datasets/regroup_reds_val.py /data/REDS            # moves the folders
    python datasets/regroup_reds_val.py /data/REDS --mode symlink --dry-run
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

OFFSET = 240


def regroup(root: Path, *, mode: str, dry_run: bool) -> list[tuple[Path, Path]]:
    """Move/copy/link every validation clip; return the (source, destination) pairs."""
    pairs: list[tuple[Path, Path]] = []
    for val_name, train_name in (("val_sharp", "train_sharp"), ("val_sharp_bicubic/X4", "train_sharp_bicubic/X4")):
        val_dir = root / val_name
        if not val_dir.is_dir():
            if val_name == "val_sharp":
                raise SystemExit(f"{val_dir}: not found; expected REDS layout <root>/val_sharp/000..029")
            continue
        for clip in sorted(p for p in val_dir.iterdir() if p.is_dir()):
            if not clip.name.isdigit():
                raise SystemExit(f"{clip}: unexpected clip folder name (expected 000..029)")
            dest = root / train_name / f"{int(clip.name) + OFFSET:03d}"
            if dest.exists():
                raise SystemExit(f"{dest}: already exists; the validation clips seem to be regrouped already")
            pairs.append((clip, dest))
    for src, dest in pairs:
        print(f"{mode} {src} -> {dest}")
        if dry_run:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if mode == "move":
            shutil.move(os.fspath(src), os.fspath(dest))
        elif mode == "copy":
            shutil.copytree(src, dest)
        else:
            dest.symlink_to(src.resolve(), target_is_directory=True)
    return pairs


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="REDS root holding train_sharp and val_sharp")
    ap.add_argument("--mode", choices=["move", "copy", "symlink"], default="move")
    ap.add_argument("--dry-run", action="store_true", help="print what would be done")
    args = ap.parse_args(argv)
    pairs = regroup(args.root, mode=args.mode, dry_run=args.dry_run)
    print(f"{'would regroup' if args.dry_run else 'regrouped'} {len(pairs)} clip folders")


if __name__ == "__main__":
    main()
