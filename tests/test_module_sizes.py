"""Size limits of ARCHITECTURE.md, checked on the source: modules up to about 500 lines, functions up to about 80.

A module or function may go beyond only with a stated reason, listed here; a limit that is exceeded
without one fails the suite, and so does a reason whose module or function has since become small.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "vsr"
MODULES = sorted(PKG.rglob("*.py"))
MODULE_LINES = 500
FUNCTION_LINES = 80

# "path" or "path:function" -> why it is longer than the limit.
REASONS: dict[str, str] = {}


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno is not None]


def _rel(path: Path) -> str:
    return path.relative_to(PKG).as_posix()


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_module_and_its_functions_are_small(path: Path) -> None:
    rel = _rel(path)
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MODULE_LINES or rel in REASONS, f"vsr/{rel} has {lines} lines (limit {MODULE_LINES}); split it"
    long = [f"{name} ({n} lines)" for name, n in _functions(path) if n > FUNCTION_LINES and f"{rel}:{name}" not in REASONS]
    assert not long, f"vsr/{rel}: functions over {FUNCTION_LINES} lines: {', '.join(long)}"


def _stale(reasons: dict[str, str], root: Path) -> list[str]:
    """The keys of ``reasons`` whose module (under ``root``) or function is gone or back within its limit."""
    stale = []
    for key in reasons:
        rel, _, func = key.partition(":")
        path = root / rel
        if not path.is_file():
            stale.append(key)
        elif not func and len(path.read_text(encoding="utf-8").splitlines()) <= MODULE_LINES:
            stale.append(key)
        elif func and all(n <= FUNCTION_LINES for name, n in _functions(path) if name == func):
            stale.append(key)
    return stale


def test_every_reason_is_still_needed(tmp_path: Path) -> None:
    # First on a made-up package, so that this test fails if the check does, even while REASONS is empty.
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (tmp_path / "big.py").write_text("\n".join(f"A{i} = {i}" for i in range(MODULE_LINES + 1)) + "\n", encoding="utf-8")
    (tmp_path / "small.py").write_text(f"def long():\n{body}\n\n\ndef short():\n    return 1\n", encoding="utf-8")
    made_up = dict.fromkeys(["big.py", "small.py:long", "small.py", "small.py:short", "small.py:gone", "gone.py"], "why")
    assert _stale(made_up, tmp_path) == ["small.py", "small.py:short", "small.py:gone", "gone.py"]

    stale = _stale(REASONS, PKG)
    assert not stale, f"reasons for limits no longer exceeded: {stale}"
