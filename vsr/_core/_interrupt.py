"""Ctrl-C for the ``vsr`` command: ``KeyboardInterrupt`` only where Python code can unwind it.

Python raises ``KeyboardInterrupt`` at the next bytecode the main thread runs, wherever that is. While a
command starts, that is often Python code that native code called in the middle of its own work, and
native code does not always pass the exception on:

* torch's C extension imports numpy while it initialises and takes any failure for "numpy is missing":
  an interrupt during that import is cleared, and the run goes on to the end with exit 0;
* a C++ caller (pybind11) that cannot pass the exception through its C frames ends in
  ``std::terminate`` (SIGABRT, "terminate called after throwing an instance of
  'pybind11::error_already_set' ... KeyboardInterrupt");
* the methods that ``dataclasses`` and ``namedtuple`` generate are ``exec``'d strings; on Python 3.11
  and 3.12 an interrupt that ends one marks it unhandled, so that ``python -m vsr`` kills itself with
  SIGINT at exit (exit -2) even after the command caught it and said "Interrupted.".

:func:`safe_interrupts` installs a SIGINT handler that raises at once when the main thread runs plain
Python code, and otherwise (an import is under way, or ``exec``'d code) records the signal and raises it
when the outermost import, or the call that ran the ``exec``, returns: the interrupt then surfaces in the
Python code that asked for it (``import torch`` raises ``KeyboardInterrupt``). A second Ctrl-C while the
first waits raises at once. The command line owns its process, so :func:`vsr.cli.main` installs it; the
library never changes signal handlers.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["safe_interrupts"]

#: The frame whose return raises the recorded interrupt (None: nothing recorded).
_target: FrameType | None = None


def _deferral_target(frame: FrameType | None) -> FrameType | None:
    """The frame whose return is the first safe point for an interrupt arriving in ``frame``, or None: safe now.

    Unsafe: inside an import (importlib's frames; native code may be between them and the importer, as in
    torch's import of numpy), and inside ``exec``'d or ``eval``'d string code (the caller of the ``exec`` is
    the frame to wait for). The outermost such frame wins.
    """
    target = None
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib"):
            target = frame
        elif code.co_filename == "<string>" and code.co_name == "<module>" and frame.f_back is not None:
            target = frame.f_back
        frame = frame.f_back
    return target


def _raise_on_return(frame: FrameType, event: str, arg: Any) -> None:
    """Profile function while an interrupt waits: raise it as the deferral target returns."""
    if event == "return" and frame is _target:
        _stop_waiting()
        raise KeyboardInterrupt


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _target
    if _stop_waiting():  # a second Ctrl-C while the first waits (an import that hangs?): now, as Python would
        raise KeyboardInterrupt
    target = _deferral_target(frame)
    # A profiler or debugger of the user's owns the profile hook: then raise here, as Python would.
    if target is None or sys.getprofile() is not None:
        raise KeyboardInterrupt
    _target = target
    sys.setprofile(_raise_on_return)


@contextmanager
def safe_interrupts() -> Iterator[None]:
    """Inside the block, Ctrl-C raises ``KeyboardInterrupt`` only at a point where Python can unwind it.

    Only in the main thread, and only where SIGINT has Python's default handler (an application that set
    its own keeps it). The previous handler is back after the block; an interrupt still waiting then (its
    target frame outlived the block) is raised at the block's end.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        waiting = _stop_waiting()
    if waiting:  # the block ended normally (an exception would have left it above)
        raise KeyboardInterrupt


def _stop_waiting() -> bool:
    """Forget a recorded interrupt; whether there was one."""
    global _target
    waiting, _target = _target is not None, None
    if sys.getprofile() is _raise_on_return:
        sys.setprofile(None)
    return waiting
