"""Will a video's frames fit in memory? Checked before the first frame is decoded.

On a CPU, running out of memory does not raise: the kernel kills the process (or
the machine swaps to a halt) half-way through a long video. So before a video is
opened for upscaling, the memory the model's activations will need for the chosen
batch and tile is estimated and compared with what the machine (or its cgroup)
has available. A run that would not fit tiles (or batches) less, with a warning,
when no tile was asked for; otherwise it is refused with the size, the estimate,
the limit, and the flags that would fit.

The estimate was measured with EDSR/EDSR-baseline at x2/x3/x4 (PyTorch 2.13 CPU,
peak RSS over one forward in inference mode): about ``2.3 x F x s^2`` floats per
input pixel (F = feature width, s = scale; the upsampler's ``F x s^2`` channels
dominate), half that under bf16/fp16 autocast. ``_FLOATS_PER_FS2`` adds a margin.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Callable
from typing import Any
from pathlib import Path

import torch
from torch import nn

from vsr.inference._upscaler import Upscaler
from vsr.errors import OutOfMemoryError

__all__ = ["available_bytes", "estimate_bytes", "fit_in_memory", "plan_fits"]

log = logging.getLogger(__name__)

#: Floats of activations per LR pixel, per feature channel per s^2 (measured 2.3; margin for allocator slack).
_FLOATS_PER_FS2 = 2.6
#: Extra activation memory per pixel of a tiled forward (measured 1280x720 in 256-pixel tiles: 1.3x).
_TILED = 1.35
#: Allocator and oneDNN scratch that does not grow with the frame (measured: ~15 MB at 320x180).
_SCRATCH = 32 * 2**20
#: Share of the available memory a run may plan to use (the decoder, encoder and queues need the rest).
_USABLE = 0.8
#: Tiles suggested, largest first.
_TILES = (2048, 1536, 1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32)


def _feature_width(model: nn.Module) -> int:
    """The most common convolution width (EDSR/MDSR: ``n_feats``, the width of every body convolution)."""
    widths = Counter(int(m.out_channels) for m in model.modules() if isinstance(m, nn.Conv2d))
    return widths.most_common(1)[0][0] if widths else 64


#: ``estimate_bytes(tile=...)`` default: the upscaler's own tile (``None`` means whole frames).
_ITS_TILE: Any = object()


def estimate_bytes(upscaler: Upscaler, width: int, height: int, *, tile: int | None = _ITS_TILE, batch: int | None = None) -> int:
    """Peak memory (bytes) one batch of ``width`` x ``height`` frames adds to the loaded ``upscaler``.

    ``tile`` (``None`` = whole frames) and ``batch`` default to the upscaler's. A tiled frame needs the
    activations of one tile (with its overlap) plus the whole input and output
    frames as floats. ``benchmarks/bench_memory_estimate.py`` compares it with
    the measured peak.
    """
    tile = upscaler.tile if tile is _ITS_TILE else tile
    batch = upscaler.batch_size if batch is None else batch
    s = upscaler.scale
    tiled = tile is not None and (width > tile or height > tile)
    if tiled:
        side_w, side_h = min(width, tile) + 2 * upscaler.tile_overlap, min(height, tile) + 2 * upscaler.tile_overlap
    else:
        side_w, side_h = width, height
    elt = 4 if upscaler.precision == "fp32" else 2
    per_px = _FLOATS_PER_FS2 * _feature_width(upscaler.model) * s * s * elt
    ensemble = 2 if upscaler.self_ensemble else 1  # the running sum of the 8 passes beside one pass
    # Tiles measured up to 1.35x the per-pixel figure (tile outputs and the canvas they are pasted into).
    activations = batch * side_w * side_h * per_px * ensemble * (_TILED if tiled else 1.0)
    frames = batch * width * height * 3 * 4 * (1 + 2 * s * s)  # float input, float output, and its rounded copy
    # The weights are not counted: they are loaded before this is asked, so the memory available excludes them.
    return int(activations + frames + _SCRATCH)


def _cgroup_bytes() -> int | None:
    """What the cgroup (v2) still allows this process, if it sets a limit."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def available_bytes(device: torch.device) -> int | None:
    """Memory free for this run on ``device``: the GPU's free memory, or the host's ``MemAvailable`` (and the
    cgroup's remaining limit, whichever is lower); ``None`` when it cannot be told (then nothing is refused)."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    if device.type != "cpu":
        return None
    host = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                host = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if host is None and hasattr(os, "sysconf"):
        try:
            host = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            host = None
    limits = [b for b in (host, _cgroup_bytes()) if b is not None]
    return min(limits) if limits else None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def fit_in_memory(
    upscaler: Upscaler, width: int, height: int, *, what: str, adapt: bool, available: int | None = None
) -> Upscaler:
    """``upscaler``, or a copy that tiles or batches less, so that ``width`` x ``height`` frames fit in memory.

    With ``adapt`` (no tile was asked for), a run that would not fit gets the
    fewest changes that make it fit, first a tile at the same batch, then one frame
    per batch, and a warning says so; tiles reproduce the untiled output (the
    overlap covers the model's receptive field), so only the speed changes.
    Without ``adapt``, or when nothing fits, :class:`OutOfMemoryError` states the
    frame size, the estimate, the memory available and the flags that would fit.
    """
    free = available_bytes(upscaler.device) if available is None else available
    if free is None:
        return upscaler
    budget = free * _USABLE
    need = estimate_bytes(upscaler, width, height)
    if need <= budget:
        return upscaler
    fit = _first_fit(upscaler, width, height, budget)
    tiled = f", {upscaler.tile}-pixel tiles" if upscaler.tile else ""
    problem = (
        f"{what}: {width}x{height} frames at x{upscaler.scale} ({upscaler.batch_size} per batch{tiled}, "
        f"{upscaler.precision}) need about {_gb(need)} on {upscaler.device}, but only {_gb(free)} is available"
    )
    if fit is None:
        raise OutOfMemoryError(f"{problem}; upscale on a machine with more memory, or a smaller input (e.g. ffmpeg -vf scale=iw/2:-2)")
    batch, tile, est = fit
    if not adapt:
        flags = ([f"--tile {tile}"] if tile is not None else []) + (["--batch-size 1"] if batch != upscaler.batch_size else [])
        raise OutOfMemoryError(f"{problem} ({math.floor(_USABLE * 100)}% may be planned); pass {' '.join(flags)} (about {_gb(est)})")
    log.warning("%s; upscaling %s, %d per batch (about %s; same output, slower)", problem,
                f"in {tile}-pixel tiles" if tile is not None else "whole frames", batch, _gb(est))
    return upscaler.fitted(batch, tile)  # shares the model; only this input's frames use the smaller batch or tile


def plan_fits(upscaler: Upscaler, width: int, height: int) -> Callable[[int, int | None], bool]:
    """``fits(batch, tile)``: whether that batch and tile fit the memory free now (for the execution-plan candidates)."""
    free = available_bytes(upscaler.device)
    if free is None:
        return lambda batch, tile: True
    budget = free * _USABLE
    return lambda batch, tile: estimate_bytes(upscaler, width, height, tile=tile, batch=batch) <= budget


def _first_fit(upscaler: Upscaler, width: int, height: int, budget: float) -> tuple[int, int | None, int] | None:
    """(batch, tile, estimate) of the fewest changes that fit: a tile at the same batch, one frame per batch, both."""
    candidates: list[tuple[int, int | None]] = [(upscaler.batch_size, t) for t in _TILES]
    if upscaler.batch_size > 1:
        candidates += [(1, upscaler.tile)] + [(1, t) for t in _TILES]
    for batch, tile in candidates:
        if tile is not None and (tile >= max(width, height) or (upscaler.tile is not None and tile >= upscaler.tile)):
            continue
        est = estimate_bytes(upscaler, width, height, tile=tile, batch=batch)
        if est <= budget:
            return batch, tile, est
    return None
