"""Several SR models and bicubic, side by side on image and video test sets: the library behind ``vsr compare``.

:func:`compare_models` runs :func:`vsr._evaluate.evaluate` for every model on every
test set, with the protocol that fits the set:

- image sets (EDSR layout or a folder of images): ``edsr-benchmark``, Y channel,
  shave = scale, mean over images;
- video sets (a folder of frame folders such as Vid4, one frame folder, septuplets
  or a video file): ``video``, Y channel, no shave, every frame scored, mean per
  clip then mean over clips, plus the temporal error (flicker) of each clip.

It then finds, in each image set and each video clip, the item where the models
differ most and keeps side-by-side crops of it. :func:`write_comparison_report`
writes the result as Markdown + a self-contained HTML page (summary table with the
best value per column in bold and the signed differences between models, per-clip
table, per-frame PSNR curves, crops) and every number as CSV and JSON.

Models may be grouped (e.g. one group per training recipe, one member per seed):
the report then adds the mean of each group, its seed-to-seed range, and the
difference between groups set against that range.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import math
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from vsr._files import atomic_open, write_bytes, write_text
from vsr.data import Degradation, degrade, imresize, parse_degradation
from vsr.errors import DatasetError, InputNotFoundError, InvalidInputError, UnsupportedError
from vsr._evaluate import (
    CodecCache,
    EvalResult,
    ItemScore,
    Layout,
    Summary,
    clip_ground_truth,
    compress_image,
    degraded_clip,
    detect_layout,
    evaluate,
)
from vsr.io import IMAGE_EXTENSIONS, list_images, read_image
from vsr._upscaler import Upscaler
from vsr.io import VideoReader
from vsr.metrics import get_protocol, psnr
from vsr.models import count_parameters, describe_config, load_model, model_scales
from vsr._render import (
    html_document,
    html_table,
    markdown_table,
    png_data_uri,
    render_plot,
    render_tiles,
    text_table,
)

__all__ = [
    "BICUBIC",
    "Comparison",
    "DiffExample",
    "GroupStats",
    "ModelInfo",
    "SetScores",
    "TestSet",
    "compare_models",
    "comparison_to_dict",
    "format_comparison",
    "group_stats",
    "resolve_test_sets",
    "write_comparison_report",
]

#: Row label of the bicubic baseline (reserved: no model may use it).
BICUBIC = "bicubic"

SetKind = Literal["image", "video"]

_IMAGE_PROTOCOL = "edsr-benchmark"
_CROP_SIDE = 80  # side of the crops in output pixels; shown at 2x
_IMAGE_LAYOUTS: tuple[Layout, ...] = ("edsr", "images")
_VIDEO_LAYOUTS: tuple[Layout, ...] = ("clips", "septuplets", "video", "images")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class TestSet:
    """One test set under one degradation: ``name`` heads its table column; ``kind`` picks the protocol.

    ``degradation`` is a spec (:func:`vsr.data.parse_degradation`); a set scored
    under several conditions appears once per condition, named ``set [spec]``.
    """

    name: str
    path: str
    kind: SetKind
    layout: Layout
    degradation: str = "bi"


@dataclass(frozen=True)
class ModelInfo:
    """A compared model: its row label, where it came from, its shape and its group (``""`` for none)."""

    label: str
    source: str
    description: str
    params: int
    group: str = ""


@dataclass(frozen=True)
class SetScores:
    """The evaluation of every model on one test set, by label (bicubic is in each result)."""

    test_set: TestSet
    results: Mapping[str, EvalResult] = field(repr=False)

    @property
    def bicubic(self) -> EvalResult:
        """Any of the results: each carries the (deterministic) bicubic scores."""
        return next(iter(self.results.values()))

    def summary(self, label: str) -> tuple[float | None, float | None, float | None]:
        """(PSNR, SSIM, temporal error) of ``label`` (or :data:`BICUBIC`) under the set's protocol."""
        if label == BICUBIC:
            m = self.bicubic.mean
            return m.bicubic_psnr, m.bicubic_ssim, m.bicubic_temporal
        m = self.results[label].mean
        return m.psnr, m.ssim, m.temporal

    def item_psnr(self, label: str) -> list[float]:
        """Per-item (image or frame) PSNR of ``label`` in evaluation order."""
        if label == BICUBIC:
            return [i.bicubic_psnr for i in self.bicubic.items]
        return [float(i.psnr) for i in self.results[label].items]  # type: ignore[arg-type]


@dataclass(frozen=True)
class DiffExample:
    """Crops of the item (image or frame) of a set where the models differ most.

    ``psnr`` maps each label (and bicubic) to its PSNR on the whole item, as the
    protocol scores it; ``crops`` maps ``ground truth``, ``bicubic`` and each label
    to the same ``side × side`` window at ``(top, left)`` of the output.
    """

    set_name: str
    clip: str
    item: str
    spread: float
    top: int
    left: int
    side: int
    psnr: Mapping[str, float]
    crops: Mapping[str, np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare_models`."""

    scale: int
    models: tuple[ModelInfo, ...]
    sets: tuple[SetScores, ...]
    examples: tuple[DiffExample, ...]
    degradation: str
    device: str
    precision: str
    notes: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """Model labels in the order given (bicubic not included)."""
        return tuple(m.label for m in self.models)

    @property
    def groups(self) -> dict[str, list[str]]:
        """Group name -> member labels, in order; empty when the models are not grouped."""
        out: dict[str, list[str]] = {}
        for m in self.models:
            if m.group:
                out.setdefault(m.group, []).append(m.label)
        return out


@dataclass(frozen=True)
class GroupStats:
    """A group's mean on one set and metric, its members' values, and its difference from the first group.

    ``spread`` is max - min over the members (the seed-to-seed range; ``None``
    with one member). ``delta`` is this group's mean minus the first group's;
    ``paired`` lists member-by-member differences (members matched by position,
    e.g. by seed) when both groups have the same size.
    """

    group: str
    set_name: str
    metric: str
    values: tuple[float, ...]
    mean: float
    spread: float | None
    delta: float | None
    paired: tuple[float, ...] | None


# --------------------------------------------------------------------------- inputs


def resolve_test_sets(
    image_sets: Sequence[str | os.PathLike[str]] = (), video_sets: Sequence[str | os.PathLike[str]] = ()
) -> list[TestSet]:
    """Check every set exists, holds images or frames, and has a layout that fits its kind; name each one.

    A set is named after its folder (or file stem); when two names collide the
    parent folder is prefixed (``Vid4/calendar``).
    """
    if not image_sets and not video_sets:
        raise InvalidInputError("no test sets: give at least one image set (--image-set) or video set (--video-set)")
    found: list[tuple[Path, SetKind, Layout]] = []
    seen: set[Path] = set()
    for kind, paths in (("image", image_sets), ("video", video_sets)):
        option = f"--{kind}-set"
        for raw in paths:
            p = Path(raw)
            if not p.exists():
                raise InputNotFoundError(f"{p}: test set not found ({option}); check the path")
            if p.resolve() in seen:
                raise InvalidInputError(f"{p}: given twice as a test set; give each set once")
            seen.add(p.resolve())
            try:
                layout = detect_layout(p)
            except DatasetError as e:
                raise DatasetError(f"{option} {e}") from None
            if layout == "edsr" and not list_images(p / "HR"):
                raise DatasetError(f"{p / 'HR'}: the HR folder of this {kind} set is empty ({option})")
            if kind == "image" and layout not in _IMAGE_LAYOUTS:
                raise UnsupportedError(
                    f"{p}: --image-set needs an EDSR-layout set (HR/ + LR_bicubic/) or a folder of images, "
                    f"but this is video data ({layout}); pass it with --video-set"
                )
            if kind == "video" and layout not in _VIDEO_LAYOUTS:
                raise UnsupportedError(
                    f"{p}: --video-set needs frame folders (Vid4), septuplets or a video file, but this is an "
                    "EDSR-layout image set; pass it with --image-set"
                )
            if kind == "video" and layout == "images" and p.is_file():
                raise UnsupportedError(f"{p}: a single image is not a video set; pass it with --image-set")
            found.append((p, kind, layout))  # type: ignore[arg-type]
    names = [p.stem if p.is_file() else p.name for p, _, _ in found]
    out: list[TestSet] = []
    for (p, kind, layout), name in zip(found, names):
        if names.count(name) > 1:
            name = f"{p.resolve().parent.name}/{name}"
        out.append(TestSet(name=name, path=os.fspath(p), kind=kind, layout=layout))
    if len({t.name for t in out}) != len(out):
        raise InvalidInputError(f"test sets with the same name: {', '.join(t.path for t in out)}; rename one folder")
    return out


def _label_for(source: str, labels: Mapping[str, str]) -> str:
    for key in (source, Path(source).name, Path(source).stem):
        if key in labels:
            return labels[key]
    return Path(source).stem if Path(source).suffix else source


def _load_models(
    sources: Sequence[str | os.PathLike[str]], scale: int, labels: Mapping[str, str], groups: Mapping[str, str]
) -> list[tuple[ModelInfo, Any]]:
    """Load every model on the CPU; all must upscale ``scale``; labels must be unique and not ``bicubic``."""
    if not sources:
        raise InvalidInputError("no models: give at least one --model (a checkpoint file or a bundled model name)")
    loaded = []
    for src in sources:
        s = os.fspath(src)
        loaded.append((s, load_model(s, device="cpu")))
    scales = {s: model_scales(m) for s, m in loaded}
    if any(scale not in sc for sc in scales.values()):
        listing = "; ".join(f"{s}: {'/'.join(f'x{v}' for v in sc)}" for s, sc in scales.items())
        raise UnsupportedError(
            f"every model must upscale x{scale}, but the models' scales are {listing}; "
            "compare models of one scale (and pass it with --scale)"
        )
    unknown = set(labels) - {k for s, _ in loaded for k in (s, Path(s).name, Path(s).stem)}
    if unknown:
        raise InvalidInputError(
            f"--label names {', '.join(sorted(unknown))}, which is not one of the models "
            f"({', '.join(s for s, _ in loaded)}); use MODEL=NAME with MODEL as given to --model or its file stem"
        )
    out: list[tuple[ModelInfo, Any]] = []
    for s, model in loaded:
        label = _label_for(s, labels)
        if not label or label == BICUBIC:
            raise InvalidInputError(f"{s}: the label {label!r} is reserved or empty; pick another with --label {s}=NAME")
        if any(info.label == label for info, _ in out):
            raise InvalidInputError(
                f"two models would both be labelled {label!r} ({s} and an earlier one); name them with --label MODEL=NAME"
            )
        info = ModelInfo(label, s, describe_config(model.config), count_parameters(model), groups.get(label, ""))
        out.append((info, model))
    stray = set(groups) - {info.label for info, _ in out}
    if stray:
        raise InvalidInputError(f"groups name unknown model labels: {', '.join(sorted(stray))}")
    return out


# --------------------------------------------------------------------------- reading one item again


def _as_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def _modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    return img[: img.shape[0] - img.shape[0] % scale, : img.shape[1] - img.shape[1] % scale]


def _pick(files: list[Path], item: ItemScore, where: Path) -> Path:
    """The file :func:`evaluate` scored as ``item`` (by position, checked by name)."""
    if item.index >= len(files) or files[item.index].stem != item.name:
        raise DatasetError(f"{where}: frame {item.name!r} is no longer where it was evaluated; was the folder changed?")
    return files[item.index]


def _video_frame(path: Path, index: int) -> np.ndarray:
    with VideoReader(path) as reader:
        seen = 0
        for batch in reader:
            if index < seen + len(batch.frames):
                return np.ascontiguousarray(batch.frames[index - seen])
            seen += len(batch.frames)
    raise DatasetError(f"{path}: has {seen} frames, frame {index} was evaluated; was the file changed?")


def _item_pair(ts: TestSet, item: ItemScore, scale: int, cache: CodecCache) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth, LR) of one evaluated item, made exactly as :func:`evaluate` made them.

    Compressed LR is replayed from ``cache``, the bitstreams the evaluation recorded.
    """
    deg = parse_degradation(ts.degradation)
    root = Path(ts.path)
    if deg.codec is not None and ts.kind == "video":
        # The LR of a compressed clip depends on the frames before it: run the clip's stream up to the item.
        seen = 0
        gts = clip_ground_truth(root, item.clip, scale)
        for gt_batch, lr_batch in degraded_clip(gts, scale, deg, cache=cache, key=f"{root}|{item.clip}"):
            if item.index < seen + len(gt_batch):
                k = item.index - seen
                return np.ascontiguousarray(gt_batch[k]), np.ascontiguousarray(lr_batch[k])
            seen += len(gt_batch)
        raise DatasetError(f"{root}: clip {item.clip!r} has {seen} frames, frame {item.index} was evaluated; was it changed?")
    gt, lr, path = _plain_item_pair(ts, item, scale, deg)
    return gt, compress_image(lr, deg, cache=cache, key=os.fspath(path))


def _plain_item_pair(
    ts: TestSet, item: ItemScore, scale: int, deg: Degradation
) -> tuple[np.ndarray, np.ndarray, Path]:
    """(ground truth, LR before any codec, the file the item came from)."""
    root = Path(ts.path)
    if ts.layout == "video":
        gt = _modcrop(_video_frame(root, item.index), scale)
        return gt, degrade(gt, scale, deg.kind), root
    if ts.layout == "edsr":
        hr_path = _pick(list_images(root / "HR"), item, root / "HR")
        hr = _as_rgb(read_image(hr_path))
        lr_dir = root / "LR_bicubic" / f"X{scale}"
        lr_path = next(
            (c for c in (lr_dir / f"{hr_path.stem}x{scale}{e}" for e in (hr_path.suffix, *IMAGE_EXTENSIONS)) if c.is_file()),
            None,
        )
        if deg.kind == "bi" and lr_path is not None:
            lr = _as_rgb(read_image(lr_path))
            return np.ascontiguousarray(hr[: lr.shape[0] * scale, : lr.shape[1] * scale]), lr, hr_path
        gt = _modcrop(hr, scale)
        return gt, degrade(gt, scale, deg.kind), hr_path
    if root.is_file():
        frame_path = root
    else:
        folder = root / item.clip if ts.layout in ("clips", "septuplets") else root
        frame_path = _pick(list_images(folder), item, folder)
    gt = _modcrop(_as_rgb(read_image(frame_path)), scale)
    return gt, degrade(gt, scale, deg.kind), frame_path


def _window(outputs: Sequence[np.ndarray], side: int) -> tuple[int, int, int]:
    """(top, left, side) of the square where the outputs disagree most (sum of the per-pixel max - min)."""
    stack = np.stack([o.astype(np.float32).mean(axis=2) for o in outputs])
    disagreement = stack.max(axis=0) - stack.min(axis=0)
    h, w = disagreement.shape
    side = min(side, h, w)
    integral = cv2.integral(disagreement)
    sums = integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), side


def _item_spread(scores: SetScores, labels: Sequence[str], groups: Mapping[str, list[str]]) -> np.ndarray:
    """Per item: max - min PSNR over the group means (or the models; with one model, model vs bicubic)."""
    if len(groups) >= 2:
        rows = [np.mean([scores.item_psnr(lab) for lab in members], axis=0) for members in groups.values()]
    elif len(labels) >= 2:
        rows = [np.asarray(scores.item_psnr(lab)) for lab in labels]
    else:
        rows = [np.asarray(scores.item_psnr(labels[0])), np.asarray(scores.item_psnr(BICUBIC))]
    arr = np.asarray(rows, dtype=np.float64)
    arr[~np.isfinite(arr)] = np.nan
    with np.errstate(all="ignore"):
        spread = np.nanmax(arr, axis=0) - np.nanmin(arr, axis=0)
    return np.nan_to_num(spread, nan=-1.0)


def _examples(
    scores: SetScores,
    upscalers: Mapping[str, Upscaler],
    scale: int,
    groups: Mapping[str, list[str]],
    notes: list[str],
    cache: CodecCache,
) -> list[DiffExample]:
    """One example per image set, or per clip of a video set: the item where the models differ most."""
    ts = scores.test_set
    labels = list(upscalers)
    spread = _item_spread(scores, labels, groups)
    items = scores.bicubic.items
    by_clip: dict[str, list[int]] = {}
    for k, it in enumerate(items):
        by_clip.setdefault(it.clip, []).append(k)
    proto = scores.bicubic.protocol
    crop = proto.crop_border(scale)
    out: list[DiffExample] = []
    for indices in by_clip.values():
        k = max(indices, key=lambda j: spread[j])
        item = items[k]
        gt, lr = _item_pair(ts, item, scale, cache)
        images = {"ground truth": gt, BICUBIC: imresize(lr, scale)}
        for lab, up in upscalers.items():
            images[lab] = np.asarray(up(lr[None]))[0]
            redone = psnr(images[lab], gt, crop_border=crop, y_channel=proto.y_channel)
            scored = scores.results[lab].items[k].psnr
            if scored is not None and math.isfinite(redone) and abs(redone - scored) > 0.01:
                notes.append(
                    f"{ts.name} {item.clip + '/' if item.clip else ''}{item.name}: {lab} scored {scored:.3f} dB in the "
                    f"evaluation but {redone:.3f} dB when redone for the crops (nondeterministic inference?)"
                )
        compared = [images[lab] for lab in labels] if len(labels) >= 2 else [images[labels[0]], images[BICUBIC]]
        top, left, side = _window(compared, _CROP_SIDE)
        item_psnr = {lab: float(scores.results[lab].items[k].psnr) for lab in labels}  # type: ignore[arg-type]
        item_psnr[BICUBIC] = item.bicubic_psnr
        out.append(
            DiffExample(
                set_name=ts.name,
                clip=item.clip,
                item=item.name,
                spread=float(spread[k]),
                top=top,
                left=left,
                side=side,
                psnr=item_psnr,
                crops={key: np.ascontiguousarray(img[top:top + side, left:left + side]) for key, img in images.items()},
            )
        )
    return out


# --------------------------------------------------------------------------- compare


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def compare_models(
    models: Sequence[str | os.PathLike[str]],
    *,
    scale: int,
    image_sets: Sequence[str | os.PathLike[str]] = (),
    video_sets: Sequence[str | os.PathLike[str]] = (),
    labels: Mapping[str, str] | None = None,
    groups: Mapping[str, str] | None = None,
    device: str = "auto",
    precision: str = "fp32",
    degradation: str = "bi",
    video_degradations: Sequence[str] = (),
    video_protocol: str = "video",
    batch_size: int = 4,
    progress: bool = False,
) -> Comparison:
    """Evaluate every model and bicubic on every test set, and keep crops where the models differ most.

    Args:
        models: checkpoint files or bundled model names; all must upscale ``scale``.
        scale: the upscaling factor.
        image_sets: EDSR-layout sets or folders of images (``edsr-benchmark`` protocol).
        video_sets: folders of frame folders (Vid4), one frame folder, septuplets or
            video files (``video_protocol``, default ``video``: every frame, Y, no shave,
            mean of clip means, temporal error).
        labels: row label per model, keyed by the model as given or its file stem
            (default: the file stem).
        groups: group name per label (e.g. the training recipe, with one model per
            seed); adds group means, seed ranges and group differences to the report.
        device, precision, batch_size: inference settings (fp32 by default, so
            scores are comparable with published ones).
        degradation: how LR is made where it is not on disk, as a spec
            (:func:`vsr.data.parse_degradation`: ``bi``, ``bd``, ``bi+x264:crf=28``).
        video_degradations: further conditions for the video sets only: each video
            set is scored again under each, as its own column ``set [spec]``
            (e.g. ``bi+x264:crf=23``, ``bi+x264:crf=28`` for compressed LR).
        progress: report each evaluation on stderr, with progress bars.

    Raises:
        InputNotFoundError, DatasetError: a set is missing or has no images.
        UnsupportedError: a model does not upscale ``scale``, or a set does not fit its kind.
        InvalidInputError: no models or sets, clashing labels.
    """
    degradation = parse_degradation(degradation).name
    extra = [parse_degradation(d).name for d in video_degradations]
    if degradation in extra or len(set(extra)) != len(extra):
        raise InvalidInputError(f"degradations given twice: {', '.join([degradation, *extra])}; give each condition once")
    vproto = get_protocol(video_protocol)
    if vproto.aggregation != "clip-mean":
        raise UnsupportedError(f"video_protocol {video_protocol!r} scores image sets; use 'video' or 'vimeo90k-t'")
    sets = [dataclasses.replace(t, degradation=degradation) for t in resolve_test_sets(image_sets, video_sets)]
    sets += [dataclasses.replace(t, name=f"{t.name} [{d}]", degradation=d) for d in extra for t in sets if t.kind == "video"]
    loaded = _load_models(models, int(scale), dict(labels or {}), dict(groups or {}))
    upscalers = {
        info.label: Upscaler(model, scale=int(scale), device=device, precision=precision, batch_size=batch_size)
        for info, model in loaded
    }
    infos = tuple(info for info, _ in loaded)
    group_members: dict[str, list[str]] = {}
    for info in infos:
        if info.group:
            group_members.setdefault(info.group, []).append(info.label)
    first = next(iter(upscalers.values()))
    # One recording of every compressed clip, replayed for every model and for the crops: all see the same LR.
    codec_cache: CodecCache = {}
    notes: list[str] = []
    all_scores: list[SetScores] = []
    examples: list[DiffExample] = []
    for ts in sets:
        protocol = _IMAGE_PROTOCOL if ts.kind == "image" else video_protocol
        results: dict[str, EvalResult] = {}
        for label, up in upscalers.items():
            if progress:
                _say(f"vsr compare: {label} on {ts.name} ({ts.kind} set, protocol {protocol})")
            results[label] = evaluate(
                ts.path, int(scale), up, model_name=label, protocol=protocol, degradation=ts.degradation,
                codec_cache=codec_cache, progress=progress
            )
        for r in results.values():
            notes.extend(f"{ts.name}: {n}" for n in r.notes if f"{ts.name}: {n}" not in notes)
        scores = SetScores(ts, results)
        all_scores.append(scores)
        examples.extend(_examples(scores, upscalers, int(scale), group_members, notes, codec_cache))
    return Comparison(
        scale=int(scale),
        models=infos,
        sets=tuple(all_scores),
        examples=tuple(examples),
        degradation=", ".join([degradation, *extra]),
        device=str(first.device),
        precision=first.precision,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- derived numbers


def group_stats(comparison: Comparison, metric: Literal["psnr", "ssim", "temporal"] = "psnr") -> list[GroupStats]:
    """Per group and set: the members' values, their mean and range, and the difference from the first group."""
    groups = comparison.groups
    if not groups:
        return []
    col = {"psnr": 0, "ssim": 1, "temporal": 2}[metric]
    out: list[GroupStats] = []
    for scores in comparison.sets:
        base: list[float] | None = None
        for name, members in groups.items():
            vals = [scores.summary(m)[col] for m in members]
            if any(v is None for v in vals):
                continue
            values = [float(v) for v in vals]  # type: ignore[arg-type]
            mean = float(np.mean(values))
            if base is None:
                base = values
                delta, paired = None, None
            else:
                delta = mean - float(np.mean(base))
                paired = tuple(a - b for a, b in zip(values, base)) if len(values) == len(base) else None
            spread = max(values) - min(values) if len(values) > 1 else None
            out.append(GroupStats(name, scores.test_set.name, metric, tuple(values), mean, spread, delta, paired))
    return out


def _fmt(v: float | None, digits: int, signed: bool = False) -> str:
    if v is None:
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _columns(comparison: Comparison) -> list[tuple[SetScores, str, int, int, bool]]:
    """(set, header, summary index, digits, higher is better) for each column of the summary table."""
    cols = []
    for s in comparison.sets:
        cols.append((s, f"{s.test_set.name} PSNR", 0, 2, True))
        cols.append((s, f"{s.test_set.name} SSIM", 1, 4, True))
        if s.test_set.kind == "video" and s.bicubic.mean.bicubic_temporal is not None:
            cols.append((s, f"{s.test_set.name} TE", 2, 2, False))
    return cols


def _best_cells(rows: Sequence[Sequence[float | None]], higher: Sequence[bool]) -> set[tuple[int, int]]:
    """(row, column) of the best value in each column (ties all marked); columns are 1-based in the table."""
    best: set[tuple[int, int]] = set()
    for j, hi in enumerate(higher):
        vals = [(i, r[j]) for i, r in enumerate(rows) if r[j] is not None and math.isfinite(r[j])]  # type: ignore[arg-type]
        if not vals:
            continue
        target = max(v for _, v in vals) if hi else min(v for _, v in vals)  # type: ignore[type-var]
        best.update((i, j + 1) for i, v in vals if round(v, 6) == round(target, 6))  # type: ignore[arg-type]
    return best


def _summary_table(comparison: Comparison) -> tuple[list[str], list[list[str]], set[tuple[int, int]]]:
    """Header, rows (models, bicubic, then differences from the first model) and the best cells."""
    cols = _columns(comparison)
    labels = [*comparison.labels, BICUBIC]
    values = [[s.summary(lab)[k] for s, _, k, _, _ in cols] for lab in labels]
    rows = [[lab, *(_fmt(v, d) for v, (_, _, _, d, _) in zip(vals, cols))] for lab, vals in zip(labels, values)]
    best = _best_cells(values, [hi for *_, hi in cols])
    ref = comparison.labels[0]
    for lab in comparison.labels[1:]:
        diffs = []
        for s, _, k, d, _ in cols:
            a, b = s.summary(lab)[k], s.summary(ref)[k]
            diffs.append(_fmt(None if a is None or b is None else a - b, d, signed=True))
        rows.append([f"Δ {lab} − {ref}", *diffs])
    return ["model", *(h for _, h, _, _, _ in cols)], rows, best


def _clip_table(scores: SetScores, labels: Sequence[str]) -> tuple[list[str], list[list[str]], set[tuple[int, int]]]:
    """Per-clip PSNR / SSIM / TE of every model and bicubic on one video set."""
    clips = [c.clip for c in scores.bicubic.clips]
    header = ["model"]
    for c in clips:
        header += [f"{c} PSNR", f"{c} SSIM", f"{c} TE"]
    values: list[list[float | None]] = []
    for lab in [*labels, BICUBIC]:
        row: list[float | None] = []
        for c in clips:
            cs: Summary = next(x.scores for x in scores.results[labels[0] if lab == BICUBIC else lab].clips if x.clip == c)
            row += [cs.bicubic_psnr, cs.bicubic_ssim, cs.bicubic_temporal] if lab == BICUBIC else [cs.psnr, cs.ssim, cs.temporal]
        values.append(row)
    digits = [2, 4, 2] * len(clips)
    rows = [[lab, *(_fmt(v, d) for v, d in zip(vals, digits))] for lab, vals in zip([*labels, BICUBIC], values)]
    return header, rows, _best_cells(values, [True, True, False] * len(clips))


def _group_table(
    comparison: Comparison, metric: Literal["psnr", "temporal"] = "psnr"
) -> tuple[list[str], list[list[str]]] | None:
    """Group means ± range, bicubic, and the difference between groups per set, or None without groups.

    ``metric`` ``temporal`` tabulates the temporal error (video sets only; lower is steadier).
    """
    stats = group_stats(comparison, metric)
    if not stats:
        return None
    sets = [s for s in comparison.sets if metric == "psnr" or s.summary(BICUBIC)[2] is not None]
    if not sets:
        return None
    col = 0 if metric == "psnr" else 2
    unit = "PSNR, dB" if metric == "psnr" else "TE, grey levels"
    header = [f"group ({unit})", *(s.test_set.name for s in sets)]
    rows: list[list[str]] = []
    groups = list(comparison.groups)
    for g in groups:
        row = [f"{g} (n={len(comparison.groups[g])})"]
        for s in sets:
            st = next((x for x in stats if x.group == g and x.set_name == s.test_set.name), None)
            row.append("" if st is None else f"{st.mean:.3f}" + ("" if st.spread is None else f" (range {st.spread:.3f})"))
        rows.append(row)
    rows.append([BICUBIC, *(_fmt(s.summary(BICUBIC)[col], 3) for s in sets)])
    for g in groups[1:]:
        row = [f"Δ {g} − {groups[0]}"]
        for s in sets:
            st = next((x for x in stats if x.group == g and x.set_name == s.test_set.name), None)
            if st is None or st.delta is None:
                row.append("")
                continue
            base = next(x for x in stats if x.group == groups[0] and x.set_name == s.test_set.name)
            noise = max((v for v in (st.spread, base.spread) if v is not None), default=None)
            cell = f"{st.delta:+.3f}"
            if st.paired is not None and len(st.paired) > 1:
                cell += " (paired " + ", ".join(f"{p:+.3f}" for p in st.paired) + ")"
            if noise is not None and noise > 0:
                cell += " > seed range" if abs(st.delta) > noise else " ≤ seed range"
            row.append(cell)
        rows.append(row)
    return header, rows


def _shown(path: str) -> str:
    """``path`` relative to the current directory when it lies at most one level above it (for readable reports)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return rel if not rel.startswith(os.pardir + os.sep + os.pardir) else path


def _params(n: int) -> str:
    return f"{n / 1e6:.2f}M parameters" if n >= 10_000 else f"{n:,} parameters"


def _protocol_lines(comparison: Comparison) -> list[str]:
    lines = []
    for s in comparison.sets:
        r = s.bicubic
        p = r.protocol
        mean = "mean of clip means" if p.aggregation == "clip-mean" else "mean over images"
        count = f"{len(r.clips)} clip(s), {len(r.items)} frames" if p.aggregation == "clip-mean" else f"{len(r.items)} images"
        lines.append(
            f"{s.test_set.name} ({s.test_set.kind} set, {count}, {_shown(s.test_set.path)}): protocol {p.name}, "
            f"{'Y' if p.y_channel else 'RGB'} channel, crop {r.crop_border}, {mean}, LR by {r.degradation}"
        )
    return lines


def format_comparison(comparison: Comparison) -> str:
    """The summary table (and the group table) as plain text, for the terminal."""
    header, rows, _ = _summary_table(comparison)
    lines = [f"x{comparison.scale}, {comparison.device}, {comparison.precision}", *_protocol_lines(comparison), ""]
    lines += text_table(header, rows)
    grp = _group_table(comparison)
    if grp is not None:
        lines += ["", *text_table(*grp)]
    if any(s.test_set.kind == "video" for s in comparison.sets):
        lines.append("TE: temporal error, grey levels, lower = steadier (see vsr.metrics.temporal_error)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- dict / files


def _jv(v: float | None) -> Any:
    if v is None or math.isfinite(v):
        return v
    return "inf" if v > 0 else "-inf"


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    """JSON-ready dict of a :class:`Comparison`: models, protocols, summaries, clips, items, groups (images left out)."""
    labels = [*comparison.labels, BICUBIC]
    sets = []
    for s in comparison.sets:
        r0 = s.bicubic
        p = r0.protocol
        entry: dict[str, Any] = {
            "name": s.test_set.name,
            "path": s.test_set.path,
            "kind": s.test_set.kind,
            "layout": s.test_set.layout,
            "protocol": {"name": p.name, "y_channel": p.y_channel, "crop_border": r0.crop_border,
                         "aggregation": p.aggregation, "frames": p.frames, "description": p.description},
            "mean_label": "mean of clip means" if p.aggregation == "clip-mean" else "mean over images",
            "summary": {lab: dict(zip(("psnr", "ssim", "temporal_error"), map(_jv, s.summary(lab)))) for lab in labels},
        }
        if r0.frame_weighted is not None:
            entry["frame_weighted"] = {
                lab: {"psnr": _jv(s.results[lab].frame_weighted.psnr)} for lab in comparison.labels  # type: ignore[union-attr]
            } | {BICUBIC: {"psnr": _jv(r0.frame_weighted.bicubic_psnr)}}
        if r0.clips:
            entry["clips"] = []
            for c in r0.clips:
                row: dict[str, Any] = {"clip": c.clip, "frames": c.n_frames}
                for lab in comparison.labels:
                    cs = next(x.scores for x in s.results[lab].clips if x.clip == c.clip)
                    row[lab] = {"psnr": _jv(cs.psnr), "ssim": cs.ssim, "temporal_error": cs.temporal}
                row[BICUBIC] = {"psnr": _jv(c.scores.bicubic_psnr), "ssim": c.scores.bicubic_ssim,
                                "temporal_error": c.scores.bicubic_temporal}
                entry["clips"].append(row)
        entry["items"] = [
            {
                "clip": it.clip, "name": it.name, "index": it.index,
                "psnr": {**{lab: _jv(s.results[lab].items[k].psnr) for lab in comparison.labels}, BICUBIC: _jv(it.bicubic_psnr)},
                "ssim": {**{lab: s.results[lab].items[k].ssim for lab in comparison.labels}, BICUBIC: it.bicubic_ssim},
            }
            for k, it in enumerate(r0.items)
        ]
        entry["notes"] = list(r0.notes)
        sets.append(entry)
    ref = comparison.labels[0]
    diffs = []
    for lab in comparison.labels[1:]:
        for s in comparison.sets:
            (ap, as_, at), (bp, bs, bt) = s.summary(lab), s.summary(ref)
            diffs.append({
                "set": s.test_set.name, "model": lab, "minus": ref,
                "psnr": None if ap is None or bp is None else ap - bp,
                "ssim": None if as_ is None or bs is None else as_ - bs,
                "temporal_error": None if at is None or bt is None else at - bt,
            })
    return {
        "scale": comparison.scale,
        "degradation": comparison.degradation,
        "device": comparison.device,
        "precision": comparison.precision,
        "models": [
            {"label": m.label, "source": m.source, "architecture": m.description, "params": m.params, "group": m.group}
            for m in comparison.models
        ],
        "sets": sets,
        "differences": diffs,
        "groups": [
            {"group": g.group, "set": g.set_name, "metric": g.metric, "values": list(g.values), "mean": g.mean,
             "range": g.spread, "delta_vs_first_group": g.delta, "paired_deltas": None if g.paired is None else list(g.paired)}
            for metric in ("psnr", "ssim", "temporal")
            for g in group_stats(comparison, metric)  # type: ignore[arg-type]
        ],
        "examples": [
            {"set": e.set_name, "clip": e.clip, "item": e.item, "spread_db": e.spread,
             "window": {"top": e.top, "left": e.left, "side": e.side}, "psnr": {k: _jv(v) for k, v in e.psnr.items()}}
            for e in comparison.examples
        ],
        "notes": list(comparison.notes),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _rows_by_group(comparison: Comparison, col: int, sets: Sequence[SetScores]) -> dict[str, list[float]]:
    """Per group (mean over its members) or per model: the value of summary column ``col`` on each set; bicubic last."""
    groups = comparison.groups or {lab: [lab] for lab in comparison.labels}
    out = {}
    for g, members in groups.items():
        vals = [[s.summary(m)[col] for s in sets] for m in members]
        out[f"{g} (n={len(members)})" if comparison.groups else g] = [
            float(np.mean([v[k] for v in vals])) if all(v[k] is not None for v in vals) else math.nan
            for k in range(len(sets))
        ]
    out[BICUBIC] = [math.nan if s.summary(BICUBIC)[col] is None else float(s.summary(BICUBIC)[col]) for s in sets]
    return out


def _condition_plots(comparison: Comparison) -> Iterator[tuple[str, str, bytes]]:
    """Across sets and conditions: PSNR gain over bicubic, and the video sets' temporal error (when there are >= 2)."""
    sets = list(comparison.sets)
    names = ", ".join(f"{k}: {s.test_set.name}" for k, s in enumerate(sets))
    if len(sets) >= 2:
        psnrs = _rows_by_group(comparison, 0, sets)
        bic = psnrs.pop(BICUBIC)
        gains = {lab: [v - b for v, b in zip(vals, bic)] for lab, vals in psnrs.items()}
        yield ("gain_over_bicubic", "PSNR gain over bicubic on every set and condition",
               render_plot(gains, title=f"PSNR gain over bicubic (dB), x{comparison.scale}", xlabel=names[:160],
                           ylabel="PSNR − bicubic (dB)", size=(1000, 420)))
    video = [s for s in sets if s.test_set.kind == "video" and s.summary(BICUBIC)[2] is not None]
    if len(video) >= 2:
        te = _rows_by_group(comparison, 2, video)
        yield ("temporal_error", "Temporal error on every video set and condition",
               render_plot(te, title="Temporal error (grey levels, lower = steadier)",
                           xlabel=", ".join(f"{k}: {s.test_set.name}" for k, s in enumerate(video))[:160],
                           ylabel="TE (grey levels)", size=(1000, 420)))


def _plots(comparison: Comparison) -> Iterator[tuple[str, str, bytes]]:
    """(file stem, caption, PNG) of every per-frame (video clip) and per-image (image set) PSNR plot."""
    yield from _condition_plots(comparison)
    labels = [*comparison.labels, BICUBIC]
    for s in comparison.sets:
        r0 = s.bicubic
        channel = "Y" if r0.protocol.y_channel else "RGB"
        curves = {lab: s.item_psnr(lab) for lab in labels}
        if s.test_set.kind == "image":
            yield (
                _slug(f"psnr_{s.test_set.name}"),
                f"{s.test_set.name}: PSNR per image",
                render_plot(curves,
                            title=f"{s.test_set.name}: PSNR-{channel} per image (crop {r0.crop_border}), x{comparison.scale}",
                            xlabel="image (" + ", ".join(i.name for i in r0.items)[:120] + ")", ylabel=f"PSNR-{channel} (dB)",
                            size=(1000, 420)),
            )
            continue
        for c in r0.clips:
            idx = [k for k, it in enumerate(r0.items) if it.clip == c.clip]
            series = {lab: [v[k] for k in idx] for lab, v in curves.items()}
            yield (
                _slug(f"psnr_{s.test_set.name}_{c.clip}"),
                f"{s.test_set.name} / {c.clip}: PSNR per frame",
                render_plot(series, title=f"{c.clip}: PSNR-{channel} per frame, x{comparison.scale}",
                            xlabel="frame", ylabel=f"PSNR-{channel} (dB)", size=(1000, 420)),
            )


def _example_png(e: DiffExample, labels: Sequence[str]) -> bytes:
    tiles = [("ground truth", e.crops["ground truth"])]
    tiles += [(f"{lab}\n{_fmt(e.psnr[lab], 2)} dB", e.crops[lab]) for lab in (*labels, BICUBIC)]
    return render_tiles(tiles, magnify=2)


def _example_caption(e: DiffExample) -> str:
    where = f"{e.clip}/{e.item}" if e.clip else e.item
    return (
        f"{e.set_name}: {where} (PSNR spread {e.spread:.2f} dB), {e.side}x{e.side} window at x={e.left}, y={e.top} "
        "where the outputs differ most, shown at 2x; dB = PSNR of the whole image/frame"
    )


def write_comparison_report(
    comparison: Comparison,
    out_dir: str | os.PathLike[str],
    *,
    title: str | None = None,
    intro: str = "",
    sections: Sequence[tuple[str, str, Sequence[tuple[str, str, bytes]]]] = (),
) -> list[Path]:
    """Write ``report.md``, ``report.html`` (self-contained), ``comparison.json``, ``summary.csv``,
    ``clips.csv``, ``items.csv``, ``plots/*.png`` and ``crops/*.png`` into ``out_dir``.

    ``intro`` is Markdown placed under the title (e.g. how the models were trained);
    the HTML page shows it as preformatted text. ``sections`` adds ``(heading,
    Markdown text, figures)`` after the group tables, each figure ``(file stem,
    caption, PNG)`` saved in ``plots/``. Returns the paths written.
    """
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    (out / "crops").mkdir(parents=True, exist_ok=True)
    title = title or f"Model comparison, x{comparison.scale}: " + " vs ".join(comparison.labels)
    labels = list(comparison.labels)
    written: list[Path] = []

    data = comparison_to_dict(comparison)
    written.append(out / "comparison.json")
    write_text(written[-1], json.dumps(data, indent=1, allow_nan=False) + "\n", durable=False)

    def csv_file(name: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        path = out / name
        with atomic_open(path, "w", durable=False, encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows([["" if v is None else (f"{v:.6f}" if isinstance(v, float) else v) for v in r] for r in rows])
        written.append(path)

    csv_file(
        "summary.csv", ["set", "kind", "protocol", "model", "psnr", "ssim", "temporal_error"],
        [[s.test_set.name, s.test_set.kind, s.bicubic.protocol.name, lab, *s.summary(lab)]
         for s in comparison.sets for lab in (*labels, BICUBIC)],
    )
    csv_file(
        "clips.csv", ["set", "clip", "frames", "model", "psnr", "ssim", "temporal_error"],
        [[s.test_set.name, c["clip"], c["frames"], lab, c[lab]["psnr"], c[lab]["ssim"], c[lab]["temporal_error"]]
         for s, d in zip(comparison.sets, data["sets"]) for c in d.get("clips", []) for lab in (*labels, BICUBIC)],
    )
    csv_file(
        "items.csv", ["set", "clip", "name", "index", "model", "psnr", "ssim"],
        [[d["name"], it["clip"], it["name"], it["index"], lab, it["psnr"][lab], it["ssim"][lab]]
         for d in data["sets"] for it in d["items"] for lab in (*labels, BICUBIC)],
    )

    plots = list(_plots(comparison))
    for stem, _, png in plots:
        written.append(out / "plots" / f"{stem}.png")
        write_bytes(written[-1], png, durable=False)
    crops: list[tuple[str, DiffExample, bytes]] = []
    for e in comparison.examples:
        stem = _slug(f"{e.set_name}_{e.clip}_{e.item}" if e.clip else f"{e.set_name}_{e.item}")
        png = _example_png(e, labels)
        crops.append((stem, e, png))
        written.append(out / "crops" / f"{stem}.png")
        write_bytes(written[-1], png, durable=False)

    header, rows, best = _summary_table(comparison)
    grp = _group_table(comparison)
    grp_te = _group_table(comparison, "temporal")
    for _, _, figures in sections:
        for stem, _, png in figures:
            written.append(out / "plots" / f"{stem}.png")
            write_bytes(written[-1], png, durable=False)
    video_sets = [s for s in comparison.sets if s.test_set.kind == "video"]
    models_lines = [f"- **{m.label}**: `{_shown(m.source)}` ({m.description}, {_params(m.params)})"
                    + (f", group {m.group}" if m.group else "") for m in comparison.models]
    proto = _protocol_lines(comparison)
    settings = (f"x{comparison.scale}; inference on {comparison.device} in {comparison.precision}; "
                f"outputs quantized to 8 bits before scoring")

    md = [f"# {title}", ""]
    if intro:
        md += [intro.strip(), ""]
    md += ["## Models", "", *models_lines, "", "## Protocols", "", *(f"- {p}" for p in proto), f"- {settings}", ""]
    md += ["## Summary", "",
           f"PSNR in dB, SSIM, and for video sets TE (temporal error, grey levels, lower = steadier). Best per column in bold; "
           f"Δ rows are the signed difference from {labels[0]}.", "", *markdown_table(header, rows, strong=best), ""]
    if grp is not None:
        md += ["## Groups (run-to-run noise)", "",
               "Mean PSNR of each group, the range between its members (seeds), and the difference between groups "
               "with the member-by-member (paired) differences; '> seed range' when the difference exceeds the larger "
               "of the two groups' ranges.", "", *markdown_table(*grp), ""]
    if grp_te is not None:
        md += ["## Groups: temporal error", "",
               "Mean temporal error of each group on the video sets (grey levels; lower = steadier, closer to the "
               "ground truth's own frame-to-frame change), with the same seed-range test.", "", *markdown_table(*grp_te), ""]
    for heading, text, figures in sections:
        md += [f"## {heading}", "", text.strip(), ""]
        md += [f"![{cap}](plots/{stem}.png)\n" for stem, cap, _ in figures]
    for s in video_sets:
        h, r, b = _clip_table(s, labels)
        md += [f"## {s.test_set.name}: per clip", "", *markdown_table(h, r, strong=b), ""]
    md += ["## PSNR per frame / image", ""]
    md += [f"![{cap}](plots/{stem}.png)\n" for stem, cap, _ in plots]
    md += ["## Where the models differ most", ""]
    md += [f"{_example_caption(e)}\n\n![{e.set_name} {e.item}](crops/{stem}.png)\n" for stem, e, _ in crops]
    if comparison.notes:
        md += ["## Notes", "", *(f"- {n}" for n in comparison.notes), ""]
    md += ["Numbers: `summary.csv`, `clips.csv`, `items.csv` (one row per image/frame and model), `comparison.json`.", ""]
    written.append(out / "report.md")
    write_text(written[-1], "\n".join(md), durable=False)

    body = []
    if intro:
        body.append(f"<pre>{html.escape(intro.strip())}</pre>")
    body.append("<h2>Models</h2><ul>" + "".join(
        f"<li><b>{html.escape(m.label)}</b>: <code>{html.escape(_shown(m.source))}</code> ({html.escape(m.description)}, "
        f"{_params(m.params)}){html.escape(', group ' + m.group) if m.group else ''}</li>"
        for m in comparison.models) + "</ul>")
    body.append("<h2>Protocols</h2><ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in (*proto, settings)) + "</ul>")
    body.append("<h2>Summary</h2><p class=\"small\">PSNR in dB, SSIM, TE = temporal error (grey levels, lower = steadier). "
                f"Best per column in bold; Δ rows: signed difference from {html.escape(labels[0])}.</p>")
    body.append(html_table(header, rows, strong=best))
    if grp is not None:
        body.append("<h2>Groups (run-to-run noise)</h2>" + html_table(*grp))
    if grp_te is not None:
        body.append("<h2>Groups: temporal error</h2>" + html_table(*grp_te))
    for heading, text, figures in sections:
        body.append(f"<h2>{html.escape(heading)}</h2><pre>{html.escape(text.strip())}</pre>")
        body += [f'<p><img alt="{html.escape(cap)}" src="{png_data_uri(png)}"></p>' for _, cap, png in figures]
    for s in video_sets:
        h, r, b = _clip_table(s, labels)
        body.append(f"<h2>{html.escape(s.test_set.name)}: per clip</h2>" + html_table(h, r, strong=b))
    body.append("<h2>PSNR per frame / image</h2>")
    body += [f'<p><img alt="{html.escape(cap)}" src="{png_data_uri(png)}"></p>' for _, cap, png in plots]
    body.append("<h2>Where the models differ most</h2>")
    body += [f'<p class="small">{html.escape(_example_caption(e))}</p><p><img class="tiles" alt="{html.escape(e.item)}" '
             f'src="{png_data_uri(png)}"></p>' for _, e, png in crops]
    if comparison.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in comparison.notes) + "</ul>")
    written.append(out / "report.html")
    write_text(written[-1], html_document(title, "\n".join(body)), durable=False)
    return written
