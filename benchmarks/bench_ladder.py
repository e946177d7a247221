"""The speed/quality frontier: every rung of the ladder, bicubic and the official architectures, in one run.

    python benchmarks/bench_ladder.py                          # x2, 320x180 -> 640x360, this CPU's default precision
    python benchmarks/bench_ladder.py --scale 4
    python benchmarks/bench_ladder.py --record                 # store the fps for `vsr models` and --preview
    python benchmarks/bench_ladder.py --plot benchmarks/ladder_frontier_x2.png
    python benchmarks/bench_ladder.py --from-record --plot benchmarks/ladder_frontier_x2.png   # no timing
    python benchmarks/bench_ladder.py --from-record --kind avx512_bf16 --plot ...            # another CPU kind's record

For each variant it prints MFLOP per input pixel, frames/s of the model alone
(an ``Upscaler`` at the default precision, batch 1, on decoded frames) and of
``vsr upscale`` end to end (decode, model, x264 at the default preset and crf,
mux) on a synthetic clip, the speed-up over EDSR-baseline (``default``), the
Set5 and Vid4 PSNR-Y of the bundled weights (from ``vsr/weights/manifest.json``,
measured by ``bench_weights.py``) and their share of the default model's gain
over bicubic. Bicubic end to end is decoding, OpenCV's bicubic resize and the
same encoder: its time per frame over a rung's is the share of that rung's run
which decoding and encoding alone would take. Random weights for speed (it
does not depend on them); the official architectures' PSNR is the authors'
published figure where they published one.

``--record`` writes this CPU kind's fps into ``vsr/weights/ladder_speed.json``,
which ``vsr models`` lists and ``vsr upscale --preview`` scales its projections by;
``--from-record`` times nothing and prints the table and plot of those recorded
speeds next to the manifest's current PSNR (after new weights were bundled).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from bench_upscale import make_clip  # noqa: E402

from vsr import upscale_video  # noqa: E402
from vsr._core import CPU_KINDS, cpu_info, cpu_kind  # noqa: E402
from vsr._core._malloc import keep_freed_memory  # noqa: E402
from vsr._core._plots import frontier_plot  # noqa: E402
from vsr.inference._upscaler import Upscaler  # noqa: E402
from vsr.io import VideoReader, VideoWriter  # noqa: E402
from vsr.errors import CheckpointError  # noqa: E402
from vsr.models import LADDER, OFFICIAL_WEIGHTS, bundled_rung_name, bundled_weights, get_model  # noqa: E402
from vsr.models import PRESET_PARAMETERS, PRESET_SHAPES, edsr_mflop_per_pixel, recorded_speeds  # noqa: E402
from vsr.models._ladder import SPEEDS_FILE  # noqa: E402

#: Variants beyond the ladder, by record key: (label, preset). The other official architectures (their weights are the
#: authors', downloaded on request; random weights here), and the edsr_medium preset, which is no rung (not bundled).
EXTRA = {"medium": ("edsr_medium (no rung)", "edsr_medium"),
         "mdsr_baseline": ("mdsr_baseline (official)", "mdsr_baseline"),
         "mdsr": ("mdsr (official)", "mdsr")}


def psnr_of(rung: str, scale: int) -> dict[str, float]:
    """Set5/Vid4 PSNR-Y of the bundled weights of ``rung`` (``default`` included), and bicubic's, from the manifest."""
    try:
        metrics = bundled_weights()[bundled_rung_name(rung, scale)].metrics
    except CheckpointError:  # no weights of this rung at this scale
        metrics = {}
    out: dict[str, float] = {}
    for ds in ("Set5", "Vid4"):
        row = metrics.get(ds, {}).get(str(scale), {})
        if "psnr" in row:
            out[ds] = row["psnr"]
            out[f"{ds} bicubic"] = row["bicubic_psnr"]
    return out


def model_fps(model: torch.nn.Module, scale: int, frames: np.ndarray, budget: float) -> tuple[float, str]:
    """Frames per second of an Upscaler at the default precision, batch 1: the best of two timed passes."""
    up = Upscaler(copy.deepcopy(model), scale=scale, device="cpu", precision="auto", batch_size=1)
    t0 = time.perf_counter()
    up(frames[:1])  # set-up and the first, slower call
    first = time.perf_counter() - t0
    n = int(max(2, min(len(frames), budget / max(first, 1e-3))))
    best = 0.0
    for _ in range(2):
        t0 = time.perf_counter()
        for i in range(n):
            up(frames[i : i + 1])
        best = max(best, n / (time.perf_counter() - t0))
    return best, up.precision


def e2e_fps(model: torch.nn.Module, scale: int, src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    stats = upscale_video(src, dst, scale=scale, model=copy.deepcopy(model), overwrite=True, progress=False)
    return stats.frames / (time.perf_counter() - t0)


def bicubic_e2e_fps(src: Path, dst: Path, scale: int) -> float:
    """Decode, OpenCV bicubic, encode with vsr's writer at its defaults: the pipeline's cost without a model."""
    t0 = time.perf_counter()
    n = 0
    with VideoReader(src) as reader:
        info = reader.info
        with VideoWriter(dst, width=info.width * scale, height=info.height * scale, source=info, overwrite=True) as w:
            for batch in reader:
                for f in batch.frames:
                    w.write(cv2.resize(f, (f.shape[1] * scale, f.shape[0] * scale), interpolation=cv2.INTER_CUBIC))
                    n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=2, choices=[2, 3, 4])
    ap.add_argument("--size", default="320x180", help="input WxH")
    ap.add_argument("--budget", type=float, default=6.0, help="seconds per model-only and per end-to-end timing")
    ap.add_argument("--no-official", action="store_true", help="skip the official architectures (edsr takes minutes)")
    ap.add_argument("--record", action="store_true", help=f"write this CPU kind's fps into {SPEEDS_FILE.name}")
    ap.add_argument("--plot", type=Path, help="draw Set5 (and Vid4) PSNR against model-only fps into this PNG")
    ap.add_argument("--from-record", action="store_true",
                    help="time nothing: the table and plot of this CPU kind's recorded speeds with the current PSNR")
    ap.add_argument("--kind", default=None, help="with --from-record: another CPU kind's record (e.g. avx512_bf16)")
    args = ap.parse_args()
    if args.from_record:
        from_record(args.scale, args.plot, args.kind)
        return
    w, h = map(int, args.size.split("x"))
    kind = cpu_kind()
    print(f"# {machine()}\n# CPU kind: {kind} ({CPU_KINDS.get(kind, 'other')}); x{args.scale}, {w}x{h} input")
    keep_freed_memory()
    tmp = Path(tempfile.mkdtemp(prefix="vsr_bench_ladder_"))
    torch.manual_seed(0)

    variants = [(r.label, r.name, r.preset) for r in LADDER if r.bundled or not args.no_official]
    variants += [(label, key, preset) for key, (label, preset) in EXTRA.items()
                 if not args.no_official or key == "medium"]
    clip_frames = 96
    src = make_clip(tmp / "clip.mp4", clip_frames, w, h)
    with VideoReader(src) as reader:
        decoded = np.concatenate([b.frames for b in reader])
    clips: dict[int, Path] = {clip_frames: src}

    rows = []
    for label, key, preset in variants:
        model = get_model(preset, scale=args.scale).eval()
        fps_m, precision = model_fps(model, args.scale, decoded, args.budget)
        n = int(min(clip_frames, max(3, round(4 * args.budget * fps_m))))
        if n not in clips:
            clips[n] = make_clip(tmp / f"clip{n}.mp4", n, w, h)
        fps_e = e2e_fps(model, args.scale, clips[n], tmp / "out.mp4")
        rows.append(row(label, key, preset, args.scale, fps_m, fps_e, precision))
        print(f"# {label}: {fps_m:.2f} fps model only, {fps_e:.2f} fps end to end ({n} frames)", flush=True)
    fps_bi = bicubic_e2e_fps(src, tmp / "bicubic.mp4", args.scale)
    if args.record:
        record(rows, fps_bi, args.scale, w, h)
    report(rows, fps_bi, args.scale, args.plot, f"{w}x{h}", kind)


def row(label: str, key: str, preset: str, scale: int, fps_m: float, fps_e: float, precision: str) -> dict[str, Any]:
    """One variant's line: its size, its speeds, and the PSNR of its bundled (or published) weights."""
    arch, blocks, feats = PRESET_SHAPES[preset]
    mflop = edsr_mflop_per_pixel(blocks, feats, scale) if arch == "edsr" else float("nan")
    quality: dict[str, float] = psnr_of(key, scale) if key in ("fast", "default") else {}
    if preset == "edsr":
        published = OFFICIAL_WEIGHTS[f"edsr_x{scale}"].published.get("Set5", {}).get(scale)
        quality = {"Set5": published, "published": 1.0} if published else {}
    return dict(label=label, key=key, params=PRESET_PARAMETERS[preset][scale], mflop=mflop, fps_model=fps_m,
                fps_e2e=fps_e, precision=precision, **quality)


def record(rows: list[dict[str, Any]], fps_bi: float, scale: int, w: int, h: int) -> None:
    """This CPU kind's fps of every variant into SPEEDS_FILE (other kinds and scales are kept)."""
    data = json.loads(SPEEDS_FILE.read_text(encoding="utf-8")) if SPEEDS_FILE.is_file() else {}
    entry = data.setdefault(cpu_kind(), {})
    # A kernel limit (ONEDNN_MAX_CPU_ISA=AVX2 on an AVX-512 CPU) stands in for another CPU kind: say so.
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA")
    entry.update(cpu=cpu_info()[0] + (f" with ONEDNN_MAX_CPU_ISA={limit}" if limit else ""),
                 date=datetime.date.today().isoformat(), size=f"{w}x{h}", precision=rows[0]["precision"],
                 threads=torch.get_num_threads())
    # Merged into what was recorded: a run with --no-official refreshes the rungs and keeps the official figures.
    entry.setdefault("fps_model", {}).setdefault(f"x{scale}", {}).update(
        {r["key"]: round(r["fps_model"], 3) for r in rows})
    entry.setdefault("fps_e2e", {}).setdefault(f"x{scale}", {}).update(
        {**{r["key"]: round(r["fps_e2e"], 3) for r in rows}, "bicubic": round(fps_bi, 3)})
    SPEEDS_FILE.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"# recorded in {SPEEDS_FILE}")


def from_record(scale: int, plot: Path | None, kind: str | None = None) -> None:
    """The table and plot of a CPU kind's recorded speeds (default: this CPU's), with the manifest's current PSNR:
    no timing."""
    kind = kind or cpu_kind()
    rec = recorded_speeds(kind)
    if not rec or f"x{scale}" not in rec.get("fps_model", {}):
        sys.exit(f"no x{scale} speeds recorded for {kind} CPUs in {SPEEDS_FILE}; run without --from-record")
    print(f"# recorded {rec['date']} on {rec['cpu']} ({kind}), {rec['threads']} threads, {rec['precision']}")
    labels = {r.name: (r.label, r.preset) for r in LADDER} | EXTRA
    fps_m, fps_e = rec["fps_model"][f"x{scale}"], rec["fps_e2e"][f"x{scale}"]
    rows = [row(labels[k][0], k, labels[k][1], scale, fps_m[k], fps_e[k], rec["precision"]) for k in labels if k in fps_m]
    report(rows, fps_e["bicubic"], scale, plot, rec["size"], kind, cpu=rec["cpu"], threads=rec["threads"])


def report(rows: list[dict[str, Any]], fps_bi: float, scale: int, plot: Path | None, size: str, kind: str, *,
           cpu: str | None = None, threads: int | None = None) -> None:
    """The frontier table (ratios to the default rung, share of its gain over bicubic) and, with ``plot``, the PNGs."""
    cpu = cpu or cpu_info()[0]
    threads = threads or torch.get_num_threads()
    base = next(r for r in rows if r["key"] == "default")
    gain = {ds: base.get(ds, float("nan")) - base.get(f"{ds} bicubic", float("nan")) for ds in ("Set5", "Vid4")}
    print(f"\n{'variant':<22} {'params':>8} {'MFLOP/px':>9} {'fps model':>10} {'x default':>9} {'fps e2e':>8} "
          f"{'x default':>9} {'codec share':>11} {'Set5':>7} {'Vid4':>7} {'gain kept Set5/Vid4':>20}")
    for r in rows:
        share = (1 / fps_bi) / (1 / r["fps_e2e"])
        kept = "/".join(f"{(r[ds] - base[f'{ds} bicubic']) / gain[ds]:.0%}" if ds in r and f"{ds} bicubic" in base
                        and "published" not in r else "-" for ds in ("Set5", "Vid4"))
        set5 = f"{r['Set5']:.2f}" + ("*" if "published" in r else "") if "Set5" in r else "-"
        vid4 = f"{r['Vid4']:.2f}" if "Vid4" in r else "-"
        mflop = "-" if r["mflop"] != r["mflop"] else f"{r['mflop']:.3f}"  # NaN: MDSR, not counted
        print(f"{r['label']:<22} {r['params'] / 1e6:7.2f}M {mflop:>9} {r['fps_model']:10.2f} "
              f"{r['fps_model'] / base['fps_model']:8.2f}x {r['fps_e2e']:8.2f} {r['fps_e2e'] / base['fps_e2e']:8.2f}x "
              f"{share:11.0%} {set5:>7} {vid4:>7} {kept:>20}")
    bic = [f"{base[f'{ds} bicubic']:.2f}" if f"{ds} bicubic" in base else "-" for ds in ("Set5", "Vid4")]
    print(f"{'bicubic':<22} {'-':>8} {'-':>9} {'-':>10} {'':>9} {fps_bi:8.2f} {fps_bi / base['fps_e2e']:8.2f}x "
          f"{'100%':>11} {bic[0]:>7} {bic[1]:>7}")
    print(f"# precision {rows[0]['precision']}, batch 1; codec share = bicubic end to end (decode + resize + x264) "
          "time per frame / the variant's; * published by the authors, not measured")

    if plot:
        for ds, path in (("Set5", plot), ("Vid4", plot.with_name(f"{plot.stem}_vid4.png"))):
            points = {r["label"]: (r["fps_model"], r[ds]) for r in rows if ds in r}
            if not points:
                continue
            refs = {"bicubic": base[f"{ds} bicubic"]} if f"{ds} bicubic" in base else {}
            path.write_bytes(frontier_plot(
                points, title=f"{ds} x{scale}: PSNR-Y against speed",
                xlabel=f"frames per second, model only, {size} input, log scale\n"
                       f"{cpu} ({kind}), {rows[0]['precision']}, {threads} threads",
                ylabel="PSNR-Y (dB)",
                hollow=[r["label"] for r in rows if "published" in r], references=refs))
            print(f"# plot: {path}")


if __name__ == "__main__":
    main()
