"""Keeping freed memory in the process: glibc malloc settings for the ``vsr`` command.

With glibc's defaults, large tensors come from fresh ``mmap`` regions or from
a heap that is trimmed as soon as a few tens of MiB at its top are free. Every
frame allocates and frees the same activations, so the next frame pays a page
fault (and the kernel zeroes the page) for every 4 KiB of them again.
With large blocks served from the heap and no trimming, the pages stay mapped
and are reused; peak RSS grows little, as the same blocks serve every frame
(faults, speed and RSS measured: ``benchmarks/bench_malloc.py``, ``benchmarks/RESULTS.md``).

The command line owns its process, so :func:`keep_freed_memory` runs there; the
library never changes process-wide settings behind a script's back (a script
can set ``GLIBC_TUNABLES``, see :data:`TUNABLES`).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

__all__ = ["TUNABLES", "keep_freed_memory"]

log = logging.getLogger(__name__)

#: ``VSR_MALLOC=system`` leaves malloc's settings as they are.
ENV = "VSR_MALLOC"

# mallopt() parameters from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: Blocks up to this size come from the heap rather than their own mmap region.
MMAP_THRESHOLD = 1 << 30
#: Free memory kept at the heap's top before it is returned to the system
#: (mallopt takes an int: this is its largest value, 2 GiB).
TRIM_THRESHOLD = (1 << 31) - 1

#: The same settings for a process started by someone else (e.g. a script using the library).
TUNABLES = f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD}:glibc.malloc.trim_threshold={TRIM_THRESHOLD}"


def _glibc() -> bool:
    """Whether this process runs on glibc; asks the C library (platform.libc_ver scans the executable)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), or a libc that does not know the name (musl)
        return False


def _user_chose() -> str | None:
    """Why malloc's settings are the user's business here, or None."""
    if os.environ.get(ENV, "").strip().lower() == "system":
        return f"{ENV}=system"
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES sets malloc"
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
        if name in os.environ:
            return f"{name} is set"
    preload = os.environ.get("LD_PRELOAD", "")
    if any(lib in preload for lib in ("jemalloc", "tcmalloc", "mimalloc")):
        return "another malloc is preloaded"
    return None


def keep_freed_memory() -> bool:
    """Have glibc reuse freed large blocks instead of unmapping them; return whether the settings changed.

    Does nothing off glibc (macOS, Windows, musl), when the user set malloc's
    parameters (``GLIBC_TUNABLES``, ``MALLOC_*_`` variables, a preloaded
    jemalloc/tcmalloc/mimalloc) or ``VSR_MALLOC=system``.
    """
    if not sys.platform.startswith("linux") or not _glibc():
        return False
    why = _user_chose()
    if why is not None:
        log.info("malloc settings left as they are (%s)", why)
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # int mallopt(int, int): ctypes' default argument and result types
    except (OSError, AttributeError):
        return False
    # The mmap threshold first: setting the trim threshold alone switches glibc's
    # adaptive mmap threshold off at 128 KiB, which makes every tensor a fresh mmap.
    # Older glibc refuses mmap thresholds over half its 64 MiB arena heap size: take the largest it accepts.
    if not any(mallopt(_M_MMAP_THRESHOLD, size) for size in (MMAP_THRESHOLD, 32 << 20)):
        return False
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    log.info("freed memory is kept for reuse (%s=system leaves malloc alone)", ENV)
    return True
