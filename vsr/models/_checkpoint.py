"""Reading and writing weights: official EDSR-PyTorch files, vsr checkpoints, bundled weights.

Files are always read through :func:`vsr._core._files.load_torch_file`
(``torch.load(..., weights_only=True)``): a pickle that carries code is refused
before anything in it runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr._core import atomic_torch_save, load_torch_file
from vsr.errors import CheckpointError, InputNotFoundError, UnsupportedError

__all__ = [
    "read_state_dict",
    "infer_config",
    "describe_config",
    "check_state_dict",
    "save_model",
    "load_partial_state_dict",
    "UPSAMPLER_PREFIXES",
    "VSR_FORMAT",
]

#: Marker of checkpoints written by :func:`save_model`.
VSR_FORMAT = "vsr-model"

_WRAPPER_KEYS = ("state_dict", "model", "params_ema", "params", "net", "generator")


def _torch_load(path: Path) -> Any:
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such checkpoint file; check the path or run `vsr models` for bundled names")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file (for a training run use `vsr export RUN_DIR`)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty (0 bytes); re-download or re-export it")
    return load_torch_file(path)


def _unwrap(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None, dict[str, Any]]:
    """Return (state_dict, vsr config or None, meta) from any supported layout."""
    config: dict[str, Any] | None = None
    meta: dict[str, Any] = {}
    if isinstance(obj, Mapping) and obj.get("format") == VSR_FORMAT:
        config = dict(obj["config"])
        meta = dict(obj.get("meta") or {})
        obj = obj["state_dict"]
    else:
        for _ in range(3):  # nested wrappers such as {"model": {"state_dict": ...}}
            if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
                for key in _WRAPPER_KEYS:
                    if key in obj and isinstance(obj[key], Mapping):
                        if key == "model" and isinstance(obj.get("config"), Mapping) and "arch" in obj["config"]:
                            config = dict(obj["config"])  # a vsr training checkpoint
                        obj = obj[key]
                        break
                else:
                    break
    if not isinstance(obj, Mapping) or not obj:
        found = type(obj).__name__
        if isinstance(obj, Mapping):
            found = f"a dict with keys {sorted(map(str, obj))[:8]}"
        raise CheckpointError(f"{path}: no model state_dict found (got {found}); expected an EDSR/MDSR state_dict")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: no tensors found; expected an EDSR/MDSR state_dict")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors, config, meta


def read_state_dict(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None, dict[str, Any]]:
    """Read a checkpoint safely; return ``(state_dict, config, meta)``.

    ``config`` is the architecture stored by vsr, or ``None`` for official files.
    """
    p = Path(path)
    return _unwrap(_torch_load(p), p)


def _upsampler_scale(sd: Mapping[str, torch.Tensor], prefix: str, n_feats: int, path: Path) -> int:
    """Scale of the Upsampler whose convs are ``prefix.0``, ``prefix.2`` ..."""
    steps = []
    i = 0
    while f"{prefix}.{i}.weight" in sd:
        steps.append(sd[f"{prefix}.{i}.weight"].shape[0] // max(n_feats, 1))
        i += 2
    if steps == [9]:
        return 3
    if steps and all(s == 4 for s in steps):
        return 2 ** len(steps)
    raise CheckpointError(f"{path}: cannot infer the scale from '{prefix}.*' (output channels / n_feats = {steps})")


def infer_config(sd: Mapping[str, torch.Tensor], path: str | os.PathLike[str] = "<state_dict>") -> dict[str, Any]:
    """Infer ``{"arch", "n_resblocks", "n_feats", "res_scale", "scales"}`` from an official-layout state_dict.

    res_scale cannot be read from weights: 0.1 is assumed for 256-feature models
    (the paper's EDSR), 1.0 otherwise.
    """
    p = Path(path)
    if "head.0.weight" not in sd:
        keys = ", ".join(sorted(sd)[:6])
        raise CheckpointError(
            f"{p}: not an EDSR/MDSR state_dict (no 'head.0.weight'; first keys: {keys}); "
            "expected an official EDSR-PyTorch file or a vsr checkpoint"
        )
    n_feats = int(sd["head.0.weight"].shape[0])
    blocks = {int(k.split(".")[1]) for k in sd if k.startswith("body.") and k.split(".")[2] == "body"}
    n_resblocks = len(blocks)
    res_scale = 0.1 if n_feats >= 256 else 1.0
    if any(k.startswith("pre_process.") for k in sd):
        n_branches = len({int(k.split(".")[1]) for k in sd if k.startswith("upsample.")})
        scales = [_upsampler_scale(sd, f"upsample.{i}", n_feats, p) for i in range(n_branches)]
        return {"arch": "mdsr", "n_resblocks": n_resblocks, "n_feats": n_feats, "res_scale": res_scale, "scales": scales}
    scale = _upsampler_scale(sd, "tail.0", n_feats, p)
    return {"arch": "edsr", "n_resblocks": n_resblocks, "n_feats": n_feats, "res_scale": res_scale, "scales": [scale]}


def describe_config(config: Mapping[str, Any]) -> str:
    """Human description, e.g. ``EDSR x2, 32 blocks x 256 features (EDSR paper model)``."""
    arch = config["arch"]
    nb, nf = config["n_resblocks"], config["n_feats"]
    scales = "/".join(f"x{s}" for s in config["scales"])
    known = {
        ("edsr", 16, 64): "EDSR-baseline",
        ("edsr", 32, 256): "EDSR paper model",
        ("mdsr", 16, 64): "MDSR-baseline",
        ("mdsr", 80, 64): "MDSR paper model",
    }.get((arch, nb, nf))
    text = f"{arch.upper()} {scales}, {nb} blocks x {nf} features"
    return f"{text} ({known})" if known else text


def check_state_dict(model: nn.Module, sd: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Load ``sd`` into ``model`` strictly, turning mismatches into a readable :class:`CheckpointError`."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} shape mismatches (e.g. {k}: file {tuple(sd[k].shape)}, model {tuple(own[k].shape)})")
        raise CheckpointError(f"{path}: weights do not fit the model: {'; '.join(parts)}")
    model.load_state_dict(sd, strict=True)


#: Key prefixes of the scale-specific upsamplers: EDSR's ``tail.0`` and MDSR's ``upsample.<i>``.
UPSAMPLER_PREFIXES: tuple[str, ...] = ("tail.0.", "upsample.")


def load_partial_state_dict(
    model: nn.Module,
    sd: Mapping[str, torch.Tensor],
    *,
    skip_prefixes: tuple[str, ...] = UPSAMPLER_PREFIXES,
) -> list[str]:
    """Copy every tensor of ``sd`` whose name and shape match, except the upsampler.

    This is the tolerant path for initialising x3/x4 models from an x2 model,
    and only for that. Returns the model keys that kept their initial values.
    """
    own = model.state_dict()
    kept: list[str] = []
    with torch.no_grad():
        for k, v in own.items():
            if k.startswith(skip_prefixes) or k not in sd or tuple(sd[k].shape) != tuple(v.shape):
                kept.append(k)
                continue
            v.copy_(sd[k])
    return kept


def save_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    meta: Mapping[str, Any] | None = None,
    official: bool = False,
    half: bool = False,
) -> Path:
    """Write ``model`` atomically (temporary file + rename).

    By default the vsr format: ``{"format", "config", "state_dict", "meta"}``,
    which :func:`vsr.load_model` reads with its architecture and res_scale.
    ``official=True`` writes a bare state_dict in the official key layout that
    EDSR-PyTorch loads. ``half=True`` stores fp16 tensors (loaded back as fp32).
    """
    config = getattr(model, "config", None)
    if config is None:
        raise UnsupportedError(f"{type(model).__name__} has no .config; only vsr EDSR/MDSR models can be saved")
    sd = {k: v.detach().to("cpu", torch.float16 if half else torch.float32).contiguous() for k, v in model.state_dict().items()}
    obj: Any = sd if official else {"format": VSR_FORMAT, "version": 1, "config": dict(config), "state_dict": sd, "meta": dict(meta or {})}
    return atomic_torch_save(obj, path)
