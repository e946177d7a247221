"""EDSR/MDSR models: architecture presets, bundled weights, the authors' published weights, and safe loading.

The registry is a literal dict (``MODELS``); bundled weights are data described by
``vsr/weights/manifest.json`` (file, SHA-256, scale, measured PSNR, recipe); the
authors' files (``OFFICIAL_WEIGHTS``) are fetched by name on first use and cached.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr._device import resolve_device
from vsr.errors import CheckpointError, UnsupportedError
from vsr.models._checkpoint import (
    UPSAMPLER_PREFIXES,
    check_state_dict,
    describe_config,
    infer_config,
    load_partial_state_dict,
    read_state_dict,
    save_model,
    sha256_file,
)
from vsr.models._hub import cache_dir, is_offline
from vsr.models._official import OFFICIAL_WEIGHTS, OfficialWeights, official_file, official_name, official_url
from vsr.models._edsr import EDSR, edsr, edsr_baseline
from vsr.models._mdsr import MDSR, MDSR_SCALES, mdsr, mdsr_baseline

__all__ = [
    "EDSR",
    "MDSR",
    "MODELS",
    "OFFICIAL_WEIGHTS",
    "UPSAMPLER_PREFIXES",
    "BundledWeights",
    "OfficialWeights",
    "bundled_weights",
    "build_model",
    "cache_dir",
    "count_parameters",
    "default_model_name",
    "describe_config",
    "get_model",
    "infer_config",
    "is_offline",
    "list_models",
    "load_model",
    "load_partial_state_dict",
    "model_scales",
    "official_file",
    "official_name",
    "official_url",
    "read_state_dict",
    "resolve_model_source",
    "save_model",
    "sha256_file",
]

#: Architecture presets. EDSR builders take ``scale``; MDSR builders hold x2/x3/x4.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "edsr_baseline": edsr_baseline,
    "edsr": edsr,
    "mdsr_baseline": mdsr_baseline,
    "mdsr": mdsr,
}

_PRESET_SHAPES: dict[str, tuple[str, int, int]] = {
    "edsr_baseline": ("edsr", 16, 64),
    "edsr": ("edsr", 32, 256),
    "mdsr_baseline": ("mdsr", 16, 64),
    "mdsr": ("mdsr", 80, 64),
}

_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def get_model(
    name: str,
    *,
    scale: int | None = None,
    n_resblocks: int | None = None,
    n_feats: int | None = None,
    res_scale: float | None = None,
) -> nn.Module:
    """Build an untrained preset (``edsr_baseline``, ``edsr``, ``mdsr_baseline``, ``mdsr``).

    ``scale`` is required for EDSR presets (default 2) and, for MDSR, must be one
    of its branches (2, 3, 4). Architecture fields override the preset.
    """
    if name not in MODELS:
        raise UnsupportedError(f"Unknown model {name!r}. Available: {', '.join(MODELS)}")
    overrides = {k: v for k, v in (("n_resblocks", n_resblocks), ("n_feats", n_feats), ("res_scale", res_scale)) if v is not None}
    if name.startswith("mdsr"):
        if scale is not None and scale not in MDSR_SCALES:
            raise UnsupportedError(f"{name} has branches for x2, x3, x4; x{scale} is not supported")
        return MODELS[name](**overrides)
    return MODELS[name](scale=2 if scale is None else int(scale), **overrides)


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a model from its ``.config`` dict (as stored in vsr checkpoints)."""
    try:
        arch = config["arch"]
        kw = {"n_resblocks": int(config["n_resblocks"]), "n_feats": int(config["n_feats"]), "res_scale": float(config["res_scale"])}
        scales = tuple(int(s) for s in config["scales"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"invalid model config {dict(config)!r}: {e}") from None
    if arch == "edsr":
        if len(scales) != 1:
            raise CheckpointError(f"an EDSR config has one scale, got {list(scales)}")
        return EDSR(scale=scales[0], **kw)
    if arch == "mdsr":
        return MDSR(scales=scales, **kw)
    raise CheckpointError(f"unknown architecture {arch!r} in model config; expected 'edsr' or 'mdsr'")


def list_models() -> list[str]:
    """Names of the architecture presets, then of the bundled weights."""
    return [*MODELS, *bundled_weights()]


def model_scales(model: nn.Module) -> tuple[int, ...]:
    """Scales a model can produce."""
    return tuple(getattr(model, "scales", ()))


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of parameters (trainable ones by default, as papers count them)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@dataclass(frozen=True)
class BundledWeights:
    """One entry of the bundled weights table (``vsr/weights/manifest.json``)."""

    name: str
    file: str
    sha256: str
    config: dict[str, Any]
    default_for: tuple[int, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    recipe: str = ""
    description: str = ""

    @property
    def path(self) -> Path:
        return _WEIGHTS_DIR / self.file


@cache
def bundled_weights() -> dict[str, BundledWeights]:
    """The weights shipped with the package, by name."""
    manifest = _WEIGHTS_DIR / "manifest.json"
    if not manifest.exists():
        return {}
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    return {
        name: BundledWeights(
            name=name,
            file=e["file"],
            sha256=e["sha256"],
            config=dict(e["config"]),
            default_for=tuple(e.get("default_for", ())),
            metrics=dict(e.get("metrics", {})),
            recipe=e.get("recipe", ""),
            description=e.get("description", ""),
        )
        for name, e in raw.items()
    }


def default_model_name(scale: int) -> str:
    """Name of the bundled model used for ``scale`` when no model is given."""
    for w in bundled_weights().values():
        if scale in w.default_for:
            return w.name
    have = sorted({s for w in bundled_weights().values() for s in w.default_for})
    raise CheckpointError(
        f"no bundled default model for x{scale} (bundled defaults: {', '.join(f'x{s}' for s in have) or 'none'}); "
        "pass --model with a checkpoint file"
    )


def _is_official_name(src: str) -> bool:
    return src not in bundled_weights() and (src in MODELS or src in OFFICIAL_WEIGHTS) and not Path(src).expanduser().exists()


def resolve_model_source(
    source: str | os.PathLike[str], scale: int | None = None, *, offline: bool | None = None, progress: bool = True
) -> str:
    """``source`` itself, or for an official model name the path of its cached file (fetched first if needed).

    A local file or bundled name always wins over an official name of the same spelling.
    """
    src = os.fspath(source)
    if not _is_official_name(src):
        return src
    return os.fspath(official_file(src, scale, progress=progress, offline=offline))


def load_model(
    source: str | os.PathLike[str],
    *,
    scale: int | None = None,
    device: str | torch.device | None = "cpu",
    arch: str | None = None,
    res_scale: float | None = None,
    offline: bool | None = None,
    progress: bool = True,
) -> nn.Module:
    """Load a model in eval mode from a bundled name, an official model name, an official EDSR-PyTorch file, or a vsr checkpoint.

    Official names are the presets (``edsr``, ``edsr_baseline``, ``mdsr``,
    ``mdsr_baseline``, with ``scale``) or the file names of
    :data:`OFFICIAL_WEIGHTS` (``edsr_x2``): the authors' file is downloaded on
    first use (``progress`` bar; never when ``offline``, which defaults to
    ``VSR_OFFLINE``) and cached. The architecture is inferred from the file (EDSR
    vs MDSR, blocks, features, scales). ``scale`` checks the model can produce
    it; ``arch`` (a preset name) checks the file holds that preset;
    ``res_scale`` overrides the inferred one (0.1 for 256-feature EDSR, else 1.0)
    for official files. Errors name the file and say what was expected and found.
    """
    src = os.fspath(source)
    if _is_official_name(src):
        full = official_name(src, scale)
        path = official_file(full, progress=progress, offline=offline)
        return load_model(path, scale=scale, device=device, arch=arch or OFFICIAL_WEIGHTS[full].preset, res_scale=res_scale)
    bundled = bundled_weights().get(src)
    if bundled is not None:
        path = bundled.path
        digest = sha256_file(path) if path.exists() else ""
        if digest != bundled.sha256:
            raise CheckpointError(
                f"{path}: bundled weights '{src}' are missing or corrupt (SHA-256 {digest[:12] or 'n/a'}, "
                f"expected {bundled.sha256[:12]}); reinstall vsr"
            )
    else:
        path = Path(src).expanduser()
    sd, config, _meta = read_state_dict(path)
    inferred = infer_config(sd, path)
    if config is None:
        config = inferred
        if res_scale is not None:
            config["res_scale"] = float(res_scale)
    else:
        shape_of = (inferred["arch"], inferred["n_resblocks"], inferred["n_feats"], inferred["scales"])
        if shape_of != (config["arch"], config["n_resblocks"], config["n_feats"], list(config["scales"])):
            raise CheckpointError(f"{path}: stored config {describe_config(config)} disagrees with its weights ({describe_config(inferred)})")
    if arch is not None:
        if arch not in _PRESET_SHAPES:
            raise UnsupportedError(f"Unknown model {arch!r}. Available: {', '.join(MODELS)}")
        want = _PRESET_SHAPES[arch]
        if (config["arch"], config["n_resblocks"], config["n_feats"]) != want:
            raise CheckpointError(
                f"{path}: checkpoint has {describe_config(config)}; you asked for {arch} "
                f"({want[0].upper()}, {want[1]} blocks x {want[2]} features)"
            )
    if scale is not None and int(scale) not in config["scales"]:
        raise CheckpointError(
            f"{path}: checkpoint holds {describe_config(config)}; it cannot upscale x{scale} "
            f"(available: {', '.join(f'x{s}' for s in config['scales'])})"
        )
    model = build_model(config)
    check_state_dict(model, sd, path)
    return model.eval().to(resolve_device(device))
