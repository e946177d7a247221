"""The projected time of every rung of the ladder for one file, from one measured model on one frame.

``vsr upscale --preview`` times the chosen model on the preview frame. Every
other rung's time follows from that one measurement and the speed ratios that
``benchmarks/bench_ladder.py --record`` measured on this kind of CPU (small
networks use a CPU less efficiently than large ones, so FLOP ratios flatter
them); where no ratios were recorded for this CPU kind, or on a GPU, the
ratios are those of the FLOPs, and the line says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from vsr._core import cpu_kind
from vsr.errors import CheckpointError
from vsr.models import LADDER, PRESET_SHAPES, Rung, bundled_rung_name, edsr_mflop_per_pixel, recorded_speeds, rung_for_shape

__all__ = ["LadderProjection", "project_ladder"]


@dataclass(frozen=True)
class LadderProjection:
    """Model seconds for the whole file by rung name, fastest rung first; ``chosen`` is the run's rung, if any."""

    seconds: tuple[tuple[str, float], ...]
    chosen: str | None
    basis: str

    def text(self, duration: Callable[[float], str]) -> str:
        """``fast T, default T (this run), edsr (official) T [basis]``, each time ``T`` written by ``duration``."""
        parts = [f"{name} {duration(s)}" + (" (this run)" if name == self.chosen else "") for name, s in self.seconds]
        return ", ".join(parts) + f" [{self.basis}]"


def project_ladder(model: nn.Module, scale: int, device: str, frame_seconds: float, frames: int) -> LadderProjection | None:
    """Each rung's model time for ``frames`` frames, given that ``model`` took ``frame_seconds`` on one of them.

    Rungs with no bundled weights for ``scale`` are left out (they cannot be picked). ``None`` for models the
    ladder cannot be compared with (MDSR, or a model without an EDSR config).
    """
    config = getattr(model, "config", None) or {}
    if config.get("arch") != "edsr" or scale not in (2, 3, 4):
        return None
    blocks, feats = int(config["n_resblocks"]), int(config["n_feats"])
    chosen = rung_for_shape(blocks, feats)
    kind = cpu_kind() if device == "cpu" else ""
    record = recorded_speeds(kind) if kind else None
    fps = (record or {}).get("fps_model", {}).get(f"x{scale}", {})
    total = frame_seconds * frames
    rungs = [r for r in LADDER if r is chosen or _available(r, scale)]
    if chosen is not None and chosen.name in fps and all(r.name in fps for r in rungs):
        seconds = tuple((r.label, total * fps[chosen.name] / fps[r.name]) for r in rungs)
        basis = f"model time; speed ratios measured on {kind} CPUs ({record['cpu']}, {record['date']})"
    else:
        own = edsr_mflop_per_pixel(blocks, feats, scale)
        seconds = tuple((r.label, total * _mflop(r.preset, scale) / own) for r in rungs)
        where = "on a GPU" if device != "cpu" else f"for {kind} CPUs"
        basis = (f"model time scaled by FLOPs: no measured ladder speeds {where}, and the small rungs run below "
                 "their FLOP share")
    return LadderProjection(seconds, chosen.label if chosen else None, basis)


def _available(rung: Rung, scale: int) -> bool:
    """Whether ``--model rung.name`` can run at ``scale``: official models always can (they are downloaded)."""
    if not rung.bundled:
        return True
    try:
        bundled_rung_name(rung.name, scale)
    except CheckpointError:
        return False
    return True


def _mflop(preset: str, scale: int) -> float:
    _, blocks, feats = PRESET_SHAPES[preset]
    return edsr_mflop_per_pixel(blocks, feats, scale)
