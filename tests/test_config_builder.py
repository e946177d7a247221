"""The one TOML-table-to-dataclass builder (vsr._core._config), under both training and experiment recipes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from vsr._core._config import build_dataclass, coerce_value, flatten, read_toml
from vsr.errors import ConfigError


@dataclass(frozen=True)
class _Table:
    name: str
    size: int = 1
    rate: float = 0.5
    mode: Literal["a", "b"] = "a"
    pair: tuple[float, float] = (0.0, 1.0)
    steps: tuple[int, ...] = ()
    limit: int | None = None
    on: bool = False


def _build(raw: object, **kw: object) -> _Table:
    return build_dataclass(_Table, raw, file="r.toml", where="t", **kw)  # type: ignore[arg-type]


def test_values_are_checked_and_converted() -> None:
    t = _build({"name": "x", "size": 3, "rate": 2, "mode": "b", "pair": [1, 2.5], "steps": [4, 5], "limit": 7, "on": True})
    assert t == _Table("x", 3, 2.0, "b", (1.0, 2.5), (4, 5), 7, True)
    assert isinstance(t.rate, float) and isinstance(t.pair, tuple)
    assert _build({"name": "y"}) == _Table("y")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": "x", "sise": 3}, r"^r\.toml: unknown key 't\.sise'; allowed keys in \[t\]: name, size, rate, mode, pair, steps, limit, on$"),
        ({"name": "x", "size": "3"}, r"^r\.toml: t\.size must be an integer, got '3'$"),
        ({"name": "x", "size": True}, r"t\.size must be an integer, got True"),
        ({"name": "x", "mode": "c"}, r"t\.mode = 'c' is not allowed; allowed values: 'a', 'b'"),
        ({"name": "x", "pair": [1]}, r"t\.pair must be a list of 2 values, got \[1\]"),
        ({"name": "x", "steps": 3}, r"t\.steps must be a list, got 3"),
        ({"name": "x", "steps": [1, "2"]}, r"t\.steps\[1\] must be an integer"),
        ({"name": "x", "on": 1}, r"t\.on must be true or false, got 1"),
        ({"size": 2}, r"^r\.toml: \[t\] needs 'name'$"),
        ([1, 2], r"^r\.toml: \[t\] must be a table, got \[1, 2\]$"),
    ],
)
def test_errors_name_the_file_the_key_and_what_is_allowed(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _build(raw)


def test_a_restricted_table_names_what_restricts_it() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 't\.rate' for kind = 'k'; allowed keys in \[t\]: name, size$"):
        _build({"name": "x", "rate": 1.0}, allowed=["name", "size"], allowed_for="kind = 'k'")
    with pytest.raises(ConfigError, match=r"unknown key 't\.other'; allowed"):  # not a field at all: no "for ..."
        _build({"name": "x", "other": 1}, allowed=["name", "size"], allowed_for="kind = 'k'")
    with pytest.raises(ConfigError, match=r"\[t\] needs 'name' \(names: a, b\)$"):
        _build({}, required_hint=" (names: a, b)")


def test_convert_replaces_the_check_for_its_key() -> None:
    t = _build({"name": "rel/x"}, convert={"name": lambda v: f"/base/{v}"})
    assert t.name == "/base/rel/x"


def test_coerce_value_tries_each_member_of_a_union() -> None:
    assert coerce_value(None, int | None, "w") is None
    assert coerce_value(3, float | None, "w") == 3.0
    with pytest.raises(ConfigError, match="w must be a number"):
        coerce_value("x", float | None, "w")


def test_read_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: make one first"):
        read_toml(tmp_path / "nope.toml", "make one first")
    (tmp_path / "bad.toml").write_text("[a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        read_toml(tmp_path / "bad.toml", "")
    (tmp_path / "ok.toml").write_text("[a]\nb = 1e-4\n", encoding="utf-8")
    assert read_toml(tmp_path / "ok.toml", "") == {"a": {"b": 1e-4}}


def test_flatten_gives_dotted_keys() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [2]}}, "e": None}) == {"a.b": 1, "a.c.d": [2], "e": None}
    assert flatten({}) == {}
