"""Experiment recipes (``pipelines/compare_*.toml``): read into frozen dataclasses, and planned into training stages.

An experiment recipe names training recipes (one per model, e.g. images vs
video frames), a ``[budget]`` applied identically to all of them (iterations,
batch, patch, optimizer, schedule, precision), the seeds to train each model
with, and the test sets of ``[compare]``; see :mod:`vsr.compare._experiment` for the
runner. :func:`load_experiment` reads and checks a recipe (tables are built by
:func:`vsr._core._config.build_dataclass`); :func:`plan_training` turns it into one
:class:`TrainingStage` per model and seed and checks that the budgets really are
identical.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vsr._core import build_dataclass, flatten, read_toml
from vsr.data import parse_degradation
from vsr.errors import ConfigError, UnsupportedError
from vsr.metrics import PROTOCOLS
from vsr.train import Config, config_to_dict, load_config

__all__ = [
    "BudgetConfig",
    "CompareConfig",
    "ExperimentConfig",
    "ModelEntry",
    "TrainingStage",
    "load_experiment",
    "plan_training",
]


@dataclass(frozen=True)
class ModelEntry:
    """One model of the experiment: its row label, the training recipe it is trained with, and its seeds.

    ``seeds`` empty: every seed of ``experiment.seeds``; otherwise a subset of
    them (an arm trained with fewer seeds when compute is short). ``overrides``
    (``--set`` syntax, e.g. ``"train.iterations=1000"``) apply to this model
    after the budget; the keys they change must be in ``experiment.varies``.
    """

    label: str
    recipe: str
    seeds: tuple[int, ...] = ()
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class BudgetConfig:
    """Training settings forced on every model (``None``: keep the recipes' value, which must then agree).

    Keys map to the training recipe: ``scale`` to ``model.scales = [scale]``; ``iterations``, ``precision``, ``device``,
    ``channels_last``, ``log_every``, ``checkpoint_every``, ``snapshot_every`` to ``[train]``;
    ``batch_size``, ``lr_patch``, ``augment``, ``num_workers`` to ``[data]``; the
    rest to ``[optim]``.
    """

    scale: int | None = None
    iterations: int | None = None
    batch_size: int | None = None
    lr_patch: int | None = None
    augment: bool | None = None
    num_workers: int | None = None
    lr: float | None = None
    betas: tuple[float, float] | None = None
    eps: float | None = None
    weight_decay: float | None = None
    schedule: Literal["step", "cosine", "constant"] | None = None
    milestones: tuple[int, ...] | None = None
    gamma: float | None = None
    min_lr: float | None = None
    warmup: int | None = None
    precision: Literal["auto", "fp32", "bf16", "fp16"] | None = None
    device: str | None = None
    channels_last: bool | None = None
    log_every: int | None = None
    checkpoint_every: int | None = None
    snapshot_every: int | None = None


_BUDGET_SECTION = {
    "iterations": "train", "precision": "train", "device": "train", "channels_last": "train",
    "log_every": "train", "checkpoint_every": "train", "snapshot_every": "train",
    "batch_size": "data", "lr_patch": "data", "augment": "data", "num_workers": "data",
}


@dataclass(frozen=True)
class CompareConfig:
    """The comparison stage: test sets (paths relative to the recipe file), conditions and inference settings.

    ``degradation`` applies to every set; ``video_degradations`` scores each
    video set again under each further spec (e.g. ``bi+x264:crf=28``).
    ``curve_sets`` are scored at every training snapshot (needs
    ``budget.snapshot_every``) for the learning curves, video sets on every
    ``curve_frame_stride``-th frame. ``curve_levels`` (dB) add a table of the
    first snapshot iteration at which each run reaches each level on each curve set.
    """

    image_sets: tuple[str, ...] = ()
    video_sets: tuple[str, ...] = ()
    degradation: str = "bi"
    video_degradations: tuple[str, ...] = ()
    curve_sets: tuple[str, ...] = ()
    curve_frame_stride: int = 1
    curve_levels: tuple[float, ...] = ()
    video_protocol: str = "video"
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "fp32"
    batch_size: int = 4


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment recipe; ``source`` is the file it was read from."""

    name: str
    out_dir: str
    seeds: tuple[int, ...]
    models: tuple[ModelEntry, ...]
    budget: BudgetConfig
    compare: CompareConfig
    description: str = ""
    source: str = "<dict>"
    varies: tuple[str, ...] = ()


@dataclass(frozen=True)
class _ExperimentSection:
    name: str = ""
    out_dir: str = "runs/experiment"
    seeds: tuple[int, ...] = (0,)
    description: str = ""
    varies: tuple[str, ...] = ()


_SECTIONS: dict[str, type] = {
    "experiment": _ExperimentSection,
    "budget": BudgetConfig,
    "models": ModelEntry,
    "compare": CompareConfig,
}


def _resolve(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return os.fspath(p if p.is_absolute() else (base / p).resolve())


def load_experiment(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read an experiment recipe; unknown sections or keys are errors naming the file, the key and the allowed keys.

    Model recipes and test sets are resolved relative to the recipe's folder;
    ``experiment.out_dir`` relative to the current directory.
    """
    p = Path(path)
    raw = read_toml(p, "experiment recipe not found (recipes live in pipelines/compare_*.toml)")
    file, base = os.fspath(p), p.resolve().parent
    for section in raw:
        if section not in _SECTIONS:
            raise ConfigError(f"{file}: unknown section [{section}]; allowed sections: {', '.join(_SECTIONS)}")
    exp = build_dataclass(_ExperimentSection, raw.get("experiment", {}), file=file, where="experiment")
    budget = build_dataclass(BudgetConfig, raw.get("budget", {}), file=file, where="budget")
    cmp = build_dataclass(CompareConfig, raw.get("compare", {}), file=file, where="compare")
    models_raw = raw.get("models", [])
    if not isinstance(models_raw, list) or not models_raw:
        raise ConfigError(f"{file}: no models; add one [[models]] table (label, recipe) per model to train")
    models = tuple(build_dataclass(ModelEntry, m, file=file, where=f"models.{i}") for i, m in enumerate(models_raw))
    models = tuple(dataclasses.replace(m, recipe=_resolve(m.recipe, base)) for m in models)
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels) or any(not lab or lab == "bicubic" for lab in labels):
        raise ConfigError(f"{file}: model labels must be unique, non-empty and not 'bicubic'; got {labels}")
    if not exp.seeds or len(set(exp.seeds)) != len(exp.seeds):
        raise ConfigError(f"{file}: experiment.seeds must list distinct seeds, got {list(exp.seeds)}")
    for m in models:
        if len(set(m.seeds)) != len(m.seeds) or not set(m.seeds) <= set(exp.seeds):
            raise ConfigError(
                f"{file}: model {m.label!r}: seeds {list(m.seeds)} must be distinct and among experiment.seeds "
                f"{list(exp.seeds)} (or leave seeds out to train every seed)"
            )
    if not cmp.image_sets and not cmp.video_sets:
        raise ConfigError(f"{file}: [compare] needs image_sets and/or video_sets")
    for spec in (cmp.degradation, *cmp.video_degradations):
        try:
            parse_degradation(spec)
        except UnsupportedError as e:
            raise ConfigError(f"{file}: [compare] {e}") from None
    if cmp.curve_sets and not budget.snapshot_every:
        raise ConfigError(f"{file}: compare.curve_sets needs budget.snapshot_every (snapshots to score), e.g. 500")
    if cmp.curve_levels and not cmp.curve_sets:
        raise ConfigError(f"{file}: compare.curve_levels needs compare.curve_sets (the sets the levels are read on)")
    if cmp.curve_frame_stride < 1:
        raise ConfigError(f"{file}: compare.curve_frame_stride = {cmp.curve_frame_stride} must be >= 1")
    if cmp.video_protocol not in PROTOCOLS:
        raise ConfigError(f"{file}: compare.video_protocol = {cmp.video_protocol!r}; allowed: {', '.join(PROTOCOLS)}")
    cmp = dataclasses.replace(
        cmp,
        image_sets=tuple(_resolve(s, base) for s in cmp.image_sets),
        video_sets=tuple(_resolve(s, base) for s in cmp.video_sets),
        curve_sets=tuple(_resolve(s, base) for s in cmp.curve_sets),
    )
    return ExperimentConfig(
        name=exp.name or p.stem,
        out_dir=exp.out_dir,
        seeds=exp.seeds,
        models=models,
        budget=budget,
        compare=cmp,
        description=exp.description,
        source=file,
        varies=exp.varies,
    )


@dataclass(frozen=True)
class TrainingStage:
    """One training stage: a model trained with one seed, its run folder and exported weights."""

    name: str
    label: str
    seed: int
    config: Config = field(repr=False)
    run_dir: Path
    model_file: Path


def _toml(value: Any) -> str:
    """``value`` written as a ``--set`` override value (TOML syntax)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} as an override")  # pragma: no cover - budget fields are typed


def _budget_overrides(budget: BudgetConfig) -> list[str]:
    out = [] if budget.scale is None else [f"model.scales=[{budget.scale}]"]
    return out + [
        f"{_BUDGET_SECTION.get(f.name, 'optim')}.{f.name}={_toml(getattr(budget, f.name))}"
        for f in dataclasses.fields(budget)
        if f.name != "scale" and getattr(budget, f.name) is not None
    ]


def _shared_part(cfg: Config) -> dict[str, Any]:
    """Everything of a training config that must be identical across the models (all but the data sources)."""
    d = config_to_dict(cfg)
    d["data"].pop("sources", None)
    d.pop("validation", None)
    d["train"].pop("name", None)
    return d


def _stage_name(label: str, seed: int) -> str:
    return f"train-{label}-seed{seed}"


def _safe(text: str) -> str:
    # Not vsr._core._render.slug (which merges runs and strips ends): run folders of earlier experiments keep their names.
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def plan_training(exp: ExperimentConfig, out_dir: str | os.PathLike[str] | None = None) -> list[TrainingStage]:
    """The training stages of ``exp`` with their configs; checks the budgets really are identical.

    Settings named in ``experiment.varies`` (e.g. ``model.init_from``: the question of the experiment) may differ
    between the models; every other one must agree.

    Raises:
        ConfigError: a model recipe is invalid, ``experiment.varies`` names an unknown key, or two recipes still differ
            in a setting other than their data sources and the varied ones (name the key in ``[budget]``).
    """
    root = Path(out_dir if out_dir is not None else exp.out_dir)
    common = _budget_overrides(exp.budget) + ["validation.dataset=", f"train.out_dir={json.dumps(os.fspath(root / 'train'))}"]
    stages: list[TrainingStage] = []
    # Seed-major order: an interrupted experiment already holds one complete set of models per finished seed.
    for seed in exp.seeds:
        for m in exp.models:
            if m.seeds and seed not in m.seeds:
                continue
            name = _stage_name(m.label, seed)
            try:
                cfg = load_config(m.recipe, [*common, *m.overrides, f"train.seed={seed}",
                                             f"train.name={json.dumps(_safe(name))}"])
            except ConfigError as e:
                raise ConfigError(f"{exp.source}: model {m.label!r}: {e}") from None
            run_dir, model_file = root / "train" / _safe(name), root / "models" / f"{_safe(name)}.pt"
            stages.append(TrainingStage(name, m.label, seed, cfg, run_dir, model_file))
    ref = stages[0]
    ref_flat = flatten(_shared_part(ref.config))
    for key in exp.varies:
        if key not in ref_flat:
            raise ConfigError(
                f"{exp.source}: experiment.varies names {key!r}, which is not a training setting (dotted keys such as "
                "'model.init_from'; the data sources differ anyway)"
            )
    for st in stages[1:]:
        flat = flatten(_shared_part(st.config))
        for key in sorted(set(ref_flat) | set(flat)):
            if key == "train.seed" or key in exp.varies:
                continue
            if ref_flat.get(key) != flat.get(key):
                raise ConfigError(
                    f"{exp.source}: the models' budgets differ: {key} is {ref_flat.get(key)!r} in {Path(ref.config.source).name} "
                    f"but {flat.get(key)!r} in {Path(st.config.source).name}; set it in [budget] so every model is trained alike"
                )
    scales = {tuple(st.config.model.scales) for st in stages}
    if "model.scales" not in exp.varies and (len(scales) != 1 or len(next(iter(scales))) != 1):
        raise ConfigError(
            f"{exp.source}: the models must have one common scale, got {sorted(scales)} (or name model.scales in "
            "experiment.varies to compare them at each scale: an MDSR against single-scale models)"
        )
    return stages
