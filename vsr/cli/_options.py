"""Option types and choices that several commands share; they import no heavy library, so `--help` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = [
    "DEGRADATION_HELP",
    "PATH_IN",
    "PRECISIONS",
    "PROTOCOLS",
    "VIDEO_DECODERS",
    "Scale",
    "Seconds",
    "degradation_spec",
    "degradation_specs",
    "key_values",
]

PATH_IN = click.Path(exists=True, path_type=Path)


# Choices repeated from the library so that `vsr --help` imports neither torch nor av; tests/test_cli_startup.py
# checks that they match vsr.io.BACKENDS, vsr._core._device.PRECISIONS, vsr.metrics.PROTOCOLS and vsr.data.DEGRADATIONS.
VIDEO_DECODERS = ("auto", "decord", "pyav")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
PROTOCOLS = ("edsr-benchmark", "div2k", "video", "vimeo90k-t")


class Seconds(click.ParamType):
    """A time as seconds (``12.5``) or ``[HH:]MM:SS[.ms]``."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            parts = [float(p) for p in str(value).split(":")]
        except ValueError:
            self.fail(f"{value!r} is not a time; use seconds (12.5) or [HH:]MM:SS[.ms]", param, ctx)
        if len(parts) > 3 or any(p < 0 for p in parts):
            self.fail(f"{value!r} is not a time; use seconds (12.5) or [HH:]MM:SS[.ms]", param, ctx)
        seconds = 0.0
        for p in parts:
            seconds = seconds * 60 + p
        return seconds


class Scale(click.ParamType):
    """An upscaling factor: 2, 3, 4 or a fractional one such as 1.5."""

    name = "FACTOR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            factor = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number; use e.g. 2, 3, 4 or 1.5", param, ctx)
        if not factor > 1 or factor != factor or factor == float("inf"):
            self.fail(f"{value!r} must be greater than 1; vsr only enlarges", param, ctx)
        return factor


def key_values(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """Callback: repeated ``KEY=VALUE`` options as a dict."""
    out: dict[str, str] = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {v!r}")
        out[key] = val
    return out


DEGRADATION_HELP = ("bi (MATLAB bicubic), bd (blur-downsample, x4 only), optionally + a codec round trip of the LR, "
                     "e.g. bi+x264:crf=28, bi+x265:crf=28,preset=fast or bi+vp9:crf=40,speed=4 "
                     "(yuv420p; a clip is compressed as one stream)")


def degradation_specs(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """Callback: :func:`degradation_spec` for each of a repeated option."""
    return tuple(v for v in (degradation_spec(ctx, param, x) for x in value) if v is not None)


def degradation_spec(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a degradation spec at parse time, so a typo is a usage error naming the option."""
    if value is None:
        return None
    from vsr.data import parse_degradation
    from vsr.errors import UnsupportedError

    try:
        return parse_degradation(value).name
    except UnsupportedError as e:
        raise click.BadParameter(str(e)) from None
