"""EDSR/MDSR models: architecture presets, bundled weights, the authors' published weights, and safe loading.

The public surface, by task:

- Build: :data:`MODELS` (the presets, a literal dict), :func:`get_model`,
  :func:`build_model` (from a checkpoint's ``.config``), :class:`EDSR`,
  :class:`MDSR`, :func:`model_scales`, :func:`count_parameters` and
  :data:`PRESET_PARAMETERS` (each preset's count per scale, without building it).
- Load and save: :func:`load_model` (bundled name, official name, official
  file or vsr checkpoint), :func:`resolve_model_source`, :func:`save_model`,
  :func:`init_from_weights` (start training from another scale's model),
  :func:`infer_config` and :func:`describe_config`.
- Bundled weights (``vsr/weights/manifest.json``: file, SHA-256, parameters,
  measured PSNR, recipe): :func:`bundled_weights`, :class:`BundledWeights`,
  :func:`default_model_name`, :func:`variant_for_input` (the compression-aware model for a
  heavily compressed input video), :func:`list_models`.
- The speed/quality ladder (``--model fast``, ``default``, ``edsr``):
  :data:`LADDER`, :class:`Rung`, :func:`rung_of`, :func:`bundled_rung_name`, :func:`rung_for_shape`,
  :func:`edsr_mflop_per_pixel` and :func:`recorded_speeds` (fps measured per CPU kind).
- The authors' files, fetched by name on first use and cached:
  :data:`OFFICIAL_WEIGHTS`, :class:`OfficialWeights`, :func:`official_file`,
  :func:`official_name`, :func:`official_url`, :func:`cache_dir`,
  :func:`cached_path`, :func:`is_offline` and :data:`OFFLINE_ENV` (the
  environment variable that forbids downloads).

The implementation lives in ``_``-prefixed modules: ``_edsr``/``_mdsr``/``_blocks``
(the networks), ``_registry`` (presets), ``_checkpoint`` (reading and writing
weight files), ``_loading``, ``_bundled``, ``_ladder``, ``_official`` and ``_hub`` (the download cache).

Names are imported on first use (PEP 562): listing presets, bundled weights and
official files (``vsr models``) does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr._core import lazy_attributes

_LAZY: dict[str, str] = {
    "BundledWeights": "vsr.models._bundled",
    "bundled_weights": "vsr.models._bundled",
    "default_model_name": "vsr.models._bundled",
    "variant_for_input": "vsr.models._bundled",
    "describe_config": "vsr.models._checkpoint",
    "infer_config": "vsr.models._checkpoint",
    "save_model": "vsr.models._checkpoint",
    "EDSR": "vsr.models._edsr",
    "OFFLINE_ENV": "vsr.models._hub",
    "cache_dir": "vsr.models._hub",
    "cached_path": "vsr.models._hub",
    "is_offline": "vsr.models._hub",
    "LADDER": "vsr.models._ladder",
    "Rung": "vsr.models._ladder",
    "bundled_rung_name": "vsr.models._ladder",
    "edsr_mflop_per_pixel": "vsr.models._ladder",
    "recorded_speeds": "vsr.models._ladder",
    "rung_of": "vsr.models._ladder",
    "rung_for_shape": "vsr.models._ladder",
    "PRESET_SHAPES": "vsr.models._presets",
    "init_from_weights": "vsr.models._loading",
    "list_models": "vsr.models._loading",
    "load_model": "vsr.models._loading",
    "resolve_model_source": "vsr.models._loading",
    "MDSR": "vsr.models._mdsr",
    "OFFICIAL_WEIGHTS": "vsr.models._official",
    "OfficialWeights": "vsr.models._official",
    "official_file": "vsr.models._official",
    "official_name": "vsr.models._official",
    "official_url": "vsr.models._official",
    "MODELS": "vsr.models._registry",
    "PRESET_PARAMETERS": "vsr.models._presets",
    "build_model": "vsr.models._registry",
    "count_parameters": "vsr.models._registry",
    "get_model": "vsr.models._registry",
    "model_scales": "vsr.models._registry",
}

if TYPE_CHECKING:
    from vsr.models._bundled import (
        BundledWeights as BundledWeights, bundled_weights as bundled_weights, default_model_name as default_model_name,
        variant_for_input as variant_for_input,
    )
    from vsr.models._checkpoint import (
        describe_config as describe_config, infer_config as infer_config, save_model as save_model,
    )
    from vsr.models._edsr import EDSR as EDSR
    from vsr.models._hub import (
        OFFLINE_ENV as OFFLINE_ENV, cache_dir as cache_dir, cached_path as cached_path, is_offline as is_offline,
    )
    from vsr.models._ladder import (
        LADDER as LADDER, Rung as Rung, bundled_rung_name as bundled_rung_name,
        edsr_mflop_per_pixel as edsr_mflop_per_pixel, recorded_speeds as recorded_speeds,
        rung_for_shape as rung_for_shape, rung_of as rung_of,
    )
    from vsr.models._loading import (
        init_from_weights as init_from_weights, list_models as list_models, load_model as load_model,
        resolve_model_source as resolve_model_source,
    )
    from vsr.models._mdsr import MDSR as MDSR
    from vsr.models._official import (
        OFFICIAL_WEIGHTS as OFFICIAL_WEIGHTS, OfficialWeights as OfficialWeights, official_file as official_file,
        official_name as official_name, official_url as official_url,
    )
    from vsr.models._registry import MODELS as MODELS
    from vsr.models._presets import PRESET_PARAMETERS as PRESET_PARAMETERS, PRESET_SHAPES as PRESET_SHAPES
    from vsr.models._registry import (
        build_model as build_model, count_parameters as count_parameters, get_model as get_model,
        model_scales as model_scales,
    )

__getattr__, __dir__ = lazy_attributes("vsr.models", _LAZY, globals())

__all__ = [
    "EDSR",
    "LADDER",
    "Rung",
    "bundled_rung_name",
    "edsr_mflop_per_pixel",
    "recorded_speeds",
    "rung_for_shape",
    "rung_of",
    "PRESET_SHAPES",
    "MDSR",
    "MODELS",
    "OFFICIAL_WEIGHTS",
    "OFFLINE_ENV",
    "PRESET_PARAMETERS",
    "BundledWeights",
    "OfficialWeights",
    "build_model",
    "bundled_weights",
    "cache_dir",
    "cached_path",
    "count_parameters",
    "default_model_name",
    "describe_config",
    "get_model",
    "infer_config",
    "init_from_weights",
    "is_offline",
    "list_models",
    "load_model",
    "model_scales",
    "official_file",
    "official_name",
    "official_url",
    "resolve_model_source",
    "save_model",
    "variant_for_input",
]
