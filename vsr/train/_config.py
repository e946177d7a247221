"""Training recipes: TOML files read into frozen dataclasses.

A recipe has the sections ``[model]``, ``[data]`` (with one or more
``[[data.sources]]``), ``[optim]``, ``[train]`` and ``[validation]``. Unknown
sections and keys are errors that name the file, the key and the allowed keys.

Paths: input paths written in a TOML file (``data.sources.path``,
``validation.dataset``, ``model.init_from``, ``data.sources.list_file``) are
resolved relative to the folder of that file, so a recipe works from any
working directory; paths given with ``--set`` are relative to the current
directory. ``train.out_dir`` (where run folders are created) is relative to the
current directory.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vsr._core import build_dataclass, coerce_value, read_toml
from vsr.errors import ConfigError

__all__ = [
    "Config",
    "ModelConfig",
    "SourceConfig",
    "DataConfig",
    "OptimConfig",
    "TrainConfig",
    "ValidationConfig",
    "SOURCE_KINDS",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
]

SourceKind = Literal["image_folder", "div2k", "reds", "vimeo90k", "video_files"]
SOURCE_KINDS: tuple[str, ...] = typing.get_args(SourceKind)

#: Keys each source kind reads (besides ``kind``); any other key is an error.
_SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    "image_folder": ("path", "weight", "cache", "recursive"),
    "div2k": ("path", "weight", "cache", "split", "first", "last"),
    "reds": ("path", "weight", "cache", "frame_stride", "exclude"),
    "vimeo90k": ("path", "weight", "cache", "frame_stride", "list_file"),
    "video_files": ("path", "weight", "frame_stride", "max_frames"),
}

_PATH_KEYS = {("model", "init_from"), ("validation", "dataset"), ("source", "path"), ("source", "list_file")}


@dataclass(frozen=True)
class ModelConfig:
    """The network: a preset (``edsr_fast``, ``edsr_medium``, ``edsr_baseline``, ``edsr``, ``mdsr_baseline``, ``mdsr``) and the scales to train.

    ``init_from`` is a run folder or checkpoint whose weights start training,
    all but the upsampler (the paper starts x3/x4 from the trained x2 model).
    """

    arch: Literal["edsr_fast", "edsr_medium", "edsr_baseline", "edsr", "mdsr_baseline", "mdsr"] = "edsr_baseline"
    scales: tuple[int, ...] = (2,)
    n_resblocks: int | None = None
    n_feats: int | None = None
    res_scale: float | None = None
    init_from: str = ""


@dataclass(frozen=True)
class SourceConfig:
    """One training source. Which keys apply depends on ``kind`` (see ``_SOURCE_KEYS``).

    ``path`` is a folder (or, for ``video_files``, a video file or a folder of them).
    ``exclude`` defaults to the REDS4 clips for ``reds``.
    """

    kind: SourceKind
    path: str
    weight: float = 1.0
    cache: bool = True
    recursive: bool = False
    split: Literal["train", "valid"] = "train"
    first: int = 1
    last: int = 800
    frame_stride: int = 1
    exclude: tuple[str, ...] = ("000", "011", "015", "020")
    list_file: str = ""
    max_frames: int = 0


@dataclass(frozen=True)
class DataConfig:
    """Patch sampling. ``lr_patch`` is in LR pixels (the HR patch is ``lr_patch * scale``);
    ``batch_size`` is per process (the effective batch under DDP is ``batch_size * world_size``).

    ``degradation`` is how LR patches are made: ``""`` (the source's shipped LR, else MATLAB bicubic),
    or a training spec (:func:`vsr.data.parse_degradation_mix`) such as ``"bi+x264:crf=18..35"`` or
    ``"20% bi | 80% bi+x264:crf=18..35,preset=veryfast..slow"``; a TOML table
    ``{ "bi" = 0.2, "bi+x264:crf=18..35" = 0.8 }`` is read as the same weighted list.
    ``clip_frames`` is how many frames a compressed clip has (a simulated pan over a still image,
    real neighbours in a video source); 1 encodes each frame alone (intra-only).
    """

    sources: tuple[SourceConfig, ...] = ()
    lr_patch: int = 48
    batch_size: int = 16
    augment: bool = True
    num_workers: int = 0
    degradation: str = ""
    clip_frames: int = 5


@dataclass(frozen=True)
class OptimConfig:
    """Adam and the learning-rate schedule (paper: 1e-4, halved every 2e5 iterations).

    ``schedule``: ``step`` multiplies by ``gamma`` at each of ``milestones``;
    ``cosine`` decays from ``lr`` to ``min_lr`` over the run; ``constant``.
    ``warmup`` iterations ramp linearly from 0 first.
    """

    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: Literal["step", "cosine", "constant"] = "step"
    milestones: tuple[int, ...] = (200_000,)
    gamma: float = 0.5
    min_lr: float = 0.0
    warmup: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """The loop. ``precision`` ``auto`` is bf16 autocast on CPUs with native bf16, AMP on CUDA, else fp32.

    ``snapshot_every`` > 0 also keeps the weights at every multiple of it as a
    model file ``snapshots/iter_NNNNNNN.pt`` in the run folder (learning curves
    scored after training, on sets too slow to validate on inside the loop).
    """

    iterations: int = 300_000
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    channels_last: bool = True
    log_every: int = 100
    checkpoint_every: int = 1000
    snapshot_every: int = 0
    out_dir: str = "runs"
    name: str = ""
    plot: bool = False


@dataclass(frozen=True)
class ValidationConfig:
    """Validation on a benchmark folder (EDSR layout) every ``every`` iterations; ``dataset = ""`` disables it.

    ``protocol`` is a :mod:`vsr.metrics` protocol; ``edsr-benchmark`` is Y
    channel, shave = scale, output quantized first. ``precision`` is the
    inference precision used for validation.
    """

    dataset: str = ""
    every: int = 1000
    protocol: str = "edsr-benchmark"
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    ssim: bool = False


@dataclass(frozen=True)
class Config:
    """A whole training recipe. ``source`` is the file it was read from (for messages)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    source: str = "<dict>"

    @property
    def recipe_name(self) -> str:
        """The recipe's name: its file name without ``.toml``."""
        return Path(self.source).stem if self.source.endswith(".toml") else "run"


_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
    "validation": ValidationConfig,
}


def _resolve_path(value: str, base: Path | None) -> str:
    if not value or base is None:
        return value
    p = Path(value).expanduser()
    return os.fspath(p if p.is_absolute() else (base / p).resolve())


def _build(cls: type, raw: Any, where: str, file: str, base: Path | None, section: str) -> Any:
    """One recipe table: :func:`vsr._core._config.build_dataclass` plus the sources array and the paths."""
    convert: dict[str, Callable[[Any], Any]] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if (section, f.name) in _PATH_KEYS:
            convert[f.name] = lambda v, k=f.name: _path_value(coerce_value(v, hints[k], f"{file}: {where}.{k}"), base)
    if cls is DataConfig:
        convert["sources"] = lambda v: _build_sources(v, file, base)
        convert["degradation"] = lambda v: _degradation_value(v, f"{file}: {where}.degradation")
    if cls is not SourceConfig:
        return build_dataclass(cls, raw, file=file, where=where, convert=convert)
    names = [f.name for f in dataclasses.fields(SourceConfig)]
    kind = raw.get("kind", "") if isinstance(raw, dict) else ""
    return build_dataclass(
        SourceConfig, raw, file=file, where=where, convert=convert,
        allowed=["kind", *_SOURCE_KEYS.get(kind, names)], allowed_for=f"kind = {kind!r}",
        required_hint=f" (kinds: {', '.join(SOURCE_KINDS)})",
    )


def _degradation_value(value: Any, where: str) -> str:
    """A training degradation (string or ``{spec = weight}`` table) checked and written in its canonical form."""
    from vsr.data import parse_degradation_mix
    from vsr.errors import UnsupportedError

    if value == "":
        return ""
    if not isinstance(value, (str, dict)):
        raise ConfigError(f"{where} must be a spec string or a table of spec = weight, got {value!r}")
    try:
        return parse_degradation_mix(value).name
    except UnsupportedError as e:
        raise ConfigError(f"{where}: {e}") from None


def _mix_kinds(spec: str) -> set[str]:
    from vsr.data import parse_degradation_mix

    return parse_degradation_mix(spec).kinds


def _build_sources(value: Any, file: str, base: Path | None) -> tuple[SourceConfig, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{file}: data.sources must be an array of tables ([[data.sources]])")
    return tuple(_build(SourceConfig, v, f"data.sources.{i}", file, base, "source") for i, v in enumerate(value))


def _path_value(value: Any, base: Path | None) -> Any:
    return _resolve_path(value, base) if isinstance(value, str) else value


def config_from_dict(raw: dict[str, Any], *, source: str = "<dict>", base_dir: str | os.PathLike[str] | None = None) -> Config:
    """Build a :class:`Config` from nested dicts (a parsed TOML file); relative paths are resolved against ``base_dir``."""
    base = Path(base_dir).resolve() if base_dir is not None else None
    kwargs: dict[str, Any] = {}
    for section, value in raw.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{source}: unknown section [{section}]; allowed sections: {', '.join(_SECTIONS)}")
        kwargs[section] = _build(_SECTIONS[section], value, section, source, base, section)
    cfg = Config(**kwargs, source=source)
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    f = cfg.source
    m, d, o, t, v = cfg.model, cfg.data, cfg.optim, cfg.train, cfg.validation
    if not m.scales:
        raise ConfigError(f"{f}: model.scales is empty; give at least one scale, e.g. [2]")
    if m.arch.startswith("edsr") and len(m.scales) != 1:
        raise ConfigError(f"{f}: model.scales = {list(m.scales)}: an EDSR model has one scale; use mdsr_baseline for several")
    if m.arch.startswith("mdsr") and not set(m.scales) <= {2, 3, 4}:
        raise ConfigError(f"{f}: model.scales = {list(m.scales)}: MDSR branches are 2, 3, 4")
    if m.arch.startswith("edsr") and m.scales[0] not in (2, 3, 4, 8):
        raise ConfigError(f"{f}: model.scales = {list(m.scales)}: supported scales are 2, 3, 4, 8")
    for name, value in (("data.lr_patch", d.lr_patch), ("data.batch_size", d.batch_size), ("train.iterations", t.iterations),
                        ("train.log_every", t.log_every), ("train.checkpoint_every", t.checkpoint_every),
                        ("validation.every", v.every)):
        if value < 1:
            raise ConfigError(f"{f}: {name} = {value} must be >= 1")
    if t.snapshot_every < 0:
        raise ConfigError(f"{f}: train.snapshot_every = {t.snapshot_every} must be >= 0 (0: no snapshots)")
    if d.clip_frames < 1:
        raise ConfigError(f"{f}: data.clip_frames = {d.clip_frames} must be >= 1 (1: intra-only)")
    if d.degradation and "bd" in _mix_kinds(d.degradation) and list(m.scales) != [4]:
        raise ConfigError(f"{f}: data.degradation = {d.degradation!r}: bd is defined for x4 only, model.scales = {list(m.scales)}")
    if d.num_workers < 0:
        raise ConfigError(f"{f}: data.num_workers = {d.num_workers} must be >= 0")
    for i, s in enumerate(d.sources):
        if s.weight < 0:
            raise ConfigError(f"{f}: data.sources.{i}.weight = {s.weight} must be >= 0")
        if s.frame_stride < 1:
            raise ConfigError(f"{f}: data.sources.{i}.frame_stride = {s.frame_stride} must be >= 1")
    if d.sources and sum(s.weight for s in d.sources) <= 0:
        raise ConfigError(f"{f}: the weights of data.sources sum to 0")
    if o.lr <= 0 or o.min_lr < 0 or o.min_lr > o.lr:
        raise ConfigError(f"{f}: need 0 <= optim.min_lr <= optim.lr and optim.lr > 0, got lr={o.lr}, min_lr={o.min_lr}")
    if list(o.milestones) != sorted(o.milestones):
        raise ConfigError(f"{f}: optim.milestones must be increasing, got {list(o.milestones)}")
    if o.warmup < 0 or o.warmup > t.iterations:
        raise ConfigError(f"{f}: optim.warmup = {o.warmup} must be in 0..train.iterations ({t.iterations})")


def _parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (``2e-4``, ``true``, ``[2, 3]``, ``"x"``), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...], *, source: str = "--set") -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to a parsed recipe (a new dict is returned).

    Sources are addressed by index: ``data.sources.0.weight=2``. Path values are
    resolved against the current directory.
    """
    out = _deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source} {item!r}: expected section.key=value, e.g. optim.lr=2e-4")
        dotted, text = item.split("=", 1)
        parts = dotted.strip().split(".")
        if len(parts) < 2 or parts[0] not in _SECTIONS:
            raise ConfigError(
                f"{source} {item!r}: expected section.key=value with a section in {', '.join(_SECTIONS)}"
            )
        value = _parse_value(text.strip())
        node: Any = out
        for j, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{source} {item!r}: {'.'.join(parts[:j])} has {len(node)} entries; index {part!r} is out of range")
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
        last = parts[-1]
        is_path = (parts[0], last) in _PATH_KEYS or (parts[0] == "data" and last in ("path", "list_file"))
        if is_path and isinstance(value, str) and value:
            value = os.fspath(Path(value).expanduser().resolve())
        if isinstance(node, list):
            raise ConfigError(f"{source} {item!r}: address a source by index, e.g. data.sources.0.{last}")
        node[last] = value
    return out


def _deepcopy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _deepcopy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_deepcopy(v) for v in x]
    return x


def load_config(path: str | os.PathLike[str], overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a recipe TOML file, apply ``--set`` overrides, and check every key and value."""
    p = Path(path)
    raw = read_toml(p, "recipe file not found (recipes live in pipelines/*.toml)")
    raw = _resolve_file_paths(raw, p.resolve().parent)
    raw = apply_overrides(raw, overrides)
    return config_from_dict(raw, source=os.fspath(p))


def _resolve_file_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the input paths written in a TOML file absolute, relative to its folder."""
    out = _deepcopy(raw)
    for section, key in (("model", "init_from"), ("validation", "dataset")):
        sec = out.get(section)
        if isinstance(sec, dict) and isinstance(sec.get(key), str):
            sec[key] = _resolve_path(sec[key], base)
    data = out.get("data")
    if isinstance(data, dict) and isinstance(data.get("sources"), list):
        for s in data["sources"]:
            if isinstance(s, dict):
                for key in ("path", "list_file"):
                    if isinstance(s.get(key), str):
                        s[key] = _resolve_path(s[key], base)
    return out


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The recipe as plain dicts/lists (JSON- and TOML-friendly, tuples as lists), without ``source``."""

    def conv(x: Any) -> Any:
        if isinstance(x, tuple):
            return [conv(v) for v in x]
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items() if v is not None}
        return x

    d = dataclasses.asdict(cfg)
    d.pop("source", None)
    d["data"]["sources"] = [
        {k: v for k, v in s.items() if k == "kind" or k in _SOURCE_KEYS[s["kind"]]} for s in d["data"]["sources"]
    ]
    return conv(d)
