"""The layering of ARCHITECTURE.md, checked on the source, so that a violation fails the suite.

Rules:
1. Tiers: bottom (primitives) <- middle (engines) <- top (applications). A module imports
   nothing from a higher tier; inside the bottom tier each unit imports only the units listed
   for it (``errors`` nothing at all).
2. Third-party confinement: ``click`` only in ``vsr/cli/``; ``av`` and ``decord`` only in ``vsr/io/``.
3. Privacy: a ``_``-prefixed module or package is imported only from inside the package that
   holds it (``vsr._core._files`` from anywhere in ``vsr``; ``vsr.models._checkpoint`` only from ``vsr.models``),
   and a ``_``-prefixed name is never imported from another module.
4. No import cycles between units.

``test_the_checker_bites`` runs the same checker on deliberately broken sources.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "vsr"
MODULES = sorted(PKG.rglob("*.py"))

BOTTOM, MIDDLE, TOP = 0, 1, 2
# unit -> (tier, the vsr units it may import; None = any unit of its tier or below)
UNITS: dict[str, tuple[int, tuple[str, ...] | None]] = {
    "errors": (BOTTOM, ()),
    "metrics": (BOTTOM, ("errors",)),
    "_core": (BOTTOM, ("errors",)),
    "io": (BOTTOM, ("errors", "_core")),
    "models": (BOTTOM, ("errors", "_core")),
    "inference": (MIDDLE, ("errors", "_core", "models")),
    "data": (MIDDLE, None),
    "upscaling": (MIDDLE, ("errors", "_core", "io", "models", "inference")),
    "evaluation": (MIDDLE, ("errors", "metrics", "_core", "io", "data", "inference")),
    "compare": (TOP, None),
    "train": (TOP, None),
    "cli": (TOP, None),
    "__init__": (TOP, None),
    "__main__": (TOP, None),
}
CONFINED = {"click": ("vsr.cli",), "av": ("vsr.io",), "decord": ("vsr.io",)}


def module_name(path: Path, root: Path = PKG) -> str:
    parts = ("vsr", *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 2 else ".".join(parts)


def unit_of(name: str) -> str:
    """``vsr.models._edsr`` -> ``models``; ``vsr._core._files`` -> ``_core``; ``vsr`` -> ``__init__``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(source: str, name: str, is_package: bool) -> set[str]:
    """Every module (and ``module.attribute``) that ``source`` imports, relative imports resolved."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return found


def _is_module(parts: list[str]) -> bool:
    rel = Path(*parts[1:])
    return (PKG / rel).with_suffix(".py").is_file() or (PKG / rel / "__init__.py").is_file()


def violations(name: str, imported: Iterable[str]) -> list[str]:
    """The rules ``name`` breaks by importing ``imported``; empty when it keeps them all."""
    out: list[str] = []
    unit = unit_of(name)
    if unit not in UNITS:
        return [f"{name}: unit {unit!r} has no tier; add it to UNITS and ARCHITECTURE.md"]
    tier, allowed = UNITS[unit]
    for imp in sorted(set(imported)):
        top = imp.split(".")[0]
        for lib, homes in CONFINED.items():
            if top == lib and not any(name == h or name.startswith(h + ".") for h in homes):
                out.append(f"{name} imports {lib}; only {', '.join(homes)} may")
        if top != "vsr" or imp == "vsr":
            continue
        target = unit_of(imp)
        if target not in UNITS:
            continue  # `from vsr import X`-style attribute of the package: judged by the module it names
        if target != unit:
            t_tier, _ = UNITS[target]
            if t_tier > tier:
                out.append(f"{name} imports {imp}, which sits in a higher tier")
            elif allowed is not None and target not in allowed:
                out.append(f"{name} imports {imp}; {unit} may import only {', '.join(allowed) or 'nothing from vsr'}")
        parts = imp.split(".")
        if parts[-1].startswith("_") and not parts[-1].startswith("__") and not _is_module(parts):
            out.append(f"{name} imports {imp}: a private name of another module; make it public there or move it")
        for i in range(1, len(parts)):
            if parts[i].startswith("_") and not parts[i].startswith("__"):
                owner = ".".join(parts[:i])
                if not (name == owner or name.startswith(owner + ".")):
                    out.append(f"{name} imports {imp}: a private module of {owner}; use {owner}'s public names")
                    break
    return out


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in MODULES:
        name = module_name(path)
        deps = {unit_of(i) for i in imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
                if i.split(".")[0] == "vsr" and i != "vsr"}
        edges.setdefault(unit_of(name), set()).update(d for d in deps if d in UNITS and d != unit_of(name))
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(edges):
        if n not in state and (c := visit(n)):
            return c
    return None


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_module_respects_the_layering(path: Path) -> None:
    name = module_name(path)
    found = imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
    broken = violations(name, found)
    assert not broken, "\n".join(broken)


def test_units_do_not_import_each_other_in_a_cycle() -> None:
    edges = _graph()
    edges.pop("__init__", None)  # the package's public surface re-exports everything below it
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle or ())


def test_every_unit_is_on_disk() -> None:
    on_disk = {unit_of(module_name(p)) for p in MODULES}
    assert set(UNITS) - on_disk == set(), "UNITS names modules that no longer exist"


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("vsr.models._edsr", "import vsr.inference._upscaler", "higher tier"),
        ("vsr.io._reader", "from vsr.models import get_model", "io may import only"),
        ("vsr.errors", "from vsr._core import write_bytes", "errors may import only nothing"),
        ("vsr.io._writer", "from vsr._core._files import AtomicFile", "private module of vsr._core"),
        ("vsr.train._loop", "from vsr.models._checkpoint import read_state_dict", "private module of vsr.models"),
        ("vsr.train._loop", "from ..data._datasets import ImageFolder", "private module of vsr.data"),
        ("vsr.upscaling._single_process", "import click", "only vsr.cli may"),
        ("vsr.compare._compare", "import av", "only vsr.io may"),
        ("vsr.upscaling._entry", "from vsr.cli import main", "higher tier"),
        ("vsr.compare._compare", "from vsr.evaluation._evaluate import _as_rgb", "private name of another module"),
    ],
)
def test_the_checker_bites(name: str, source: str, expected: str) -> None:
    found = violations(name, imports_of(source, name, False))
    assert any(expected in v for v in found), found


def test_the_cycle_check_bites() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
