"""The layering of DESIGN.md, checked on the source: who may import click, av, decord, and what."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "vsr"
MODULES = sorted(PKG.rglob("*.py"))

# Third-party modules confined to one place.
CONFINED = {"click": ("cli.py",), "av": ("io/",), "decord": ("io/",)}
# Internal layers: a module in the key may not import the listed vsr subpackages/modules.
FORBIDDEN = {
    "models/": ("vsr.io", "vsr.inference", "vsr.pipeline", "vsr.train", "vsr.cli", "vsr.data", "vsr.report"),
    "metrics.py": ("vsr.models", "vsr.io", "vsr.inference", "vsr.pipeline", "vsr.train", "vsr.cli", "vsr.report"),
    "io/": ("vsr.models", "vsr.inference", "vsr.pipeline", "vsr.train", "vsr.cli"),
    "inference.py": ("vsr.io", "vsr.pipeline", "vsr.train", "vsr.cli"),
    "errors.py": ("vsr.",),
}
# The bottom layer (atomic writes, locks, header sizes): nothing from vsr but vsr.errors.
_ALL_BUT_ERRORS = tuple(f"vsr.{p.stem if p.is_file() else p.name}" for p in PKG.iterdir()
                        if p.name not in ("errors.py", "__init__.py", "__main__.py", "py.typed", "__pycache__", "weights")
                        and (p.suffix == ".py" or p.is_dir()))
FORBIDDEN["_atomic.py"] = _ALL_BUT_ERRORS
FORBIDDEN["_imsize.py"] = _ALL_BUT_ERRORS


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel_pkg = ".".join(("vsr", *path.relative_to(PKG).parent.parts))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = rel_pkg.split(".")[: len(rel_pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names.add(mod)
            names.update(f"{mod}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_module_respects_the_layering(path: Path) -> None:
    rel = path.relative_to(PKG).as_posix()
    imported = _imports(path)
    for lib, allowed in CONFINED.items():
        uses = any(n == lib or n.startswith(f"{lib}.") for n in imported)
        assert not uses or rel.startswith(allowed), f"vsr/{rel} imports {lib}; only {allowed} may"
    for prefix, banned in FORBIDDEN.items():
        if rel.startswith(prefix):
            bad = sorted(n for n in imported for b in banned if n == b or n.startswith(b if b.endswith(".") else f"{b}."))
            assert not bad, f"vsr/{rel} imports {bad}, which sit above it in the layering"
