"""Several SR models and bicubic, side by side on image and video test sets: the library behind ``vsr compare``.

:func:`compare_models` runs :func:`vsr.evaluation._evaluate.evaluate` for every model on every
test set, with the protocol that fits the set:

- image sets (EDSR layout or a folder of images): ``edsr-benchmark``, Y channel,
  shave = scale, mean over images;
- video sets (a folder of frame folders such as Vid4, one frame folder, septuplets
  or a video file): ``video``, Y channel, no shave, every frame scored, mean per
  clip then mean over clips, plus the temporal error (flicker) of each clip.

It then finds, in each image set and each video clip, the item where the models
differ most, reads it again through the evaluation's item loader
(:func:`vsr.evaluation._items.item_pair`) and keeps side-by-side crops of it. The result
is a :class:`vsr.compare._results.Comparison`. :func:`write_comparison_report`
writes it as Markdown + a self-contained HTML page (summary table with the best
value per column in bold and the signed differences between models, per-clip
table, plots, crops) and every number as CSV and JSON, from the pieces that
:mod:`vsr.compare._report` and :mod:`vsr.compare._plots` build;
:func:`format_comparison` prints the summary for the terminal.

Models may be grouped (e.g. one group per training recipe, one member per seed):
the report then adds the mean of each group, its seed-to-seed range, and the
difference between groups set against that range.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vsr.compare._output import default_title, write_report_folder
from vsr.compare._plots import plots
from vsr.compare._report import ReportPage, example_tiles, group_table, protocol_lines, summary_table
from vsr.compare._serial import comparison_to_dict
from vsr.compare._results import BICUBIC, Comparison, DiffExample, ModelInfo, SetKind, SetScores, TestSet
from vsr.evaluation import CodecCache, Layout, detect_layout, item_pair, EvalResult, evaluate
from vsr._core import crop, crop_window, text_table
from vsr.inference import Upscaler
from vsr.data import imresize, parse_degradation
from vsr.errors import DatasetError, InputNotFoundError, InvalidInputError, UnsupportedError
from vsr.io import list_images
from vsr.metrics import get_protocol, psnr
from vsr.models import count_parameters, describe_config, load_model, model_scales

__all__ = ["compare_models", "format_comparison", "write_comparison_report"]

_IMAGE_PROTOCOL = "edsr-benchmark"
_CROP_SIDE = 80  # side of the crops in output pixels; shown at 2x
_IMAGE_LAYOUTS: tuple[Layout, ...] = ("edsr", "images")
_VIDEO_LAYOUTS: tuple[Layout, ...] = ("clips", "septuplets", "video", "images")


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


# --------------------------------------------------------------------------- where the models differ most


def _window(outputs: Sequence[np.ndarray], side: int) -> tuple[int, int, int]:
    """(top, left, side) of the square where the outputs disagree most (sum of the per-pixel max - min)."""
    stack = np.stack([o.astype(np.float32).mean(axis=2) for o in outputs])
    return crop_window(stack.max(axis=0) - stack.min(axis=0), side)


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
    labels = list(upscalers)
    spread = _item_spread(scores, labels, groups)
    by_clip: dict[str, list[int]] = {}
    for k, it in enumerate(scores.bicubic.items):
        by_clip.setdefault(it.clip, []).append(k)
    out: list[DiffExample] = []
    for indices in by_clip.values():
        k = max(indices, key=lambda j: spread[j])
        out.append(_example(scores, k, float(spread[k]), upscalers, scale, notes, cache))
    return out


def _example(
    scores: SetScores, k: int, spread: float, upscalers: Mapping[str, Upscaler], scale: int, notes: list[str],
    cache: CodecCache,
) -> DiffExample:
    """Crops of item ``k`` of a set: read again, upscaled by every model, cut where the outputs disagree most."""
    ts, item = scores.test_set, scores.bicubic.items[k]
    labels = list(upscalers)
    proto = scores.bicubic.protocol
    crop_border = proto.crop_border(scale)
    gt, lr = item_pair(ts.path, ts.layout, scale, ts.degradation, clip=item.clip, index=item.index, name=item.name,
                       cache=cache)
    images = {"ground truth": gt, BICUBIC: imresize(lr, scale)}
    for lab, up in upscalers.items():
        images[lab] = np.asarray(up(lr[None]))[0]
        redone = psnr(images[lab], gt, crop_border=crop_border, y_channel=proto.y_channel)
        scored = scores.results[lab].items[k].psnr
        if scored is not None and math.isfinite(redone) and abs(redone - scored) > 0.01:
            notes.append(
                f"{ts.name} {item.clip + '/' if item.clip else ''}{item.name}: {lab} scored {scored:.3f} dB in the "
                f"evaluation but {redone:.3f} dB when redone for the crops (nondeterministic inference?)"
            )
    compared = [images[lab] for lab in labels] if len(labels) >= 2 else [images[labels[0]], images[BICUBIC]]
    window = _window(compared, _CROP_SIDE)
    item_psnr = {lab: float(scores.results[lab].items[k].psnr) for lab in labels}  # type: ignore[arg-type]
    item_psnr[BICUBIC] = item.bicubic_psnr
    top, left, side = window
    return DiffExample(
        set_name=ts.name, clip=item.clip, item=item.name, spread=spread, top=top, left=left, side=side,
        psnr=item_psnr, crops={key: crop(img, window) for key, img in images.items()},
    )


# --------------------------------------------------------------------------- compare


def _conditions(
    image_sets: Sequence[str | os.PathLike[str]],
    video_sets: Sequence[str | os.PathLike[str]],
    degradation: str,
    video_degradations: Sequence[str],
    video_protocol: str,
) -> tuple[list[TestSet], list[str]]:
    """Every set under ``degradation``, then every video set again under each further condition; the conditions."""
    degradation = parse_degradation(degradation).name
    extra = [parse_degradation(d).name for d in video_degradations]
    if degradation in extra or len(set(extra)) != len(extra):
        raise InvalidInputError(f"degradations given twice: {', '.join([degradation, *extra])}; give each condition once")
    vproto = get_protocol(video_protocol)
    if vproto.aggregation != "clip-mean":
        raise UnsupportedError(f"video_protocol {video_protocol!r} scores image sets; use 'video' or 'vimeo90k-t'")
    sets = [dataclasses.replace(t, degradation=degradation) for t in resolve_test_sets(image_sets, video_sets)]
    sets += [dataclasses.replace(t, name=f"{t.name} [{d}]", degradation=d) for d in extra for t in sets if t.kind == "video"]
    return sets, [degradation, *extra]


def _score_set(
    ts: TestSet, upscalers: Mapping[str, Upscaler], scale: int, protocol: str, cache: CodecCache, progress: bool
) -> SetScores:
    """Every model (and bicubic) evaluated on one set under its condition."""
    results: dict[str, EvalResult] = {}
    for label, up in upscalers.items():
        if progress:
            print(f"vsr compare: {label} on {ts.name} ({ts.kind} set, protocol {protocol})", file=sys.stderr, flush=True)
        results[label] = evaluate(
            ts.path, scale, up, model_name=label, protocol=protocol, degradation=ts.degradation,
            codec_cache=cache, progress=progress
        )
    return SetScores(ts, results)


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
    sets, conditions = _conditions(image_sets, video_sets, degradation, video_degradations, video_protocol)
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
        scores = _score_set(ts, upscalers, int(scale), protocol, codec_cache, progress)
        for r in scores.results.values():
            notes.extend(f"{ts.name}: {n}" for n in r.notes if f"{ts.name}: {n}" not in notes)
        all_scores.append(scores)
        examples.extend(_examples(scores, upscalers, int(scale), group_members, notes, codec_cache))
    return Comparison(
        scale=int(scale),
        models=infos,
        sets=tuple(all_scores),
        examples=tuple(examples),
        degradation=", ".join(conditions),
        device=str(first.device),
        precision=first.precision,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- output


def format_comparison(comparison: Comparison) -> str:
    """The summary table (and the group table) as plain text, for the terminal."""
    header, rows, _ = summary_table(comparison)
    lines = [f"x{comparison.scale}, {comparison.device}, {comparison.precision}", *protocol_lines(comparison), ""]
    lines += text_table(header, rows)
    grp = group_table(comparison)
    if grp is not None:
        lines += ["", *text_table(*grp)]
    if any(s.test_set.kind == "video" for s in comparison.sets):
        lines.append("TE: temporal error, grey levels, lower = steadier (see vsr.metrics.temporal_error)")
    return "\n".join(lines)


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
    caption, PNG)`` saved in ``plots/``. ``comparison.json`` keeps the title and the
    intro under ``report``, for :func:`vsr.compare._output.rerender_report`.
    Returns the paths written.
    """
    title = title or default_title(comparison)
    data = {**comparison_to_dict(comparison), "report": {"title": title, "intro": intro}}
    page = ReportPage(comparison, title, intro, sections, list(plots(comparison)), example_tiles(comparison))
    return write_report_folder(out_dir, page, data)
