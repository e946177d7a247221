"""Draw the training chain of the bundled EDSR-baseline weights: Set5 PSNR over all stages' iterations, per scale.

    python examples/multiscale/bundled_chain.py

Reads ``vsr/weights/manifest.json`` (each default model's ``stage1``, ``stage2``, ... records: iterations exported and
the Set5 curve validated every 500 iterations during training) and writes ``examples/multiscale/bundled/``:
``chain.csv`` (scale, stage, cumulative iteration, Set5 PSNR), ``chain_x{2,3,4}.png`` (the curves, with each stage's
start marked and DRRN's Set5 score, trained on the same 291 images, as a reference) and ``chain.md`` (each stage's
end point). Trains and scores nothing; touches no data. What one more cycle did at x2 and x4 (trained, not shipped)
is in ``bundled/x2_stage4_trial/`` and ``bundled/x4_stage4_trial/``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from vsr._core._plots import line_plot  # noqa: E402

OUT = HERE / "bundled"
VAL_EVERY = 500
# DRRN (Tai et al., CVPR 2017), trained on the same T91 + BSD200: Set5 / Set14 PSNR-Y as published.
DRRN = {2: (37.74, 33.23), 3: (34.03, 29.96), 4: (31.68, 28.21)}


def stages(entry: dict) -> list[dict]:
    """The entry's stage records in order (``stage1``, ``stage2``, ...)."""
    keys = sorted((k for k in entry if k.startswith("stage") and k[5:].isdigit()), key=lambda k: int(k[5:]))
    return [entry[k] for k in keys]


def main() -> None:
    manifest = json.loads((REPO / "vsr" / "weights" / "manifest.json").read_text(encoding="utf-8"))
    OUT.mkdir(exist_ok=True)
    rows: list[dict] = []
    md = ["# The bundled EDSR-baseline weights, stage by stage", "",
          "Made by `python examples/multiscale/bundled_chain.py` from `vsr/weights/manifest.json`. Set5 PSNR-Y (EDSR",
          "benchmark protocol, fp32) validated every 500 iterations during training; a stage's exported file is its best",
          "checkpoint on that curve (the Set5 figure is therefore also the selection criterion). The iteration axis is",
          "cumulative over the chain (each stage starts from the previous stage's export).", ""]
    for scale in (2, 3, 4):
        name = f"edsr_baseline_x{scale}_t91_bsd200"
        entry = manifest[name]
        start = 0
        xs: list[float] = []
        ys: list[float] = []
        cuts: list[tuple[float, str]] = []
        ends: list[tuple[int, float]] = []
        md += [f"## x{scale}", "", "| stage | recipe | iterations (exported) | cumulative | Set5 at the export |",
               "|---|---|---|---|---|"]
        for k, st in enumerate(stages(entry), start=1):
            curve = st.get("set5_curve") or []
            if k > 1:
                cuts.append((start, f"stage {k}"))
            # A curve is PSNRs every VAL_EVERY iterations, or explicit [iteration, psnr] pairs.
            pairs = [(p[0], p[1]) if isinstance(p, list) else (j * VAL_EVERY, p) for j, p in enumerate(curve, start=1)]
            done = int(st["iterations"])
            # Points after the exported checkpoint belong to a discarded tail: the next stage starts from the export.
            pairs = [(i, p) for i, p in pairs if i <= done]
            for i, psnr in pairs:
                it = start + i
                xs.append(it)
                ys.append(psnr)
                rows.append({"scale": scale, "stage": k, "iteration": it, "set5_psnr": psnr})
            at_done = [p for i, p in pairs if i == done]
            end_psnr = st.get("set5_export") or (at_done[0] if at_done else None)
            start += done
            if end_psnr is not None:
                ends.append((start, float(end_psnr)))
            shown = "–" if end_psnr is None else f"{end_psnr:.2f}"
            md.append(f"| {k} | `{st.get('recipe', '')}` | {done:,} | {start:,} | {shown} |")
        drrn5, drrn14 = DRRN[scale]
        md += ["", f"DRRN (same 291 images): Set5 {drrn5:.2f}, Set14 {drrn14:.2f}.", ""]
        if (OUT / f"x{scale}_stage{len(stages(entry)) + 1}_trial").is_dir():
            md += [f"The next stage was trained and not shipped: `x{scale}_stage{len(stages(entry)) + 1}_trial/`.", ""]
        png = line_plot({f"EDSR-baseline x{scale}, Set5": ys}, x=xs, separators=cuts,
                        references={f"DRRN ({drrn5:.2f})": drrn5},
                        title=f"Bundled EDSR-baseline x{scale}: Set5 over the training chain",
                        xlabel="iterations (batch 8, cumulative over stages)", ylabel="PSNR-Y (dB)")
        (OUT / f"chain_x{scale}.png").write_bytes(png)
        md += [f"![x{scale}](chain_x{scale}.png)", ""]
    with (OUT / "chain.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["scale", "stage", "iteration", "set5_psnr"])
        w.writeheader()
        w.writerows(rows)
    md += ["What one more cycle did at x2 and x4 is measured, not extrapolated: +0.10 / +0.08 dB on Set5 for 10,000",
           "more iterations, with a loss on Vid4 (the trial folders). At x2 that is about a third of the gap to DRRN, and",
           "the still-image and video scores no longer rise together."]
    (OUT / "chain.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print(f"wrote {OUT}/chain.md, chain.csv, chain_x{{2,3,4}}.png")


if __name__ == "__main__":
    main()
