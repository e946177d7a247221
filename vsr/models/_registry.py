"""The architecture presets: a literal table of builders, their shapes and their parameter counts.

``MODELS`` maps a preset name to its builder; :func:`get_model` builds an
untrained preset and :func:`build_model` rebuilds a model from the ``.config``
dict stored in its checkpoint. ``PRESET_PARAMETERS`` holds each preset's
parameter count per scale as literal numbers, so listing the presets
(``vsr models``) builds nothing; ``tests/test_models.py`` builds every preset
once and checks the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from vsr.errors import CheckpointError, UnsupportedError
from vsr.models._edsr import EDSR, edsr, edsr_baseline, edsr_fast, edsr_medium
from vsr.models._mdsr import MDSR, MDSR_SCALES, mdsr, mdsr_baseline
from vsr.models._presets import PRESET_PARAMETERS, PRESET_SHAPES

__all__ = ["MODELS", "PRESET_PARAMETERS", "PRESET_SHAPES", "build_model", "count_parameters", "get_model", "model_scales"]

#: Architecture presets. EDSR builders take ``scale``; MDSR builders hold x2/x3/x4.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "edsr_fast": edsr_fast,
    "edsr_medium": edsr_medium,
    "edsr_baseline": edsr_baseline,
    "edsr": edsr,
    "mdsr_baseline": mdsr_baseline,
    "mdsr": mdsr,
}

def get_model(
    name: str,
    *,
    scale: int | None = None,
    n_resblocks: int | None = None,
    n_feats: int | None = None,
    res_scale: float | None = None,
) -> nn.Module:
    """Build an untrained preset (``edsr_fast``, ``edsr_medium``, ``edsr_baseline``, ``edsr``, ``mdsr_baseline``, ``mdsr``).

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


def model_scales(model: nn.Module) -> tuple[int, ...]:
    """Scales a model can produce."""
    return tuple(getattr(model, "scales", ()))


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of parameters (trainable ones by default, as papers count them)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
