"""What this CPU is: its model name and flags, and the kind of CPU a measured speed applies to. Imports no torch."""

from __future__ import annotations

import functools
import os
import platform

__all__ = ["CPU_KINDS", "cpu_info", "cpu_kind"]

#: The CPU kinds speeds are recorded for, fastest conv kernels first: each kind's convolutions run on different
#: oneDNN kernels (AMX tiles, AVX-512 with native bf16, AVX-512 without it, AVX2), so a speed measured on one kind
#: says little about another.
CPU_KINDS: dict[str, str] = {
    "amx": "Intel Xeon with AMX",
    "avx512_bf16": "AVX-512 with native BF16 (no AMX)",
    "avx512": "AVX-512 without BF16",
    "avx2": "AVX2 only",
}


@functools.cache
def cpu_info() -> tuple[str, frozenset[str]]:
    """The CPU's model name and its ``/proc/cpuinfo`` flags (no flags where that file does not exist)."""
    name, flags = "unknown", frozenset[str]()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            for line in f:
                if line.startswith("model name") and name == "unknown":
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = frozenset(line.split(":", 1)[1].split())
    except OSError:
        name = platform.processor() or platform.machine()
    return name, flags


def cpu_kind() -> str:
    """This CPU's key in :data:`CPU_KINDS`, or ``"other"`` (no x86 flags, e.g. ARM, or older than AVX2).

    ``ONEDNN_MAX_CPU_ISA`` limits the kernels without changing the flags, so a limit of AVX2 makes the kind avx2.
    """
    _, flags = cpu_info()
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA", "DEFAULT").upper()
    if limit in ("SSE41", "AVX"):
        return "other"
    if limit.startswith("AVX2"):
        return "avx2" if "avx2" in flags else "other"
    amx_allowed = limit == "DEFAULT" or "AMX" in limit
    bf16_allowed = amx_allowed or "BF16" in limit or "FP16" in limit
    if "amx_bf16" in flags and amx_allowed:
        return "amx"
    if "avx512f" in flags:
        return "avx512_bf16" if "avx512_bf16" in flags and bf16_allowed else "avx512"
    return "avx2" if "avx2" in flags else "other"
