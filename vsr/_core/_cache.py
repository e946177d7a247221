"""Where vsr keeps what it computes once and reuses: measured execution plans, OpenVINO models, compiled kernels.

The folder is ``$VSR_CACHE_DIR``, else ``$XDG_CACHE_HOME/vsr``, else
``~/.cache/vsr``. Everything in it is rebuilt when missing, so it is safe to
delete. This module imports nothing heavy: ``vsr models`` reports the folder
without importing torch.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "PLANS", "OPENVINO", "INDUCTOR", "CONTENTS", "cache_dir", "usage"]

#: Environment variable naming vsr's cache folder (default ``$XDG_CACHE_HOME/vsr``, i.e. ``~/.cache/vsr``).
CACHE_ENV = "VSR_CACHE_DIR"

#: The subfolders vsr writes: one per kind of content (the modules that write them take their names from here).
PLANS, OPENVINO, INDUCTOR = "plans", "openvino", "inductor"

#: What each subfolder holds, as ``vsr models`` says it.
CONTENTS = {
    PLANS: "measured execution plans",
    OPENVINO: "OpenVINO models (bounded: least recently used go first)",
    INDUCTOR: "torch.compile and int8 kernels",
}


def cache_dir() -> Path:
    """``$VSR_CACHE_DIR``, else ``$XDG_CACHE_HOME/vsr``, else ``~/.cache/vsr``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "vsr"


def usage(folder: Path | None = None) -> list[tuple[str, int, int]]:
    """``(subfolder, files, bytes)`` for each subfolder of ``folder`` (default :func:`cache_dir`), by name.

    Files that vanish or cannot be read while counting are skipped.
    """
    root = cache_dir() if folder is None else folder
    out = []
    try:
        subfolders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    for sub in subfolders:
        files = size = 0
        for dirpath, _, names in os.walk(sub):
            for name in names:
                try:
                    size += os.stat(os.path.join(dirpath, name), follow_symlinks=False).st_size
                    files += 1
                except OSError:
                    continue
        out.append((sub.name, files, size))
    return out
