"""Training checkpoints: ``RUN_DIR/latest.pt`` and ``RUN_DIR/best.pt``, written atomically.

A checkpoint holds everything an exact resume needs: model config and weights,
optimizer, lr-schedule and grad-scaler state, the RNG states of torch, CUDA,
numpy and Python, the iteration count, the recipe (data config included) and
the metrics. It is written to a temporary file in the run folder, flushed and
renamed over the old one, so a crash while saving leaves the previous file.

The model part uses the keys ``model`` (state_dict) and ``config`` (the model's
``.config``), so :func:`vsr.models.load_model` also reads these files directly.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsr._core import atomic_torch_save, load_torch_file
from vsr.errors import CheckpointError, InputNotFoundError

__all__ = [
    "TRAIN_FORMAT",
    "LATEST",
    "BEST",
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_path",
    "stored_recipe",
    "capture_rng_state",
    "restore_rng_state",
]

TRAIN_FORMAT = "vsr-train"
LATEST = "latest.pt"
BEST = "best.pt"


def capture_rng_state() -> dict[str, Any]:
    """The RNG states of Python, numpy, torch (CPU) and every CUDA device."""
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write a training checkpoint atomically (``state`` as built by the training loop)."""
    return atomic_torch_save({"format": TRAIN_FORMAT, "version": 1, **state}, path)


def checkpoint_path(run_or_file: str | os.PathLike[str], which: str = LATEST) -> Path:
    """``RUN_DIR/<which>`` for a run folder, or the file itself."""
    p = Path(run_or_file)
    if p.is_dir():
        return p / which
    return p


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training checkpoint safely (:func:`vsr._core._files.load_torch_file`); errors name the file."""
    p = Path(path)
    if not p.exists():
        hint = ""
        if p.parent.is_dir():
            found = sorted(x.name for x in p.parent.glob("*.pt"))
            hint = f" (found in {p.parent}: {', '.join(found) or 'no .pt files'})"
        raise InputNotFoundError(f"{p}: no training checkpoint{hint}; is this a run folder written by `vsr train`?")
    obj = load_torch_file(p, what="training checkpoint", fix="")
    if not isinstance(obj, dict) or obj.get("format") != TRAIN_FORMAT:
        raise CheckpointError(
            f"{p}: not a vsr training checkpoint (no format={TRAIN_FORMAT!r}); "
            "model files are read with vsr.models.load_model instead"
        )
    return obj


def stored_recipe(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The recipe (as :func:`vsr.train.config_to_dict` wrote it) in ``RUN_DIR/latest.pt``; None before the first checkpoint."""
    latest = Path(run_dir) / LATEST
    if not latest.exists():
        return None
    recipe = load_checkpoint(latest).get("train_config")
    return dict(recipe) if isinstance(recipe, dict) else {}
