"""Execution plans chosen by measurement, and the cache that remembers them (FFTW's "wisdom" for vsr).

An :class:`ExecutionPlan` is how the model runs: frames per forward pass, memory format,
LR tile side, intra-op threads, and the runtime: eager, compiled
(``torch.compile``) or OpenVINO (the model exported to its CPU runtime). The best plan
depends on the CPU (cache sizes, AVX2 vs AVX-512, native bf16) far more than
any rule can predict: a batch size that wins on one CPU loses on another
(``benchmarks/RESULTS.md``). So for a long video vsr times a few candidate plans on
the video's own first frames (their outputs are kept: only the time lost to the
slower candidates is spent), keeps the fastest, and writes it to the user's
cache folder under a key made of everything the timing depends on
(:class:`PlanKey`). The next run with the same key uses it at once.

Every plan computes the same function: tiles overlap by the model's receptive
margin, and batch size, memory format, threads and the runtime only reorder
float arithmetic, so outputs differ by at most one grey level after rounding
(``tests/test_plan.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import torch

from vsr._core import PLANS, cache_dir, cpu_info, write_text

__all__ = [
    "TUNE_ENV", "ExecutionPlan", "PlanKey", "Decision", "PlanRequest", "RuntimeReport", "PlanRunner", "Tunable",
    "Tuner", "cpu_signature", "load_plan", "save_plan", "tuning_candidates", "should_tune", "TUNE_BUDGET", "RUNTIMES",
]

log = logging.getLogger(__name__)

#: ``VSR_TUNE=0`` never measures plans (cached plans are still used); ``VSR_TUNE=1`` measures whatever the length.
TUNE_ENV = "VSR_TUNE"
#: Largest share of a run the measurement may cost.
TUNE_BUDGET = 0.05
#: Rounds over the candidates; the best round of each counts (the first includes one-off kernel set-up).
_ROUNDS = 2
#: A slower candidate is assumed to cost at most this fraction of a frame extra when deciding whether to tune.
_WORST_SLOWDOWN = 0.6
#: Bump when the meaning of a cached record changes, or its candidates do: older records are then ignored.
#: 2: bf16 plans may run on OpenVINO, which format-1 records never timed.
_FORMAT = 2

Runtime = Literal["eager", "compiled", "openvino"]
#: Every runtime a plan may name.
RUNTIMES: tuple[str, ...] = ("eager", "compiled", "openvino")


@dataclass(frozen=True)
class ExecutionPlan:
    """How the model runs; see the module docstring.

    ``tile=None`` runs whole frames; ``threads=0`` leaves torch's thread count alone.
    """

    batch_size: int = 1
    channels_last: bool = True
    tile: int | None = None
    threads: int = 0
    runtime: Runtime = "eager"

    def describe(self) -> str:
        """``batch 1, channels_last, whole frames, eager`` (threads only when set; no memory format on
        OpenVINO, which takes NCHW whatever the plan says)."""
        parts = [f"batch {self.batch_size}"]
        if self.runtime != "openvino":
            parts.append("channels_last" if self.channels_last else "NCHW")
        parts.append(f"{self.tile}-px tiles" if self.tile else "whole frames")
        if self.threads:
            parts.append(f"{self.threads} threads")
        parts.append(self.runtime)
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExecutionPlan:
        """Inverse of :meth:`to_json`; raises ``TypeError``/``ValueError`` on a malformed record."""
        plan = cls(**d)
        if plan.batch_size < 1 or plan.runtime not in RUNTIMES or plan.threads < 0:
            raise ValueError(f"invalid plan {d}")
        return plan


#: The CPU flags that change which kernels oneDNN and ATen pick.
_KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                 "amx_bf16", "amx_int8", "amx_tile")


def cpu_signature() -> str:
    """CPU model, the kernel-relevant flags, logical CPUs, and the ISA limits set by environment.

    ``ONEDNN_MAX_CPU_ISA``/``ATEN_CPU_CAPABILITY`` change the kernels without
    changing ``/proc/cpuinfo``, so they are part of it.
    """
    name, flags = cpu_info()
    have = [f for f in _KERNEL_FLAGS if f in flags]
    env = [f"{k}={os.environ[k]}" for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if os.environ.get(k)]
    return "; ".join([name, " ".join(have) or "-", f"{os.cpu_count()} cpus", *env])


@dataclass(frozen=True)
class PlanKey:
    """Everything a plan's timing depends on."""

    model: str
    scale: int
    width: int
    height: int
    device: str
    precision: str
    torch: str = torch.__version__
    cpu: str = field(default_factory=cpu_signature)

    def digest(self) -> str:
        """A file-name-safe hash of the key."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:20]


def model_signature(model: torch.nn.Module) -> str:
    """``EDSR(n_feats=64, n_resblocks=16, ...)``: the architecture, not the weights (speed does not depend on them)."""
    config = getattr(model, "config", None)
    if isinstance(config, dict):
        items = ", ".join(f"{k}={config[k]}" for k in sorted(config) if k not in ("scale", "scales"))
        return f"{type(model).__name__}({items})"
    n = sum(p.numel() for p in model.parameters())
    return f"{type(model).__name__}({n} parameters)"


def _plan_path(key: PlanKey) -> Path:
    return cache_dir() / PLANS / f"{key.digest()}.json"


def load_plan(key: PlanKey) -> dict[str, Any] | None:
    """The cached record for ``key`` (``plan``, ``fallback``, ``timings``, ``measured``...), or ``None``.

    A missing, unreadable or foreign record is ``None``: the cache is only a
    cache, and a damaged file must not stop an upscale.
    """
    path = _plan_path(key)
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        if rec.get("format") != _FORMAT or rec.get("key") != dataclasses.asdict(key):
            return None
        rec["plan"] = ExecutionPlan.from_json(rec["plan"])
        rec["fallback"] = ExecutionPlan.from_json(rec.get("fallback") or rec["plan"].to_json())
        rec["path"] = str(path)
        return rec
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        log.info("ignoring the unreadable plan cache %s (%s)", path, e)
        return None


def save_plan(key: PlanKey, plan: ExecutionPlan, *, fallback: ExecutionPlan, timings: dict[str, float], compile_seconds: float | None = None) -> Path | None:
    """Write the record for ``key`` atomically; returns its path, or ``None`` (with a log line) when it cannot be written.

    ``fallback`` is the best eager plan, used when the compiled or OpenVINO winner
    is not worth its set-up for a shorter input later, or its runtime is missing.
    """
    path = _plan_path(key)
    rec = {
        "format": _FORMAT, "key": dataclasses.asdict(key), "plan": plan.to_json(), "fallback": fallback.to_json(),
        "timings": timings, "compile_seconds": compile_seconds,
        "measured": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(rec, indent=1) + "\n", durable=False)
    except OSError as e:
        log.warning("could not save the measured plan to %s (%s); the next run will measure again", path, e)
        return None
    return path


@dataclass(frozen=True)
class Decision:
    """The plan that runs first, where it came from, and the candidates still to measure (if any)."""

    plan: ExecutionPlan
    source: Literal["default", "cached", "measure", "pinned"]
    reason: str
    candidates: tuple[ExecutionPlan, ...] = ()

    def summary(self) -> str:
        """One line for ``--plan`` and the log."""
        if self.source == "measure":
            names = "; ".join(c.describe() for c in self.candidates)
            return f"plan: to be measured on the first frames among [{names}] ({self.reason})"
        return f"plan: {self.plan.describe()} ({self.reason})"


# --------------------------------------------------------------------------- the plan interface
#: uint8 frames, ``H x W x 3`` or ``N x H x W x 3``, as numpy or torch: what an upscaler takes and returns.
FramesT = TypeVar("FramesT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class PlanRequest:
    """What a plan search needs to know about an upscaler, for frames of one size (:meth:`Tunable.plan_request`)."""

    #: The cache key: model architecture, scale, frame size, device, precision (``+ensemble`` with self-ensemble).
    key: PlanKey
    #: The plan it runs now, including a smaller batch or tile set by the memory guard.
    plan: ExecutionPlan
    #: The plan dimensions fixed by its caller or the memory guard (``batch_size``, ``tile``, ``channels_last``,
    #: ``runtime``, ``threads``), which a search keeps as they are.
    pinned: frozenset[str]
    #: LR pixels of context around a tile (the model's receptive margin).
    tile_overlap: int
    precision: str
    #: ``cpu``, ``cuda``, ``mps``: compiled and OpenVINO variants are only tried on the CPU.
    device_type: str


@dataclass(frozen=True)
class RuntimeReport:
    """How a compiled or OpenVINO runtime has fared in an upscaler so far (:meth:`Tunable.runtime_report`)."""

    runtime: Runtime
    #: Why the runtime runs the model eagerly instead (``None`` while it runs).
    fallback_reason: str | None
    #: The first call's set-up (compiling) time, once measured.
    setup_seconds: float | None
    #: OpenVINO: the compile time of each input shape so far.
    shape_seconds: tuple[float, ...] = ()

    @property
    def running(self) -> bool:
        """Whether the runtime runs (it has not fallen back to eager)."""
        return self.fallback_reason is None


class PlanRunner(Protocol):
    """What a :class:`Tuner` needs: switch to a plan, and upscale one batch with it."""

    def apply_plan(self, plan: ExecutionPlan) -> None:
        """Run from now on as ``plan`` says."""

    def upscale_frames(self, frames: FramesT) -> FramesT:
        """Upscale one batch with the plan applied now, outside any plan search (what a tuner times)."""


class Tunable(PlanRunner, Protocol):
    """What a plan search needs from the upscaler it measures; :class:`vsr.Upscaler` is one.

    The search learns what it needs with :meth:`plan_request`, runs each candidate with
    :meth:`~PlanRunner.apply_plan` and :meth:`~PlanRunner.upscale_frames`, and asks
    :meth:`runtime_report` how a compiled or OpenVINO candidate fared; it reads nothing else.
    """

    def plan_request(self, width: int, height: int) -> PlanRequest:
        """The key, current plan, pinned dimensions and tile overlap for frames of ``width`` x ``height``."""

    def runtime_report(self, runtime: Runtime) -> RuntimeReport | None:
        """How ``runtime`` (``compiled`` or ``openvino``) has fared; ``None`` when it was never set up."""


def should_tune(frames: int | None, n_candidates: int, frames_per_try: int) -> tuple[bool, str]:
    """Whether measuring ``n_candidates`` plans fits in :data:`TUNE_BUDGET` of a ``frames``-frame run, and why.

    Tuning frames are real output, so the cost is only the slower candidates'
    extra time: at most ``_WORST_SLOWDOWN`` of a frame per frame they run.
    """
    env = os.environ.get(TUNE_ENV, "")
    if env == "0":
        return False, f"{TUNE_ENV}=0"
    if n_candidates < 2:
        return False, "nothing to choose between"
    if env == "1":
        return True, f"{TUNE_ENV}=1"
    if frames is None:
        return False, "frame count unknown: not measured"
    tried = (n_candidates - 1) * _ROUNDS * frames_per_try
    worst = tried * _WORST_SLOWDOWN
    if worst > TUNE_BUDGET * frames:
        need = math.ceil(worst / TUNE_BUDGET)
        if frames == 1:
            return False, "a single image: plans are only measured on videos"
        return False, f"{frames} frames is too short to measure plans ({need}+ frames keep it under {TUNE_BUDGET:.0%})"
    return True, f"{frames} frames: measuring costs under {TUNE_BUDGET:.0%}"


def tuning_candidates(
    base: ExecutionPlan, *, width: int, height: int, margin: int, pinned: Sequence[str], max_batch: int, cpus: int,
) -> list[ExecutionPlan]:
    """The eager plans worth timing for this frame size, ``base`` first; dimensions named in ``pinned`` stay as in ``base``.

    - batch 1, 2 and 4 (up to ``max_batch``, the decoder's batch): larger
      batches amortise per-call overhead but can fall out of a small L2;
    - NCHW at the best-guess batch: oneDNN sometimes prefers it for 3-channel edges;
    - a tile only for frames large enough that the overlap costs at most 30%
      (overlap-exact tiles recompute ``margin`` pixels on every side);
    - one thread fewer on CPUs with 4 or more, which leaves a core to the
      decoder and encoder threads (on 2 cores it would halve the model's speed).
    """
    out = [base]

    def add(p: ExecutionPlan) -> None:
        if p not in out:
            out.append(p)

    if "batch_size" not in pinned:
        for b in (1, 2, 4):
            if b <= max_batch:
                add(dataclasses.replace(base, batch_size=b))
    if "channels_last" not in pinned:
        add(dataclasses.replace(base, channels_last=not base.channels_last))
    if "tile" not in pinned and base.tile is None:
        tile = _smallest_cheap_tile(width, height, margin)
        if tile is not None:
            add(dataclasses.replace(base, tile=tile))
    if "threads" not in pinned and cpus >= 4:
        add(dataclasses.replace(base, threads=cpus - 1))
    return out


def _tiled_work(width: int, height: int, tile: int, margin: int) -> float:
    """Pixels computed with overlap-exact tiles over pixels of the frame (1.0 = no overhead)."""

    def extent(n: int) -> int:
        return sum(min(a + tile + margin, n) - max(a - margin, 0) for a in range(0, n, tile))

    return extent(width) * extent(height) / (width * height)


def _smallest_cheap_tile(width: int, height: int, margin: int, max_overhead: float = 1.3) -> int | None:
    """The smallest tile side (side/2, side/3, ...) whose overlap costs at most ``max_overhead``; ``None`` if none does."""
    side = max(width, height)
    best = None
    for k in range(2, 17):
        tile = math.ceil(side / k)
        if tile < 64 or _tiled_work(width, height, tile, margin) > max_overhead:
            break
        best = tile
    return best


class Tuner:
    """Run each batch it is given with the next candidate plan, time it, and settle on the fastest.

    Args:
        candidates: plans to time, in order; each gets ``_ROUNDS`` batches.
        runner: the upscaler that runs them (:meth:`~PlanRunner.apply_plan`, then a timed
            :meth:`~PlanRunner.upscale_frames`).
        frames_total: frames in the whole run (limits the time lost to slow candidates).
        on_done: called with the winner, the per-frame seconds of every candidate and
            the frames the measurement used.
        known: per-frame seconds of plans measured before, which compete without being run again.
    """

    def __init__(
        self,
        candidates: Sequence[ExecutionPlan],
        *,
        runner: PlanRunner,
        frames_total: int | None,
        on_done: Callable[[ExecutionPlan, dict[ExecutionPlan, float], int], None],
        known: dict[ExecutionPlan, float] | None = None,
    ) -> None:
        self.candidates = list(candidates)
        self._runner, self._on_done = runner, on_done
        self._budget = TUNE_BUDGET * frames_total if frames_total else math.inf
        self._best: dict[ExecutionPlan, float] = dict(known or {})
        self._step = 0
        self._frames = 0
        self._lost = 0.0  # seconds lost against the fastest candidate so far
        self.done = False

    @property
    def lost_seconds(self) -> float:
        """Time spent beyond what the fastest candidate would have needed for the same frames (the first calls' set-up included)."""
        return self._lost

    def __call__(self, frames: FramesT) -> FramesT:
        """Upscale ``frames`` (one batch) with the next candidate; after the last, apply the winner."""
        plan = self.candidates[self._step % len(self.candidates)]
        self._runner.apply_plan(plan)
        n = len(frames) if getattr(frames, "ndim", 4) == 4 else 1
        t0 = time.perf_counter()
        out = self._runner.upscale_frames(frames)
        per_frame = (time.perf_counter() - t0) / n
        self._best[plan] = min(per_frame, self._best.get(plan, math.inf))
        self._frames += n
        fastest = min(self._best.values())
        self._lost += max(0.0, per_frame - fastest) * n
        self._step += 1
        over_budget = self._lost / fastest > self._budget if fastest > 0 else False
        if self._step >= _ROUNDS * len(self.candidates) or over_budget:
            if over_budget:
                log.info("plan measurement stopped early: the slower candidates used up the %.0f%% budget", TUNE_BUDGET * 100)
            self.finish()
        return out

    def finish(self) -> ExecutionPlan:
        """Apply and report the fastest plan measured so far (the first candidate if none was)."""
        if not self.done:
            self.done = True
            winner = min(self._best, key=self._best.__getitem__) if self._best else self.candidates[0]
            self._runner.apply_plan(winner)
            self._on_done(winner, dict(self._best), self._frames)
        return min(self._best, key=self._best.__getitem__) if self._best else self.candidates[0]
