"""The training loop: L1 on 0..255, Adam, a scheduled lr, validation, checkpoints, exact resume.

Batch ``i`` of a run is a pure function of ``(seed, rank, i)`` (see
:class:`vsr.data.PatchSampler`), the lr is a pure function of ``i``, and the
checkpoint restores model, optimizer and RNG states, so a run resumed from its
checkpoint at iteration ``i`` computes what the uninterrupted run computed.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vsr._files import write_bytes, write_text
from vsr._device import autocast_dtype, resolve_device, resolve_precision
from vsr.data import DIV2K, REDS, BenchmarkFolder, FrameSource, ImageFolder, PatchBatch, PatchSampler, VideoFrames, Vimeo90K
from vsr.errors import CheckpointError, ConfigError
from vsr._upscaler import quantize
from vsr.metrics import get_protocol, psnr, ssim
from vsr.models import (
    MDSR,
    UPSAMPLER_PREFIXES,
    build_model,
    count_parameters,
    get_model,
    infer_config,
    load_partial_state_dict,
    read_state_dict,
    save_model,
)
from vsr.train._checkpoint import (
    BEST,
    LATEST,
    capture_rng_state,
    checkpoint_path,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from vsr.train._config import Config, DataConfig, ModelConfig, OptimConfig, SourceConfig, apply_overrides, config_from_dict, config_to_dict
from vsr.train._ddp import DistInfo, barrier, init_distributed, shutdown_distributed

__all__ = [
    "TrainResult",
    "build_source",
    "build_sources",
    "build_train_model",
    "init_from_pretrained",
    "lr_at",
    "train_step",
    "validate",
    "train",
    "load_run_config",
    "export",
    "list_snapshots",
    "snapshot_path",
]

_LOG_COLUMNS = ("iteration", "event", "loss", "lr", "psnr", "ssim", "it_per_s", "elapsed_s")


@dataclass
class TrainResult:
    """What :func:`train` returns: the run folder, iterations done, metrics, the (unwrapped) model, and this process's DDP rank."""

    run_dir: Path
    iteration: int
    best: dict[str, Any] = field(default_factory=dict)
    last_metrics: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None
    rank: int = 0


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


def init_from_pretrained(model: nn.Module, source: str | os.PathLike[str]) -> list[str]:
    """Start ``model`` from the weights of a run folder, training checkpoint or model file.

    A source trained for other scales gives every weight but the upsampler:
    this is how the paper starts x3/x4 models from the x2 model. A source of
    the same architecture and scales gives every weight (a further training
    stage). Returns the keys left at their initial values; any other weight
    that does not fit (another architecture) is an error, not silently skipped.
    """
    p = Path(source)
    if p.is_dir():
        p = checkpoint_path(p, BEST if (p / BEST).exists() else LATEST)
    sd, config, _meta = read_state_dict(p)
    src = config if config is not None else infer_config(sd, p)
    own = getattr(model, "config", None) or {}
    same_scales = src.get("arch") == own.get("arch") and list(src.get("scales", [])) == list(own.get("scales", []))
    # An x2 upsampler's first conv has the shape of an x4 one's but not its meaning, so
    # the upsampler is copied only between models of the same scales.
    kept = load_partial_state_dict(model, sd, skip_prefixes=() if same_scales else UPSAMPLER_PREFIXES)
    misfits = [k for k in kept if not k.startswith(UPSAMPLER_PREFIXES)]
    if misfits:
        raise CheckpointError(
            f"{p}: {len(misfits)} weights outside the upsampler do not fit the model (e.g. {misfits[0]}); "
            "initialise only from a model of the same architecture (blocks, features) at another scale"
        )
    return kept


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
    folder's MATLAB-made files.
    """
    proto = get_protocol(protocol)
    crop = proto.crop_border(dataset.scale)
    was_training = model.training
    model.eval()
    dtype = autocast_dtype(precision)
    psnrs: list[float] = []
    ssims: list[float] = []
    try:
        for i in range(len(dataset)):
            item = dataset[i]
            x = torch.from_numpy(np.ascontiguousarray(item.lr.transpose(2, 0, 1)))[None].to(device, torch.float32)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                y = model(x, dataset.scale)
            pred = quantize(y.float())[0].permute(1, 2, 0).cpu().numpy()
            psnrs.append(psnr(pred, item.hr, crop_border=crop, y_channel=proto.y_channel))
            if with_ssim:
                ssims.append(ssim(pred, item.hr, crop_border=crop, y_channel=proto.y_channel))
    finally:
        model.train(was_training)
    out = {"psnr": float(np.mean([v for v in psnrs if math.isfinite(v)] or [math.inf]))}
    if with_ssim:
        out["ssim"] = float(np.mean(ssims))
    return out


class _RunLog:
    """``log.jsonl`` (every event) and ``log.csv`` (fixed columns) in the run folder; rank 0 only."""

    def __init__(self, run_dir: Path, *, keep_until: int | None) -> None:
        self.jsonl = run_dir / "log.jsonl"
        self.csv = run_dir / "log.csv"
        if keep_until is not None:
            self._truncate(keep_until)
        new_csv = not self.csv.exists()
        self._jf = open(self.jsonl, "a", encoding="utf-8")
        self._cf = open(self.csv, "a", encoding="utf-8", newline="")
        self._cw = csv.DictWriter(self._cf, fieldnames=_LOG_COLUMNS, extrasaction="ignore")
        if new_csv:
            self._cw.writeheader()

    def _truncate(self, iteration: int) -> None:
        """Drop rows logged after the checkpoint being resumed (they will be redone)."""
        if self.jsonl.exists():
            rows = [ln for ln in self.jsonl.read_text(encoding="utf-8").splitlines() if ln.strip()]
            keep = [ln for ln in rows if json.loads(ln).get("iteration", 0) <= iteration]
            write_text(self.jsonl, "".join(ln + "\n" for ln in keep))
        if self.csv.exists():
            with open(self.csv, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
            with open(self.csv, "w", encoding="utf-8", newline="") as f:
                w = csv.DictWriter(f, fieldnames=_LOG_COLUMNS, extrasaction="ignore")
                w.writeheader()
                w.writerows(r for r in rows if int(r["iteration"] or 0) <= iteration)

    def write(self, event: str, **values: Any) -> None:
        row = {"event": event, **values}
        self._jf.write(json.dumps(row) + "\n")
        self._jf.flush()
        if "iteration" in values:
            self._cw.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
            self._cf.flush()

    def close(self) -> None:
        self._jf.close()
        self._cf.close()


def load_run_config(run_dir: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Config:
    """The recipe stored in a run's ``latest.pt``, with ``--set`` overrides applied."""
    ckpt = load_checkpoint(checkpoint_path(run_dir, LATEST))
    raw = apply_overrides(ckpt["train_config"], list(overrides))
    return config_from_dict(raw, source=ckpt.get("recipe", "<checkpoint>"))


def _new_run_dir(cfg: Config) -> Path:
    name = cfg.train.name or f"{cfg.recipe_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.train.out_dir) / name
    if (run_dir / LATEST).exists():
        raise ConfigError(
            f"{run_dir}: a run with checkpoints already exists; continue it with --resume {run_dir} "
            "or choose another train.name"
        )
    return run_dir


def _branch_params(model: nn.Module, scale: int) -> list[nn.Parameter]:
    """Parameters of the MDSR branches *not* used at ``scale`` (they must not be updated)."""
    if not isinstance(model, MDSR):
        return []
    idx = model.branch(scale)
    other: list[nn.Parameter] = []
    for j in range(len(model.scales)):
        if j != idx:
            other += list(model.pre_process[j].parameters()) + list(model.upsample[j].parameters())
    return other


def train_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    batch: PatchBatch,
    *,
    device: torch.device,
    memory_format: torch.memory_format = torch.channels_last,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """One optimisation step on ``batch`` (L1 on 0..255); returns the loss.

    ``net`` may be wrapped in DDP. For MDSR only the branches of the batch's
    scale are updated: the other branches' gradients are dropped before the step.
    """
    lr_in = batch.lr.to(device, non_blocking=True).float().contiguous(memory_format=memory_format)
    hr = batch.hr.to(device, non_blocking=True).float().contiguous(memory_format=memory_format)
    with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
        sr = net(lr_in, batch.scale)
    loss = F.l1_loss(sr.float(), hr)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    inner = net.module if isinstance(net, torch.nn.parallel.DistributedDataParallel) else net
    for p in _branch_params(inner, batch.scale):
        p.grad = None  # only the chosen scale's branch learns from this batch (paper's MDSR)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


def _batches(sampler: PatchSampler, start: int, stop: int, num_workers: int) -> Iterator[PatchBatch]:
    if num_workers == 0:
        for i in range(start, stop):
            yield sampler.batch(i)
        return
    loader = torch.utils.data.DataLoader(
        sampler, batch_size=None, sampler=range(start, stop), num_workers=num_workers, prefetch_factor=2
    )
    yield from loader


def _resolve_precision(requested: str, device: torch.device) -> Literal["fp32", "bf16", "fp16"]:
    p = resolve_precision(requested, device)
    if p == "fp16" and device.type != "cuda":
        raise ConfigError(f"train.precision = fp16 needs a CUDA device (got {device}); use bf16 or fp32")
    return p


def train(
    config: Config,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    stop_at: int | None = None,
) -> TrainResult:
    """Train a model as the recipe says; write checkpoints and logs to the run folder.

    Args:
        config: the recipe.
        run_dir: the run folder; default ``<train.out_dir>/<recipe>-<date-time>``.
        resume: continue the run in ``run_dir`` from its ``latest.pt`` (same
            iteration numbering, lr schedule and batches).
        progress: show a tqdm bar (rank 0 only).
        stop_at: stop (with a checkpoint) once this many iterations are done,
            as if interrupted; the schedule still spans ``train.iterations``.
    """
    t = config.train
    device = resolve_device(t.device)
    dist_info = init_distributed(device.type)
    try:
        if device.type == "cuda" and dist_info.distributed:
            device = torch.device("cuda", dist_info.local_rank)
        result = _train(config, dist_info, device, run_dir, resume, progress, stop_at)
        # Every rank must be done with gloo before any tears it down: a rank whose peer closed the
        # connection mid-teardown aborts ("terminate called without an active exception").
        barrier(dist_info)
        return result
    finally:
        shutdown_distributed()


def _train(
    config: Config,
    dist: DistInfo,
    device: torch.device,
    run_dir_arg: str | os.PathLike[str] | None,
    resume: bool,
    progress: bool,
    stop_at: int | None,
) -> TrainResult:
    t, o, d, v, m = config.train, config.optim, config.data, config.validation, config.model
    precision = _resolve_precision(t.precision, device)
    val_precision = _resolve_precision(v.precision, device)
    amp_dtype = autocast_dtype(precision)
    total = t.iterations
    stop = total if stop_at is None else min(total, stop_at)

    if resume:
        if run_dir_arg is None:
            raise ConfigError("resume needs the run folder")
        run_dir = Path(run_dir_arg)
        ckpt = load_checkpoint(checkpoint_path(run_dir, LATEST))
    else:
        run_dir = Path(run_dir_arg) if run_dir_arg is not None else _new_run_dir(config)
        if (run_dir / LATEST).exists():
            raise ConfigError(f"{run_dir}: a run with checkpoints already exists; continue it with --resume {run_dir}")
        ckpt = None

    # Same seed on every rank: identical initial weights (DDP also broadcasts rank 0's).
    random.seed(t.seed)
    np.random.seed(t.seed)
    torch.manual_seed(t.seed)
    model = build_train_model(m)
    kept: list[str] = []
    if m.init_from and ckpt is None:
        kept = init_from_pretrained(model, m.init_from)
    memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")

    start = 0
    best: dict[str, Any] = {}
    last_metrics: dict[str, Any] = {}
    elapsed_before = 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start = int(ckpt["iteration"])
        best = dict(ckpt.get("best") or {})
        last_metrics = dict(ckpt.get("metrics") or {})
        elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        if ckpt.get("world_size", 1) != dist.world_size:
            raise ConfigError(
                f"{run_dir}: the run was trained with {ckpt.get('world_size', 1)} processes; resume it with the same "
                f"number (now {dist.world_size}) so the batches stay the same"
            )
        restore_rng_state(ckpt["rng"])

    net: nn.Module = model
    if dist.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=isinstance(model, MDSR),
        )

    sources = build_sources(d)
    scales = tuple(m.scales)
    sampler = PatchSampler(
        sources,
        weights=[s.weight for s in d.sources],
        scales=scales,
        lr_patch=d.lr_patch,
        batch_size=d.batch_size,
        augment=d.augment,
        seed=t.seed,
        rank=dist.rank,
    )
    benches = [BenchmarkFolder(v.dataset, scale=s) for s in scales] if v.dataset else []

    log: _RunLog | None = None
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / "config.json", json.dumps({"recipe": config.source, **config_to_dict(config)}, indent=2) + "\n")
        log = _RunLog(run_dir, keep_until=start if ckpt is not None else None)
        log.write(
            "resume" if ckpt is not None else "start",
            iteration=start,
            recipe=config.source,
            model=dict(model.config),
            params=count_parameters(model),
            device=str(device),
            threads=torch.get_num_threads(),
            precision=precision,
            channels_last=t.channels_last,
            world_size=dist.world_size,
            batch_per_process=d.batch_size,
            effective_batch=d.batch_size * dist.world_size,
            lr_patch=d.lr_patch,
            sources=[f"{type(s).__name__}:{s.name} ({len(s)} frames)" for s in sources],
            kept_initial=kept if m.init_from else None,
        )
        _say(
            f"vsr train: {config.recipe_name} -> {run_dir} | {model.config['arch']} x{'/x'.join(map(str, scales))}, "
            f"{count_parameters(model) / 1e6:.2f}M params | {device}, {precision}"
            f"{', channels_last' if t.channels_last else ''} | world {dist.world_size}, effective batch "
            f"{d.batch_size * dist.world_size} ({d.batch_size}/process), LR patch {d.lr_patch} | "
            f"iterations {start}->{stop} of {total}"
        )

    def state(iteration: int) -> dict[str, Any]:
        return {
            "model": {k: x.detach().cpu() for k, x in model.state_dict().items()},
            "config": dict(model.config),
            "preset": m.arch,
            "optimizer": optimizer.state_dict(),
            "scheduler": {"schedule": o.schedule, "lr": lr_at(o, max(0, iteration - 1), total), "next_iteration": iteration},
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "rng": capture_rng_state(),
            "iteration": iteration,
            "train_config": config_to_dict(config),
            "recipe": config.source,
            "metrics": last_metrics,
            "best": best,
            "elapsed_s": elapsed_before + (time.perf_counter() - t0),
            "world_size": dist.world_size,
        }

    is_tty = sys.stderr.isatty()
    bar = tqdm(
        total=total,
        initial=start,
        unit="it",
        dynamic_ncols=True,
        mininterval=0.5 if is_tty else 30.0,
        smoothing=0.05,
        disable=not (progress and dist.is_main),
    )
    t0 = time.perf_counter()
    window_loss = 0.0
    window_n = 0
    window_t = time.perf_counter()
    done = start
    model.train()
    try:
        for i, batch in zip(range(start, stop), _batches(sampler, start, stop, d.num_workers)):
            lr = lr_at(o, i, total)
            for g in optimizer.param_groups:
                g["lr"] = lr
            loss = train_step(net, optimizer, scaler, batch, device=device, memory_format=memory_format, amp_dtype=amp_dtype)
            done = i + 1

            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"loss became {loss_value} at iteration {done}; lower optim.lr or use fp32")
            window_loss += loss_value
            window_n += 1
            bar.update(1)
            if done % 10 == 0 or done == stop:
                bar.set_postfix_str(
                    f"loss {loss_value:.3f} lr {lr:.2e}" + (f" psnr {best['psnr']:.2f}" if best else ""), refresh=False
                )

            if dist.is_main and (done % t.log_every == 0 or done == stop):
                now = time.perf_counter()
                assert log is not None
                log.write(
                    "train",
                    iteration=done,
                    loss=window_loss / max(1, window_n),
                    lr=lr,
                    it_per_s=window_n / max(1e-9, now - window_t),
                    elapsed_s=elapsed_before + now - t0,
                )
                window_loss, window_n, window_t = 0.0, 0, now

            if t.snapshot_every and dist.is_main and done % t.snapshot_every == 0:
                _write_snapshot(snapshot_path(run_dir, done), model, state(done))

            validate_now = bool(benches) and (done % v.every == 0 or done == total)
            if validate_now:
                if dist.is_main:
                    scores: dict[str, float] = {}
                    for bench in benches:
                        r = validate(
                            model,
                            bench,
                            device=device,
                            precision=val_precision,
                            channels_last=t.channels_last,
                            protocol=v.protocol,
                            with_ssim=v.ssim,
                        )
                        scores.update({f"{k}_x{bench.scale}": val for k, val in r.items()})
                    mean_psnr = float(np.mean([scores[f"psnr_x{s}"] for s in scales]))
                    last_metrics = {"iteration": done, "psnr": mean_psnr, **scores, "dataset": benches[0].name}
                    improved = not best or mean_psnr > best["psnr"]
                    if improved:
                        best = dict(last_metrics)
                    assert log is not None
                    log.write("val", iteration=done, psnr=mean_psnr, ssim=scores.get(f"ssim_x{scales[0]}"),
                              elapsed_s=elapsed_before + time.perf_counter() - t0, **scores)
                    bar.write(
                        f"[{done}/{total}] {benches[0].name} PSNR {mean_psnr:.3f} dB"
                        + (" (best)" if improved else f" (best {best['psnr']:.3f} @ {best['iteration']})")
                    )
                    save_checkpoint(run_dir / LATEST, state(done))
                    if improved:
                        save_checkpoint(run_dir / BEST, state(done))
                    if t.plot:
                        plot_log(run_dir)
                barrier(dist)
                window_t = time.perf_counter()
            elif done % t.checkpoint_every == 0 or done == stop:
                if dist.is_main:
                    save_checkpoint(run_dir / LATEST, state(done))
                barrier(dist)
        if done == stop and dist.is_main and not (run_dir / LATEST).exists():
            save_checkpoint(run_dir / LATEST, state(done))
    finally:
        bar.close()
        if log is not None:
            log.write("stop", iteration=done, elapsed_s=elapsed_before + time.perf_counter() - t0, best=best or None)
            log.close()
    return TrainResult(run_dir=run_dir, iteration=done, best=best, last_metrics=last_metrics, model=model, rank=dist.rank)


def _say(text: str) -> None:
    tqdm.write(text, file=sys.stderr)


def plot_log(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Draw training loss and validation PSNR from ``RUN_DIR/log.jsonl`` into ``curves.png`` (one PNG, two panels)."""
    import cv2

    from vsr._render import render_plot

    run = Path(run_dir)
    log_path = run / "log.jsonl"
    if not log_path.exists():
        raise CheckpointError(f"{log_path}: no training log; is {run} a run folder made by `vsr train`?")
    rows = [json.loads(ln) for ln in log_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    tr = [r for r in rows if r.get("event") == "train"]
    va = [r for r in rows if r.get("event") == "val"]
    if not tr:
        raise CheckpointError(f"{log_path}: no training rows to plot yet")
    every = tr[1]["iteration"] - tr[0]["iteration"] if len(tr) > 1 else tr[0]["iteration"]
    panels = [
        render_plot({"L1 loss": [float(r["loss"]) for r in tr]}, title=f"{run.name}: training loss",
                    xlabel=f"log step ({every} iterations each; last = iteration {tr[-1]['iteration']})", ylabel="L1 (0..255)")
    ]
    if va:
        v_every = va[1]["iteration"] - va[0]["iteration"] if len(va) > 1 else va[0]["iteration"]
        panels.append(render_plot({"validation PSNR": [float(r["psnr"]) for r in va]}, title=f"{run.name}: validation PSNR",
                                  xlabel=f"validation ({v_every} iterations apart; last = iteration {va[-1]['iteration']})"))
    img = np.concatenate([cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in panels], axis=0)
    dest = Path(out) if out is not None else run / "curves.png"
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise CheckpointError(f"{dest}: could not encode the plot")
    # Atomic with a name of its own per writer: two runs plotting into one folder never share a temporary file.
    return write_bytes(dest, buf.tobytes())


SNAPSHOTS = "snapshots"


def snapshot_path(run_dir: str | os.PathLike[str], iteration: int) -> Path:
    """Where a run keeps its weights of ``iteration`` when ``train.snapshot_every`` is set."""
    return Path(run_dir) / SNAPSHOTS / f"iter_{iteration:07d}.pt"


def list_snapshots(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """The run's snapshots as ``(iteration, model file)``, in iteration order."""
    folder = Path(run_dir) / SNAPSHOTS
    found = []
    for p in folder.glob("iter_*.pt") if folder.is_dir() else ():
        digits = p.stem.removeprefix("iter_")
        if digits.isdigit():
            found.append((int(digits), p))
    return sorted(found)


def _write_snapshot(path: Path, model: nn.Module, st: dict[str, Any]) -> None:
    """A loadable model file of the current weights (no optimizer state: a snapshot is for scoring, not resuming)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    net = build_model(st["config"])
    net.load_state_dict(st["model"])
    meta = {"trained_with": "vsr train", "recipe": st["recipe"], "preset": st["preset"], "iteration": st["iteration"],
            "elapsed_s": st["elapsed_s"], "train_config": st["train_config"]}
    save_model(net, path, meta=meta)


def export(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    which: Literal["best", "latest"] = "best",
    official: bool = False,
    half: bool = False,
) -> Path:
    """Write the run's ``best`` (or ``latest``) weights as a model file :func:`vsr.models.load_model` reads.

    ``official=True`` writes a bare state_dict in the official EDSR-PyTorch key
    layout instead; ``half=True`` stores fp16 tensors.
    """
    if which not in ("best", "latest"):
        raise ConfigError(f"which = {which!r}; allowed: best, latest")
    path = checkpoint_path(run_dir, BEST if which == "best" else LATEST)
    if Path(run_dir).is_dir() and not path.exists() and which == "best":
        raise CheckpointError(f"{path}: no best checkpoint (was validation disabled?); export with which='latest'")
    ckpt = load_checkpoint(path)
    model = build_model(ckpt["config"])
    model.load_state_dict(ckpt["model"])
    meta = {
        "trained_with": "vsr train",
        "recipe": ckpt.get("recipe", ""),
        "preset": ckpt.get("preset", ""),
        "iteration": int(ckpt["iteration"]),
        "elapsed_s": float(ckpt.get("elapsed_s", 0.0)),
        "metrics": ckpt.get("metrics") or {},
        "train_config": ckpt.get("train_config") or {},
    }
    return save_model(model, out, meta=meta, official=official, half=half)
