"""Measure the rule that picks `vsr upscale`'s default model for a video: clean or compression-aware, by bits per pixel.

    python examples/compressed_video/default_rule.py [--scales 2 4] [--steps clips bpp score table]

The question: below how many bits per pixel (the input video stream's bits over its width x height x frames) does
the compression-aware (``_x264``) model beat the clean one, on content it never saw? The threshold is chosen on
calibration clips that are not test sets (bikes.mp4, 30 frames; bigbuckbunny.mp4, 20 frames at 640x360), then
checked on the test clips of the report (carphone_pristine.mp4, Vid4 calendar and city).

Steps (each through vsr's own code; ``--work`` keeps the frames and the bitstreams' sizes between steps):
1. ``clips``: the calibration clips as PNG frame folders under ``--work`` (research clips are read in place and
   never copied into the repository).
2. ``bpp``: for every clip, scale and condition, the LR is made as the evaluation makes it (MATLAB bicubic of the
   mod-cropped frames), encoded as one stream with the condition's codec settings, and its size divided by the LR
   pixels of the clip -> ``default_rule/bpp.csv``.
3. ``score``: ``vsr compare`` of each clean model and its aware variant (fp32) on the calibration clips under every
   condition (``default_rule/x<s>_<rung>_calibration/``), and on the test clips under the conditions the committed
   report does not already hold (``default_rule/x<s>_<rung>_test_{carphone,Vid4}/``; Vid4 under x264 only). A compare
   whose folder is complete is not run again.
4. ``table``: joins each clip's PSNR-Y gain (aware - clean) with its bpp -> ``default_rule/rule.csv``, picks the
   threshold on the calibration points, checks it on the test points, draws ``default_rule/rule.png`` and prints
   the table that README and docs quote.
Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "default_rule"
SHARED = HERE.parents[2] / "shared" / "data"

#: Every lossy condition scored; clean LR ("bi") is scored by every compare too and has no bitstream.
CONDITIONS = ["bi+x264:crf=13", "bi+x264:crf=18", "bi+x264:crf=23", "bi+x264:crf=28", "bi+x264:crf=33",
              "bi+x265:crf=28", "bi+vp9:crf=46"]
#: Calibration clips: name -> (video, frames kept, HR size or None for the file's own).
CALIBRATION = {"bikes": ("bikes.mp4", 30, None), "bigbuckbunny": ("bigbuckbunny.mp4", 20, (640, 360))}
#: Test conditions the committed report already scored (x2_vid4/, x2_rest/, x4/), by scale and clip group.
_REPORT_CONDITIONS = ["bi+x264:crf=23", "bi+x264:crf=28", "bi+x265:crf=28", "bi+vp9:crf=46"]
REPORTED = {
    2: {"Vid4": ["bi+x264:crf=23", "bi+x264:crf=28"], "carphone_pristine": _REPORT_CONDITIONS},
    3: {"Vid4": _REPORT_CONDITIONS, "carphone_pristine": _REPORT_CONDITIONS},
    4: {"Vid4": _REPORT_CONDITIONS, "carphone_pristine": _REPORT_CONDITIONS},
}
REPORT_DIRS = {2: ["x2_vid4", "x2_rest"], 3: ["x3"], 4: ["x4"]}
#: Vid4 (75 frames of up to 360x288 LR at x2) is scored under x264 only: the held-out codecs are scored on the
#: other clips, and crf 13 is near-lossless there (the clean-LR score stands for it).
VID4_CONDITIONS = ["bi+x264:crf=18", "bi+x264:crf=23", "bi+x264:crf=28", "bi+x264:crf=33"]
#: The rungs with a bundled compression-aware variant, by scale: the clean model's name stem.
RUNGS = {2: ["edsr_baseline", "edsr_fast"], 3: ["edsr_baseline"], 4: ["edsr_baseline", "edsr_fast"]}


def _clean(scale: int, rung: str = "edsr_baseline") -> str:
    return f"{rung}_x{scale}_t91_bsd200"


def _tag(scale: int, rung: str) -> str:
    """The output folders' prefix: ``x2_baseline``, ``x2_fast``."""
    return f"x{scale}_{rung.removeprefix('edsr_')}"


def _vsr(*args: str) -> None:
    print("+ vsr", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "vsr", *args], check=True)


def make_clips(work: Path) -> None:
    """Write the calibration clips' first frames as PNG folders under ``work``."""
    import av
    import cv2

    for name, (video, count, size) in CALIBRATION.items():
        folder = work / name
        if folder.is_dir() and len(list(folder.glob("*.png"))) == count:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        with av.open(str(SHARED / "videos" / video)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i == count:
                    break
                rgb = frame.to_ndarray(format="rgb24")
                if size is not None:
                    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _clip_folders(work: Path) -> dict[str, Path]:
    return {**{n: work / n for n in CALIBRATION}, "calendar": SHARED / "Vid4" / "calendar",
            "city": SHARED / "Vid4" / "city"}


def _frames(source: Path, scale: int) -> list:
    """The clip's ground-truth frames, cropped to multiples of ``scale`` (as the evaluation crops them)."""
    import av

    from vsr.io import natural_key, read_rgb

    if source.is_dir():
        frames = [read_rgb(p) for p in sorted(source.glob("*.png"), key=lambda p: natural_key(p.name))]
    else:
        with av.open(str(source)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return [f[: f.shape[0] // scale * scale, : f.shape[1] // scale * scale] for f in frames]


def measure_bpp(work: Path, scales: list[int]) -> None:
    """Bits per LR pixel of every clip under every condition -> ``bpp.csv``."""
    from vsr.data import degrade, parse_degradation
    from vsr.io import codec_roundtrip

    sources = {**_clip_folders(work), "carphone_pristine": SHARED / "videos" / "carphone_pristine.mp4"}
    rows = []
    for scale in scales:
        for clip, source in sources.items():
            lr = [degrade(f, scale) for f in _frames(source, scale)]
            pixels = lr[0].shape[0] * lr[0].shape[1] * len(lr)
            for spec in CONDITIONS:
                deg = parse_degradation(spec)
                sizes: list[int] = []
                for _ in codec_roundtrip(lr, codec=deg.codec or "", crf=deg.crf, preset=deg.preset, speed=deg.speed,
                                         record=lambda c: sizes.append(sum(map(len, c.packets)) + len(c.extradata))):
                    pass
                bpp = 8 * sizes[0] / pixels
                rows.append({"scale": scale, "clip": clip, "condition": spec, "lr_size": f"{lr[0].shape[1]}x{lr[0].shape[0]}",
                             "frames": len(lr), "bytes": sizes[0], "bpp": round(bpp, 5)})
                print(f"x{scale} {clip:18s} {spec:16s} {bpp:.4f} bpp", flush=True)
    OUT.mkdir(exist_ok=True)
    path = OUT / "bpp.csv"
    if path.is_file():  # the other scales' rows are kept
        with path.open(encoding="utf-8", newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["scale"]) not in scales] + rows
    rows.sort(key=lambda r: int(r["scale"]))
    _write(path, rows)


def score(work: Path, scales: list[int]) -> None:
    """``vsr compare`` of each clean model and its aware variant: calibration clips (every condition), test clips
    (the conditions the committed report does not hold; every condition for the fast rung)."""
    for scale in scales:
        for rung in RUNGS[scale]:
            clean, aware = _clean(scale, rung), f"{_clean(scale, rung)}_x264"
            base = ["compare", "-s", str(scale), "-m", clean, "-m", aware, "--label", f"{clean}=clean",
                    "--label", f"{aware}=x264-aware", "--precision", "fp32"]
            calib = [a for n in CALIBRATION for a in ("--video-set", str(work / n))]
            jobs = [(OUT / f"{_tag(scale, rung)}_calibration", calib, CONDITIONS)]
            for group, folder, path in (("carphone_pristine", "carphone", SHARED / "videos" / "carphone_pristine.mp4"),
                                        ("Vid4", "Vid4", SHARED / "Vid4")):
                reported = REPORTED.get(scale, {}).get(group, []) if rung == "edsr_baseline" else []
                wanted = VID4_CONDITIONS if group == "Vid4" else CONDITIONS
                jobs.append((OUT / f"{_tag(scale, rung)}_test_{folder}", ["--video-set", str(path)],
                             [c for c in wanted if c not in reported]))
            for out, sets, conditions in jobs:
                if not conditions or (out / "comparison.json").is_file():  # a finished compare is kept: resumable
                    continue
                # The test clips' clean LR is in the committed report: the first condition replaces it here.
                first = [] if out.name.endswith("_calibration") else ["--degradation", conditions.pop(0)]
                _vsr(*base, *first, *sets, *[a for c in conditions for a in ("--video-degradation", c)],
                     "-o", str(out))
                (out / "base_condition.txt").write_text(first[1] if first else "bi", encoding="utf-8")


def _gains(folder: Path) -> dict[tuple[str, str], float]:
    """(clip, condition) -> PSNR-Y of x264-aware minus clean, from a compare folder's clips.csv."""
    psnr: dict[tuple[str, str, str], float] = {}
    marker = folder / "base_condition.txt"  # how the LR of the rows without a [condition] was made
    base = marker.read_text(encoding="utf-8").strip() if marker.is_file() else "bi"
    with (folder / "clips.csv").open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            cond = r["set"].split(" [", 1)[1].rstrip("]") if " [" in r["set"] else base
            psnr[(r["clip"], cond, r["model"])] = float(r["psnr"])
    return {(c, d): psnr[(c, d, "x264-aware")] - psnr[(c, d, "clean")] for (c, d, m) in psnr if m == "clean"}


def choose_threshold(points: list[tuple[float, float]]) -> float:
    """The bits per pixel under which the aware model is used, from calibration ``(bpp, gain)`` points.

    Every point below it must gain. If a point loses, the threshold sits midway (geometrically) between it and the
    largest gaining bpp under it. If every lossy point gains, it is the largest bpp measured, rounded up to 0.05:
    above that nothing was measured, and the clean model, made for clean input, is kept.
    """
    ordered = sorted(points)
    first_loss = next((b for b, g in ordered if g <= 0), None)
    gaining = [b for b, g in ordered if g > 0 and (first_loss is None or b < first_loss)]
    if not gaining:
        return 0.0
    if first_loss is None:
        return math.ceil(gaining[-1] / 0.05 - 1e-9) * 0.05
    return round(math.sqrt(gaining[-1] * first_loss), 2)


def table(scales: list[int]) -> None:
    with (OUT / "bpp.csv").open(encoding="utf-8", newline="") as f:
        bpp = {(int(r["scale"]), r["clip"], r["condition"]): float(r["bpp"]) for r in csv.DictReader(f)}
    rows = []
    for scale in scales:
        for rung in RUNGS[scale]:
            tag = _tag(scale, rung)
            if not (OUT / f"{tag}_calibration").is_dir():
                continue
            test: dict[tuple[str, str], float] = {}
            reported = [HERE / n for n in REPORT_DIRS.get(scale, [])] if rung == "edsr_baseline" else []
            for d in [*reported, *sorted(OUT.glob(f"{tag}_test_*"))]:
                test.update({k: v for k, v in _gains(d).items() if k[0] in ("calendar", "city", "carphone_pristine")})
            for part, source in (("calibration", _gains(OUT / f"{tag}_calibration")), ("test", test)):
                for (clip, cond), g in sorted(source.items()):
                    rows.append({"scale": scale, "rung": rung, "part": part, "clip": clip, "condition": cond,
                                 "bpp": "" if cond == "bi" else bpp.get((scale, clip, cond), ""), "gain_db": round(g, 3)})
    _write(OUT / "rule.csv", rows)
    # One threshold per model (scale and rung): the variants differ, and so do the rates where they stop gaining.
    thresholds: dict[tuple[int, str], float] = {}
    for scale, rung in sorted({(int(r["scale"]), str(r["rung"])) for r in rows}):
        calib = [(float(r["bpp"]), float(r["gain_db"])) for r in rows
                 if (r["scale"], r["rung"], r["part"]) == (scale, rung, "calibration") and r["bpp"] != ""]
        threshold = thresholds[(scale, rung)] = choose_threshold(calib)
        print(f"x{scale} {rung}: threshold {threshold:.3f} bits per pixel (its manifest entry's below_bpp)")
        for part in ("calibration", "test"):
            pts = [r for r in rows if r["scale"] == scale and r["rung"] == rung and r["part"] == part]
            below = [float(r["gain_db"]) for r in pts if r["bpp"] != "" and float(r["bpp"]) < threshold]
            above = [float(r["gain_db"]) for r in pts if r["bpp"] == "" or float(r["bpp"]) >= threshold]
            rule = [float(r["gain_db"]) if r["bpp"] != "" and float(r["bpp"]) < threshold else 0.0 for r in pts]
            aware = [float(r["gain_db"]) for r in pts]
            print(f"x{scale} {rung:13s} {part:11s}: {len(below)} below (aware; gain min {min(below, default=0):+.2f}, "
                  f"mean {sum(below) / max(len(below), 1):+.3f} dB), {len(above)} at or above (clean; aware would "
                  f"have gained {min(above, default=0):+.2f} to {max(above, default=0):+.2f}); mean over points, rule "
                  f"{sum(rule) / max(len(rule), 1):+.3f} dB, always aware {sum(aware) / max(len(aware), 1):+.3f} dB")
    markdown(rows, thresholds)
    plot(rows, thresholds)


def markdown(rows: list[dict[str, object]], thresholds: dict[tuple[int, str], float]) -> None:
    """``rule.md``: per scale and rung, each condition's bits per pixel and gains, calibration and test clips."""
    clips = ["bikes", "bigbuckbunny", "carphone_pristine", "calendar", "city"]
    lines = ["Cells: PSNR-Y of the `_x264` model minus the clean model (dB) @ bits per pixel of the LR stream; "
             "bold where the rule picks the aware model (under the model's threshold, chosen on the calibration "
             "clips).", ""]
    for scale, rung in sorted({(int(r["scale"]), str(r["rung"])) for r in rows}):
        threshold = thresholds[(scale, rung)]
        lines += [f"### x{scale} {rung}: threshold {threshold:g} bits per pixel", "", "| condition | " + " | ".join(
            f"{c}{' (test)' if c not in CALIBRATION else ''}" for c in clips) + " |", "|---" * (len(clips) + 1) + "|"]
        for cond in ["bi", *CONDITIONS]:
            cells = []
            for clip in clips:
                hit = [r for r in rows if (r["scale"], r["rung"], r["clip"], r["condition"]) == (scale, rung, clip, cond)]
                if not hit:
                    cells.append("")
                    continue
                g, b = float(hit[0]["gain_db"]), hit[0]["bpp"]
                cell = f"{g:+.2f}" + ("" if b == "" else f" @ {float(b):.3f}")
                cells.append(f"**{cell}**" if b != "" and float(b) < threshold else cell)
            lines.append(f"| {'clean LR' if cond == 'bi' else cond} | " + " | ".join(cells) + " |")
        lines.append("")
    (OUT / "rule.md").write_text("\n".join(lines), encoding="utf-8")


#: Where the clean-LR points (no codec, no bitstream) are drawn on the bits-per-pixel axis.
CLEAN_X = 2.5


def plot(rows: list[dict[str, object]], thresholds: dict[tuple[int, str], float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    panels = sorted({(int(r["scale"]), str(r["rung"])) for r in rows})
    cols = min(3, len(panels))  # at most three panels a row, so that each stays readable
    rows_n = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5.2 * cols, 4.6 * rows_n), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    marks = {"bikes": "o", "bigbuckbunny": "s", "calendar": "^", "city": "v", "carphone_pristine": "D"}
    for ax, (scale, rung) in zip(axes.flat, panels):
        threshold = thresholds[(scale, rung)]
        for clip, m in marks.items():
            pts = [(CLEAN_X if r["bpp"] == "" else float(r["bpp"]), float(r["gain_db"]), r["part"]) for r in rows
                   if (r["scale"], r["rung"], r["clip"]) == (scale, rung, clip)]
            if pts:
                test = pts[0][2] == "test"
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=m, s=36,
                           label=f"{clip} ({'test' if test else 'calibration'})",
                           facecolors="none" if test else None, edgecolors="k" if test else None)
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(threshold, color="tab:red", ls="--", label=f"threshold {threshold:.2f} bits/pixel")
        ax.set_xscale("log")
        ticks = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, CLEAN_X]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks[:-1]] + ["clean\nLR"])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(0.015, CLEAN_X * 1.4)
        ax.set_xlabel("bits per pixel of the input (LR) video stream, log")
        ax.set_ylabel("PSNR-Y, _x264 model minus clean model (dB)")
        ax.set_title(f"x{scale} {rung}: aware minus clean", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Which model for a video, by its bits per pixel\n(filled: calibration clips; hollow: test clips; "
                 "aware chosen left of the red line)", fontsize=9)
    fig.tight_layout()
    fig.savefig(OUT / "rule.png", dpi=110)


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--steps", nargs="+", default=["clips", "bpp", "score", "table"],
                    choices=["clips", "bpp", "score", "table"])
    ap.add_argument("--work", type=Path, default=Path("/tmp/vsr_default_rule"), help="calibration frames (not committed)")
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"needs {SHARED}")
    for step in args.steps:
        if step == "clips":
            make_clips(args.work)
        elif step == "bpp":
            measure_bpp(args.work, args.scales)
        elif step == "score":
            score(args.work, args.scales)
        else:
            table(args.scales)


if __name__ == "__main__":
    main()
