"""Exceptions raised by vsr.

Every error is a :class:`VSRError` and also the matching built-in exception
(the PyAV convention), so ``except ValueError`` keeps working for callers who
do not know about vsr.
"""

from __future__ import annotations

import builtins

__all__ = [
    "VSRError",
    "CheckpointError",
    "InvalidInputError",
    "InputNotFoundError",
    "UnsupportedError",
    "ConfigError",
    "DatasetError",
    "OutputExistsError",
    "EncodeError",
    "DownloadError",
    "OutOfMemoryError",
    "RankFailedError",
]


class VSRError(Exception):
    """Base class of every error vsr raises on purpose."""


class CheckpointError(VSRError, builtins.ValueError):
    """A weights file is unreadable, unsafe, or does not match the requested model."""


class InvalidInputError(VSRError, builtins.ValueError):
    """An input file or array cannot be used (corrupt, empty, wrong shape or type)."""


class InputNotFoundError(VSRError, builtins.FileNotFoundError):
    """An input path does not exist."""


class UnsupportedError(VSRError, builtins.ValueError):
    """A requested option (scale, codec, precision, device ...) is not supported."""


class ConfigError(VSRError, builtins.ValueError):
    """A pipeline (TOML) file or a ``--set`` override is invalid."""


class DatasetError(VSRError, builtins.ValueError):
    """A dataset folder is missing, empty, or not in the expected layout."""


class OutputExistsError(VSRError, builtins.FileExistsError):
    """The destination exists and overwriting was not requested."""


class EncodeError(VSRError, builtins.RuntimeError):
    """Encoding or muxing the output failed."""


class DownloadError(VSRError, builtins.OSError):
    """Published weights could not be fetched or verified (network, HTTP, hash, disk, offline mode)."""


class OutOfMemoryError(VSRError, builtins.MemoryError):
    """The device ran out of memory even with the smallest tile; names the device and what to try instead."""


class RankFailedError(VSRError, builtins.RuntimeError):
    """Another process of a torchrun job failed, or contact with it was lost."""
