"""TOML tables into frozen dataclasses: the one builder behind every recipe vsr reads.

Training recipes (:mod:`vsr.train`) and experiment recipes (:mod:`vsr.compare._recipe`)
both read a TOML file with :func:`read_toml` and turn each table into its
dataclass with :func:`build_dataclass`, which checks every key against the
dataclass's fields and every value against the field's annotation
(:func:`coerce_value`). Every error is a :class:`~vsr.errors.ConfigError` that names
the file, the key, and the allowed keys or values.

This module sits at the bottom of the layering: it imports nothing from vsr
except :mod:`vsr.errors`.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from vsr.errors import ConfigError

__all__ = ["build_dataclass", "coerce_value", "flatten", "read_toml"]

T = TypeVar("T")


def read_toml(path: Path, missing: str) -> dict[str, Any]:
    """Parse a TOML file; a missing file or invalid TOML is a ConfigError naming it (``missing`` says what to do)."""
    if not path.is_file():
        raise ConfigError(f"{path}: {missing}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce_value(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (lists to tuples, ints to floats).

    Supported annotations: ``bool``, ``int``, ``float``, ``str``, ``Literal[...]``,
    ``X | None`` (and other unions, tried in order), ``tuple[X, ...]`` and fixed
    ``tuple[X, Y]``. ``where`` starts every error message (``file: section.key``).
    """
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where} = {value!r} is not allowed; allowed values: {', '.join(map(repr, allowed))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce_value(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} must be a list of {len(args)} values, got {value!r}")
        return tuple(coerce_value(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {_type_name(tp)}")  # pragma: no cover - internal


def build_dataclass(
    cls: type[T],
    raw: Any,
    *,
    file: str,
    where: str,
    allowed: Sequence[str] | None = None,
    allowed_for: str = "",
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
    required_hint: str = "",
) -> T:
    """The dataclass ``cls`` built from the TOML table ``raw`` (``[where]`` of ``file``).

    Every key must be a field of ``cls`` (or one of ``allowed``, when a table of
    some kind takes only some fields), every value must fit the field's
    annotation, and every field without a default must be given.

    Args:
        cls: a dataclass whose fields have the annotations :func:`coerce_value` reads.
        raw: the parsed table.
        file: the file it came from, first in every message.
        where: the table's dotted name (``optim``, ``data.sources.0``).
        allowed: the keys this table may hold (default: every field of ``cls``).
        allowed_for: what restricts ``allowed`` (``kind = 'reds'``), named when a
            key is a field of ``cls`` but not allowed here.
        convert: per key, a function that makes the field value out of the raw
            value instead of :func:`coerce_value` (nested tables, paths).
        required_hint: appended to the message for a missing required key.

    Raises:
        ConfigError: naming the file, the key and the allowed keys or values.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: [{where}] must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in fields]
    keys = list(allowed) if allowed is not None else names
    convert = convert or {}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in keys:
            extra = f" for {allowed_for}" if allowed_for and key in names else ""
            raise ConfigError(f"{file}: unknown key '{where}.{key}'{extra}; allowed keys in [{where}]: {', '.join(keys)}")
        if key in convert:
            kwargs[key] = convert[key](value)
        else:
            kwargs[key] = coerce_value(value, hints[key], f"{file}: {where}.{key}")
    missing = [
        f.name for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in kwargs
    ]
    if missing:
        raise ConfigError(f"{file}: [{where}] needs {', '.join(repr(k) for k in missing)}{required_hint}")
    try:
        return cls(**kwargs)
    except TypeError as e:  # pragma: no cover - every field has a default or is checked above
        raise ConfigError(f"{file}: [{where}]: {e}") from None


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as one level of dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (to compare two recipes key by key)."""
    if isinstance(tree, Mapping):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}
