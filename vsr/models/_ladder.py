"""The speed/quality ladder: model sizes a user picks by name (``--model fast``), fastest first.

Each rung is an architecture preset. The bundled rungs resolve, per scale, to the
bundled weights whose manifest entry names that rung; ``default`` is the bundled
default model of the scale; ``edsr`` is the authors' published EDSR (downloaded on
request), the top of the ladder. Listing the ladder imports no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from vsr.errors import CheckpointError
from vsr.models._bundled import WEIGHTS_DIR, bundled_weights, default_model_name
from vsr.models._presets import PRESET_SHAPES

__all__ = ["LADDER", "Rung", "bundled_rung_name", "edsr_mflop_per_pixel", "recorded_speeds", "rung_of", "rung_for_shape"]

#: Frames per second of every rung, measured by ``benchmarks/bench_ladder.py --record``, by CPU kind.
SPEEDS_FILE = WEIGHTS_DIR / "ladder_speed.json"


@dataclass(frozen=True)
class Rung:
    """One rung: the name ``--model`` takes, the preset it runs, and whether its weights are bundled."""

    name: str
    preset: str
    bundled: bool = True

    @property
    def label(self) -> str:
        return self.name if self.bundled else f"{self.name} (official)"


#: Fastest first. ``default`` is the model used when no ``--model`` is given. (The ``edsr_medium`` preset is no rung;
#: the model card says why.)
LADDER: tuple[Rung, ...] = (
    Rung("fast", "edsr_fast"),
    Rung("default", "edsr_baseline"),
    Rung("edsr", "edsr", bundled=False),
)

#: Names that pick a bundled rung: the rung names, and the presets that have no official weights (the preset
#: names ``edsr_baseline`` and ``edsr`` mean the authors' files).
_ALIASES: dict[str, str] = {
    **{r.name: r.name for r in LADDER if r.bundled},
    **{r.preset: r.name for r in LADDER if r.bundled and r.preset not in ("edsr_baseline", "edsr")},
}


def rung_of(name: str) -> Rung | None:
    """The bundled rung ``name`` picks (``fast``, ``default``, ``edsr_fast``), else ``None``."""
    rung = _ALIASES.get(name)
    return next(r for r in LADDER if r.name == rung) if rung else None


def bundled_rung_name(name: str, scale: int) -> str:
    """The bundled weights' name for rung ``name`` at ``scale``.

    Raises:
        CheckpointError: ``name`` is no bundled rung, or it has no weights for ``scale`` (the message lists the
            scales it has and the other rungs that have ``scale``).
    """
    rung = rung_of(name)
    if rung is None:
        raise CheckpointError(f"{name!r} is not a rung of the ladder; use one of {', '.join(_ALIASES)}")
    if rung.name == "default":
        return default_model_name(scale)  # its own error names the scales that have a default
    found = _weights_at(rung, scale)
    if found is not None:
        return found
    have = sorted({s for w in bundled_weights().values() if w.rung == rung.name for s in w.config["scales"]})
    others = [r.name for r in LADDER if r.bundled and r is not rung and _weights_at(r, scale) is not None]
    raise CheckpointError(
        f"no bundled {rung.name} model for x{scale} (it has {', '.join(f'x{s}' for s in have) or 'no scale'}); "
        f"use --model {' or '.join(others) or 'with a checkpoint file'}"
    )


def _weights_at(rung: Rung, scale: int) -> str | None:
    """The bundled weights of ``rung`` at ``scale``, or ``None``."""
    if rung.name == "default":
        try:
            return default_model_name(scale)
        except CheckpointError:
            return None
    return next((w.name for w in bundled_weights().values() if w.rung == rung.name and scale in w.config["scales"]),
                None)


def rung_for_shape(n_resblocks: int, n_feats: int) -> Rung | None:
    """The rung whose preset has this EDSR body (a fine-tuned copy of a rung runs at the rung's speed)."""
    return next((r for r in LADDER if PRESET_SHAPES[r.preset][1:] == (n_resblocks, n_feats)), None)


def edsr_mflop_per_pixel(n_resblocks: int, n_feats: int, scale: int) -> float:
    """MFLOP (2 per multiply-add) of one EDSR forward per input pixel: its 3x3 convolutions, bias and ReLU left out.

    Head (3 -> F), body (2 per block, and one after them, F -> F), upsampler (F -> 4F once at x2, F -> 9F at x3,
    F -> 4F at 1x and at 2x the input size at x4) and tail (F -> 3 at the output size).
    """
    f = n_feats
    upsampler = {2: 4 * f * f, 3: 9 * f * f, 4: 4 * f * f + 4 * 4 * f * f}[scale]
    macs = 9 * (3 * f + (2 * n_resblocks + 1) * f * f + upsampler + 3 * f * scale * scale)
    return 2 * macs / 1e6


@cache
def _speeds() -> dict[str, Any]:
    if not SPEEDS_FILE.is_file():
        return {}
    return dict(json.loads(SPEEDS_FILE.read_text(encoding="utf-8")))


def recorded_speeds(kind: str) -> dict[str, Any] | None:
    """What ``benchmarks/bench_ladder.py`` recorded for CPU kind ``kind`` (:data:`vsr._core.CPU_KINDS`), or ``None``.

    The record holds ``cpu`` (the model name measured), ``date``, ``size`` (the input, ``WxH``), ``precision``
    and ``fps_model`` / ``fps_e2e``: ``{"x2": {"fast": ..., "default": ..., "edsr": ..., ...}}`` (other variants too).
    """
    record = _speeds().get(kind)
    return dict(record) if record else None
