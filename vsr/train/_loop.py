"""The training loop: L1 on 0..255, Adam, a scheduled lr, validation, checkpoints, exact resume.

Batch ``i`` of a run is a pure function of ``(seed, rank, i)`` (see
:class:`vsr.data.PatchSampler`), the lr is a pure function of ``i``, and the
checkpoint restores model, optimizer and RNG states, so a run resumed from its
checkpoint at iteration ``i`` computes what the uninterrupted run computed.

:func:`train` joins the process group and hands over to :class:`_Run`, which
holds one run in progress on this process: built from the recipe (or its
checkpoint), then driven step by step by :meth:`_Run.run`.
"""

from __future__ import annotations

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

from vsr._core import autocast_dtype, resolve_device, resolve_precision, DistEnv, write_text
from vsr.data import BenchmarkFolder, PatchBatch, PatchSampler, parse_degradation_mix
from vsr.errors import ConfigError
from vsr.models import MDSR, count_parameters
from vsr.train._build import build_sources, build_train_model, lr_at
from vsr.train._checkpoint import (
    BEST,
    LATEST,
    capture_rng_state,
    checkpoint_path,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from vsr.train._config import Config, apply_overrides, config_from_dict, config_to_dict
from vsr.train._ddp import barrier, init_distributed, shutdown_distributed
from vsr.train._export import init_from_pretrained, snapshot_path, write_snapshot
from vsr.train._plot import plot_log
from vsr.train._runlog import RunLog, say
from vsr.train._validate import validate

__all__ = ["TrainResult", "load_run_config", "train", "train_step"]


@dataclass
class TrainResult:
    """What :func:`train` returns: the run folder, iterations done, metrics, the (unwrapped) model, and this process's DDP rank."""

    run_dir: Path
    iteration: int
    best: dict[str, Any] = field(default_factory=dict)
    last_metrics: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None
    rank: int = 0


def load_run_config(run_dir: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Config:
    """The recipe stored in a run's ``latest.pt``, with ``--set`` overrides applied."""
    ckpt = load_checkpoint(checkpoint_path(run_dir, LATEST))
    raw = apply_overrides(ckpt["train_config"], list(overrides))
    return config_from_dict(raw, source=ckpt.get("recipe", "<checkpoint>"))


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
    env = init_distributed(device.type)
    try:
        if device.type == "cuda" and env.distributed:
            device = torch.device("cuda", env.local_rank)
        precision = _resolve_precision(t.precision, device)
        val_precision = _resolve_precision(config.validation.precision, device)
        run_dir_path, ckpt = _open_run_dir(config, run_dir, resume)
        run = _Run(config, env, device, run_dir_path, ckpt, precision=precision, val_precision=val_precision)
        stop = t.iterations if stop_at is None else min(t.iterations, stop_at)
        result = run.run(stop, progress=progress)
        # Every rank must be done with gloo before any tears it down: a rank whose peer closed the
        # connection mid-teardown aborts ("terminate called without an active exception").
        barrier(env)
        return result
    finally:
        shutdown_distributed()


def _open_run_dir(
    config: Config, run_dir: str | os.PathLike[str] | None, resume: bool
) -> tuple[Path, dict[str, Any] | None]:
    """The run folder, and its latest checkpoint when resuming; a new run refuses a folder that has checkpoints."""
    if resume:
        if run_dir is None:
            raise ConfigError("resume needs the run folder")
        return Path(run_dir), load_checkpoint(checkpoint_path(run_dir, LATEST))
    if run_dir is None:
        name = config.train.name or f"{config.recipe_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        path = Path(config.train.out_dir) / name
        if (path / LATEST).exists():
            raise ConfigError(
                f"{path}: a run with checkpoints already exists; continue it with --resume {path} "
                "or choose another train.name"
            )
        return path, None
    path = Path(run_dir)
    if (path / LATEST).exists():
        raise ConfigError(f"{path}: a run with checkpoints already exists; continue it with --resume {path}")
    return path, None


@dataclass
class _Window:
    """The training loss and speed since the last ``train`` log row."""

    loss: float = 0.0
    n: int = 0
    t: float = field(default_factory=time.perf_counter)


class _Run:
    """One training run in progress on this process: model, optimizer, data, log, and what is done so far.

    Building it (in the order that fixes the random state: seeds, model,
    ``init_from``, checkpoint, RNG restore, data) makes the run ready to go on
    from iteration :attr:`start`.
    """

    def __init__(
        self, config: Config, env: DistEnv, device: torch.device, run_dir: Path, ckpt: dict[str, Any] | None, *,
        precision: Literal["fp32", "bf16", "fp16"], val_precision: Literal["fp32", "bf16", "fp16"],
    ) -> None:
        t, o, m, d, v = config.train, config.optim, config.model, config.data, config.validation
        self.config, self.env, self.device, self.run_dir = config, env, device, run_dir
        self.precision, self.val_precision = precision, val_precision
        self.amp_dtype = autocast_dtype(precision)
        self.resumed = ckpt is not None
        # Same seed on every rank: identical initial weights (DDP also broadcasts rank 0's).
        random.seed(t.seed)
        np.random.seed(t.seed)
        torch.manual_seed(t.seed)
        model = build_train_model(m)
        self.kept: list[str] = init_from_pretrained(model, m.init_from) if m.init_from and ckpt is None else []
        self.memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        self.model = model.to(device=device, memory_format=self.memory_format)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
        self.start, self.elapsed_before = 0, 0.0
        self.best: dict[str, Any] = {}
        self.last_metrics: dict[str, Any] = {}
        if ckpt is not None:
            self._restore(ckpt)
        self.net: nn.Module = self.model
        if env.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=isinstance(self.model, MDSR),
            )
        self.sources = build_sources(d)
        self.scales = tuple(m.scales)
        self.sampler = PatchSampler(
            self.sources, weights=[s.weight for s in d.sources], scales=self.scales, lr_patch=d.lr_patch,
            batch_size=d.batch_size, augment=d.augment, seed=t.seed, rank=env.rank,
            degradation=parse_degradation_mix(d.degradation) if d.degradation else None, clip_frames=d.clip_frames,
        )
        self.benches = [BenchmarkFolder(v.dataset, scale=s) for s in self.scales] if v.dataset else []
        self.log: RunLog | None = None
        self.t0 = time.perf_counter()

    def _restore(self, ckpt: dict[str, Any]) -> None:
        """Model, optimizer, scaler, counters and RNG states from the checkpoint being resumed."""
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.start = int(ckpt["iteration"])
        self.best = dict(ckpt.get("best") or {})
        self.last_metrics = dict(ckpt.get("metrics") or {})
        self.elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        if ckpt.get("world_size", 1) != self.env.world_size:
            raise ConfigError(
                f"{self.run_dir}: the run was trained with {ckpt.get('world_size', 1)} processes; resume it with the same "
                f"number (now {self.env.world_size}) so the batches stay the same"
            )
        restore_rng_state(ckpt["rng"])

    def elapsed(self) -> float:
        """Training seconds of the whole run, earlier sittings included."""
        return self.elapsed_before + (time.perf_counter() - self.t0)

    def state(self, iteration: int) -> dict[str, Any]:
        """The checkpoint of the run after ``iteration`` steps (what :func:`vsr.train.save_checkpoint` writes)."""
        o = self.config.optim
        return {
            "model": {k: x.detach().cpu() for k, x in self.model.state_dict().items()},
            "config": dict(self.model.config),
            "preset": self.config.model.arch,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"schedule": o.schedule, "lr": lr_at(o, max(0, iteration - 1), self.config.train.iterations),
                          "next_iteration": iteration},
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "rng": capture_rng_state(),
            "iteration": iteration,
            "train_config": config_to_dict(self.config),
            "recipe": self.config.source,
            "metrics": self.last_metrics,
            "best": self.best,
            "elapsed_s": self.elapsed(),
            "world_size": self.env.world_size,
        }

    def open_log(self, stop: int) -> None:
        """Rank 0: the run folder, its ``config.json``, the log with its start (or resume) event, and one console line."""
        cfg, t, d, m = self.config, self.config.train, self.config.data, self.config.model
        world = self.env.world_size
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.run_dir / "config.json", json.dumps({"recipe": cfg.source, **config_to_dict(cfg)}, indent=2) + "\n")
        self.log = RunLog(self.run_dir, keep_until=self.start if self.resumed else None)
        params = count_parameters(self.model)
        self.log.write(
            "resume" if self.resumed else "start",
            iteration=self.start, recipe=cfg.source, model=dict(self.model.config), params=params,
            device=str(self.device), threads=torch.get_num_threads(), precision=self.precision,
            channels_last=t.channels_last, world_size=world, batch_per_process=d.batch_size,
            effective_batch=d.batch_size * world, lr_patch=d.lr_patch,
            sources=[f"{type(s).__name__}:{s.name} ({len(s)} frames)" for s in self.sources],
            kept_initial=self.kept if m.init_from else None,
        )
        say(
            f"vsr train: {cfg.recipe_name} -> {self.run_dir} | {self.model.config['arch']} "
            f"x{'/x'.join(map(str, self.scales))}, {params / 1e6:.2f}M params | {self.device}, {self.precision}"
            f"{', channels_last' if t.channels_last else ''} | world {world}, effective batch "
            f"{d.batch_size * world} ({d.batch_size}/process), LR patch {d.lr_patch} | "
            f"iterations {self.start}->{stop} of {t.iterations}"
        )

    def validate_and_save(self, done: int, bar: tqdm) -> None:
        """Rank 0: score every benchmark, log it, keep ``latest.pt`` (and ``best.pt`` on a new best), plot if asked."""
        t, v = self.config.train, self.config.validation
        scores: dict[str, float] = {}
        for bench in self.benches:
            r = validate(self.model, bench, device=self.device, precision=self.val_precision,
                         channels_last=t.channels_last, protocol=v.protocol, with_ssim=v.ssim)
            scores.update({f"{k}_x{bench.scale}": val for k, val in r.items()})
        mean_psnr = float(np.mean([scores[f"psnr_x{s}"] for s in self.scales]))
        self.last_metrics = {"iteration": done, "psnr": mean_psnr, **scores, "dataset": self.benches[0].name}
        improved = not self.best or mean_psnr > self.best["psnr"]
        if improved:
            self.best = dict(self.last_metrics)
        assert self.log is not None
        self.log.write("val", iteration=done, psnr=mean_psnr, ssim=scores.get(f"ssim_x{self.scales[0]}"),
                       elapsed_s=self.elapsed(), **scores)
        bar.write(
            f"[{done}/{t.iterations}] {self.benches[0].name} PSNR {mean_psnr:.3f} dB"
            + (" (best)" if improved else f" (best {self.best['psnr']:.3f} @ {self.best['iteration']})")
        )
        save_checkpoint(self.run_dir / LATEST, self.state(done))
        if improved:
            save_checkpoint(self.run_dir / BEST, self.state(done))
        if t.plot:
            plot_log(self.run_dir)

    def run(self, stop: int, *, progress: bool) -> TrainResult:
        """Train from :attr:`start` to ``stop`` (the lr schedule still spans ``train.iterations``)."""
        t, o, d, v = self.config.train, self.config.optim, self.config.data, self.config.validation
        main, total = self.env.is_main, t.iterations
        if main:
            self.open_log(stop)
        bar = tqdm(total=total, initial=self.start, unit="it", dynamic_ncols=True,
                   mininterval=0.5 if sys.stderr.isatty() else 30.0, smoothing=0.05, disable=not (progress and main))
        self.t0 = time.perf_counter()
        window = _Window()
        done = self.start
        self.model.train()
        try:
            for i, batch in zip(range(self.start, stop), _batches(self.sampler, self.start, stop, d.num_workers)):
                lr = lr_at(o, i, total)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                loss = train_step(self.net, self.optimizer, self.scaler, batch, device=self.device,
                                  memory_format=self.memory_format, amp_dtype=self.amp_dtype)
                done = i + 1
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise FloatingPointError(f"loss became {loss_value} at iteration {done}; lower optim.lr or use fp32")
                window.loss += loss_value
                window.n += 1
                bar.update(1)
                if done % 10 == 0 or done == stop:
                    best = f" psnr {self.best['psnr']:.2f}" if self.best else ""
                    bar.set_postfix_str(f"loss {loss_value:.3f} lr {lr:.2e}{best}", refresh=False)
                if main and (done % t.log_every == 0 or done == stop):
                    window = self._log_train(done, lr, window)
                if t.snapshot_every and main and done % t.snapshot_every == 0:
                    write_snapshot(snapshot_path(self.run_dir, done), self.state(done))
                if self.benches and (done % v.every == 0 or done == total):
                    if main:
                        self.validate_and_save(done, bar)
                    barrier(self.env)
                    window.t = time.perf_counter()
                elif done % t.checkpoint_every == 0 or done == stop:
                    if main:
                        save_checkpoint(self.run_dir / LATEST, self.state(done))
                    barrier(self.env)
            if done == stop and main and not (self.run_dir / LATEST).exists():
                save_checkpoint(self.run_dir / LATEST, self.state(done))
        finally:
            bar.close()
            if self.log is not None:
                self.log.write("stop", iteration=done, elapsed_s=self.elapsed(), best=self.best or None)
                self.log.close()
        return TrainResult(run_dir=self.run_dir, iteration=done, best=self.best, last_metrics=self.last_metrics,
                           model=self.model, rank=self.env.rank)

    def _log_train(self, done: int, lr: float, window: _Window) -> _Window:
        """A ``train`` row: mean loss and speed over the window; returns a new window."""
        now = time.perf_counter()
        assert self.log is not None
        self.log.write("train", iteration=done, loss=window.loss / max(1, window.n), lr=lr,
                       it_per_s=window.n / max(1e-9, now - window.t), elapsed_s=self.elapsed_before + now - self.t0)
        return _Window(t=now)
