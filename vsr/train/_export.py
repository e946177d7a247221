"""Model files in and out of a run: ``init_from`` weights, exported models and snapshots.

A run starts from another run's (or a model file's) weights with
:func:`init_from_pretrained`; its weights leave it as model files that
:func:`vsr.models.load_model` reads: :func:`export` writes the best (or latest)
checkpoint's, and ``train.snapshot_every`` keeps the weights of every multiple
of it in ``RUN_DIR/snapshots/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from vsr.errors import CheckpointError, ConfigError
from vsr.models import build_model, init_from_weights, save_model
from vsr.train._checkpoint import BEST, LATEST, checkpoint_path, load_checkpoint

__all__ = ["SNAPSHOTS", "export", "init_from_pretrained", "list_snapshots", "snapshot_path", "write_snapshot"]

#: The folder of a run that holds its snapshots.
SNAPSHOTS = "snapshots"


def init_from_pretrained(model: nn.Module, source: str | os.PathLike[str]) -> list[str]:
    """Start ``model`` from the weights of a run folder, training checkpoint or model file.

    A source trained for other scales gives every weight but the upsampler:
    this is how the paper starts x3/x4 models from the x2 model. A source of
    the same architecture and scales gives every weight (a further training
    stage). Returns the keys left at their initial values; any other weight
    that does not fit (another architecture) is an error, not silently skipped.
    A run folder gives its ``best.pt`` (its ``latest.pt`` when it has no best).
    """
    p = Path(source)
    if p.is_dir():
        p = checkpoint_path(p, BEST if (p / BEST).exists() else LATEST)
    return init_from_weights(model, p)


def snapshot_path(run_dir: str | os.PathLike[str], iteration: int) -> Path:
    """Where a run keeps its weights of ``iteration`` when ``train.snapshot_every`` is set."""
    return Path(run_dir) / SNAPSHOTS / f"iter_{iteration:07d}.pt"


def list_snapshots(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The run's snapshots as ``(iteration, model file)``, in iteration order."""
    folder = Path(run_dir) / SNAPSHOTS
    found = []
    for p in folder.glob("iter_*.pt") if folder.is_dir() else ():
        digits = p.stem.removeprefix("iter_")
        if digits.isdigit():
            found.append((int(digits), p))
    return sorted(found)


def write_snapshot(path: Path, state: dict[str, Any]) -> None:
    """A loadable model file of a checkpoint ``state`` (no optimizer state: a snapshot is for scoring, not resuming)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    net = build_model(state["config"])
    net.load_state_dict(state["model"])
    meta = {"trained_with": "vsr train", "recipe": state["recipe"], "preset": state["preset"],
            "iteration": state["iteration"], "elapsed_s": state["elapsed_s"], "train_config": state["train_config"]}
    save_model(net, path, meta=meta)


def export(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    which: Literal["best", "latest"] = "best",
    official: bool = False,
    half: bool = False,
    blend: str | os.PathLike[str] | None = None,
    blend_weight: float = 0.5,
    onto: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the run's ``best`` (or ``latest``) weights as a model file :func:`vsr.models.load_model` reads.

    ``official=True`` writes a bare state_dict in the official EDSR-PyTorch key
    layout instead; ``half=True`` stores fp16 tensors.

    ``blend`` is a model (bundled name or file) of the same architecture, typically the one the run was
    fine-tuned from: the written weights are ``blend_weight * run + (1 - blend_weight) * blend``, weight by
    weight. Interpolating a fine-tune with its starting point trades the fine-tune's gain against what the
    starting point was good at, without training (network interpolation: Wang et al., ESRGAN, 2018, and
    "Deep Network Interpolation", CVPR 2019).

    ``onto`` (with ``blend``) carries the fine-tune's change over to another model of the same architecture: the
    written weights are ``onto + blend_weight * (run - blend)``. It is for a starting point that has since been
    trained further (a newer bundled model): the fine-tune's difference from where it started (its task vector;
    Ilharco et al., "Editing Models with Task Arithmetic", ICLR 2023) is added to the newer model instead of
    fine-tuning again. Without ``onto`` this is the interpolation above (``onto`` = ``blend``).
    """
    if which not in ("best", "latest"):
        raise ConfigError(f"which = {which!r}; allowed: best, latest")
    path = checkpoint_path(run_dir, BEST if which == "best" else LATEST)
    if Path(run_dir).is_dir() and not path.exists() and which == "best":
        raise CheckpointError(f"{path}: no best checkpoint (was validation disabled?); export with which='latest'")
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["config"])
    model.load_state_dict(ckpt["model"])
    if onto is not None and blend is None:
        raise ConfigError("onto needs blend: the model the run was fine-tuned from, whose difference is carried over")
    scale = int(ckpt["config"]["scales"][0])
    blended = {} if blend is None else _blend_into(model, blend, blend_weight, scale=scale, onto=onto)
    meta = {
        "trained_with": "vsr train",
        "recipe": ckpt.get("recipe", ""),
        "preset": ckpt.get("preset", ""),
        "iteration": int(ckpt["iteration"]),
        "elapsed_s": float(ckpt.get("elapsed_s", 0.0)),
        "metrics": ckpt.get("metrics") or {},
        "train_config": ckpt.get("train_config") or {},
        **blended,
    }
    return save_model(model, out, meta=meta, official=official, half=half)


def _blend_into(model: nn.Module, other: str | os.PathLike[str], weight: float, *, scale: int,
                onto: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``model``'s weights become ``base + weight * (model - other)``, ``base`` being ``onto`` or else ``other``
    (then it is ``weight * model + (1 - weight) * other``); returns what to record in the file."""
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"blend weight = {weight} must be in 0..1 (1: the run's weights alone)")
    mine = model.state_dict()
    theirs = _same_shape_weights(other, mine, scale)
    if onto is None:  # this form, not the one below, so that re-exports of earlier blends are bit-identical
        model.load_state_dict({k: weight * mine[k].float() + (1.0 - weight) * theirs[k].float() for k in mine})
    else:
        base = _same_shape_weights(onto, mine, scale)
        model.load_state_dict({k: base[k].float() + weight * (mine[k].float() - theirs[k].float()) for k in mine})
    record: dict[str, Any] = {"with": os.fspath(other), "weight": weight}
    if onto is not None:
        record["onto"] = os.fspath(onto)
    return {"blend": record}


def _same_shape_weights(src: str | os.PathLike[str], mine: dict[str, torch.Tensor], scale: int) -> dict[str, torch.Tensor]:
    """The state_dict of model ``src`` (bundled name or file), checked against the run's keys and shapes."""
    from vsr.models import load_model

    theirs = load_model(os.fspath(src), scale=scale).state_dict()
    if set(theirs) != set(mine) or any(theirs[k].shape != mine[k].shape for k in mine):
        raise CheckpointError(f"{src}: cannot blend with the run's weights: the architecture or scale differs")
    return theirs
