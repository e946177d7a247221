"""``--precision int8``: vsr's post-training quantization recipe, and its torch runtime (torchao PT2E, compiled).

Two runtimes share the recipe: OpenVINO's int8 CPU kernels, fed the
fake-quantized graph of :func:`fake_quantized` (``vsr.inference._openvino``; faster, and
the default when ``vsr[cpu-openvino]`` is installed), and torchao's PT2E x86
inductor quantizer compiled by inductor (:class:`Int8Forward`; dependency-light).

The recipe, and why each part is there (what each part costs and gains, measured on
the bundled weights: ``vsr/weights/MODEL_CARD.md``, ``benchmarks/RESULTS.md``,
``benchmarks/bench_int8.py``):

- **7-bit weights** (``-64..63``, per output channel). oneDNN's int8 conv on CPUs
  without VNNI multiplies u8 activations by s8 weights with ``vpmaddubsw``,
  which adds pairs of products into a saturating int16: ``2 * 255 * 127``
  overflows it, ``2 * 255 * 63`` does not. With 8-bit weights the compiled
  kernels of AVX2-only CPUs lose most of the PSNR while the uncompiled reference
  scores fine; ``tests/test_int8.py`` reproduces it with ``ONEDNN_MAX_CPU_ISA=AVX2``.
- **Edge convolutions in fp32**: the head (3 -> 64 channels), the last body
  conv, the upsampler and the tail carry the image itself rather than
  features, and quantizing them costs most of the PSNR. OpenVINO's graph rounds
  only conv inputs, so there only the head and the final conv stay fp32: the
  upsampler and the last body conv cost little PSNR in int8 and make it faster.
- **Min/max activation ranges**, not histogram-optimal clipping: super-resolution
  puts its information into the rare large activations at edges, which MSE
  clipping cuts.
- **Calibration on images vsr draws itself** (:func:`calibration_patches`):
  dead-leaves images, whose occluding discs and bars have the scale-invariant
  edge statistics of natural images, never test sets.

The quantized graph is only fast once inductor has fused it into oneDNN int8
kernels, so int8 needs a C++ compiler and refuses without one.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from vsr.inference._compiled import ScaleBound, compile_settings, compiler_status
from vsr.errors import UnsupportedError

__all__ = ["int8_status", "calibration_patches", "edge_layers", "quantize_int8", "Int8Forward", "fake_quantized",
           "activation_ranges", "RECIPE"]

log = logging.getLogger(__name__)

#: Weight range: 7 bits, so that pairwise u8 x s8 sums fit the int16 of non-VNNI kernels.
WEIGHT_RANGE = (-64, 63)
#: Names the recipe in caches of quantized models: change it when the recipe changes.
RECIPE = ("int8-v3: 7-bit symmetric per-channel weights, u8 min/max per-tensor conv inputs, head and tail fp32 "
          "(torchao: also the last body conv), dead leaves")


def int8_status() -> tuple[bool, str]:
    """``(True, "torchao x.y")`` when int8 can run here, else ``(False, why)`` naming the fix."""
    try:
        torchao = _import_torchao()
    except ImportError:
        return False, ("--precision int8 needs OpenVINO (pip install 'vsr[cpu-openvino]', the faster) "
                       "or torchao (pip install 'vsr[cpu-int8]')")
    ok, why = compiler_status()
    if not ok:
        return False, f"--precision int8 needs a C++ compiler for torch.compile ({why}); install g++ or set CXX"
    return True, f"torchao {torchao.__version__}"


def _import_torchao() -> Any:
    """``import torchao`` without its start-up chatter (CUDA-only kernels that a CPU build cannot load, an Enum deprecation)."""
    import sys

    if "torchao" in sys.modules and sys.modules["torchao"] is not None:
        return sys.modules["torchao"]
    loggers = [logging.getLogger(n) for n in ("torchao", "torch.utils._pytree")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        import torchao

        return torchao
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _dead_leaves(rng: np.random.Generator, size: int, discs: int) -> np.ndarray:
    """One dead-leaves image (Lee, Mumford & Huang 2001), drawn at 2x and reduced, with a little grain."""
    import cv2

    big = 2 * size
    img = np.empty((big, big, 3), np.float32)
    img[:] = rng.uniform(0, 255, 3)
    for _ in range(discs):
        # Radius density ~ r^-3 between 1.5 and 40 pixels: the scale-invariant size law of natural images.
        r = int(min(big / 2, 2 / np.sqrt(rng.uniform(1 / 40**2, 1 / 1.5**2))))
        colour = rng.uniform(0, 255, 3).tolist()
        cx, cy = (int(v) for v in rng.integers(0, big, 2))
        if rng.random() < 0.3:
            cv2.rectangle(img, (cx - r, cy - r // 3), (cx + r, cy + r // 3), colour, -1)
        else:
            cv2.circle(img, (cx, cy), max(r, 1), colour, -1)
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 2, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def calibration_patches(count: int = 16, size: int = 96, seed: int = 0) -> list[torch.Tensor]:
    """``count`` deterministic dead-leaves images as float ``1 x 3 x size x size`` tensors on 0..255."""
    rng = np.random.default_rng(seed)
    return [torch.from_numpy(_dead_leaves(rng, size, 600)).permute(2, 0, 1)[None].float() for _ in range(count)]


def edge_layers(model: nn.Module, *, outputs_rounded: bool = True) -> list[str]:
    """Names of the modules kept in fp32: head, the last body conv, and everything after the body.

    That is torchao's recipe, whose quantizer also rounds conv outputs and
    residual adds to u8. ``outputs_rounded=False`` is the recipe of the
    OpenVINO runtime, whose graph rounds only conv inputs and weights: there the
    sub-pixel (upsampler) convolutions and the last body conv are quantized too
    and only the convs that touch the image stay fp32 (what that costs and gains:
    ``benchmarks/bench_int8.py --ablation``, the model card).
    """
    names = [n for n in ("head", "tail", "upsample") if isinstance(getattr(model, n, None), nn.Module)]
    if not outputs_rounded:
        names = [n for n in names if n != "upsample"]  # MDSR: one Upsampler per scale
        tail = getattr(model, "tail", None)
        if isinstance(tail, nn.Sequential) and isinstance(tail[0], nn.Sequential) and "tail" in names:
            # EDSR: tail = [Upsampler, conv]; keep only what follows the upsampler.
            names[names.index("tail")] = f"tail.{len(tail) - 1}"
        return names
    body = getattr(model, "body", None)
    if isinstance(body, nn.Sequential) and len(body) and isinstance(body[-1], nn.Conv2d):
        names.append(f"body.{len(body) - 1}")
    return names


def _kept(name: str, keep: Sequence[str]) -> bool:
    return any(name == k or name.startswith(k + ".") for k in keep)


def activation_ranges(model: nn.Module, scale: int, names: Sequence[str],
                      patches: Sequence[torch.Tensor]) -> dict[str, tuple[float, float]]:
    """The min and max of the input of each module in ``names`` over ``model(p, scale)`` for every patch."""
    ranges = {n: (float("inf"), float("-inf")) for n in names}

    def hook(name: str) -> Callable[..., None]:
        def record(_: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            lo, hi = ranges[name]
            ranges[name] = (min(lo, float(args[0].min())), max(hi, float(args[0].max())))
        return record

    handles = [model.get_submodule(n).register_forward_pre_hook(hook(n)) for n in names]
    try:
        with torch.no_grad():
            for p in patches:
                model(p.float(), scale)
    finally:
        for h in handles:
            h.remove()
    return ranges


class _FakeQuantConv(nn.Module):
    """A conv whose input is rounded to u8 (per tensor) and its weights to 7 bits (per output channel), then run in float.

    Exported to ONNX, the two roundings become QuantizeLinear/DequantizeLinear
    pairs, which OpenVINO turns into an int8 convolution.
    """

    def __init__(self, conv: nn.Conv2d, lo: float, hi: float) -> None:
        super().__init__()
        self.conv = conv
        lo, hi = min(lo, 0.0), max(hi, 0.0)  # zero must be exact: padding is zeros
        self.act_scale = max((hi - lo) / 255, 1e-8)
        self.act_zero = int(round(-lo / self.act_scale))
        # Symmetric, |q| <= 63 stored in int8: the 7-bit range of WEIGHT_RANGE without its -64.
        w_scale = conv.weight.detach().abs().amax(dim=(1, 2, 3)).float() / WEIGHT_RANGE[1]
        self.register_buffer("w_scale", w_scale.clamp_min(1e-12))
        self.register_buffer("w_zero", torch.zeros(conv.out_channels, dtype=torch.int32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.fake_quantize_per_tensor_affine(x, self.act_scale, self.act_zero, 0, 255)
        w = torch.fake_quantize_per_channel_affine(self.conv.weight, self.w_scale, self.w_zero, 0, -128, 127)
        c = self.conv
        return torch.nn.functional.conv2d(x, w, c.bias, c.stride, c.padding, c.dilation, c.groups)


def fake_quantized(model: nn.Module, scale: int, *, keep: Sequence[str] | None = None,
                   patches: Sequence[torch.Tensor] | None = None) -> nn.Module:
    """A copy of ``model``, its scale fixed, whose convolutions outside ``keep`` are fake-quantized.

    ``keep`` defaults to ``edge_layers(model, outputs_rounded=False)`` (OpenVINO's recipe).

    Calibrated on ``patches`` (:func:`calibration_patches`). Run in torch it
    is the float reference of the int8 model; exported to ONNX it is the
    quantized model that OpenVINO runs with int8 kernels. Call it as ``q(x)``.
    """
    model = copy.deepcopy(model).float().eval()
    keep = [*(edge_layers(model, outputs_rounded=False) if keep is None else keep)]
    convs = [n for n, m in model.named_modules()
             if type(m) is nn.Conv2d and not _kept(n, keep)]  # MeanShift is a Conv2d subclass: kept
    ranges = activation_ranges(model, scale, convs, calibration_patches() if patches is None else patches)
    for name in convs:
        parent, _, child = name.rpartition(".")
        conv = model.get_submodule(name)
        assert isinstance(conv, nn.Conv2d)
        setattr(model.get_submodule(parent), child, _FakeQuantConv(conv, *ranges[name]))
    return ScaleBound(model, scale).eval()


def _quantizer(model_prefix: str, keep: Sequence[str], weight_range: tuple[int, int]) -> Any:
    from torchao.quantization.pt2e import MinMaxObserver
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    cfg = xiq.get_default_x86_inductor_quantization_config()
    act = dataclasses.replace(cfg.input_activation, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
    weight = dataclasses.replace(cfg.weight, quant_min=weight_range[0], quant_max=weight_range[1])
    cfg = dataclasses.replace(cfg, input_activation=act, output_activation=act, weight=weight)
    q = xiq.X86InductorQuantizer().set_global(cfg)
    for name in keep:
        q.set_module_name_qconfig(f"{model_prefix}{name}", None)
    return q


def quantize_int8(
    model: nn.Module,
    scale: int,
    *,
    keep: Sequence[str] | None = None,
    patches: Sequence[torch.Tensor] | None = None,
    weight_range: tuple[int, int] = WEIGHT_RANGE,
    quantizer: Any = None,
) -> nn.Module:
    """The int8 (reference-quantized) graph of ``model(x, scale)``, calibrated on ``patches``; call it as ``q(x)``.

    ``keep`` defaults to :func:`edge_layers`; ``quantizer`` replaces the whole
    recipe (the tests pass torchao's default one to show that it saturates).
    Uncompiled, the result runs fp32 convolutions on rounded values: correct
    but slow; :class:`Int8Forward` compiles it.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    patches = list(patches) if patches is not None else calibration_patches()
    keep = edge_layers(model) if keep is None else keep
    bound = ScaleBound(copy.deepcopy(model).float().eval(), scale)
    dims = {0: torch.export.Dim("n", min=1, max=1024), 2: torch.export.Dim("h", min=4, max=8192),
            3: torch.export.Dim("w", min=4, max=8192)}
    example = torch.cat([patches[0], patches[-1]])  # a batch of 2, so that export does not specialise the batch to 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # export/PT2E deprecation chatter is not the user's business
        graph = torch.export.export(bound, (example,), dynamic_shapes=(dims,)).module()
        prepared = prepare_pt2e(graph, quantizer or _quantizer("model.", keep, weight_range))  # type: ignore[arg-type]
        with torch.no_grad():
            for p in patches:
                prepared(p)
        return convert_pt2e(prepared)  # type: ignore[no-any-return]


class Int8Forward:
    """``fn(x)`` = the int8 model on float ``N x 3 x H x W`` (0..255), compiled by inductor with freezing.

    Quantization (calibration included, a few seconds) happens here; compilation
    on the first call of each input shape (``benchmarks/RESULTS.md`` has the times).
    """

    def __init__(self, model: nn.Module, scale: int, *, quantizer: Any = None) -> None:
        ok, why = int8_status()
        if not ok:
            raise UnsupportedError(why)
        t0 = time.perf_counter()
        self.model, self.scale = model, scale
        self.quantized = quantize_int8(model, scale, quantizer=quantizer)
        self.quantize_seconds = time.perf_counter() - t0
        self._fn = torch.compile(self.quantized, backend="inductor", dynamic=False)
        log.info("int8 model ready in %.1f s (kept in fp32: %s)", self.quantize_seconds, ", ".join(edge_layers(model)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the int8 model; the first call of each shape compiles."""
        with torch.no_grad(), compile_settings():
            return self._fn(x.float().contiguous(memory_format=torch.channels_last))  # type: ignore[no-any-return]
