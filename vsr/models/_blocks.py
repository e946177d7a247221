"""Building blocks shared by EDSR and MDSR (Lim et al., CVPR-W 2017).

Parameter names follow the official EDSR-PyTorch layout so that the published
checkpoints load with strict key checking.
"""

from __future__ import annotations

import torch
from torch import nn

from vsr.errors import UnsupportedError

__all__ = ["DIV2K_RGB_MEAN", "MeanShift", "ResBlock", "Upsampler", "conv", "SUPPORTED_SCALES"]

#: Mean RGB of the DIV2K training set, as used by the official code.
DIV2K_RGB_MEAN: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)

#: Scales an :class:`Upsampler` can build (2^n sub-pixel steps, or one x3 step).
SUPPORTED_SCALES: tuple[int, ...] = (2, 3, 4, 8)


def conv(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Conv2d:
    """A same-padded convolution with bias (every conv of EDSR/MDSR)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=True)


class MeanShift(nn.Conv2d):
    """Frozen 1x1 conv that adds ``sign * 255 * mean`` to each RGB channel.

    It is a conv rather than a buffer because the official checkpoints store it
    as ``sub_mean.weight/bias`` and ``add_mean.weight/bias``.
    """

    def __init__(
        self,
        sign: int,
        rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN,
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean))
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    """``x + res_scale * conv(relu(conv(x)))``, without batch norm."""

    def __init__(
        self,
        n_feats: int,
        kernel_size: int = 3,
        res_scale: float = 1.0,
        act: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        # Index 1 is the activation: keys are body.0.* and body.2.* as in the official files.
        self.body = nn.Sequential(conv(n_feats, n_feats, kernel_size), act(), conv(n_feats, n_feats, kernel_size))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x)
        if self.res_scale != 1.0:
            res = res * self.res_scale
        return x + res


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling: ``[conv(nf -> 4nf), PixelShuffle(2)]`` per factor 2, or one x3 step."""

    def __init__(self, scale: int, n_feats: int) -> None:
        layers: list[nn.Module] = []
        if scale in (2, 4, 8):
            for _ in range(scale.bit_length() - 1):
                layers += [conv(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv(n_feats, 9 * n_feats), nn.PixelShuffle(3)]
        else:
            raise UnsupportedError(
                f"scale {scale} is not supported by the sub-pixel upsampler; supported scales: "
                f"{', '.join(map(str, SUPPORTED_SCALES))}"
            )
        super().__init__(*layers)
