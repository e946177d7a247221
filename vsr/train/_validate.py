"""Validation during training: a model's mean PSNR (and SSIM) on a benchmark folder.

The forward pass is :class:`vsr.inference._upscaler.Upscaler`'s (memory format, autocast,
float output) and the rounding is its :func:`~vsr.inference._upscaler.quantize`, so a
validation score is what ``vsr eval`` measures for the same weights and precision.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
from torch import nn

from vsr.inference import Upscaler, quantize
from vsr.data import BenchmarkFolder
from vsr.metrics import get_protocol, psnr, ssim

__all__ = ["validate"]


@contextlib.contextmanager
def _lent(model: nn.Module) -> Iterator[None]:
    """Give ``model`` back as it was lent: its mode, each parameter's ``requires_grad``, and its tensors' layout.

    :class:`Upscaler` prepares a model for inference only (eval mode, gradients
    off, weights moved to the channels_last layout when asked); during training
    the same module goes on learning after validation, and a weight's layout
    picks the convolution code, so it must not change under the caller.
    """
    was_training = model.training
    params = [(p, p.data, p.requires_grad) for p in model.parameters()]
    buffers = [(name, b) for name, b in model.named_buffers()]
    try:
        yield
    finally:
        for p, data, flag in params:
            p.data = data
            p.requires_grad_(flag)
        for name, b in buffers:
            owner, _, attr = name.rpartition(".")
            setattr(model.get_submodule(owner), attr, b)
        model.train(was_training)


@torch.no_grad()
def validate(
    model: nn.Module,
    dataset: BenchmarkFolder,
    *,
    device: torch.device,
    precision: Literal["fp32", "bf16", "fp16"] = "fp32",
    channels_last: bool = True,
    protocol: str = "edsr-benchmark",
    with_ssim: bool = False,
) -> dict[str, float]:
    """Mean PSNR (and SSIM) of ``model`` on a benchmark folder under a :mod:`vsr.metrics` protocol.

    Outputs are quantized (clamp, round) before scoring; LR inputs are the
    folder's MATLAB-made files. ``model`` keeps its mode and trainable
    parameters; it is moved to ``device`` (and to channels_last when asked).
    """
    proto = get_protocol(protocol)
    crop = proto.crop_border(dataset.scale)
    psnrs: list[float] = []
    ssims: list[float] = []
    with _lent(model):
        up = Upscaler(model, scale=dataset.scale, device=device, precision=precision, batch_size=1,
                      channels_last=channels_last)
        for i in range(len(dataset)):
            item = dataset[i]
            # A contiguous NCHW input, as always: Upscaler's uint8 entry would pass a channels_last view,
            # which changes the conv path (and the last bits of fp32 scores) when channels_last is off.
            x = torch.from_numpy(np.ascontiguousarray(item.lr.transpose(2, 0, 1)))[None].to(device, torch.float32)
            pred = quantize(up.upscale_tensor(x))[0].permute(1, 2, 0).cpu().numpy()
            psnrs.append(psnr(pred, item.hr, crop_border=crop, y_channel=proto.y_channel))
            if with_ssim:
                ssims.append(ssim(pred, item.hr, crop_border=crop, y_channel=proto.y_channel))
    out = {"psnr": float(np.mean([v for v in psnrs if math.isfinite(v)] or [math.inf]))}
    if with_ssim:
        out["ssim"] = float(np.mean(ssims))
    return out
