"""Device and precision resolution shared by inference and training."""

from __future__ import annotations

import functools
import logging
import time
from typing import Literal

import torch

from vsr.errors import UnsupportedError

__all__ = ["Precision", "PRECISIONS", "resolve_device", "resolve_precision", "cpu_has_native_bf16", "autocast_dtype",
           "emulated_slowdown", "warn_if_emulated"]

log = logging.getLogger(__name__)

Precision = Literal["auto", "fp32", "bf16", "fp16", "int8"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "int8")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a :class:`torch.device`; ``None``/"auto" picks cuda, then mps, then cpu."""
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UnsupportedError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UnsupportedError(f"device {device!r} requested but MPS is not available; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise UnsupportedError(f"device type {dev.type!r} is not supported; use cpu, cuda or mps")
    return dev


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays off.

    Both the CPU flags and oneDNN must agree: ``ONEDNN_MAX_CPU_ISA=AVX2`` on an
    AVX-512-BF16 CPU keeps the flag in ``/proc/cpuinfo`` but makes oneDNN
    emulate bf16 (~7x slower than fp32 per conv), and ``auto`` must not pick that.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        flags = ""
    onednn = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        try:
            return onednn is None or bool(onednn())
        except RuntimeError:
            return True
    # Apple silicon and other platforms: rely on oneDNN's own check when present.
    mkldnn = getattr(torch.backends, "mkldnn", None)
    check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    if mkldnn is not None and mkldnn.is_available() and check is not None and not flags:
        try:
            return bool(check())
        except RuntimeError:
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> Literal["fp32", "bf16", "fp16", "int8"]:
    """Resolve the ``auto`` policy: fp16 on CUDA (bf16 if supported), bf16 on CPUs with native bf16, else fp32.

    ``auto`` never picks an emulated format, nor int8 (which trades quality for speed: opt-in only).
    """
    if precision not in PRECISIONS:
        raise UnsupportedError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise UnsupportedError("fp16 is not supported on the CPU; use --precision bf16 or fp32")
        if precision == "int8" and device.type != "cpu":
            raise UnsupportedError(f"int8 runs on the CPU only (got {device}); use --device cpu, or --precision auto on a GPU")
        return precision  # type: ignore[return-value]
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "mps":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype for a resolved precision, or ``None`` for fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def emulated_slowdown(dtype: torch.dtype = torch.bfloat16) -> float:
    """Measured time of EDSR's 3x3 64->64 conv under ``dtype`` autocast on the CPU, over fp32 (best of 3 each; under 1 s).

    The map is large enough (96x96) that the convolution, not the call overhead, dominates.
    """
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, 96, 96).contiguous(memory_format=torch.channels_last)
    best = {}
    with torch.inference_mode():
        for low in (False, True, False, True, False, True):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=dtype, enabled=low):
                conv(x)
            best[low] = min(best.get(low, float("inf")), time.perf_counter() - t0)
    return best[True] / best[False]


def warn_if_emulated(precision: str, device: torch.device) -> None:
    """Warn, with the measured cost, when bf16 was forced on a CPU that only emulates it (``auto`` never picks it)."""
    if device.type != "cpu" or precision != "bf16" or cpu_has_native_bf16():
        return
    ratio = emulated_slowdown()
    log.warning("bf16 is emulated on this CPU (no AVX512-BF16/AMX): a conv measured %.1fx %s than fp32 here; "
                "use --precision auto or fp32", ratio if ratio >= 1 else 1 / ratio, "slower" if ratio >= 1 else "faster")
