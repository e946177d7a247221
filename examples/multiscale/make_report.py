"""Regenerate examples/multiscale/: the EDSR paper's two multi-scale claims, measured with vsr (issue 27).

    python examples/multiscale/make_report.py [--root CHECKOUT] [--parts x2_init mdsr] [--skip-bench]

One command; each part trains what is missing (a re-run continues; finished stages are skipped), compares, and
copies the report folder here:
- ``x2_init/``: ``vsr experiment pipelines/compare_x4_init_from_x2_vs_scratch.toml --jobs 2``: EDSR-baseline x4
  from the bundled x2 against from scratch, 2 seeds, learning curves on Set5/Set14 and the iterations each run needs
  to reach fixed levels (the report's "Learning curves" section).
- ``mdsr/``: ``vsr experiment pipelines/compare_mdsr_vs_three_edsr.toml --jobs 2``: one MDSR-baseline against
  three EDSR-baselines, a report per scale (``mdsr/x2``, ``x3``, ``x4``), then ``mdsr/summary.md``,
  ``mdsr/summary.csv`` and ``mdsr/gain_over_bicubic.png``: every set and scale at the same total iterations
  (the MDSR's last snapshot against each EDSR's) and at the same wall time (the MDSR's snapshot at the
  iteration it reaches in the time the three EDSRs took, interpolated between snapshots), from the learning
  curves; the parameters, and inference fps and training cost per scale measured by
  ``benchmarks/bench_multiscale.py`` on this machine (``mdsr/speed.json``; ``--skip-bench`` keeps the old one).

``--root`` runs the experiments in another checkout of vsr (e.g. the git worktree that trained them, so that its
recorded paths match) and copies its reports here. Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PARTS = {
    "x2_init": ("pipelines/compare_x4_init_from_x2_vs_scratch.toml", "runs/multiscale_x2_init"),
    "mdsr": ("pipelines/compare_mdsr_vs_three_edsr.toml", "runs/multiscale_mdsr"),
}
SCALES = (2, 3, 4)
# What a report folder holds that is copied here (the self-contained report.html repeats the PNGs: left out).
KEEP = ("report.md", "summary.csv", "clips.csv", "items.csv", "curves.csv", "curves.json", "comparison.json")


def run_experiment(root: Path, recipe: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "vsr", "experiment", recipe, "--jobs", "2"]
    print("+", " ".join(cmd), f"(in {root})", flush=True)
    subprocess.run(cmd, cwd=root, env=env, check=True)


def copy_report(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in KEEP:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
    for sub in ("plots", "crops"):
        if (src / sub).is_dir():
            shutil.copytree(src / sub, dst / sub)


def _curves(path: Path) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(model label, set) -> [(iteration, psnr)] from a report's curves.csv."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault((row["model"], row["set"]), []).append((int(row["iteration"]), float(row["psnr"])))
    return {k: sorted(v) for k, v in out.items()}


def _at(points: list[tuple[int, float]], iteration: float) -> float:
    """PSNR at ``iteration``, linear between the two snapshots around it (the last one beyond the run's end)."""
    for (i0, p0), (i1, p1) in zip(points, points[1:]):
        if i0 <= iteration <= i1:
            return p0 + (p1 - p0) * (iteration - i0) / (i1 - i0)
    return points[-1][1] if iteration >= points[-1][0] else points[0][1]


def _spread(values: list[float], signed: bool = False) -> str:
    """Mean over seeds, with their range in brackets."""
    f = "{:+.2f}" if signed else "{:.2f}"
    rng = f" [{f.format(min(values))}, {f.format(max(values))}]" if len(values) > 1 else ""
    return f.format(statistics.mean(values)) + rng


def mdsr_summary(exp_root: Path, speed: dict) -> None:
    """summary.md, summary.csv and the bar plot of the MDSR part, from the per-scale curves and the speed record."""
    stages = json.loads((exp_root / "stages.json").read_text(encoding="utf-8"))["stages"]
    runs = [r for r in stages.values() if r.get("label")]
    seeds = sorted({r["seed"] for r in runs})
    edsr_its = {r["label"]: r["iterations"] for r in runs if r["label"].startswith("EDSR")}
    mdsr_its = next(r["iterations"] for r in runs if r["label"].startswith("MDSR"))
    rows_speed = {r["scale"]: r for r in speed["rows"]}
    # Wall time of the three EDSRs in MDSR iterations, from the benchmark's step times on one machine (the runs'
    # own it/s are in each report's intro; they shared the CPU with other jobs, so they are noisier).
    edsr_s = sum(edsr_its[f"EDSR-baseline x{s}"] * rows_speed[s]["train_s_edsr"] for s in SCALES)
    mdsr_step = statistics.mean(rows_speed[s]["train_s_mdsr"] for s in SCALES)
    same_wall = edsr_s / mdsr_step
    table, csv_rows = [], []
    bars: dict[str, list[float]] = {"EDSR-baseline (one per scale)": [], "MDSR-baseline, same total iterations": [],
                                    "MDSR-baseline, same wall time": []}
    spread: dict[str, list[list[float]]] = {k: [] for k in bars}
    categories = []
    for s in SCALES:
        curves = _curves(HERE / "mdsr" / f"x{s}" / "curves.csv")
        bicubic = json.loads((HERE / "mdsr" / f"x{s}" / "curves.json").read_text(encoding="utf-8"))["bicubic"]
        for set_name in dict.fromkeys(k[1] for k in curves):
            e = [_at(curves[f"EDSR-baseline x{s} s{k}", set_name], edsr_its[f"EDSR-baseline x{s}"]) for k in seeds]
            m_it = [_at(curves[f"MDSR-baseline s{k}", set_name], mdsr_its) for k in seeds]
            m_wall = [_at(curves[f"MDSR-baseline s{k}", set_name], same_wall) for k in seeds]
            d_it = [a - b for a, b in zip(m_it, e)]
            d_wall = [a - b for a, b in zip(m_wall, e)]
            table.append(f"| x{s} | {set_name} | {bicubic[set_name]:.2f} | {_spread(e)} | {_spread(m_it)} | "
                         f"{_spread(d_it, True)} | {_spread(m_wall)} | {_spread(d_wall, True)} |")
            csv_rows.append({"scale": s, "set": set_name, "bicubic": round(bicubic[set_name], 4),
                             **{f"edsr_s{k}": round(v, 4) for k, v in zip(seeds, e)},
                             **{f"mdsr_same_iterations_s{k}": round(v, 4) for k, v in zip(seeds, m_it)},
                             **{f"mdsr_same_wall_s{k}": round(v, 4) for k, v in zip(seeds, m_wall)}})
            categories.append(f"{set_name} x{s}")
            for key, vals in zip(bars, (e, m_it, m_wall)):
                gains = [v - bicubic[set_name] for v in vals]
                bars[key].append(statistics.mean(gains))
                spread[key].append(gains)
    with (HERE / "mdsr" / "summary.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(csv_rows[0]))
        w.writeheader()
        w.writerows(csv_rows)
    sys.path.insert(0, str(REPO))
    from vsr._core import bar_plot

    png = bar_plot(bars, categories, title="MDSR-baseline vs three EDSR-baselines: PSNR-Y gain over bicubic",
                   ylabel="gain over bicubic (dB)", spread=spread, spread_label="seeds (bar: mean, whisker: range)")
    (HERE / "mdsr" / "gain_over_bicubic.png").write_bytes(png)
    p = speed["params"]
    three = sum(p[f"edsr_baseline_x{s}"] for s in SCALES)
    lines = [
        "# MDSR-baseline vs three EDSR-baselines: the numbers",
        "",
        "Written by `python examples/multiscale/make_report.py` from the per-scale reports' learning curves",
        f"(`x2/`, `x3/`, `x4/`) and `speed.json` ({speed['machine']}, {speed['date']}). PSNR-Y in dB, mean over seeds",
        f"{', '.join(map(str, seeds))} (their range in brackets); Set5 and Set14 under the EDSR benchmark protocol, Vid4 on",
        "every 4th frame (the curves' stride; the per-scale reports score every frame).",
        "",
        f"- Same total iterations: the MDSR after {mdsr_its:,} iterations (a random scale per batch) against each",
        f"  EDSR after {edsr_its['EDSR-baseline x2']:,}.",
        f"- Same wall time: the three EDSRs' {sum(edsr_its.values()):,} iterations cost {edsr_s:.0f} s of training steps",
        f"  on this CPU; an MDSR step costs {mdsr_step:.3f} s (mean over its scales), so the MDSR gets",
        f"  {same_wall:,.0f} iterations in that time, read between its snapshots.",
        "",
        "| scale | set | bicubic | EDSR-baseline | MDSR, same iterations | Δ MDSR − EDSR | MDSR, same wall time | Δ |",
        "|---|---|---|---|---|---|---|---|",
        *table,
        "",
        "![gain over bicubic](gain_over_bicubic.png)",
        "",
        f"Parameters: MDSR-baseline {p['mdsr_baseline']:,}; three EDSR-baselines {three:,} "
        f"({p['mdsr_baseline'] / three:.2f}x); stored in fp16 as vsr ships weights, {2 * p['mdsr_baseline'] / 2**20:.1f} MiB "
        f"against {2 * three / 2**20:.1f} MiB.",
        "",
        "| scale | inference fps EDSR | fps MDSR | MDSR / EDSR | training s/it EDSR | s/it MDSR | MDSR / EDSR |",
        "|---|---|---|---|---|---|---|",
        *(f"| x{r['scale']} | {r['fps_edsr']:.2f} | {r['fps_mdsr']:.2f} | {r['fps_mdsr'] / r['fps_edsr']:.2f} | "
          f"{r['train_s_edsr']:.3f} | {r['train_s_mdsr']:.3f} | {r['train_s_mdsr'] / r['train_s_edsr']:.2f} |"
          for r in speed["rows"]),
        "",
        f"Inference: one 320x180 frame, batch 1, {speed['rows'][0]['precision']}, model only. Training step: batch 8,",
        "LR patch 24, L1 + Adam, median of 10 steps. Both on random weights (`benchmarks/bench_multiscale.py`).",
        "",
    ]
    (HERE / "mdsr" / "summary.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=REPO, help="the checkout to run the experiments in")
    ap.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    ap.add_argument("--skip-bench", action="store_true", help="keep mdsr/speed.json instead of measuring again")
    args = ap.parse_args()
    root = args.root.resolve()
    if not (REPO.parent / "shared" / "data").is_dir():
        sys.exit(f"needs {REPO.parent / 'shared' / 'data'}")
    for part in args.parts:
        recipe, out = PARTS[part]
        run_experiment(root, recipe)
        exp_root = root / out
        if part == "x2_init":
            copy_report(exp_root / "report", HERE / part)
            shutil.copyfile(exp_root / "stages.json", HERE / part / "stages.json")
            continue
        for s in SCALES:
            copy_report(exp_root / "report" / f"x{s}", HERE / part / f"x{s}")
        shutil.copyfile(exp_root / "stages.json", HERE / part / "stages.json")
        speed_file = HERE / part / "speed.json"
        if not args.skip_bench or not speed_file.is_file():
            subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_multiscale.py"), "--json", str(speed_file)],
                           check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        mdsr_summary(exp_root, json.loads(speed_file.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
