"""The weights shipped in ``vsr/weights/``, described by ``manifest.json``: file, SHA-256, config, scores, recipe.

The manifest is data (each entry's file, hash, architecture, parameter count,
measured PSNR and the recipe that trained it); ``MODEL_CARD.md`` beside it tells
how the weights were made and how to reproduce them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from vsr.errors import CheckpointError

__all__ = ["BundledWeights", "WEIGHTS_DIR", "bundled_weights", "default_model_name"]

#: The folder of the bundled weights and their manifest.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class BundledWeights:
    """One entry of the bundled weights table (``vsr/weights/manifest.json``).

    ``params`` is the model's trainable parameter count, recorded so that listing
    the weights needs no model built. ``rung`` names the ladder rung the weights
    serve (``fast``; empty for the others).
    """

    name: str
    file: str
    sha256: str
    config: dict[str, Any]
    params: int
    default_for: tuple[int, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    recipe: str = ""
    description: str = ""
    rung: str = ""

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


@cache
def bundled_weights() -> dict[str, BundledWeights]:
    """The weights shipped with the package, by name."""
    manifest = WEIGHTS_DIR / "manifest.json"
    if not manifest.exists():
        return {}
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    return {
        name: BundledWeights(
            name=name,
            file=e["file"],
            sha256=e["sha256"],
            config=dict(e["config"]),
            params=int(e["params"]),
            default_for=tuple(e.get("default_for", ())),
            metrics=dict(e.get("metrics", {})),
            recipe=e.get("recipe", ""),
            description=e.get("description", ""),
            rung=e.get("rung", ""),
        )
        for name, e in raw.items()
    }


def default_model_name(scale: int) -> str:
    """Name of the bundled model used for ``scale`` when no model is given."""
    for w in bundled_weights().values():
        if scale in w.default_for:
            return w.name
    have = sorted({s for w in bundled_weights().values() for s in w.default_for})
    raise CheckpointError(
        f"no bundled default model for x{scale} (bundled defaults: {', '.join(f'x{s}' for s in have) or 'none'}); "
        "pass --model with a checkpoint file"
    )
