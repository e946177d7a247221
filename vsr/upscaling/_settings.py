"""The frozen settings of an upscale run: plain data, no torch.

:func:`vsr.upscale` and its two engines (one process: :mod:`vsr.upscaling._single_process`;
segments, resume, torchrun: :mod:`vsr.upscaling._segmented`) take the same four settings
objects, so every option has one name, one default and one docstring:

* :class:`InferenceSettings`: the model, the factor or target size, and how it runs;
* :class:`EncodeSettings`: how the output video is encoded;
* :class:`DecodeSettings`: which part of the input is read, how, and what damage is tolerated;
* :class:`SegmentSettings`: how a segmented run splits its work and resumes.

The models a run needs are loaded from :class:`InferenceSettings` by
:class:`vsr.upscaling._models.Upscalers`. :func:`split_settings` sorts keyword arguments (``scale=2, crf=20``) into the
settings objects, for the keyword forms :func:`vsr.upscale_video` and
:func:`vsr.upscale_segmented`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from vsr.errors import UnsupportedError
from vsr.io import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vsr._core import Precision
    from vsr.inference import OutputSize
    from vsr.io import Backend

__all__ = ["DecodeSettings", "EncodeSettings", "InferenceSettings", "SegmentSettings", "split_settings"]


@dataclass(frozen=True)
class InferenceSettings:
    """The model, the size of the result, and how the model runs.

    Args:
        model: a module, a bundled or official model name (``edsr``, fetched on first
            use) or a checkpoint path; ``None`` uses the bundled default for the factor, or, for a
            video coded with few bits per pixel, its compression-aware variant
            (:func:`vsr.models.variant_for_input`; the rungs ``fast`` and ``default`` do the same).
        scale: the factor the model runs at (2, 3 or 4, what the model supports);
            ``None`` with a ``target`` picks, per input, the smallest one that reaches it.
        target: an exact output size or fractional scale (:class:`vsr.OutputSize`); the
            model output is reduced to it with an area filter, frame by frame.
        device, precision, batch_size, tile, self_ensemble, compile, runtime: see :class:`vsr.Upscaler`; ``batch_size``,
            ``tile``, ``compile`` and ``runtime`` left ``None`` are the execution plan's choice (measured on the first
            frames of a long video, then cached: :meth:`vsr.Upscaler.prepare`).

    Raises:
        UnsupportedError: neither ``scale`` nor ``target`` is given.
    """

    model: nn.Module | str | os.PathLike[str] | None = None
    scale: int | None = None
    target: OutputSize | None = None
    device: str | torch.device | None = None
    precision: Precision | str = "auto"
    batch_size: int | None = None
    tile: int | None = None
    self_ensemble: bool = False
    compile: bool | None = None
    runtime: str | None = None

    def __post_init__(self) -> None:
        if self.scale is None and self.target is None:
            raise UnsupportedError("give a scale or a target size")

    @property
    def tag(self) -> str:
        """The suffix of default output names: ``x2``, or the target's (``1920x1080``, ``w1280``, ``x1.5`` ...)."""
        return self.target.tag if self.target is not None else f"x{self.scale}"


@dataclass(frozen=True)
class EncodeSettings:
    """How the output video is encoded (see :class:`vsr.io.VideoWriter`).

    Args:
        codec: the video encoder; ``None``: libx264 (libvpx-vp9 for ``.webm``).
        crf: constant quality, lower is better (default 18 for libx264).
        preset: the encoder's speed preset (default medium for x264/x265).
        pix_fmt: output pixel format, e.g. ``yuv420p10le`` for 10 bits.
        encoder_options: further FFmpeg encoder options (the settings keep a copy).

    The container follows the output's extension; audio, subtitles and other
    streams are always copied from the source.
    """

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str = "yuv420p"
    encoder_options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A copy of its own: the caller's dict may change later; the settings must not.
        object.__setattr__(self, "encoder_options", dict(self.encoder_options or {}))


@dataclass(frozen=True)
class DecodeSettings:
    """Which part of the input is read, how, and what damage is tolerated.

    Args:
        decoder: ``auto``, ``decord`` or ``pyav`` (see :class:`vsr.io.VideoReader`).
        start, duration: the part of each video to upscale, in seconds (``None``: all).
        max_pixels: refuse frames larger than this (width x height) before decoding any.
        strict: fail, with nothing written, when frames the input indexes could not be
            decoded (or, with PyAV, decoded with errors), instead of writing those that could.
    """

    decoder: Backend = "auto"
    start: float | None = None
    duration: float | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    strict: bool = False


@dataclass(frozen=True)
class SegmentSettings:
    """How a segmented run (resumable; spread over processes under torchrun) splits its work.

    Args:
        segment_frames: frames per segment (moved to a nearby keyframe); ``None``:
            about a quarter of each process's share, at most 1000, or, with
            ``resume``, what the interrupted run used.
        resume: reuse the finished segments of an interrupted run with the same
            settings; without it, such a leftover folder is an error.
        keep_segments: keep the segment folder (manifest, records, segment files) after joining.

    Raises:
        UnsupportedError: ``segment_frames`` below 1.
    """

    segment_frames: int | None = None
    resume: bool = False
    keep_segments: bool = False

    def __post_init__(self) -> None:
        if self.segment_frames is not None and self.segment_frames < 1:
            raise UnsupportedError(f"segment_frames must be >= 1, got {self.segment_frames}")


def split_settings(
    caller: str, options: Mapping[str, Any], *, segments: bool = False
) -> tuple[InferenceSettings, EncodeSettings, DecodeSettings, SegmentSettings]:
    """Sort keyword ``options`` by field name into the settings objects; SegmentSettings' only with ``segments``.

    Raises:
        TypeError: an option that is no field of those settings, as for any unknown keyword of ``caller``.
    """
    kinds = (InferenceSettings, EncodeSettings, DecodeSettings, SegmentSettings)
    names = [{f.name for f in fields(kind)} for kind in kinds]
    known = set().union(*(names if segments else names[:3]))
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    inference, encode, decode, segment = (kind(**{k: v for k, v in options.items() if k in keys}) for kind, keys in zip(kinds, names))
    return inference, encode, decode, segment
