"""Running a model on frames: the :class:`Upscaler` (tensors in, tensors out) and how it runs.

- ``_upscaler``: :class:`Upscaler`: device, precision, batching, tiling with an out-of-memory fallback,
  self-ensemble, and an output size other than the model's factor;
- ``_output_size``: :class:`OutputSize` (a fractional scale, a size or one side) and the model factor that reaches it;
- ``_memory``: whether frames fit in memory for a batch and tile, before anything is decoded;
- ``_plans``: execution plans (:class:`ExecutionPlan`), their cache, the candidates and the :class:`Tuner`;
- ``_autotune``: the plan search that :meth:`Upscaler.prepare` runs, through the upscaler's plan interface;
- ``_compiled``, ``_int8``, ``_openvino``: the torch.compile, int8 and OpenVINO runtimes, each falling back to eager
  with one line.

Names are imported on first use (PEP 562): ``vsr --help`` imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr._core import lazy_attributes

_LAZY: dict[str, str] = {
    "fit_in_memory": "vsr.inference._memory",
    "plan_fits": "vsr.inference._memory",
    "choose_model_scale": "vsr.inference._output_size",
    "MODEL_SCALES": "vsr.inference._output_size",
    "OutputSize": "vsr.inference._output_size",
    "area_resize": "vsr.inference._upscaler",
    "quantize": "vsr.inference._upscaler",
    "receptive_margin": "vsr.inference._upscaler",
    "Upscaler": "vsr.inference._upscaler",
}

if TYPE_CHECKING:
    from vsr.inference._memory import fit_in_memory as fit_in_memory, plan_fits as plan_fits
    from vsr.inference._output_size import (
        choose_model_scale as choose_model_scale,
        MODEL_SCALES as MODEL_SCALES,
        OutputSize as OutputSize,
    )
    from vsr.inference._upscaler import (
        area_resize as area_resize,
        quantize as quantize,
        receptive_margin as receptive_margin,
        Upscaler as Upscaler,
    )


__getattr__, __dir__ = lazy_attributes("vsr.inference", _LAZY, globals())

__all__ = [
    "area_resize",
    "choose_model_scale",
    "fit_in_memory",
    "MODEL_SCALES",
    "OutputSize",
    "plan_fits",
    "quantize",
    "receptive_margin",
    "Upscaler",
]
