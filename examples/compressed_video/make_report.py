"""Regenerate examples/compressed_video/: clean vs compression-aware bundled models on clean and compressed video.

    python examples/compressed_video/make_report.py [--runs /path/to/runs] [--scales 2 4] [--skip-compare]

One command, three steps, each through vsr's own CLI:
1. ``vsr compare`` per scale: the bundled clean model and the bundled compression-aware (``_x264``) model next to
   bicubic, on Set5 and Set14 (clean LR) and on carphone_pristine.mp4 under clean LR, x264 crf 23 and 28 (the
   training codec) and x265 crf 28 and vp9 crf 46 (held out of training; vp9 crf 46 damages the Vid4 LR as much as
   x264 crf 28 does: benchmarks/bench_degradation_realism.py), and on Vid4 under the same conditions: ``x4/``
   (report.md, CSVs, crops). At x2, Vid4 is scored under clean LR and x264 only (``x2_vid4/``) and the rest under
   every condition (``x2_rest/``).
2. Learning curves: every snapshot the fine-tune kept (``--runs``, the folder ``vsr train`` wrote the
   ``edsr_baseline_x<s>_t91_bsd200_x264`` runs into), and the run's last checkpoint, scored with ``vsr eval`` on
   carphone_pristine.mp4 (a real clip held out of training) under clean LR and x264 crf 28, iteration 0 being the
   clean model. These are the fine-tune's own weights, before the blend with the clean model. Writes ``curves.csv``.
3. ``curves.png``: those curves, with the training wall time per run.
Needs ../shared/data. Scores are fp32, PSNR-Y (video protocol: every frame, no shave, mean of clip means).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data"
CONDITIONS = ["bi+x264:crf=23", "bi+x264:crf=28", "bi+x265:crf=28", "bi+vp9:crf=46"]
CURVE_SET = SHARED / "videos" / "carphone_pristine.mp4"
CURVE_CONDITIONS = ["bi", "bi+x264:crf=28"]


def _clean(scale: int) -> str:
    return f"edsr_baseline_x{scale}_t91_bsd200"


def _vsr(*args: str) -> None:
    print("+ vsr", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "vsr", *args], check=True)


def compare(scale: int, part: str) -> None:
    """``part`` ``all``: every set under every condition; ``vid4``: Vid4 under clean LR and the x264 conditions;
    ``rest``: Set5, Set14 and carphone under every condition. (x2 is split in two because Vid4 at x2 is 75 frames
    of 360x288 LR per condition and model, ~4 s each on one AVX2 core: the held-out codecs are scored on carphone.)"""
    clean, aware = _clean(scale), f"{_clean(scale)}_x264"
    args = ["compare", "-s", str(scale), "-m", clean, "-m", aware, "--label", f"{clean}=clean",
            "--label", f"{aware}=x264-aware", "--precision", "fp32", "-o", str(HERE / f"x{scale}_{part}")]
    out = HERE / (f"x{scale}" if part == "all" else f"x{scale}_{part}")
    args[-1] = str(out)
    conditions = [c for c in CONDITIONS if "x264" in c] if part == "vid4" else CONDITIONS
    if part != "vid4":
        for s in ("Set5", "Set14"):
            args += ["--image-set", str(SHARED / s)]
    if part != "rest":
        args += ["--video-set", str(SHARED / "Vid4")]
    if part != "vid4":
        args += ["--video-set", str(CURVE_SET)]
    for c in conditions:
        args += ["--video-degradation", c]
    _vsr(*args)


def _score(model: str, scale: int, degradation: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        _vsr("eval", "-m", model, "-d", str(CURVE_SET), "-s", str(scale), "--degradation", degradation, "-o", tmp)
        result = json.loads(next(Path(tmp).glob("*.json")).read_text(encoding="utf-8"))
    return float(result["mean"]["psnr"]), float(result["mean"]["bicubic_psnr"])


def curves(runs: Path, scales: list[int]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for scale in scales:
        run = runs / f"{_clean(scale)}_x264"
        snaps = sorted((run / "snapshots").glob("iter_*.pt"))
        log = list(csv.DictReader((run / "log.csv").open(encoding="utf-8")))
        elapsed = {int(r["iteration"]): float(r["elapsed_s"]) for r in log if r.get("elapsed_s")}
        points = [(0, _clean(scale))] + [(int(p.stem.split("_")[1]), str(p)) for p in snaps]
        last = max(elapsed, default=0)
        if (run / "latest.pt").is_file() and last > points[-1][0]:
            points.append((last, str(run / "latest.pt")))  # the run's end, when it is not a snapshot
        for it, model in points:
            for deg in CURVE_CONDITIONS:
                psnr, bicubic = _score(model, scale, deg)
                near = max((i for i in elapsed if i <= it), default=None)
                rows.append({"scale": scale, "iteration": it, "degradation": deg, "psnr": round(psnr, 4),
                             "bicubic_psnr": round(bicubic, 4),
                             "elapsed_min": "" if near is None else round(elapsed[near] / 60, 1)})
    path = HERE / "curves.csv"
    if path.is_file():  # the other scales' curves are kept
        with path.open(encoding="utf-8", newline="") as f:
            kept = [{**r, "scale": int(r["scale"])} for r in csv.DictReader(f) if int(r["scale"]) not in scales]
        rows = kept + rows
    rows.sort(key=lambda r: (int(r["scale"]), int(r["iteration"])))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def plot(rows: list[dict[str, object]], scales: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(scales), figsize=(5.5 * len(scales), 4), squeeze=False)
    colours = {"bi": "tab:blue", "bi+x264:crf=28": "tab:red"}
    words = {"bi": "clean LR", "bi+x264:crf=28": "LR x264 crf 28"}
    for ax, scale in zip(axes[0], scales):
        for deg in CURVE_CONDITIONS:
            pts = sorted((int(r["iteration"]), float(r["psnr"]), float(r["bicubic_psnr"])) for r in rows
                         if r["scale"] == scale and r["degradation"] == deg)
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colours[deg], label=f"model, {words[deg]}")
            ax.axhline(pts[0][2], color=colours[deg], linestyle=":", label=f"bicubic, {words[deg]}")
        ax.set_title(f"x{scale}: fine-tuning on x264 LR (carphone, held out)")
        ax.set_xlabel("training iteration (0 = the clean bundled model)")
        ax.set_ylabel("PSNR-Y (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="center right", bbox_to_anchor=(1.0, 0.62))  # between the two lines
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs"), help="folder holding the fine-tunes' run folders")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--skip-compare", action="store_true", help="only the learning curves")
    ap.add_argument("--skip-curves", action="store_true", help="only the comparisons")
    ap.add_argument("--replot", action="store_true", help="only draw curves.png again from curves.csv")
    ap.add_argument("--parts", nargs="+", default=None, choices=["all", "vid4", "rest"],
                    help="which comparisons (default: all at x4; vid4 and rest at x2)")
    args = ap.parse_args()
    if args.replot:
        with (HERE / "curves.csv").open(encoding="utf-8", newline="") as f:
            rows = [{**r, "scale": int(r["scale"])} for r in csv.DictReader(f)]
        plot(rows, sorted({int(r["scale"]) for r in rows}))
        return
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED}")
    if not args.skip_compare:
        for s in args.scales:
            for part in args.parts or (["vid4", "rest"] if s == 2 else ["all"]):
                compare(s, part)
    if not args.skip_curves:
        rows = curves(args.runs, args.scales)
        plot(rows, sorted({int(r["scale"]) for r in rows}))


if __name__ == "__main__":
    main()
