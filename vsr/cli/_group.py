"""The ``vsr`` click group and its error boundary.

Each command lives in its own module: ``_upscale`` (upscale), ``_measure`` (eval,
psnr, compare, experiment), ``_train`` (train, export), ``_models`` (models), with
the option types they share in ``_options``. Library errors (:class:`VSRError`)
become a one-line message on stderr and exit code 1; usage errors exit 2; Ctrl-C
exits 130. ``vsr --debug ...`` (or ``VSR_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from vsr import __version__
from vsr._core import keep_freed_memory
from vsr.cli import debugging
from vsr.cli._measure import compare_cmd, eval_cmd, experiment_cmd, psnr_cmd
from vsr.cli._models import models_cmd
from vsr.cli._train import export_cmd, train_cmd
from vsr.cli._upscale import upscale_cmd
from vsr.errors import VSRError

__all__ = ["cli"]


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _interrupted() -> NoReturn:
    click.echo("Interrupted.", err=True)
    sys.exit(130)


class _VSRGroup(click.Group):
    """A group that turns library errors into one-line messages with the right exit code.

    Ctrl-C too: click's own handling ("Aborted!", exit 1) never sees it.
    """

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:  # while the arguments are parsed
            if debugging(args):
                raise
            _interrupted()

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or debugging()
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            if debug:
                raise
            _interrupted()
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
@click.option("-v", "--verbose", is_flag=True, help="Show informational messages and FFmpeg's and OpenCV's own log lines.")
def cli(debug: bool, verbose: bool) -> None:
    """vsr: video super-resolution with EDSR/MDSR."""
    from vsr.io import set_opencv_logging

    verbose = verbose or debug or debugging()
    if verbose:
        import logging

        from vsr.io import set_ffmpeg_logging

        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        set_ffmpeg_logging(True)
    set_opencv_logging(verbose)  # OpenCV's own lines (a truncated PNG's "input buffer is incomplete"), like FFmpeg's
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

