"""Loading models: by bundled name, official name or file, and starting a model from another's weights.

:func:`load_model` is the one way a model file becomes a module: it reads the
file safely (:mod:`vsr.models._checkpoint`), checks its hash when it is bundled,
infers or checks its architecture, and loads the weights strictly.
:func:`init_from_weights` is the tolerant path for training only: it starts a
model from a model of another scale (everything but the upsampler).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from vsr._core import resolve_device, sha256_file
from vsr.errors import CheckpointError, UnsupportedError
from vsr.models._bundled import bundled_weights
from vsr.models._checkpoint import (
    UPSAMPLER_PREFIXES,
    check_state_dict,
    describe_config,
    infer_config,
    load_partial_state_dict,
    read_state_dict,
)
from vsr.models._ladder import bundled_rung_name, rung_of
from vsr.models._official import OFFICIAL_PRESETS, OFFICIAL_WEIGHTS, official_file, official_name
from vsr.models._registry import MODELS, PRESET_SHAPES, build_model

__all__ = ["init_from_weights", "list_models", "load_model", "resolve_model_source"]


def list_models() -> list[str]:
    """Names of the architecture presets, then of the bundled weights."""
    return [*MODELS, *bundled_weights()]


def _rung_source(src: str, scale: int | None) -> str:
    """A ladder name (``fast``, ``default``) as the bundled weights it means at ``scale``; else ``src``.

    A local file of the same name wins, as for official names.
    """
    if Path(src).expanduser().exists() or src in bundled_weights():
        return src
    if rung_of(src) is None:
        if src in MODELS and src not in OFFICIAL_PRESETS:
            raise CheckpointError(
                f"{src} is an architecture preset with no trained weights, bundled or official; train it (vsr train "
                f"with model.arch = {src!r}) and pass the exported file, or use --model fast or default"
            )
        return src
    if scale is None:
        raise CheckpointError(f"--model {src} is a rung of the ladder: it needs a scale (--scale 2, 3 or 4)")
    return bundled_rung_name(src, int(scale))


def _is_official_name(src: str) -> bool:
    return src not in bundled_weights() and (src in MODELS or src in OFFICIAL_WEIGHTS) and not Path(src).expanduser().exists()


def resolve_model_source(
    source: str | os.PathLike[str], scale: int | None = None, *, offline: bool | None = None, progress: bool = True
) -> str:
    """``source`` itself, or for an official model name the path of its cached file (fetched first if needed).

    A ladder name (``fast``, ``default``) gives the bundled weights of that rung at ``scale``.
    A local file or bundled name always wins over an official name of the same spelling.
    """
    src = _rung_source(os.fspath(source), scale)
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
    for official files. A ladder name (``fast``, ``default``) loads
    the bundled weights of that rung at ``scale``. Errors name the file and say
    what was expected and found.
    """
    src = _rung_source(os.fspath(source), scale)
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
        if arch not in PRESET_SHAPES:
            raise UnsupportedError(f"Unknown model {arch!r}. Available: {', '.join(MODELS)}")
        want = PRESET_SHAPES[arch]
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


def init_from_weights(model: nn.Module, path: str | os.PathLike[str]) -> list[str]:
    """Start ``model`` from the weights of a model file or training checkpoint; returns the keys left as they were.

    A source trained for other scales gives every weight but the upsampler:
    this is how the paper starts x3/x4 models from the x2 model. A source of
    the same architecture and scales gives every weight (a further training
    stage). Any other weight that does not fit (another architecture) is an
    error, not silently skipped.

    Raises:
        CheckpointError: the file is unreadable, or weights outside the upsampler do not fit.
    """
    p = Path(path)
    sd, config, _meta = read_state_dict(p)
    src = config if config is not None else infer_config(sd, p)
    own = getattr(model, "config", None) or {}
    same_scales = src.get("arch") == own.get("arch") and list(src.get("scales", [])) == list(own.get("scales", []))
    # An x2 upsampler's first conv has the shape of an x4 one's but not its meaning, so
    # the upsampler is copied only between models of the same scales.
    kept = load_partial_state_dict(model, sd, skip_prefixes=() if same_scales else UPSAMPLER_PREFIXES)
    misfits = [k for k in kept if not k.startswith(UPSAMPLER_PREFIXES)]
    if misfits:
        raise CheckpointError(
            f"{p}: {len(misfits)} weights outside the upsampler do not fit the model (e.g. {misfits[0]}); "
            "initialise only from a model of the same architecture (blocks, features) at another scale"
        )
    return kept
