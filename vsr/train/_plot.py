"""The training curves of a run: loss and validation PSNR from its log, drawn by :func:`vsr._core._render.render_plot`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from vsr._core import write_bytes, render_plot
from vsr.errors import CheckpointError

__all__ = ["plot_log"]


def plot_log(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Draw training loss and validation PSNR from ``RUN_DIR/log.jsonl`` into ``curves.png`` (one PNG, two panels)."""
    run = Path(run_dir)
    log_path = run / "log.jsonl"
    if not log_path.exists():
        raise CheckpointError(f"{log_path}: no training log; is {run} a run folder made by `vsr train`?")
    rows = [json.loads(ln) for ln in log_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    tr = [r for r in rows if r.get("event") == "train"]
    va = [r for r in rows if r.get("event") == "val"]
    if not tr:
        raise CheckpointError(f"{log_path}: no training rows to plot yet")
    every = tr[1]["iteration"] - tr[0]["iteration"] if len(tr) > 1 else tr[0]["iteration"]
    panels = [
        render_plot({"L1 loss": [float(r["loss"]) for r in tr]}, title=f"{run.name}: training loss",
                    xlabel=f"log step ({every} iterations each; last = iteration {tr[-1]['iteration']})", ylabel="L1 (0..255)")
    ]
    if va:
        v_every = va[1]["iteration"] - va[0]["iteration"] if len(va) > 1 else va[0]["iteration"]
        panels.append(render_plot({"validation PSNR": [float(r["psnr"]) for r in va]}, title=f"{run.name}: validation PSNR",
                                  xlabel=f"validation ({v_every} iterations apart; last = iteration {va[-1]['iteration']})"))
    img = np.concatenate([cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in panels], axis=0)
    dest = Path(out) if out is not None else run / "curves.png"
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise CheckpointError(f"{dest}: could not encode the plot")
    # Atomic with a name of its own per writer: two runs plotting into one folder never share a temporary file.
    return write_bytes(dest, buf.tobytes())
