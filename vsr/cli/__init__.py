"""Command-line interface: a thin adapter over the library.

The only package that imports click. This module holds the ``vsr`` group, its
error boundary and :func:`main` (the console script); each command lives in its
own module: ``_upscale`` (upscale), ``_measure`` (eval, psnr, compare,
experiment), ``_train`` (train, export), ``_models`` (models), with the option
types they share in ``_options``. Library errors (:class:`VSRError`) become a
one-line message on stderr and exit code 1; usage errors exit 2; Ctrl-C exits
130. ``vsr --debug ...`` (or ``VSR_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any

try:
    import click
except KeyboardInterrupt:  # Ctrl-C while the console script is still starting: the same one line as later
    sys.stderr.write("Interrupted.\n")
    sys.exit(130)

from vsr import __version__
from vsr._core import keep_freed_memory
from vsr.cli._measure import compare_cmd, eval_cmd, experiment_cmd, psnr_cmd
from vsr.cli._models import models_cmd
from vsr.cli._train import export_cmd, train_cmd
from vsr.cli._upscale import upscale_cmd
from vsr.errors import VSRError

__all__ = ["cli", "main"]

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
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors (implies --verbose).")
@click.option("-v", "--verbose", is_flag=True, help="Show informational messages and FFmpeg's own log lines.")
def cli(debug: bool, verbose: bool) -> None:
    """vsr: video super-resolution with EDSR/MDSR."""
    if verbose or debug or os.environ.get(_DEBUG_ENV, "") not in ("", "0"):
        import logging

        from vsr.io import set_ffmpeg_logging

        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        set_ffmpeg_logging(True)
    # The command owns its process: freed tensors stay mapped for the next frame (see vsr._core._malloc).
    keep_freed_memory()


# `vsr --help` lists the commands by name, whatever the order here.
cli.add_command(upscale_cmd)
cli.add_command(models_cmd)
cli.add_command(train_cmd)
cli.add_command(export_cmd)
cli.add_command(eval_cmd)
cli.add_command(psnr_cmd)
cli.add_command(compare_cmd)
cli.add_command(experiment_cmd)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``vsr``).

    The commands import torch, PyAV, decord and OpenCV when they run, so Ctrl-C
    during those imports reaches :class:`_VSRGroup` (one line, exit 130); this
    catches it in the little that happens before (parsing, ``--help``).
    """
    try:
        cli.main(args=argv, prog_name="vsr")
    except KeyboardInterrupt:
        if os.environ.get(_DEBUG_ENV, "") not in ("", "0") or "--debug" in (sys.argv[1:] if argv is None else argv):
            raise
        click.echo("Interrupted.", err=True)
        sys.exit(130)
