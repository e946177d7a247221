"""Tiny random models shared by the tests: the real EDSR/MDSR architectures, small enough to run in milliseconds.

:func:`make_tiny_model` seeds torch before it builds, so the same arguments give
the same weights in every test (and leave torch's generator in the same state
afterwards). The conftest fixtures ``tiny_model`` and ``ckpt`` are the common
case, EDSR-baseline x2 with seed 0; a test that needs another variant calls
these functions.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vsr.models import get_model, save_model


def make_tiny_model(
    arch: str = "edsr_baseline", *, scale: int = 2, seed: int = 0, n_resblocks: int = 1, n_feats: int = 8
) -> nn.Module:
    """``get_model(arch, ...)`` with 1 block of 8 features after ``torch.manual_seed(seed)``; MDSR keeps all its branches."""
    torch.manual_seed(seed)
    return get_model(arch, scale=None if arch.startswith("mdsr") else scale, n_resblocks=n_resblocks, n_feats=n_feats)


def save_tiny_model(path: Path, arch: str = "edsr_baseline", **kw: int) -> Path:
    """:func:`make_tiny_model` written to ``path`` by ``vsr.models.save_model``; returns ``path``."""
    return save_model(make_tiny_model(arch, **kw), path)
