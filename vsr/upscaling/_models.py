"""The models of an upscale run: :class:`Upscalers` loads each model factor's :class:`vsr.Upscaler` once.

Kept apart from :mod:`vsr.upscaling._settings`, which is plain data: this is where a run's
:class:`~vsr.InferenceSettings` meet torch, the model files and the memory guard.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from vsr._core import dist_env, rank_device
from vsr.inference import Upscaler, choose_model_scale, fit_in_memory
from vsr.models import bundled_weights, default_model_name, model_scales, resolve_model_source, rung_of, variant_for_input
from vsr.upscaling._settings import InferenceSettings

__all__ = ["Upscalers"]

log = logging.getLogger(__name__)


class Upscalers:
    """The :class:`vsr.Upscaler` of each model factor a run needs, built from ``settings`` on first use.

    A fixed ``scale`` needs one; a target size may need another factor for each
    input size. With no model named, or a rung of the ladder (``fast``,
    ``default``), the bundled model also depends on the input: a video coded
    with few bits per pixel gets the rung's compression-aware variant
    (:func:`vsr.models.variant_for_input`). Each model is built once and shared by every file of a folder. Under
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
        self._built: dict[tuple[int, str], Upscaler] = {}

    def follows_input(self) -> bool:
        """Whether the bundled model depends on the input: no model named, or a rung name (not a file of that name)."""
        model = self.settings.model
        if model is None:
            return True
        return (isinstance(model, str) and rung_of(model) is not None and model not in bundled_weights()
                and not Path(model).expanduser().exists())

    def source(self, scale: int, bits_per_pixel: float | None = None, jpeg_quality: int | None = None) -> nn.Module | str:
        """The model for factor ``scale`` on an input of ``bits_per_pixel`` (a lossily coded video's; else ``None``)
        or ``jpeg_quality`` (a JPEG image's, :func:`vsr.io.jpeg_quality`; else ``None``).

        The module, a file path (an official model fetched), or a bundled name.
        """
        model = self.settings.model
        if isinstance(model, nn.Module):
            return model
        if self.follows_input():
            name = default_model_name(scale) if model is None else resolve_model_source(model, scale)
            return variant_for_input(name, bits_per_pixel, jpeg_quality)
        assert model is not None
        return resolve_model_source(model, scale, progress=self.progress)

    def get(self, scale: int, bits_per_pixel: float | None = None, jpeg_quality: int | None = None) -> Upscaler:
        """The Upscaler for model factor ``scale`` and an input so coded (:meth:`source`; loads the model the first time)."""
        source = self.source(scale, bits_per_pixel, jpeg_quality)
        key = (scale, "" if isinstance(source, nn.Module) else source)
        if key not in self._built:
            s = self.settings
            self._built[key] = Upscaler(
                source, scale=scale, device=self._device, precision=s.precision, batch_size=s.batch_size,
                tile=s.tile, self_ensemble=s.self_ensemble, target=s.target, compile=s.compile,
                runtime=s.runtime,
            )
        return self._built[key]

    def variant_note(self, scale: int, bits_per_pixel: float | None, jpeg_quality: int | None = None) -> str:
        """What the input changed: ``"model X for compressed video (B bits per pixel, under T; ...)"`` (or ``"model X
        for a JPEG of quality Q (at most T; ...)"``) when it picked the compression-aware variant at ``scale`` (T: the
        variant's ``below_bpp`` or ``max_jpeg_quality``), else ``""``."""
        if (bits_per_pixel is None and jpeg_quality is None) or not self.follows_input():
            return ""
        chosen, plain = self.source(scale, bits_per_pixel, jpeg_quality), self.source(scale)
        if chosen == plain:
            return ""
        w = bundled_weights()[str(chosen)]
        keep = f"--model {plain} keeps the clean one"
        if bits_per_pixel is not None:
            return (f"model {chosen} for compressed video ({bits_per_pixel:.3f} bits per pixel, under {w.below_bpp:g}; "
                    f"{keep})")
        return f"model {chosen} for a JPEG of quality {jpeg_quality} (at most {w.max_jpeg_quality}; {keep})"

    @property
    def read_batch(self) -> int:
        """Frames per decoded batch: the batch size, or, when the plan chooses it, the largest it tries (4)."""
        return self.settings.batch_size or 4

    def for_size(self, width: int, height: int, *, what: str = "the input", bits_per_pixel: float | None = None,
                 jpeg_quality: int | None = None) -> Upscaler:
        """The Upscaler for an input of ``width`` x ``height`` (the factor may depend on it with a target).

        ``bits_per_pixel`` is the input video's (:attr:`vsr.io.VideoInfo.bits_per_pixel`; ``None`` for an image): with
        no model named it may pick the compression-aware model, which is then logged with the reason; so may a JPEG
        image's ``jpeg_quality`` (:func:`vsr.io.jpeg_quality`).

        Raises:
            OutOfMemoryError: frames of that size cannot fit in the memory available for the tile asked
                for (the message names the flags that would), or for any tile.
        """
        s = self.settings
        scales = model_scales(s.model) if isinstance(s.model, nn.Module) else ()
        scale = choose_model_scale(s.scale, s.target, width, height, scales, what=what)
        upscaler = self.get(scale, bits_per_pixel, jpeg_quality)
        note = self.variant_note(scale, bits_per_pixel, jpeg_quality)
        if note:
            log.info("%s: %s", what, note)
        # Decided here, before decoding: on a CPU, running out of memory is a kill, not an exception.
        return fit_in_memory(upscaler, width, height, what=what, adapt=s.tile is None)

    def preload(self) -> None:
        """Load the model now when its factor is fixed, so that a bad model fails before the first file."""
        if self.settings.scale is not None:
            self.get(self.settings.scale)
