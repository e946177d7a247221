"""The training curves of a run: loss and validation PSNR from its log against iterations, drawn by :mod:`vsr._core._plots`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from vsr._core import line_plot, write_bytes
from vsr.errors import CheckpointError

__all__ = ["plot_log"]


def plot_log(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Draw training loss and validation PSNR from ``RUN_DIR/log.jsonl`` into ``curves.png`` (one PNG, two panels).

    Both panels share the x axis: the training iteration, from 0 to the last one logged.
    """
    run = Path(run_dir)
    log_path = run / "log.jsonl"
    if not log_path.exists():
        raise CheckpointError(f"{log_path}: no training log; is {run} a run folder made by `vsr train`?")
    rows = [json.loads(ln) for ln in log_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    tr = [r for r in rows if r.get("event") == "train"]
    va = [r for r in rows if r.get("event") == "val"]
    if not tr:
        raise CheckpointError(f"{log_path}: no training rows to plot yet")
    last = max(int(r["iteration"]) for r in tr + va)
    xlim = (0.0, last * 1.02 or 1.0)
    panels = [
        line_plot({"L1 loss": [float(r["loss"]) for r in tr]}, x=[int(r["iteration"]) for r in tr], xlim=xlim,
                  title=f"{run.name}: training loss (mean over each logging window)", xlabel="training iteration",
                  ylabel="L1 (0..255)")
    ]
    if va:
        panels.append(line_plot({"validation PSNR": [float(r["psnr"]) for r in va]}, x=[int(r["iteration"]) for r in va],
                                xlim=xlim, title=f"{run.name}: validation PSNR", xlabel="training iteration",
                                ylabel="PSNR (dB)"))
    img = np.concatenate([cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in panels], axis=0)
    dest = Path(out) if out is not None else run / "curves.png"
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise CheckpointError(f"{dest}: could not encode the plot")
    # Atomic with a name of its own per writer: two runs plotting into one folder never share a temporary file.
    return write_bytes(dest, buf.tobytes())
