"""Lazy public names for a package ``__init__`` (PEP 562): each name is imported from its module on first use.

Used by ``vsr``, ``vsr.io`` and the capability packages so that ``import vsr`` and ``vsr --help`` pay for
neither torch nor PyAV.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, names: Mapping[str, str], namespace: dict[str, Any], deprecated: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose public ``names`` map to the modules defining them.

    A name is imported once and then stored in ``namespace`` (the package's ``globals()``), so later lookups
    do not come back here. ``deprecated`` maps old names to the public names that replaced them: each use
    of an old name returns the new object with a :class:`DeprecationWarning`, and ``dir()`` leaves it out.
    """
    old_names = dict(deprecated or {})

    def __getattr__(name: str) -> Any:
        if name in old_names:
            new = old_names[name]
            warnings.warn(f"{package}.{name} is deprecated; use {package}.{new}", DeprecationWarning, stacklevel=2)
            return __getattr__(new) if new not in namespace else namespace[new]
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
