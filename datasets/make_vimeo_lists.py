"""Write Vimeo90K septuplet lists (``sep_trainlist.txt``/``sep_testlist.txt``) by scanning ``sequences/``.

The full dataset ships both lists (64,612 and 7,824 lines of ``00001/0001``); partial copies (such as the
16 septuplets in ../shared/data/Vimeo90K) do not. This writes them from what is on disk: every septuplet
with all of im1..im7 goes to the train list, except those named in ``--test-from`` (an official
``sep_testlist.txt``) or every ``--test-every``-th one, which go to the test list.

Example::

    python datasets/make_vimeo_lists.py ../shared/data/Vimeo90K --out /tmp/lists --test-every 8
"""

from __future__ import annotations

import argparse
from pathlib import Path


def scan(root: Path) -> tuple[list[str], list[str]]:
    """Complete and incomplete septuplets under ``root/sequences`` as ``00001/0001`` strings."""
    seq = root / "sequences"
    if not seq.is_dir():
        raise SystemExit(f"{seq}: not found; expected layout <root>/sequences/<00001>/<0001>/im1.png..im7.png")
    complete, incomplete = [], []
    for a in sorted(p for p in seq.iterdir() if p.is_dir()):
        for b in sorted(p for p in a.iterdir() if p.is_dir()):
            ok = all((b / f"im{k}.png").is_file() for k in range(1, 8))
            (complete if ok else incomplete).append(f"{a.name}/{b.name}")
    return complete, incomplete


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="vimeo_septuplet folder (holds sequences/)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the lists (default: root)")
    ap.add_argument("--test-from", type=Path, default=None, help="official sep_testlist.txt: its septuplets go to the test list")
    ap.add_argument("--test-every", type=int, default=0, help="put every N-th septuplet in the test list (0: none)")
    ap.add_argument("--overwrite", action="store_true", help="replace existing lists")
    args = ap.parse_args(argv)
    complete, incomplete = scan(args.root)
    if not complete:
        raise SystemExit(f"{args.root / 'sequences'}: no complete septuplet (im1..im7) found")
    for s in incomplete:
        print(f"skipped incomplete septuplet {s}")
    test: set[str] = set()
    if args.test_from is not None:
        test |= {ln.strip() for ln in args.test_from.read_text(encoding="utf-8").splitlines() if ln.strip()}
    if args.test_every > 0:
        test |= set(complete[args.test_every - 1 :: args.test_every])
    train = [s for s in complete if s not in test]
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    for name, items in (("sep_trainlist.txt", train), ("sep_testlist.txt", [s for s in complete if s in test])):
        dest = out / name
        if dest.exists() and not args.overwrite:
            raise SystemExit(f"{dest}: exists; pass --overwrite to replace it")
        if name == "sep_testlist.txt" and not items and args.test_from is None and args.test_every == 0:
            continue
        dest.write_text("".join(f"{s}\n" for s in items), encoding="utf-8")
        print(f"{dest}: {len(items)} septuplets")


if __name__ == "__main__":
    main()
