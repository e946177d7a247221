"""Tensor-level upscaling: device, precision, channels_last, batching, tiling, self-ensemble.

No files and no threads here: frames in, frames out. :class:`Upscaler` is what
the image and video front ends, the evaluator and the benchmarks all call.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import math
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from vsr._core import Precision, autocast_dtype, resolve_device, resolve_precision, warn_if_emulated
from vsr.inference._autotune import PlanSearch, decide
from vsr.inference._plans import RUNTIMES, Decision, ExecutionPlan, PlanKey, PlanRequest, Runtime, RuntimeReport, model_signature
from vsr.inference._output_size import OutputSize
from vsr.errors import InvalidInputError, OutOfMemoryError, UnsupportedError
from vsr.models import MDSR, load_model, model_scales

__all__ = ["Upscaler", "area_resize", "receptive_margin", "quantize", "self_ensemble_transforms"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

#: Smallest LR tile tried after repeated out-of-memory errors before giving up.
_MIN_TILE = 16


def receptive_margin(model: nn.Module, scale: int) -> int:
    """LR pixels of context each output pixel depends on (an upper bound).

    The sum of the conv radii along the path one scale takes; tiles that overlap
    by at least this much reproduce the untiled output.
    """
    convs: list[nn.Module]
    if isinstance(model, MDSR):
        idx = model.branch(scale)
        parts = [model.head, model.pre_process[idx], model.body, model.upsample[idx], model.tail]
        convs = [m for p in parts for m in p.modules() if isinstance(m, nn.Conv2d)]
    else:
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return int(sum(m.kernel_size[0] // 2 for m in convs))


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 255] and round, as the official code does before scoring; returns uint8."""
    return x.clamp(0, 255).round_().to(torch.uint8)


@functools.lru_cache(maxsize=16)
def _area_taps(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Input indices and weights (each ``n_out x taps``) of an area reduction from ``n_in`` to ``n_out`` samples."""
    r = n_in / n_out
    lo = torch.arange(n_out, dtype=torch.float64) * r
    hi = lo + r
    first = lo.floor().long()
    taps = int(math.ceil(r)) + 1
    idx = first[:, None] + torch.arange(taps)[None, :]
    # Each output sample averages the input samples its footprint [lo, hi) covers, weighted by the covered length.
    overlap = (torch.minimum(hi[:, None], idx + 1.0) - torch.maximum(lo[:, None], idx.double())).clamp(min=0) / r
    return idx.clamp(max=n_in - 1).to(device), overlap.float().to(device)


def area_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Reduce float ``N x C x H x W`` to ``size = (height, width)`` with an area (box) filter.

    Each output pixel is the mean of the input area it covers, fractional
    pixels weighted by the covered fraction (OpenCV's INTER_AREA for
    reductions). Works on any device; only reductions are allowed.
    """
    h_out, w_out = size
    h_in, w_in = x.shape[-2:]
    if h_out > h_in or w_out > w_in or h_out < 1 or w_out < 1:
        raise UnsupportedError(f"area_resize only reduces: {w_in}x{h_in} -> {w_out}x{h_out}")
    for dim, n_in, n_out in ((-1, w_in, w_out), (-2, h_in, h_out)):
        if n_in == n_out:
            continue
        idx, weight = _area_taps(n_in, n_out, x.device)
        shape = [1] * x.ndim
        shape[dim] = n_out
        acc: torch.Tensor | None = None
        # One tap at a time keeps the extra memory at one output-sized plane.
        for t in range(idx.shape[1]):
            term = x.index_select(dim, idx[:, t]) * weight[:, t].view(shape)
            acc = term if acc is None else acc.add_(term)
        assert acc is not None
        x = acc
    return x


def _transform(x: torch.Tensor, i: int) -> torch.Tensor:
    # Bits of i: 1 = flip W, 2 = flip H, 4 = transpose (the official enumeration order).
    if i & 1:
        x = x.flip(-1)
    if i & 2:
        x = x.flip(-2)
    if i & 4:
        x = x.transpose(-1, -2)
    return x


def _inverse(x: torch.Tensor, i: int) -> torch.Tensor:
    if i & 4:
        x = x.transpose(-1, -2)
    if i & 2:
        x = x.flip(-2)
    if i & 1:
        x = x.flip(-1)
    return x


def self_ensemble_transforms() -> list[tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]]:
    """The 8 dihedral (forward, inverse) pairs used by the x8 self-ensemble."""
    return [((lambda x, i=i: _transform(x, i)), (lambda x, i=i: _inverse(x, i))) for i in range(8)]


def _runtime_choice(compile: bool | None, runtime: str | None, precision: str, device: torch.device) -> str | None:
    """The runtime asked for by ``compile`` and ``runtime`` (``None``: the plan's choice); refuses contradictions."""
    if runtime is not None and runtime not in RUNTIMES:
        raise UnsupportedError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if compile is not None:
        implied = "compiled" if compile else "eager"
        if runtime is not None and runtime != implied:
            raise UnsupportedError(f"compile={compile} contradicts runtime={runtime!r}")
        runtime = implied
    if runtime == "openvino" and device.type != "cpu":
        raise UnsupportedError(f"the OpenVINO runtime runs on the CPU, not {device}; use --device cpu or another runtime")
    if runtime == "openvino" and str(precision) not in ("auto", "fp32", "bf16", "int8"):
        raise UnsupportedError(f"the OpenVINO runtime runs fp32, bf16 or int8; {precision} was requested "
                               "(use fp32, bf16, int8 or auto)")
    if str(precision) == "int8":
        if runtime == "eager":
            raise UnsupportedError("int8 runs on OpenVINO (--runtime openvino) or torchao compiled (--runtime compiled), "
                                   "not eagerly")
        if runtime is None:
            from vsr.inference._openvino import openvino_status

            # Measured on AVX2 and AVX-512 kernels alike: OpenVINO's int8 is faster than torchao's and keeps more PSNR.
            runtime = "openvino" if openvino_status()[0] else "compiled"
    return runtime


def _check_frames(frames: Any) -> None:
    """Refuse anything but uint8 RGB frames ``H x W x 3`` or ``N x H x W x 3`` (numpy or torch)."""
    if not isinstance(frames, (np.ndarray, torch.Tensor)):
        raise InvalidInputError(f"expected a numpy array or torch tensor of uint8 frames, got {type(frames).__name__}")
    if frames.dtype not in (np.uint8, torch.uint8):
        raise InvalidInputError(f"expected uint8 frames (0..255), got dtype {frames.dtype}")
    if frames.ndim not in (3, 4) or frames.shape[-1] != 3:
        raise InvalidInputError(f"expected RGB frames H x W x 3 or N x H x W x 3, got shape {tuple(frames.shape)}")


def _is_oom(e: BaseException) -> bool:
    if isinstance(e, torch.OutOfMemoryError):
        return True
    msg = str(e)
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


class Upscaler:
    """Upscale uint8 RGB frames with an EDSR/MDSR model.

    Args:
        model: a module (called ``model(x, scale)`` on float RGB 0..255 NCHW) or
            anything :func:`vsr.load_model` accepts.
        scale: the upscaling factor; must be one the model supports.
        device: ``None``/"auto" (cuda, then mps, then cpu) or an explicit device.
        precision: ``auto`` = autocast fp16/bf16 on CUDA, bf16 on CPUs with native
            bf16, else fp32; or ``fp32``/``bf16``/``fp16`` explicitly; or ``int8``
            (CPU; OpenVINO's int8 kernels with ``vsr[cpu-openvino]``, else torchao's
            compiled ones with ``vsr[cpu-int8]`` and a C++ compiler; costs a little
            PSNR: see the model card).
        batch_size: frames per forward pass; ``None`` = the execution plan's
            choice (see :meth:`prepare`; until measured, 4 on a GPU and 1 on the CPU,
            where batch 1 was mostly the faster: benchmarks/RESULTS.md).
        tile: LR tile side for frames that do not fit in memory (``None`` = whole
            frames, or the plan's choice). After an out-of-memory error the call that hit it retries with
            half the tile; the next call starts from this value again.
        tile_overlap: LR context around each tile; defaults to the model's
            receptive margin, which makes tiled output match untiled output.
        self_ensemble: average the 8 dihedral transforms (8x slower; only valid
            for symmetric degradations such as bicubic).
        channels_last: use the NHWC memory format (faster on CPU and tensor cores);
            ``None`` = the plan's choice (NHWC until measured).
        compile: run through ``torch.compile`` (``None`` = when a measured plan says
            so for a long video; ``True`` fixes the rest of the plan, since each new
            shape recompiles, and falls back to eager with one warning line without
            a C++ compiler).
        runtime: ``eager``, ``compiled`` (as ``compile=True``) or ``openvino``: the
            model exported to OpenVINO's CPU runtime (needs ``pip install
            'vsr[cpu-openvino]'``; in fp32 the same pixels; eager with one
            warning line without it). ``None`` = the measured plan's choice (for
            int8: OpenVINO when installed, else torchao compiled). ``openvino`` runs
            fp32, bf16 (where its CPU plugin has native bf16) or int8; fp16 is refused.
        target: an output size other than ``scale`` times the input (a fractional
            scale, a size, one side): the model output is reduced to it with
            :func:`area_resize` before rounding. It must not exceed ``scale``
            times the input.
    """

    def __init__(
        self,
        model: nn.Module | str | os.PathLike[str],
        *,
        scale: int,
        device: str | torch.device | None = None,
        precision: Precision | str = "auto",
        batch_size: int | None = None,
        tile: int | None = None,
        tile_overlap: int | None = None,
        self_ensemble: bool = False,
        channels_last: bool | None = None,
        target: OutputSize | None = None,
        compile: bool | None = None,
        runtime: str | None = None,
    ) -> None:
        self.device = resolve_device(device)
        runtime = _runtime_choice(compile, runtime, precision, self.device)
        self.precision = resolve_precision(precision, self.device)
        warn_if_emulated(self.precision, self.device)
        if not isinstance(model, nn.Module):
            model = load_model(model, scale=scale, device="cpu")
        scales = model_scales(model)
        if scales and scale not in scales:
            raise UnsupportedError(f"the model upscales {', '.join(f'x{s}' for s in scales)}; x{scale} was requested")
        if batch_size is not None and batch_size < 1:
            raise UnsupportedError(f"batch_size must be >= 1, got {batch_size}")
        if tile is not None and tile < _MIN_TILE:
            raise UnsupportedError(f"tile must be >= {_MIN_TILE} LR pixels (or None for whole frames), got {tile}")
        self.scale = int(scale)
        self.target = target
        self.tile_overlap = receptive_margin(model, self.scale) if tile_overlap is None else int(tile_overlap)
        self.self_ensemble = bool(self_ensemble)
        model = model.eval().to(self.device)
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model
        # Execution plan (vsr.inference._plans): what the caller fixed is pinned; the rest may be measured by prepare().
        self.pinned = {k for k, v in (("batch_size", batch_size), ("tile", tile), ("channels_last", channels_last),
                                      ("runtime", runtime)) if v is not None}
        if runtime == "compiled":
            # Every new batch, tile or memory layout recompiles a compiled graph (torch.compile, torchao's int8):
            # that plan is fixed, not measured.
            self.pinned |= {"batch_size", "tile", "channels_last", "runtime", "threads"}
        elif runtime == "openvino":
            # OpenVINO takes NCHW whatever the plan says; batch, tile and threads are still measured.
            self.pinned |= {"channels_last"}
        if self.precision == "int8":
            batch_size = batch_size or 2
        gpu = self.device.type != "cpu"
        self._compiled: Any = None
        self._int8: Any = None
        self._openvino: Any = None
        self._search: PlanSearch | None = None
        self._threads0 = torch.get_num_threads()
        self.decision: Decision | None = None
        self.apply_plan(ExecutionPlan(
            batch_size=int(batch_size) if batch_size is not None else (4 if gpu else 1),
            channels_last=bool(channels_last) if channels_last is not None else True,
            tile=tile, runtime=runtime or "eager",  # type: ignore[arg-type]
        ))

    # ------------------------------------------------------------ execution plan
    def apply_plan(self, plan: ExecutionPlan) -> None:
        """Run from now on as ``plan`` says (batch size, memory format, tile, threads, eager/compiled/OpenVINO)."""
        self.plan = plan
        self.batch_size = plan.batch_size
        self.tile = plan.tile
        self.channels_last = plan.channels_last and self.device.type != "mps"
        self.model = self.model.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        threads = plan.threads or self._threads0
        if self.device.type == "cpu" and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if plan.runtime == "compiled" and self.precision != "int8" and (self._compiled is None or self._compiled.model is not self.model):
            from vsr.inference._compiled import CompiledForward, inductor_cache_dir

            inductor_cache_dir()  # compiled kernels kept with vsr's cache, for the next run
            self._compiled = CompiledForward(self.model, self.scale)
        if plan.runtime == "openvino" and (self._openvino is None or self._openvino.model is not self.model
                                           or self._openvino.threads != threads):
            from vsr._core import OPENVINO, cache_dir
            from vsr.inference._openvino import OpenVINOForward

            self._openvino = OpenVINOForward(self.model, self.scale, cache=cache_dir() / OPENVINO, threads=threads,
                                             precision=self.precision)

    def prepare(
        self, width: int, height: int, frames: int | None = None, *, dry_run: bool = False,
        fits: Callable[[int, int | None], bool] | None = None,
    ) -> Decision:
        """Choose the execution plan for ``frames`` frames of ``width`` x ``height``; returns the decision.

        A plan measured earlier for the same key is used at once; a video long
        enough that measuring costs under 5% of it gets its first batches run
        with candidate plans and keeps the fastest (saved for next time); a
        single image or short clip runs the default plan. ``dry_run`` only
        says what would happen (``vsr upscale --plan``). ``fits(batch, tile)``
        rules out plans that would not fit in memory (:func:`vsr.inference._memory.plan_fits`).
        """
        self.decision, self._search = decide(self, width, height, frames, dry_run=dry_run, fits=fits)
        return self.decision

    @property
    def measuring(self) -> bool:
        """Whether calls still go to the plan measurement that :meth:`prepare` started."""
        return self._search is not None and not self._search.done

    # The plan interface (vsr.inference._plans.Tunable): all that the plan search sees of an upscaler.
    def plan_request(self, width: int, height: int) -> PlanRequest:
        """What a plan search needs to know for frames of ``width`` x ``height``: the cache key (architecture,
        scale, size, device, precision), the current plan, the pinned dimensions and the tile overlap."""
        precision = self.precision + ("+ensemble" if self.self_ensemble else "")
        key = PlanKey(model=model_signature(self.model), scale=self.scale, width=width, height=height,
                      device=str(self.device), precision=precision)
        return PlanRequest(key=key, plan=self.plan, pinned=frozenset(self.pinned), tile_overlap=self.tile_overlap,
                           precision=self.precision, device_type=self.device.type)

    def runtime_report(self, runtime: Runtime) -> RuntimeReport | None:
        """How the ``compiled`` or ``openvino`` runtime has fared here; ``None`` when no plan set it up."""
        forward = {"compiled": self._compiled, "openvino": self._openvino}.get(runtime)
        if forward is None:
            return None
        return RuntimeReport(runtime, forward.fallback_reason, forward.compile_seconds,
                             tuple(getattr(forward, "shape_seconds", ())))

    def fitted(self, batch_size: int, tile: int | None) -> Upscaler:
        """A copy, sharing the model, that runs ``batch_size`` frames per pass in ``tile``-pixel tiles
        (``None``: whole frames), both pinned: what the memory guard (:func:`vsr.inference.fit_in_memory`)
        hands out for an input that would not fit otherwise."""
        out = copy.copy(self)
        out.pinned = self.pinned | {"batch_size", "tile"}
        out.plan = dataclasses.replace(self.plan, batch_size=batch_size, tile=tile)
        out.batch_size, out.tile = batch_size, tile
        return out

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` of the output for an input of that size."""
        if self.target is None:
            return width * self.scale, height * self.scale
        w, h = self.target.size_for(width, height)
        if w > width * self.scale or h > height * self.scale:
            raise UnsupportedError(
                f"target {w}x{h} is larger than the model's x{self.scale} output {width * self.scale}x{height * self.scale}; "
                f"use a model scale of at least {math.ceil(max(w / width, h / height) - 1e-9)}"
            )
        return w, h

    def __repr__(self) -> str:
        return (
            f"Upscaler(x{self.scale}, device={self.device}, precision={self.precision}, batch_size={self.batch_size}, "
            f"tile={self.tile}, self_ensemble={self.self_ensemble})"
        )

    # ----------------------------------------------------------------- float API
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = autocast_dtype(self.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.plan.runtime == "openvino" and self._openvino is not None:
            # OpenVINO takes contiguous NCHW and runs its own fp32, bf16 or int8: no channels_last copy, no autocast.
            return self._openvino(x).float()  # type: ignore[no-any-return]
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.precision == "int8":
            if self._int8 is None:
                from vsr.inference._compiled import inductor_cache_dir
                from vsr.inference._int8 import Int8Forward

                inductor_cache_dir()
                self._int8 = Int8Forward(self.model, self.scale)
            return self._int8(x).float()
        with self._autocast():
            if self.plan.runtime == "compiled" and self._compiled is not None:
                y = self._compiled(x)
            else:
                y = self.model(x, self.scale)
        return y.float()

    @staticmethod
    def _tiles(h: int, w: int, tile: int | None) -> Iterator[tuple[int, int, int, int]]:
        t = tile or max(h, w)
        for y0 in range(0, h, t):
            for x0 in range(0, w, t):
                yield y0, min(y0 + t, h), x0, min(x0 + t, w)

    def _forward_tiled(self, x: torch.Tensor, tile: int | None) -> torch.Tensor:
        n, c, h, w = x.shape
        s, m = self.scale, self.tile_overlap
        if tile is None or (h <= tile and w <= tile):
            return self._forward(x)
        out = torch.empty((n, c, h * s, w * s), dtype=torch.float32, device="cpu")
        for y0, y1, x0, x1 in self._tiles(h, w, tile):
            iy0, iy1, ix0, ix1 = max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m)
            y = self._forward(x[:, :, iy0:iy1, ix0:ix1])
            oy, ox = (y0 - iy0) * s, (x0 - ix0) * s
            out[:, :, y0 * s : y1 * s, x0 * s : x1 * s] = y[:, :, oy : oy + (y1 - y0) * s, ox : ox + (x1 - x0) * s].cpu()
        return out

    def _forward_ensemble(self, x: torch.Tensor, tile: int | None) -> torch.Tensor:
        if not self.self_ensemble:
            return self._forward_tiled(x, tile)
        acc: torch.Tensor | None = None
        for i in range(8):
            y = _inverse(self._forward_tiled(_transform(x, i), tile), i)
            acc = y if acc is None else acc + y.to(acc.device)
        assert acc is not None
        return acc / 8

    @torch.inference_mode()
    def upscale_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale float RGB ``N x 3 x H x W`` on 0..255; returns unquantized float32.

        On an out-of-memory error the tile size is halved and the same frames are
        retried; frames are never skipped. The smaller tile holds for this call
        only: the next one starts from :attr:`tile` again (a transient shortage,
        e.g. another process on the GPU, does not slow every later frame).

        Raises:
            OutOfMemoryError: out of memory even with the smallest tile.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise InvalidInputError(f"expected a float tensor N x 3 x H x W, got shape {tuple(x.shape)}")
        x = x.to(self.device, torch.float32)
        tile = self.tile
        while True:
            try:
                return self._forward_ensemble(x, tile)
            except Exception as e:  # noqa: BLE001 - only OOM is handled, everything else re-raised
                if not _is_oom(e):
                    raise
                h, w = x.shape[-2:]
                new_tile = (tile or max(h, w)) // 2
                if new_tile < _MIN_TILE:
                    raise OutOfMemoryError(
                        f"out of memory even with {tile}-pixel tiles on {self.device}; "
                        "use --device cpu, a smaller --batch-size or --precision bf16/fp16"
                    ) from None
                tile = new_tile
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()

    # ----------------------------------------------------------------- uint8 API
    def __call__(self, frames: ArrayT) -> ArrayT:
        """Upscale uint8 RGB frames ``H x W x 3`` or ``N x H x W x 3`` (numpy or torch).

        Returns uint8 frames of the same kind and rank, ``scale`` times larger
        (or of the ``target`` size), clamped and rounded like the official code.
        """
        _check_frames(frames)
        search = self._search
        if search is not None and not search.done:
            out = search(frames)  # these frames time a candidate plan, and are upscaled all the same
            self.decision = search.decision
            return out
        return self._upscale_frames(frames)

    def upscale_frames(self, frames: ArrayT) -> ArrayT:
        """Upscale uint8 frames as :meth:`__call__` does, with the plan applied now even while a plan is being
        measured: how the measurement runs each candidate (see :meth:`prepare`)."""
        _check_frames(frames)
        return self._upscale_frames(frames)

    def _upscale_frames(self, frames: ArrayT) -> ArrayT:
        is_numpy = isinstance(frames, np.ndarray)
        single = frames.ndim == 3
        t = torch.from_numpy(np.ascontiguousarray(frames)) if is_numpy else frames
        if single:
            t = t.unsqueeze(0)
        out_w, out_h = self.output_size(t.shape[2], t.shape[1])
        resize = (out_w, out_h) != (t.shape[2] * self.scale, t.shape[1] * self.scale)
        outs = []
        for i in range(0, t.shape[0], self.batch_size):
            chunk = t[i : i + self.batch_size]
            if self.device.type == "cuda":
                chunk = chunk.pin_memory().to(self.device, non_blocking=True)
            else:
                chunk = chunk.to(self.device)
            x = chunk.permute(0, 3, 1, 2).float()
            y = self.upscale_tensor(x)
            if resize:
                y = area_resize(y, (out_h, out_w))
            y = quantize(y).permute(0, 2, 3, 1).contiguous().cpu()
            outs.append(y)
        out = torch.cat(outs) if len(outs) > 1 else outs[0]
        if single:
            out = out[0]
        return out.numpy() if is_numpy else out
