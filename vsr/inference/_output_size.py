"""Output sizes other than an integer factor: a fractional scale, an exact size, or one side.

The model runs at the smallest integer factor that reaches the target (or a
given one) and its output is reduced to the exact target with an area filter
(:func:`vsr.inference._upscaler.area_resize`). This module only does the arithmetic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vsr.errors import UnsupportedError

__all__ = ["OutputSize", "MODEL_SCALES", "choose_model_scale"]

#: Factors the EDSR/MDSR presets and bundled weights provide.
MODEL_SCALES: tuple[int, ...] = (2, 3, 4)


def _even(x: float) -> int:
    """Nearest even integer (4:2:0 video needs even sides), at least 2."""
    return max(2, 2 * int(x / 2 + 0.5))


@dataclass(frozen=True)
class OutputSize:
    """A requested output size: ``scale`` (may be fractional), or ``width`` and/or ``height`` in pixels.

    With only one side given, the other follows the input's aspect ratio,
    rounded to an even number. ``model_scale`` forces the factor the model runs
    at (default: the smallest one that reaches the target).

    It is what ``target=`` of :class:`vsr.Upscaler` and :class:`vsr.InferenceSettings` takes. It was called
    ``Target`` until the name clashed with the HR ground truth of super-resolution; ``vsr.Target`` still
    works, with a deprecation warning.
    """

    scale: float | None = None
    width: int | None = None
    height: int | None = None
    model_scale: int | None = None

    def __post_init__(self) -> None:
        if self.scale is not None and (self.width is not None or self.height is not None):
            raise UnsupportedError("give either a scale or a width/height, not both")
        if self.scale is None and self.width is None and self.height is None:
            raise UnsupportedError("give a scale (--scale 1.5), a size (--size 1920x1080), --width or --height")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 1):
            raise UnsupportedError(f"scale must be a number greater than 1, got {self.scale:g}; vsr only enlarges")
        for side, v in (("width", self.width), ("height", self.height)):
            if v is not None and v <= 0:
                raise UnsupportedError(f"{side} must be a positive number of pixels, got {v}")
        if self.model_scale is not None and self.model_scale not in MODEL_SCALES:
            raise UnsupportedError(f"model scale must be one of {', '.join(map(str, MODEL_SCALES))}, got {self.model_scale}")
        if self.scale is not None and self.model_scale is None and math.ceil(self.scale - 1e-9) > max(MODEL_SCALES):
            raise UnsupportedError(
                f"no model reaches x{self.scale:g}: the largest model factor is x{max(MODEL_SCALES)}; upscale twice "
                f"(e.g. x{max(MODEL_SCALES)} then x{self.scale / max(MODEL_SCALES):.3g})"
            )

    @classmethod
    def parse_size(cls, text: str, *, model_scale: int | None = None) -> OutputSize:
        """``"1920x1080"`` (also ``1920:1080``, ``1920*1080``) as a target."""
        m = re.fullmatch(r"\s*(-?\d+)\s*[xX:*]\s*(-?\d+)\s*", text)
        if m is None:
            raise UnsupportedError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 1920x1080")
        return cls(width=int(m.group(1)), height=int(m.group(2)), model_scale=model_scale)

    @property
    def integer_scale(self) -> int | None:
        """The factor when this is a plain integer scale that a model produces directly (no resize), else None."""
        if self.scale is not None and float(self.scale).is_integer() and int(self.scale) in MODEL_SCALES:
            if self.model_scale in (None, int(self.scale)):
                return int(self.scale)
        return None

    @property
    def tag(self) -> str:
        """Output file name suffix: ``x1.5``, ``1920x1080``, ``w1920`` or ``h1080``."""
        if self.scale is not None:
            return f"x{self.scale:g}"
        if self.width is not None and self.height is not None:
            return f"{self.width}x{self.height}"
        return f"w{self.width}" if self.width is not None else f"h{self.height}"

    def size_for(self, width: int, height: int, *, what: str = "the input") -> tuple[int, int]:
        """Output ``(width, height)`` for an input of that size; refuses targets smaller than the input."""
        if self.scale is not None:
            w, h = int(width * self.scale + 0.5), int(height * self.scale + 0.5)
        elif self.width is not None and self.height is not None:
            w, h = self.width, self.height
        elif self.width is not None:
            w, h = self.width, _even(height * self.width / width)
        else:
            assert self.height is not None
            w, h = _even(width * self.height / height), self.height
        if w < width or h < height:
            raise UnsupportedError(
                f"{what}: target {w}x{h} is smaller than the input {width}x{height} in at least one side; vsr only "
                "enlarges (shrink with ffmpeg -vf scale=W:H)"
            )
        if (w, h) == (width, height):
            raise UnsupportedError(f"{what}: target {w}x{h} is the input's own size; nothing to upscale")
        return w, h

    def model_scale_for(self, width: int, height: int, scales: Sequence[int] = MODEL_SCALES, *, what: str = "the input") -> int:
        """The factor to run the model at: ``model_scale`` if set, else the smallest in ``scales`` reaching the target."""
        w, h = self.size_for(width, height, what=what)
        need = max(w / width, h / height)
        if self.model_scale is not None:
            if self.model_scale * width < w or self.model_scale * height < h:
                raise UnsupportedError(
                    f"{what}: model scale x{self.model_scale} gives {width * self.model_scale}x{height * self.model_scale}, "
                    f"smaller than the target {w}x{h}; use a model scale of at least {math.ceil(need - 1e-9)}"
                )
            if self.model_scale not in scales:
                raise UnsupportedError(f"{what}: the model has no x{self.model_scale} (available: {_list(scales)})")
            return self.model_scale
        for k in sorted(scales):
            if k * width >= w and k * height >= h:
                return k
        raise UnsupportedError(
            f"{what}: no model reaches {w}x{h} from {width}x{height} (x{need:.3g} needed; model factors: {_list(scales)}); "
            "ask for a smaller size or upscale twice"
        )


def _list(scales: Sequence[int]) -> str:
    return "/".join(f"x{s}" for s in sorted(scales))


def choose_model_scale(
    scale: int | None, target: OutputSize | None, width: int, height: int, scales: Sequence[int] = (), *, what: str = "the input"
) -> int:
    """The factor to run a model with ``scales`` (empty: any of :data:`MODEL_SCALES`) at for this input.

    ``scale`` when given (checked against ``target``), else the smallest factor
    reaching ``target``.
    """
    if target is None:
        if scale is None:
            raise UnsupportedError("give a scale or a target size")
        return scale
    if scale is not None:
        return target.model_scale_for(width, height, (scale,), what=what)
    return target.model_scale_for(width, height, tuple(scales) or MODEL_SCALES, what=what)
