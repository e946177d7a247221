"""The models of an upscale run: :class:`Upscalers` loads each model factor's :class:`vsr.Upscaler` once.

Kept apart from :mod:`vsr.upscaling._settings`, which is plain data: this is where a run's
:class:`~vsr.InferenceSettings` meet torch, the model files and the memory guard.
"""

from __future__ import annotations

from torch import nn

from vsr._core import dist_env, rank_device
from vsr.inference import Upscaler, choose_model_scale, fit_in_memory
from vsr.models import default_model_name, model_scales, resolve_model_source
from vsr.upscaling._settings import InferenceSettings

__all__ = ["Upscalers"]


class Upscalers:
    """The :class:`vsr.Upscaler` of each model factor a run needs, built from ``settings`` on first use.

    A fixed ``scale`` needs one; a target size may need another factor for each
    input size. Each is built once and shared by every file of a folder. Under
    torchrun, device ``auto``/``cuda`` means this process's GPU
    (:func:`vsr._core._distributed.rank_device`).

    Args:
        settings: what to build.
        progress: show a download bar when an official model is fetched.
    """

    def __init__(self, settings: InferenceSettings, *, progress: bool = True) -> None:
        self.settings = settings
        self.progress = progress
        self._device = rank_device(settings.device, dist_env())
        self._built: dict[int, Upscaler] = {}

    def source(self, scale: int) -> nn.Module | str:
        """The model for factor ``scale``: the module, a file path (an official model fetched), or a bundled name."""
        model = self.settings.model
        if model is None:
            return default_model_name(scale)
        if isinstance(model, nn.Module):
            return model
        return resolve_model_source(model, scale, progress=self.progress)

    def get(self, scale: int) -> Upscaler:
        """The Upscaler for model factor ``scale`` (loads the model the first time)."""
        if scale not in self._built:
            s = self.settings
            self._built[scale] = Upscaler(
                self.source(scale), scale=scale, device=self._device, precision=s.precision, batch_size=s.batch_size,
                tile=s.tile, self_ensemble=s.self_ensemble, target=s.target, compile=s.compile,
                runtime=s.runtime,
            )
        return self._built[scale]

    @property
    def read_batch(self) -> int:
        """Frames per decoded batch: the batch size, or, when the plan chooses it, the largest it tries (4)."""
        return self.settings.batch_size or 4

    def for_size(self, width: int, height: int, *, what: str = "the input") -> Upscaler:
        """The Upscaler for an input of ``width`` x ``height`` (the factor may depend on it with a target).

        Raises:
            OutOfMemoryError: frames of that size cannot fit in the memory available for the tile asked
                for (the message names the flags that would), or for any tile.
        """
        s = self.settings
        scales = model_scales(s.model) if isinstance(s.model, nn.Module) else ()
        upscaler = self.get(choose_model_scale(s.scale, s.target, width, height, scales, what=what))
        # Decided here, before decoding: on a CPU, running out of memory is a kill, not an exception.
        return fit_in_memory(upscaler, width, height, what=what, adapt=s.tile is None)

    def preload(self) -> None:
        """Load the model now when its factor is fixed, so that a bad model fails before the first file."""
        if self.settings.scale is not None:
            self.get(self.settings.scale)
