"""Command-line interface: a thin adapter over the library.

The only package that imports click. :func:`main` is the console script; the
``vsr`` group, its error boundary and its commands live in ``_group`` and the
command modules (``cli`` is imported from there on first use). Library errors
(:class:`VSRError`) become a one-line message on stderr and exit code 1; usage
errors exit 2; Ctrl-C exits 130 with one line, "Interrupted.", at any point of a
run. ``vsr --debug ...`` (or ``VSR_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from vsr._core import safe_interrupts

__all__ = ["DEBUG_ENV", "cli", "debugging", "main"]

#: ``VSR_DEBUG=1`` is ``vsr --debug``.
DEBUG_ENV = "VSR_DEBUG"


def debugging(argv: list[str] | None = None) -> bool:
    """Whether ``VSR_DEBUG`` is set, or ``--debug`` is among ``argv`` (when given)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0") or (argv is not None and "--debug" in argv)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``vsr``, ``python -m vsr``).

    Ctrl-C is raised only where Python code can unwind it (:mod:`vsr._core._interrupt`):
    never inside native code that is importing a module or calling back into
    Python, where it was lost or ended the process with SIGABRT. So that this holds
    from the start, this module imports nothing heavy: click and the commands are
    imported here, inside that protection.
    """
    with safe_interrupts():
        try:
            from vsr.cli._group import cli

            cli.main(args=argv, prog_name="vsr")
        except KeyboardInterrupt:
            if debugging(sys.argv[1:] if argv is None else argv):
                raise
            sys.stderr.write("Interrupted.\n")
            sys.exit(130)


def __getattr__(name: str) -> Any:
    if name == "cli":  # the click group, for CliRunner and embedding
        from vsr.cli._group import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
