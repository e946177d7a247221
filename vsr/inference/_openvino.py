"""The OpenVINO runtime: the model exported through ONNX to OpenVINO's CPU plugin, in fp32, bf16 or int8; eager fallback.

OpenVINO's CPU plugin fuses conv + bias + ReLU and the residual adds and runs
its own JIT kernels: in fp32 it gives the same pixels as eager, in bf16 (CPUs
with native bf16 only) about the PSNR of eager bf16 autocast, and in int8 it runs
vsr's recipe (``vsr.inference._int8``); its speed and quality against eager are
in ``benchmarks/RESULTS.md`` and the model card.
It is an optional extra (``pip install 'vsr[cpu-openvino]'``: openvino and onnx).

- The model (for int8: :func:`vsr.inference._int8.fake_quantized`, calibrated on
  vsr's own patches) is exported to ONNX with a dynamic input shape, read by
  ``Core.read_model`` and kept as IR (``.xml``/``.bin``) in
  ``<vsr cache>/openvino`` under a hash of the weights, the scale, the
  precision and the OpenVINO version; a later run loads it in well under a
  second. The folder keeps at most :data:`CACHE_BYTES`, least recently used
  entries first, and drops entries unused for :data:`UNUSED_SECONDS`. Not
  ``openvino.convert_model``: it sends usage telemetry unless the user opted
  out, and a video upscaler has no business doing that.
- Each input shape (batch, height, width) is then compiled for the CPU from that
  IR, which takes a fraction of a second, and kept for the rest of the run.
- Inference precision is set, never left to the plugin, whose default on CPUs
  with native bf16 is bf16: f32 for fp32 and int8 (int8 layers stay int8), bf16
  for bf16, which shares the fp32 IR and needs the plugin's BF16 capability
  (it is never emulated).
- Without ``openvino`` or ``onnx``, or when export or compilation fails, the
  model runs eagerly (fp32; bf16 under autocast) and one log line says why.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr.inference._compiled import ScaleBound, one_line
from vsr.inference._int8 import RECIPE, fake_quantized

__all__ = ["openvino_status", "plugin_has_bf16", "OpenVINOForward", "ir_path", "export_onnx"]

log = logging.getLogger(__name__)


def openvino_status() -> tuple[bool, str]:
    """``(True, "openvino 2026.4.1")`` when the runtime can be used here, else ``(False, why)``; imports nothing heavy."""
    for module in ("openvino", "onnx"):
        if importlib.util.find_spec(module) is None:
            return False, f"{module} is not installed (pip install 'vsr[cpu-openvino]')"
    from importlib.metadata import PackageNotFoundError, version

    try:
        return True, f"openvino {version('openvino')}"
    except PackageNotFoundError:
        return True, "openvino"


@functools.cache
def plugin_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bf16 natively here (its ``BF16`` optimization capability; asked once)."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def ir_path(model: nn.Module, scale: int, folder: Path, precision: str = "fp32", keep: Sequence[str] | None = None) -> Path:
    """Where the IR of ``model`` at ``scale`` is cached: ``folder/<hash of weights, scale, precision, openvino version>.xml``.

    ``keep``: the int8 model's fp32 layers when they are not the recipe's.
    """
    recipe = RECIPE if precision == "int8" else precision
    if precision == "int8" and keep is not None:
        recipe += f" fp32: {sorted(keep)}"
    h = hashlib.sha256(f"{type(model).__name__} x{scale} {recipe} {openvino_status()[1]}".encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return folder / f"{h.hexdigest()[:24]}.xml"


class OpenVINOForward:
    """``fn(x)`` = ``model(x, scale)`` through OpenVINO's CPU plugin in fp32, bf16 or int8; eager after a failure.

    Args:
        model: an eval-mode fp32 module called as ``model(x, scale)``.
        scale: the scale passed to it.
        cache: folder for the converted IR (``None``: convert in memory every run).
        threads: CPU threads for inference (0: OpenVINO's default).
        precision: ``fp32`` (same pixels as eager), ``bf16`` (bf16 inference precision, where the
            CPU plugin has it natively) or ``int8`` (vsr's recipe, :mod:`vsr.inference._int8`).
        keep: for int8, the convolutions to keep in fp32 (``None``: the recipe's,
            ``edge_layers(model, outputs_rounded=False)``).

    ``fallback_reason`` is ``None`` while OpenVINO runs the model, else the
    one-line reason it runs eagerly; ``compile_seconds`` is the set-up time of
    the first call (conversion or IR load, plus compilation for its shape), and
    ``shape_seconds`` the compilation time of each input shape so far.
    """

    def __init__(self, model: nn.Module, scale: int, *, cache: Path | None = None, threads: int = 0,
                 precision: str = "fp32", keep: Sequence[str] | None = None) -> None:
        if precision not in ("fp32", "bf16", "int8"):
            raise ValueError(f"OpenVINO runs fp32, bf16 or int8, not {precision}")
        self.model, self.scale, self.cache, self.threads, self.precision = model, scale, cache, threads, precision
        self.keep = None if keep is None else list(keep)
        self.fallback_reason: str | None = None
        self.compile_seconds: float | None = None
        self.shape_seconds: list[float] = []
        self._ir: Any = None
        self._compiled: dict[tuple[int, ...], Any] = {}
        ok, why = openvino_status()
        if not ok:
            self._fall_back(why)

    def _fall_back(self, why: str) -> None:
        self.fallback_reason = why
        log.warning("OpenVINO unavailable (%s); running the model eagerly in %s", why,
                    "bf16" if self.precision == "bf16" else "fp32")

    @property
    def active(self) -> bool:
        """Whether calls go through OpenVINO."""
        return self.fallback_reason is None

    def _load_ir(self) -> Any:
        """The IR with a dynamic input shape: from the cache, else exported now (and cached)."""
        import openvino as ov

        core = ov.Core()
        graph = "int8" if self.precision == "int8" else "fp32"  # bf16 is a compile-time setting of the fp32 graph
        path = ir_path(self.model, self.scale, self.cache, graph, self.keep) if self.cache is not None else None
        if path is not None and path.exists() and path.with_suffix(".bin").exists():
            try:
                ir = core.read_model(str(path))
                with contextlib.suppress(OSError):
                    os.utime(path)  # the time of last use, which decides what the cache keeps (_prune_cache)
                return ir
            except Exception as e:  # noqa: BLE001 - a damaged cache entry is converted again
                log.info("ignoring the unreadable OpenVINO IR %s (%s)", path, one_line(e))
        module = (fake_quantized(self.model, self.scale, keep=self.keep) if self.precision == "int8"
                  else ScaleBound(self.model, self.scale).eval())
        with tempfile.TemporaryDirectory(prefix="vsr-onnx-") as tmp:
            onnx = Path(tmp) / "model.onnx"
            export_onnx(module, onnx)
            ov_model = core.read_model(str(onnx))
        if path is not None and _save_atomically(ov, ov_model, path):
            try:
                _prune_cache(path.parent, keep=path)
            except OSError as e:  # the folder changed under us: pruning waits for the next save, the model runs on
                log.info("could not prune the OpenVINO cache %s (%s)", path.parent, e)
        return ov_model

    def _compile(self, shape: tuple[int, ...]) -> Any:
        import openvino as ov

        if self._ir is None:
            self._ir = self._load_ir()
        model = self._ir.clone()
        model.reshape({model.inputs[0]: ov.PartialShape(list(shape))})
        hint = "f32"
        if self.precision == "bf16":
            if not plugin_has_bf16():
                raise RuntimeError("OpenVINO's CPU plugin has no native bf16 on this CPU")
            hint = "bf16"
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        t0 = time.perf_counter()
        with _own_signal_stack():
            compiled = ov.Core().compile_model(model, "CPU", config)
        self.shape_seconds.append(time.perf_counter() - t0)
        return compiled

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the model on float NCHW ``x``; the first call for a shape compiles it (the first of all converts)."""
        if not self.active:
            return self._eager(x)
        shape = tuple(x.shape)
        t0 = time.perf_counter()
        try:
            compiled = self._compiled.get(shape)
            if compiled is None:
                compiled = self._compiled[shape] = self._compile(shape)
            out = compiled(x.detach().to("cpu", torch.float32).contiguous().numpy())[0]
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - any conversion or plugin failure means: run eagerly
            self._fall_back(one_line(e))
            return self._eager(x)
        if self.compile_seconds is None:
            self.compile_seconds = time.perf_counter() - t0
        return torch.from_numpy(out)

    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        if self.precision != "bf16":
            return self.model(x, self.scale)  # type: ignore[no-any-return]
        with torch.autocast("cpu", torch.bfloat16):
            return self.model(x, self.scale).float()  # type: ignore[no-any-return]


def export_onnx(module: nn.Module, path: Path) -> None:
    """Write ``module(x)`` (float ``N x 3 x H x W``) to ``path`` as ONNX with a dynamic batch, height and width.

    The TorchScript-based exporter: it needs only the ``onnx`` package (the
    dynamo one also needs onnxscript), and it turns fake quantization into
    QuantizeLinear/DequantizeLinear pairs, which OpenVINO reads as int8.
    """
    example = torch.zeros(1, 3, 16, 16)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # "legacy exporter" deprecation chatter: the dynamo exporter needs more dependencies
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@contextlib.contextmanager
def _own_signal_stack() -> Iterator[None]:
    """Put back this thread's alternate signal stack after the block (Linux; elsewhere a no-op).

    OpenVINO 2026.4's CPU plugin installs an 11 KB alternate signal stack on the
    thread that compiles a model and hands it back when that model is destroyed;
    when two compiled models are destroyed out of order, the thread is left with
    a stack that was freed, and the next signal (Ctrl-C) crashes the process
    with SIGSEGV instead of raising ``KeyboardInterrupt``. Python's own handlers
    do not need that stack, so vsr restores whatever the thread had before.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        before = _StackT()
        saved = sys.platform.startswith("linux") and libc.sigaltstack(None, ctypes.byref(before)) == 0
    except (OSError, AttributeError):
        saved = False
    try:
        yield
    finally:
        if saved:
            if before.ss_flags & 2:  # SS_DISABLE: there was none
                before = _StackT(None, 2, 0)
            libc.sigaltstack(ctypes.byref(before), None)


def _save_atomically(ov: Any, ov_model: Any, path: Path) -> bool:
    """Save the IR next to ``path`` and rename it into place (``.bin`` first), so a reader never sees half of it.

    Returns whether it was saved (a failure is one warning line).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".partial-") as tmp:
            xml = Path(tmp) / path.name
            ov.save_model(ov_model, str(xml), compress_to_fp16=False)  # the default would halve the weights
            os.replace(xml.with_suffix(".bin"), path.with_suffix(".bin"))
            os.replace(xml, path)
    except OSError as e:
        log.warning("could not cache the OpenVINO IR in %s (%s); the next run will convert again", path.parent, e)
        return False
    return True


#: Most bytes of IR the cache keeps; the least recently used entries go first (EDSR-baseline: 6 MiB, EDSR: 165 MiB).
CACHE_BYTES = 2 << 30
#: Entries not used for this long are removed even under the budget (those of an old recipe or OpenVINO version).
UNUSED_SECONDS = 30 * 86400
#: Age after which a half-written entry (a process killed while saving) is removed.
_PARTIAL_SECONDS = 3600


def _prune_cache(folder: Path, keep: Path, budget: int = CACHE_BYTES) -> None:
    """Keep the IR cache in ``folder`` under ``budget`` bytes, and remove what killed processes left.

    Every new weight file, scale, precision, int8 recipe or OpenVINO version adds
    an entry, and entries of an old recipe or version are never read again, so
    without a bound the folder only grows. Entries not used for
    :data:`UNUSED_SECONDS` go, then the least recently used ones until the rest
    fits (an entry's ``.xml`` time is set on every use); ``keep``, the one just
    written, always stays. A ``.bin`` without its ``.xml`` and ``.partial-*``
    folders are removed once an hour old (younger ones may be another process's
    save in progress). Files that cannot be removed are left alone.
    """
    now = time.time()
    entries: list[tuple[float, int, Path]] = []
    removed, freed = 0, 0
    for f in folder.iterdir():
        try:
            st = f.stat()
            if f.name.startswith(".partial-") and now - st.st_mtime > _PARTIAL_SECONDS:
                shutil.rmtree(f, ignore_errors=True)
            elif f.suffix == ".bin" and not f.with_suffix(".xml").exists() and now - st.st_mtime > _PARTIAL_SECONDS:
                f.unlink()
                removed, freed = removed + 1, freed + st.st_size
            elif f.suffix == ".xml" and f != keep:
                bin_ = f.with_suffix(".bin")
                entries.append((st.st_mtime, st.st_size + (bin_.stat().st_size if bin_.exists() else 0), f))
        except OSError:
            continue
    total = sum(size for _, size, _ in entries) + sum(p.stat().st_size for p in (keep, keep.with_suffix(".bin")) if p.exists())
    for used, size, xml in sorted(entries):  # oldest use first
        if total <= budget and now - used <= UNUSED_SECONDS:
            break
        try:
            xml.unlink()  # the .xml first: a reader that finds no .xml converts again instead of reading half an entry
            xml.with_suffix(".bin").unlink(missing_ok=True)
        except OSError:
            continue
        total -= size
        removed, freed = removed + 1, freed + size
    if removed:
        log.info("OpenVINO cache %s: removed %d unused or half-written entries (%.0f MiB); it keeps at most %.0f MiB",
                 folder, removed, freed / 2**20, budget / 2**20)
