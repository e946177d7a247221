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

__all__ = ["BundledWeights", "WEIGHTS_DIR", "bundled_weights", "default_model_name", "variant_for_input"]

#: The folder of the bundled weights and their manifest.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class BundledWeights:
    """One entry of the bundled weights table (``vsr/weights/manifest.json``).

    ``params`` is the model's trainable parameter count, recorded so that listing
    the weights needs no model built. ``rung`` names the ladder rung the weights
    serve (``fast``; empty for the others). A compression-aware model names the
    clean model it replaces (``variant_of``) for input video under ``below_bpp``
    bits per pixel, the threshold measured by
    ``examples/compressed_video/default_rule.py``, and for JPEG images of IJG
    quality at most ``max_jpeg_quality`` (``examples/compressed_video/jpeg_images.py``;
    see :func:`variant_for_input`).
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
    variant_of: str = ""
    below_bpp: float | None = None
    max_jpeg_quality: int | None = None

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
            variant_of=e.get("variant_of", ""),
            below_bpp=float(e["below_bpp"]) if e.get("below_bpp") is not None else None,
            max_jpeg_quality=int(e["max_jpeg_quality"]) if e.get("max_jpeg_quality") is not None else None,
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


def variant_for_input(name: str, bits_per_pixel: float | None, jpeg_quality: int | None = None) -> str:
    """The bundled model to run instead of the bundled model ``name`` on an input so coded.

    That is the compression-aware variant of ``name`` when the input is a video coded with fewer bits per pixel
    than the variant's ``below_bpp``, or a JPEG image whose quality (:func:`vsr.io.jpeg_quality`) is at most the
    variant's ``max_jpeg_quality``; else ``name`` itself (always for other images: both values ``None``).
    The default model and the ladder's rungs go through this; a model the user named never does.
    """
    for w in bundled_weights().values():
        if w.variant_of != name:
            continue
        if bits_per_pixel is not None and w.below_bpp is not None and bits_per_pixel < w.below_bpp:
            return w.name
        if jpeg_quality is not None and w.max_jpeg_quality is not None and jpeg_quality <= w.max_jpeg_quality:
            return w.name
    return name
