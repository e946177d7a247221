"""The compiled path: ``torch.compile`` (inductor, freezing) around a model, with a clean fallback to eager.

Inductor turns the frozen model into C++ kernels (conv + bias + ReLU fused,
weights pre-packed for oneDNN), often a little faster than eager channels_last,
at seconds to tens of seconds of compilation per input shape (both measured in
``benchmarks/RESULTS.md``). It needs a C++ compiler; without one, or when
compilation fails for any other reason, the model runs eagerly and one log
line says why. Compiled kernels are kept in ``<vsr cache>/inductor`` (unless
``TORCHINDUCTOR_CACHE_DIR`` is set) so that a later run of the same shape can
reuse them where torch allows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from vsr._core import INDUCTOR, cache_dir

__all__ = ["CompiledForward", "ScaleBound", "compiler_status", "inductor_cache_dir", "compile_settings", "SHAPES_LIMIT",
           "one_line"]

log = logging.getLogger(__name__)


def compiler_status() -> tuple[bool, str]:
    """``(True, "g++ at /usr/bin/g++")`` when inductor can build CPU kernels here, else ``(False, why)``.

    Inductor calls ``$CXX`` (default ``g++``; ``cl`` on Windows); this looks for
    the same program, without running it.
    """
    default = "cl" if sys.platform == "win32" else "g++"
    cxx = os.environ.get("CXX") or default
    where = shutil.which(cxx)
    if where is None:
        var = " (from $CXX)" if os.environ.get("CXX") else ""
        return False, f"no C++ compiler: {cxx}{var} is not on PATH"
    return True, f"{cxx} at {where}"


def inductor_cache_dir() -> Path:
    """Point inductor's on-disk cache into vsr's cache folder unless the user chose one; returns the folder used."""
    if not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        # Inductor's default lives under /tmp, which many systems clear at boot: compiled kernels would not survive.
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir() / INDUCTOR)
    return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])


def one_line(e: BaseException) -> str:
    """``Type: first line of the message`` (200 characters at most), for one-line fallback reasons."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


class CompiledForward:
    """``fn(x)`` = ``model(x, scale)`` through ``torch.compile`` with freezing; eager after a failed compilation.

    Args:
        model: an eval-mode module called as ``model(x, scale)``.
        scale: the scale passed to it.
        dynamic: compile once for any input size (slower kernels) instead of once per size.

    ``fallback_reason`` is ``None`` while compiled, else the one-line reason it
    runs eagerly; ``compile_seconds`` is the time of the first (compiling) call.
    """

    def __init__(self, model: nn.Module, scale: int, *, dynamic: bool = False) -> None:
        self.model, self.scale = model, scale
        self.fallback_reason: str | None = None
        self.compile_seconds: float | None = None
        ok, why = compiler_status()
        self._fn: Callable[[torch.Tensor], torch.Tensor] | None = None
        if not ok:
            self._fall_back(why)
            return
        self._fn = torch.compile(ScaleBound(model, scale), backend="inductor", dynamic=dynamic)

    def _fall_back(self, why: str) -> None:
        self.fallback_reason = why
        self._fn = None
        log.warning("torch.compile unavailable (%s); running the model eagerly", why)

    @property
    def compiled(self) -> bool:
        """Whether calls go through compiled code."""
        return self._fn is not None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the model on ``x``; the first call compiles."""
        if self._fn is None:
            return self.model(x, self.scale)
        first = self.compile_seconds is None
        t0 = time.perf_counter()
        try:
            with compile_settings():
                y = self._fn(x)
        except torch.OutOfMemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - any compiler failure (missing headers, linker, inductor bug) means: run eagerly
            self._fall_back(one_line(e))
            return self.model(x, self.scale)
        if first:
            self.compile_seconds = time.perf_counter() - t0
        return y


#: Input shapes one compiled model may have graphs for: tiles, transposes (self-ensemble), short last batches and
#: the files of a folder each need one; past dynamo's default of 8 it warns on stderr and runs the slow path.
SHAPES_LIMIT = 64


@contextlib.contextmanager
def compile_settings() -> Iterator[None]:
    """Inductor with freezing (weights become constants: folded, pre-packed for oneDNN) and room for many shapes.

    Freezing through config, not ``compile(options=...)``: with the latter, int8
    weight pre-packing fails in torch 2.13.
    """
    from torch._dynamo import config as dynamo_config
    from torch._inductor import config

    with config.patch(freezing=True), dynamo_config.patch(recompile_limit=SHAPES_LIMIT):
        yield


class ScaleBound(nn.Module):
    """``model(x, scale)`` as a one-argument module, so the scale is a constant to a compiler or exporter."""

    def __init__(self, model: nn.Module, scale: int) -> None:
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.scale)
