"""MDSR: multi-scale deep super-resolution (one body shared by x2, x3 and x4).

From Lim et al., CVPR-W 2017 (arXiv:1707.02921). Parameter names match the
authors' EDSR-PyTorch code. Unlike that code, the scale is an argument of
``forward`` rather than mutable state set by ``set_scale``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vsr.errors import UnsupportedError
from vsr.models._blocks import MeanShift, ResBlock, Upsampler, conv

__all__ = ["MDSR", "mdsr", "mdsr_baseline", "MDSR_SCALES"]

#: Branch order of the published files: index 0 = x2, 1 = x3, 2 = x4.
MDSR_SCALES: tuple[int, ...] = (2, 3, 4)


class MDSR(nn.Module):
    """Multi-scale EDSR: scale-specific heads (``pre_process``) and tails (``upsample``).

    Input and output are float RGB ``N x 3 x H x W`` on the 0..255 scale.

    Args:
        n_resblocks: residual blocks in the shared body.
        n_feats: feature width.
        res_scale: factor on each residual branch.
        scales: scales with their own branch, in branch order. Always build all
            branches of a file you load: the published files hold 2, 3, 4.
    """

    arch = "mdsr"

    def __init__(
        self,
        *,
        n_resblocks: int = 16,
        n_feats: int = 64,
        res_scale: float = 1.0,
        scales: tuple[int, ...] = MDSR_SCALES,
    ) -> None:
        super().__init__()
        self.scales = tuple(int(s) for s in scales)
        if len(set(self.scales)) != len(self.scales):
            raise UnsupportedError(f"MDSR scales must be distinct, got {self.scales}")
        self.config: dict[str, Any] = {
            "arch": "mdsr",
            "n_resblocks": int(n_resblocks),
            "n_feats": int(n_feats),
            "res_scale": float(res_scale),
            "scales": list(self.scales),
        }
        self.sub_mean = MeanShift(-1)
        self.add_mean = MeanShift(+1)
        self.head = nn.Sequential(conv(3, n_feats))
        self.pre_process = nn.ModuleList(
            [nn.Sequential(ResBlock(n_feats, 5, res_scale), ResBlock(n_feats, 5, res_scale)) for _ in self.scales]
        )
        self.body = nn.Sequential(
            *[ResBlock(n_feats, 3, res_scale) for _ in range(n_resblocks)], conv(n_feats, n_feats)
        )
        self.upsample = nn.ModuleList([Upsampler(s, n_feats) for s in self.scales])
        self.tail = nn.Sequential(conv(n_feats, 3))

    def branch(self, scale: int) -> int:
        """Index of the branch that upscales by ``scale``."""
        try:
            return self.scales.index(int(scale))
        except ValueError:
            raise UnsupportedError(
                f"this MDSR model has branches for x{', x'.join(map(str, self.scales))}; it cannot upscale x{scale}"
            ) from None

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        """Upscale ``x`` by ``scale`` (required unless the model has a single branch)."""
        if scale is None:
            if len(self.scales) != 1:
                raise UnsupportedError(f"MDSR needs a scale: one of {', '.join(map(str, self.scales))}")
            scale = self.scales[0]
        idx = self.branch(scale)
        x = self.head(self.sub_mean(x))
        x = self.pre_process[idx](x)
        # The global skip starts after pre_process, as in the official code.
        x = self.body(x) + x
        return self.add_mean(self.tail(self.upsample[idx](x)))


def mdsr_baseline(*, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0) -> MDSR:
    """MDSR-baseline: 16 shared blocks, 64 features, x2/x3/x4 branches (3.23M params)."""
    return MDSR(n_resblocks=n_resblocks, n_feats=n_feats, res_scale=res_scale)


def mdsr(*, n_resblocks: int = 80, n_feats: int = 64, res_scale: float = 1.0) -> MDSR:
    """MDSR (paper): 80 shared blocks, 64 features, x2/x3/x4 branches (7.95M params)."""
    return MDSR(n_resblocks=n_resblocks, n_feats=n_feats, res_scale=res_scale)
