"""What a recipe builds: the training sources, the untrained model, and the learning rate of each step."""

from __future__ import annotations

import math

from torch import nn

from vsr.data import DIV2K, REDS, FrameSource, ImageFolder, VideoFrames, Vimeo90K
from vsr.errors import ConfigError
from vsr.models import get_model
from vsr.train._config import DataConfig, ModelConfig, OptimConfig, SourceConfig

__all__ = ["build_source", "build_sources", "build_train_model", "lr_at"]


def lr_at(optim: OptimConfig, iteration: int, total: int) -> float:
    """The learning rate of (0-based) step ``iteration`` of a ``total``-step run."""
    if iteration < optim.warmup:
        return optim.lr * (iteration + 1) / optim.warmup
    if optim.schedule == "constant":
        return optim.lr
    if optim.schedule == "step":
        return optim.lr * optim.gamma ** sum(1 for m in optim.milestones if iteration >= m)
    span = max(1, total - optim.warmup)
    progress = min(1.0, (iteration - optim.warmup) / span)
    return optim.min_lr + (optim.lr - optim.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_source(src: SourceConfig) -> FrameSource:
    """The frame source a ``[[data.sources]]`` entry describes (cached sources are decoded now)."""
    source: FrameSource
    if src.kind == "image_folder":
        source = ImageFolder(src.path, recursive=src.recursive, cache=src.cache)
    elif src.kind == "div2k":
        source = DIV2K(src.path, split=src.split, first=src.first, last=src.last, cache=src.cache)
    elif src.kind == "reds":
        source = REDS(src.path, exclude=src.exclude, frame_stride=src.frame_stride, cache=src.cache)
    elif src.kind == "vimeo90k":
        source = Vimeo90K(src.path, list_file=src.list_file or None, frame_stride=src.frame_stride, cache=src.cache)
    elif src.kind == "video_files":
        source = VideoFrames(src.path, frame_stride=src.frame_stride, max_frames=src.max_frames or None, cache=src.cache)
    else:  # pragma: no cover - the config parser only lets known kinds through
        raise ConfigError(f"unknown source kind {src.kind!r}")
    source.preload()
    return source


def build_sources(data: DataConfig) -> list[FrameSource]:
    """Every training source of a recipe."""
    if not data.sources:
        raise ConfigError("the recipe has no [[data.sources]]; add at least one training source")
    return [build_source(s) for s in data.sources]


def build_train_model(cfg: ModelConfig) -> nn.Module:
    """An untrained model for the recipe (MDSR always with its x2/x3/x4 branches, the published layout)."""
    return get_model(
        cfg.arch,
        scale=cfg.scales[0],
        n_resblocks=cfg.n_resblocks,
        n_feats=cfg.n_feats,
        res_scale=cfg.res_scale,
    )
