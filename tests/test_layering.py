"""The layering of ARCHITECTURE.md, checked on the source, so that a violation fails the suite.

A unit is a package of ``vsr`` (``_core``, ``io``, ``models``, ``inference``, ``data``, ``upscaling``,
``evaluation``, ``compare``, ``train``, ``cli``) or one of its top-level modules (``errors``, ``metrics``).

Rules:
1. Tiers: bottom (primitives) <- middle (engines) <- top (applications). A unit imports nothing
   from a higher tier, and only the units listed for it in ``UNITS`` (``errors`` nothing at all).
2. Third-party confinement: ``click`` only in ``vsr/cli/``; ``av`` and ``decord`` only in ``vsr/io/``;
   ``matplotlib`` only in ``vsr/_core/_plots.py``.
3. Privacy: a ``_``-prefixed module or package is imported only from inside the package that
   holds it (``vsr._core`` from anywhere in ``vsr``, but ``vsr._core._files`` only from ``vsr._core``;
   ``vsr.inference._plans`` only from ``vsr.inference``), and a ``_``-prefixed name is never imported
   from another module. Packages talk through the names their ``__init__`` re-exports.
4. Objects talk through public attributes: ``x._name`` (a single leading underscore) is read or
   written only on ``self``, ``cls``, ``super()`` or a name the module defines itself, never on an
   object another module made (``up._tuner``, ``self.up._openvino``, ``torch._dynamo``).
5. No import cycles between units.

``test_the_checker_bites`` and ``test_the_attribute_check_bites`` run the same checks on deliberately
broken sources.
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
    # bottom: primitives
    "errors": (BOTTOM, ()),
    "metrics": (BOTTOM, ("errors",)),
    "_core": (BOTTOM, ("errors",)),
    "io": (BOTTOM, ("errors", "_core")),
    "models": (BOTTOM, ("errors", "_core")),
    # middle: engines
    "inference": (MIDDLE, ("errors", "_core", "models")),
    "data": (MIDDLE, ("errors", "_core", "io")),
    "upscaling": (MIDDLE, ("errors", "_core", "io", "models", "inference")),
    "evaluation": (MIDDLE, ("errors", "metrics", "_core", "io", "data", "inference")),
    # top: applications
    "train": (TOP, ("errors", "metrics", "_core", "models", "inference", "data")),
    "compare": (TOP, ("errors", "metrics", "_core", "io", "models", "inference", "data", "evaluation", "train")),
    "cli": (TOP, None),
    "__init__": (TOP, None),
    "__main__": (TOP, None),
}
CONFINED = {"click": ("vsr.cli",), "av": ("vsr.io",), "decord": ("vsr.io",), "matplotlib": ("vsr._core._plots",)}


def module_name(path: Path, root: Path = PKG) -> str:
    parts = ("vsr", *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 2 else ".".join(parts)


def unit_of(name: str) -> str:
    """``vsr.models._edsr`` -> ``models``; ``vsr._core._files`` -> ``_core``; ``vsr.errors`` -> ``errors``;
    ``vsr`` -> ``__init__``."""
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


def _module_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level itself (classes, functions, assignments), not by import."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def private_attributes(name: str, source: str) -> list[str]:
    """Every ``x._name`` in ``source`` where ``x`` is not ``self``, ``cls``, ``super()`` or a name the module defines.

    Rule 4: an object's ``_`` attributes belong to the module that made it. Dunder names (``__class__``)
    are public protocol and pass.
    """
    tree = ast.parse(source)
    own = _module_names(tree) | {"self", "cls"}
    out: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id in own:
            continue
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
            continue
        out.append(f"{name}:{node.lineno}: {ast.unparse(node)} reaches into another object's private attribute; "
                   "give that object a public method or property")
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


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_module_touches_no_other_objects_private_attributes(path: Path) -> None:
    broken = private_attributes(module_name(path), path.read_text(encoding="utf-8"))
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
        ("vsr.models._edsr", "import vsr.inference", "higher tier"),
        ("vsr.io._reader", "from vsr.models import get_model", "io may import only"),
        ("vsr.errors", "from vsr._core import write_bytes", "errors may import only nothing"),
        ("vsr.inference._autotune", "from vsr.data import imresize", "inference may import only"),
        ("vsr.inference._upscaler", "from vsr.upscaling import InferenceSettings", "inference may import only"),
        ("vsr.io._writer", "from vsr._core._files import AtomicFile", "private module of vsr._core"),
        ("vsr.upscaling._entry", "from vsr.inference._upscaler import Upscaler", "private module of vsr.inference"),
        ("vsr.compare._report", "from ..evaluation._results import Summary", "private module of vsr.evaluation"),
        ("vsr.train._loop", "from vsr.models._checkpoint import read_state_dict", "private module of vsr.models"),
        ("vsr.train._loop", "from ..data._datasets import ImageFolder", "private module of vsr.data"),
        ("vsr.upscaling._single_process", "import click", "only vsr.cli may"),
        ("vsr.compare._compare", "import av", "only vsr.io may"),
        ("vsr.compare._plots", "from matplotlib.figure import Figure", "only vsr._core._plots may"),
        ("vsr._core._render", "import matplotlib", "only vsr._core._plots may"),
        ("vsr.upscaling._entry", "from vsr.cli import main", "higher tier"),
        ("vsr.evaluation._evaluate", "from vsr.compare import compare_models", "higher tier"),
        ("vsr.compare._compare", "from vsr.evaluation._evaluate import _as_rgb", "private name of another module"),
        ("vsr.compare._compare", "from vsr.evaluation import _as_rgb", "private name of another module"),
    ],
)
def test_the_checker_bites(name: str, source: str, expected: str) -> None:
    found = violations(name, imports_of(source, name, False))
    assert any(expected in v for v in found), found


def test_the_cycle_check_bites() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


# What the plan search did before it had an interface of its own (issue 28), and other ways in.
_REACHES_IN = [
    "class _Measurement:\n    def _tuner(self, plans):\n        self.up._tuner = Tuner(plans, run=self.up._upscale_frames)\n",
    "def base_done(self):\n    runner = self.up._openvino\n",
    "def decide(up):\n    up._tuner = None\n",
    "import torch\ntorch._dynamo.reset()\n",
    "from vsr.inference import _plans\nformat = _plans._FORMAT\n",
    "def first(up):\n    return [u for u in up][0]._search\n",
]


@pytest.mark.parametrize("source", _REACHES_IN)
def test_the_attribute_check_bites(source: str) -> None:
    assert private_attributes("vsr.inference._autotune", source)


def test_the_attribute_check_lets_an_object_use_its_own_privates() -> None:
    source = (
        "_CACHE = {}\n"
        "class Tuner:\n"
        "    _ROUNDS = 2\n"
        "    def __init__(self):\n        self._best = {}\n        super()._setup()\n"
        "    @classmethod\n    def make(cls):\n        return cls._ROUNDS + Tuner._ROUNDS + len(_CACHE._data)\n"
        "    def name(self, up):\n        return up.__class__.__name__ + self._best.__repr__()\n"
    )
    assert private_attributes("vsr.inference._plans", source) == []

