"""EDSR: Enhanced Deep Residual Network for single-image super-resolution.

Lim, Son, Kim, Nah, Lee, "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPR workshops 2017 (arXiv:1707.02921). Written from the
paper and the facts of the authors' EDSR-PyTorch code (MIT); parameter names
match that code so its published checkpoints load unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vsr.errors import UnsupportedError
from vsr.models._blocks import MeanShift, ResBlock, Upsampler, conv

__all__ = ["EDSR", "edsr", "edsr_baseline", "edsr_fast", "edsr_medium"]


class EDSR(nn.Module):
    """Single-scale EDSR.

    Input and output are float RGB ``N x 3 x H x W`` on the 0..255 scale; the
    output is not clamped (quantize it for display or scoring).

    Args:
        scale: upscaling factor (2, 3, 4 or 8).
        n_resblocks: number of residual blocks ``R`` in the body.
        n_feats: feature width.
        res_scale: factor on each residual branch (0.1 for the wide paper model).
    """

    arch = "edsr"

    def __init__(self, *, scale: int, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0) -> None:
        super().__init__()
        self.scale = int(scale)
        self.scales: tuple[int, ...] = (self.scale,)
        self.config: dict[str, Any] = {
            "arch": "edsr",
            "n_resblocks": int(n_resblocks),
            "n_feats": int(n_feats),
            "res_scale": float(res_scale),
            "scales": [self.scale],
        }
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = nn.Sequential(conv(3, n_feats))
        self.body = nn.Sequential(
            *[ResBlock(n_feats, 3, res_scale) for _ in range(n_resblocks)], conv(n_feats, n_feats)
        )
        self.tail = nn.Sequential(Upsampler(self.scale, n_feats), conv(n_feats, 3))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Body features (after the global skip), before upsampling."""
        x = self.head(self.sub_mean(x))
        return self.body(x) + x

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        """Upscale ``x`` by ``self.scale``; ``scale``, if given, must equal it."""
        if scale is not None and scale != self.scale:
            raise UnsupportedError(f"this EDSR model upscales x{self.scale}; it cannot upscale x{scale}")
        return self.add_mean(self.tail(self.forward_features(x)))


def edsr_baseline(*, scale: int = 2, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0) -> EDSR:
    """EDSR-baseline: 16 blocks, 64 features, res_scale 1 (1.37M params at x2)."""
    return EDSR(scale=scale, n_resblocks=n_resblocks, n_feats=n_feats, res_scale=res_scale)


def edsr_medium(*, scale: int = 2, n_resblocks: int = 8, n_feats: int = 48, res_scale: float = 1.0) -> EDSR:
    """EDSR-medium: 8 blocks, 48 features, res_scale 1 (0.44M params at x2), the ladder's middle rung."""
    return EDSR(scale=scale, n_resblocks=n_resblocks, n_feats=n_feats, res_scale=res_scale)


def edsr_fast(*, scale: int = 2, n_resblocks: int = 8, n_feats: int = 32, res_scale: float = 1.0) -> EDSR:
    """EDSR-fast: 8 blocks, 32 features, res_scale 1 (0.20M params at x2), the ladder's fastest rung."""
    return EDSR(scale=scale, n_resblocks=n_resblocks, n_feats=n_feats, res_scale=res_scale)


def edsr(*, scale: int = 2, n_resblocks: int = 32, n_feats: int = 256, res_scale: float = 0.1) -> EDSR:
    """EDSR (paper): 32 blocks, 256 features, res_scale 0.1 (40.7M params at x2)."""
    return EDSR(scale=scale, n_resblocks=n_resblocks, n_feats=n_feats, res_scale=res_scale)
