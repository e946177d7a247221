"""Command-line interface: a thin adapter over the library.

The only module that imports click. Library errors (:class:`VSRError`) become a
one-line message on stderr and exit code 1; usage errors exit 2; Ctrl-C exits
130. ``vsr --debug ...`` (or ``VSR_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from ._device import PRECISIONS
from .errors import VSRError

_DEBUG_ENV = "VSR_DEBUG"


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


class _VSRGroup(click.Group):
    """A group that turns library errors into one-line messages with the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get(_DEBUG_ENV, "") not in ("", "0")
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except VSRError as e:
            if debug:
                raise
            _fail(str(e))
        except OSError as e:
            if debug:
                raise
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            _fail(f"{where}{e.strerror or e}")
        except Exception as e:  # noqa: BLE001 - last line of defence: no traceback without --debug
            if debug:
                raise
            _fail(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback and please report it)")


@click.group(cls=_VSRGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="vsr")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """vsr: video super-resolution with EDSR/MDSR."""


@cli.command("models")
def models_cmd() -> None:
    """List architecture presets and bundled weights."""
    from .models import MODELS, bundled_weights, count_parameters, get_model

    click.echo("Architecture presets (untrained; pass a checkpoint with --model):")
    for name in MODELS:
        if name.startswith("mdsr"):
            n = count_parameters(get_model(name))
            click.echo(f"  {name:<15} x2/x3/x4   {n / 1e6:6.2f}M params")
        else:
            counts = ", ".join(f"x{s} {count_parameters(get_model(name, scale=s)) / 1e6:.2f}M" for s in (2, 3, 4))
            click.echo(f"  {name:<15} {counts} params")
    weights = bundled_weights()
    click.echo("Bundled weights:" if weights else "Bundled weights: none installed")
    for w in weights.values():
        scales = "/".join(f"x{s}" for s in w.config["scales"])
        default = f"  default for {'/'.join(f'x{s}' for s in w.default_for)}" if w.default_for else ""
        set5 = w.metrics.get("Set5", {})
        psnr = "  Set5 " + ", ".join(f"x{k}: {v['psnr']:.2f} dB" for k, v in sorted(set5.items())) if set5 else ""
        click.echo(f"  {w.name:<28} {scales}{psnr}{default}")


_PATH_IN = click.Path(exists=True, path_type=Path)


@cli.command("upscale")
@click.argument("input_path", metavar="INPUT", type=_PATH_IN)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output path (default: <stem>_x<scale><ext> beside INPUT).")
@click.option("-s", "--scale", type=click.IntRange(2, 4), required=True, help="Upscaling factor: 2, 3 or 4.")
@click.option("-m", "--model", "model_src", help="Bundled model name or checkpoint file (default: the bundled model for the scale).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True, help="Inference precision.")
@click.option("--tile", type=click.IntRange(min=16), default=None, help="LR tile side for large frames (default: whole frames).")
@click.option("--self-ensemble", is_flag=True, help="Average the 8 flips/transposes (8x slower, slightly better).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def upscale_cmd(
    input_path: Path,
    output: Path | None,
    scale: int,
    model_src: str | None,
    device: str,
    precision: str,
    tile: int | None,
    self_ensemble: bool,
    overwrite: bool,
) -> None:
    """Upscale an image with EDSR/MDSR."""
    from .images import is_image_path, upscale_image
    from .inference import Upscaler
    from .models import default_model_name

    if input_path.is_dir() or not is_image_path(input_path):
        raise click.BadParameter(f"{input_path}: not an image (PNG, JPEG, BMP, TIFF, WebP)", param_hint="INPUT")
    dst = output or input_path.with_name(f"{input_path.stem}_x{scale}{input_path.suffix}")
    up = Upscaler(model_src or default_model_name(scale), scale=scale, device=device, precision=precision,
                  tile=tile, self_ensemble=self_ensemble)
    out = upscale_image(input_path, dst, up, overwrite=overwrite)
    click.echo(f"{input_path} -> {out} (x{scale}, {up.device}, {up.precision})")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``vsr``)."""
    cli.main(args=argv, prog_name="vsr")
