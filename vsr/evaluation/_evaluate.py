"""Evaluation behind ``vsr eval`` and ``vsr psnr``: a model next to bicubic, and frame-level comparisons.

:func:`evaluate` scores a model (any callable with the :class:`vsr.Upscaler`
contract: uint8 ``N×H×W×3`` in, uint8 ``N×sH×sW×3`` out) and MATLAB bicubic on

- an image set in the EDSR layout (``HR/<name>.png`` + ``LR_bicubic/X<s>/<name>x<s>.png``)
  or a plain folder of images (LR made with :func:`vsr.data.imresize`);
- video data: a folder of frame folders (Vid4), a folder of septuplets
  (Vimeo90K ``<id>/<clip>/im1..7.png``) or a video file; LR made by the ``bi`` or
  ``bd`` degradation.

:func:`score_frames` scores two videos or frame folders against each other,
frame by frame. Both return the plain dataclasses of :mod:`vsr.evaluation._results`;
:mod:`vsr.evaluation._report` turns them into tables, CSV/JSON, plots and HTML. The data
are read by the one item loader, :mod:`vsr.evaluation._items`.

Conventions: ground truth is cropped to ``scale × LR`` size; grey images are
replicated to RGB (for the model, and so their Y is ``16 + 219/255·v``, the
EDSR-PyTorch/BasicSR convention; MATLAB scripts that score grey images raw give
20·log10(255/219) = 1.32 dB less on them); identical images score ``inf`` and are
left out of means (counted in the notes).
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from vsr.evaluation._items import (
    CodecCache,
    FramePairs,
    Layout,
    clip_frames,
    degradation_words,
    degraded_clip,
    detect_layout,
    image_item,
    image_pairs,
    modcrop,
    video_clips,
)
from vsr.evaluation._results import ClipSummary, PsnrReport, EvalResult, Example, FrameScores, ItemScore, Summary
from vsr.data import Degradation, imresize, parse_degradation
from vsr.errors import DatasetError, InvalidInputError, UnsupportedError
from vsr.metrics import Protocol, finite_mean, get_protocol, psnr, ssim, temporal_error, video_means

__all__ = ["score_frames", "evaluate"]

#: The :class:`vsr.Upscaler` call contract: uint8 RGB ``N×H×W×3`` in, ``N×sH×sW×3`` out.
UpscaleFn = Callable[[np.ndarray], np.ndarray]

_T = TypeVar("_T")

_DEFAULT_PROTOCOL: Mapping[str, str] = {
    "edsr": "edsr-benchmark",
    "images": "edsr-benchmark",
    "clips": "video",
    "septuplets": "vimeo90k-t",
    "video": "video",
}
_CHUNK = 8  # frames degraded and upscaled together


# --------------------------------------------------------------------------- evaluate


class _Extremes:
    """Keeps the images of the lowest- and highest-scoring items seen so far."""

    def __init__(self) -> None:
        self.worst: Example | None = None
        self.best: Example | None = None

    def wants(self, score: float) -> bool:
        """True when ``score`` is a new worst or best (so its images are worth copying)."""
        return self.worst is None or self.best is None or score < self.worst.psnr or score > self.best.psnr

    def offer(self, item: str, score: float, images: dict[str, np.ndarray]) -> None:
        if self.worst is None or score < self.worst.psnr:
            self.worst = Example("worst", item, score, images)
        if self.best is None or score > self.best.psnr:
            self.best = Example("best", item, score, images)

    def examples(self) -> tuple[Example, ...]:
        return tuple(e for e in (self.worst, self.best) if e is not None)


def _score(
    gt: np.ndarray, bic: np.ndarray, sr: np.ndarray | None, crop: int, y: bool, where: str
) -> tuple[float | None, float | None, float, float]:
    kw = {"crop_border": crop, "y_channel": y}
    try:
        return (
            None if sr is None else psnr(sr, gt, **kw),
            None if sr is None else ssim(sr, gt, **kw),
            psnr(bic, gt, **kw),
            ssim(bic, gt, **kw),
        )
    except InvalidInputError as e:  # e.g. an image too small for SSIM: say which one
        raise InvalidInputError(f"{where}: {e}") from None


def _upscale(model: UpscaleFn, lr: np.ndarray, scale: int) -> np.ndarray:
    out = np.asarray(model(lr))
    want = (lr.shape[0], lr.shape[1] * scale, lr.shape[2] * scale, 3)
    if out.shape != want or out.dtype != np.uint8:
        raise InvalidInputError(
            f"the model returned {out.dtype} {out.shape} for LR {lr.shape}; expected uint8 {want} (x{scale})"
        )
    return out


def _summary(items: Sequence[ItemScore], temporal: float | None = None, bicubic_temporal: float | None = None) -> Summary:
    has_model = items[0].psnr is not None
    return Summary(
        psnr=finite_mean([i.psnr for i in items]) if has_model else None,  # type: ignore[misc]
        ssim=float(np.mean([i.ssim for i in items])) if has_model else None,
        bicubic_psnr=finite_mean([i.bicubic_psnr for i in items]),
        bicubic_ssim=float(np.mean([i.bicubic_ssim for i in items])),
        temporal=temporal,
        bicubic_temporal=bicubic_temporal,
    )


def _inf_note(items: Sequence[ItemScore], notes: set[str]) -> None:
    n = sum(1 for i in items if (i.psnr is not None and math.isinf(i.psnr)) or math.isinf(i.bicubic_psnr))
    if n:
        notes.add(f"{n} item(s) matched the ground truth exactly (inf dB) and were left out of PSNR means")


def _evaluate_images(
    root: Path, layout: Layout, scale: int, model: UpscaleFn | None, proto: Protocol, degradation: Degradation,
    notes: set[str], progress: bool, cache: CodecCache | None = None,
) -> tuple[list[ItemScore], _Extremes]:
    crop = proto.crop_border(scale)
    items: list[ItemScore] = []
    extremes = _Extremes()
    pairs = image_pairs(root, layout, scale, degradation, notes)
    for index, (hr_path, lr_path) in enumerate(_progress(pairs, progress, "image")):
        gt, lr = image_item(hr_path, lr_path, scale, degradation, notes, cache)
        bic = imresize(lr, scale)
        sr = None if model is None else _upscale(model, lr[None], scale)[0]
        p, s, bp, bs = _score(gt, bic, sr, crop, proto.y_channel, str(hr_path))
        items.append(ItemScore("", hr_path.stem, index, p, s, bp, bs))
        key = bp if p is None else p
        if extremes.wants(key):
            extremes.offer(hr_path.stem, key, _example_images(bic, sr, gt))
    return items, extremes


def _example_images(bic: np.ndarray, sr: np.ndarray | None, gt: np.ndarray) -> dict[str, np.ndarray]:
    out = {"bicubic": bic.copy()}
    if sr is not None:
        out["model"] = sr.copy()
    out["ground truth"] = gt.copy()
    return out


def _evaluate_video(
    root: Path, layout: Layout, scale: int, model: UpscaleFn | None, proto: Protocol, degradation: Degradation,
    notes: set[str], progress: bool, frame_stride: int = 1, cache: CodecCache | None = None,
) -> tuple[list[ItemScore], list[ClipSummary], _Extremes]:
    items: list[ItemScore] = []
    clips: list[ClipSummary] = []
    extremes = _Extremes()
    notes.add(f"LR made from the ground-truth frames by {degradation_words(degradation)}")
    if degradation.codec is not None:
        notes.add("each clip's LR frames were compressed as one video stream (inter-frame prediction as in real video)")
    if proto.frames == "center":
        notes.add("only the centre frame of each clip is scored (Vimeo90K-T convention); no temporal figure")
    if frame_stride > 1:
        notes.add(f"every {frame_stride}th frame of each clip is scored (frame_stride); no temporal figure")
    for clip, source in _progress(video_clips(root, layout), progress, "clip"):
        indexed = clip_frames(source, proto.frames == "center", notes)
        clip_items, summary = _evaluate_clip(
            root, clip, indexed, scale, model, proto, degradation, frame_stride, cache, extremes
        )
        items.extend(clip_items)
        clips.append(summary)
    return items, clips, extremes


def _evaluate_clip(
    root: Path, clip: str, indexed: Iterable[tuple[int, str, np.ndarray]], scale: int, model: UpscaleFn | None,
    proto: Protocol, degradation: Degradation, frame_stride: int, cache: CodecCache | None, extremes: _Extremes,
) -> tuple[list[ItemScore], ClipSummary]:
    """Scores of one clip's scored frames (``indexed``: index, name, RGB frame) and the clip's means."""
    crop, y = proto.crop_border(scale), proto.y_channel
    clip_items: list[ItemScore] = []
    te: list[float] = []
    bte: list[float] = []
    prev: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
    names: deque[tuple[int, str]] = deque()
    gts = _checked_ground_truth(clip, indexed, scale, names)
    for gt_all, lr_all in degraded_clip(gts, scale, degradation, batch=_CHUNK, cache=cache, key=f"{root}|{clip}"):
        chunk = [names.popleft() for _ in range(len(gt_all))]
        # The codec saw every frame; only the kept ones are upscaled and scored.
        keep = [k for k, (index, _) in enumerate(chunk) if index % frame_stride == 0]
        if not keep:
            continue
        chunk = [chunk[k] for k in keep]
        gt_batch, lr = gt_all[keep], lr_all[keep]
        bic = imresize(lr, scale)
        sr = None if model is None else _upscale(model, lr, scale)
        for k, (index, name) in enumerate(chunk):
            g, b, s_ = gt_batch[k], bic[k], None if sr is None else sr[k]
            p, ss, bp, bs = _score(g, b, s_, crop, y, f"{root / clip if clip else root} frame {index}")
            clip_items.append(ItemScore(clip, name, index, p, ss, bp, bs))
            if prev is not None and frame_stride == 1:
                pg, pb, ps = prev
                bte.append(temporal_error(pb, b, pg, g, crop_border=crop, y_channel=y))
                if s_ is not None and ps is not None:
                    te.append(temporal_error(ps, s_, pg, g, crop_border=crop, y_channel=y))
            prev = (g, b, s_)
            key = bp if p is None else p
            if extremes.wants(key):
                extremes.offer(f"{clip}/{name}", key, _example_images(b, s_, g))
    if not clip_items:
        raise DatasetError(f"clip {clip!r} of {root} has no frames")
    temporal = (float(np.mean(te)) if te else None, float(np.mean(bte)) if bte else None)
    return clip_items, ClipSummary(clip, len(clip_items), _summary(clip_items, *temporal))


def _checked_ground_truth(
    clip: str, indexed: Iterable[tuple[int, str, np.ndarray]], scale: int, names: deque[tuple[int, str]]
) -> Iterator[np.ndarray]:
    """The clip's frames cropped to a multiple of ``scale``, all of one size; each frame's (index, name) goes to ``names``."""
    size: tuple[int, ...] | None = None
    for index, name, frame in indexed:
        g = modcrop(frame, scale)
        if size is None:
            size = g.shape
        elif g.shape != size:
            raise DatasetError(
                f"clip {clip!r}: frame {name!r} is {g.shape[1]}x{g.shape[0]}, earlier frames {size[1]}x{size[0]}"
            )
        names.append((index, name))
        yield g


def _video_summaries(items: Sequence[ItemScore], clips: Sequence[ClipSummary]) -> tuple[Summary, Summary]:
    """(mean of clip means, frame-weighted mean) of every score."""

    def by_clip(get: Callable[[ItemScore], float | None]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for i in items:
            out.setdefault(i.clip, []).append(get(i))  # type: ignore[arg-type]
        return out

    has_model = items[0].psnr is not None
    vm = {
        name: video_means(by_clip(get))
        for name, get in (
            ("bicubic_psnr", lambda i: i.bicubic_psnr),
            ("bicubic_ssim", lambda i: i.bicubic_ssim),
            *((("psnr", lambda i: i.psnr), ("ssim", lambda i: i.ssim)) if has_model else ()),
        )
    }

    def temporal_mean(get: Callable[[ClipSummary], float | None]) -> float | None:
        vals = [v for v in (get(c) for c in clips) if v is not None]
        return float(np.mean(vals)) if vals else None

    def temporal_weighted(get: Callable[[ClipSummary], float | None]) -> float | None:
        pairs = [(v, c.n_frames - 1) for c in clips if (v := get(c)) is not None]
        return float(sum(v * n for v, n in pairs) / sum(n for _, n in pairs)) if pairs else None

    def make(attr: str, temporal: Callable[[Callable[[ClipSummary], float | None]], float | None]) -> Summary:
        return Summary(
            psnr=getattr(vm["psnr"], attr) if has_model else None,
            ssim=getattr(vm["ssim"], attr) if has_model else None,
            bicubic_psnr=getattr(vm["bicubic_psnr"], attr),
            bicubic_ssim=getattr(vm["bicubic_ssim"], attr),
            temporal=temporal(lambda c: c.scores.temporal),
            bicubic_temporal=temporal(lambda c: c.scores.bicubic_temporal),
        )

    return make("mean_of_clips", temporal_mean), make("frame_weighted", temporal_weighted)


def _checked(
    root: Path, scale: int, protocol: str | Protocol | None, degradation: str | Degradation, frame_stride: int
) -> tuple[Degradation, Layout, Protocol]:
    """The arguments of :func:`evaluate` checked: the degradation, the data set's layout and the protocol."""
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise UnsupportedError(f"scale must be a positive integer, got {scale!r}")
    deg = parse_degradation(degradation)
    if deg.kind == "bd" and scale != 4:
        raise UnsupportedError(f"the bd degradation is defined for x4 only, got x{scale}; use --degradation bi")
    if not isinstance(frame_stride, (int, np.integer)) or frame_stride < 1:
        raise UnsupportedError(f"frame_stride must be a positive integer, got {frame_stride!r}")
    layout = detect_layout(root)
    proto = _resolve_protocol(protocol, layout, root)
    if frame_stride > 1 and (proto.aggregation == "image-mean" or proto.frames == "center"):
        raise UnsupportedError(f"{root}: frame_stride applies to protocols that score every frame of a clip, not {proto.name!r}")
    return deg, layout, proto


def _resolve_protocol(protocol: str | Protocol | None, layout: Layout, path: Path) -> Protocol:
    proto = get_protocol(_DEFAULT_PROTOCOL[layout]) if protocol is None else (
        protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    )
    if proto.aggregation == "image-mean" and layout in ("clips", "septuplets", "video"):
        raise UnsupportedError(
            f"{path}: protocol {proto.name!r} scores image sets but this is video data ({layout}); "
            "use --protocol video or vimeo90k-t"
        )
    if proto.aggregation == "clip-mean" and layout == "edsr":
        raise UnsupportedError(
            f"{path}: protocol {proto.name!r} scores video clips but this is an EDSR-layout image set; "
            "use --protocol edsr-benchmark or div2k"
        )
    return proto


def _progress(seq: Sequence[_T], enabled: bool, unit: str) -> Iterable[_T]:
    if not enabled:
        return seq
    from tqdm import tqdm

    return tqdm(seq, unit=unit, leave=False)


def evaluate(
    dataset: str | os.PathLike[str],
    scale: int,
    model: UpscaleFn | None = None,
    *,
    model_name: str | None = None,
    protocol: str | Protocol | None = None,
    degradation: str | Degradation = "bi",
    frame_stride: int = 1,
    codec_cache: CodecCache | None = None,
    progress: bool = False,
) -> EvalResult:
    """Score ``model`` and MATLAB bicubic on ``dataset`` under a named protocol.

    Args:
        dataset: an EDSR-layout set, a folder of images, a folder of frame folders
            (Vid4), a folder of septuplets (Vimeo90K) or a video file; see
            :func:`detect_layout`.
        scale: upscaling factor.
        model: a :class:`vsr.Upscaler` (or any callable with its uint8 contract);
            ``None`` evaluates bicubic only.
        model_name: label for reports (default ``"model"`` or ``"bicubic"``).
        protocol: a name in :data:`vsr.metrics.PROTOCOLS`; default ``edsr-benchmark``
            for image sets, ``video`` for clips and video files, ``vimeo90k-t`` for
            septuplets.
        degradation: a spec (:func:`vsr.data.parse_degradation`): how LR is made
            when it is not on disk, ``bi`` (MATLAB bicubic) or ``bd`` (Gaussian blur +
            subsample, x4 only), optionally followed by a codec round trip, e.g.
            ``bi+x264:crf=28`` (each clip's LR frames encoded as one stream and
            decoded again; an image is encoded as a one-frame video). Image sets in
            the EDSR layout use their ``LR_bicubic/X<s>`` files with ``bi``.
        frame_stride: score every ``frame_stride``-th frame of each clip (video
            data only; 1 = every frame; above 1 there is no temporal figure).
        codec_cache: with a codec degradation, a dict shared by the evaluations
            that must see identical compressed LR (e.g. several models): the
            first records each clip's bitstream, the others replay it.
        progress: show a tqdm progress bar on stderr.

    Returns:
        Per-item scores, per-clip means (video), the protocol's mean and, for video,
        the frame-weighted mean beside it, plus images of the worst and best items.
    """
    root = Path(dataset)
    deg, layout, proto = _checked(root, scale, protocol, degradation, frame_stride)
    notes: set[str] = set()
    clips: list[ClipSummary] = []
    if proto.aggregation == "image-mean":
        items, extremes = _evaluate_images(root, layout, int(scale), model, proto, deg, notes, progress, codec_cache)
        if not items:
            raise DatasetError(f"{root}: no images to evaluate")
        mean, frame_weighted = _summary(items), None
    else:
        items, clips, extremes = _evaluate_video(
            root, layout, int(scale), model, proto, deg, notes, progress, int(frame_stride), codec_cache
        )
        mean, frame_weighted = _video_summaries(items, clips)
    _inf_note(items, notes)
    return EvalResult(
        dataset=str(root),
        layout=layout,
        model=model_name or ("bicubic" if model is None else "model"),
        scale=int(scale),
        protocol=proto,
        degradation=deg.name,
        crop_border=proto.crop_border(int(scale)),
        items=tuple(items),
        clips=tuple(clips),
        mean=mean,
        frame_weighted=frame_weighted,
        examples=extremes.examples(),
        notes=tuple(sorted(notes)),
    )


# --------------------------------------------------------------------------- psnr


def score_frames(
    distorted: str | os.PathLike[str],
    reference: str | os.PathLike[str],
    *,
    common_prefix: bool = False,
    crop_to_common: bool = False,
) -> PsnrReport:
    """Score ``distorted`` against ``reference`` frame by frame, aligned by index.

    Each input is a video file, a folder of frame images (sorted naturally) or a
    single image. Every frame gets Y PSNR, RGB PSNR and Y SSIM (no border crop).

    Args:
        common_prefix: when the frame counts differ, compare the first
            ``min(n_distorted, n_reference)`` frames instead of failing.
        crop_to_common: when the frame sizes differ, compare the top-left
            ``min(h) × min(w)`` region instead of failing.

    Raises:
        InvalidInputError: frame counts or sizes differ (and the matching option is off).
    """
    d_path, r_path = Path(distorted), Path(reference)
    notes: set[str] = set()
    pairs = FramePairs(d_path, r_path, common_prefix=common_prefix, crop_to_common=crop_to_common, notes=notes)
    scores: list[FrameScores] = []
    extremes = _Extremes()
    for index, (d, r) in enumerate(pairs):
        try:
            py = psnr(d, r, y_channel=True)
            scores.append(FrameScores(index, py, psnr(d, r), ssim(d, r, y_channel=True)))
        except InvalidInputError as e:  # e.g. frames too small for SSIM: say which
            raise InvalidInputError(f"{d_path} frame {index}: {e}") from None
        if extremes.wants(py):
            extremes.offer(f"frame {index}", py, {"distorted": d.copy(), "reference": r.copy()})
    if not scores or pairs.size is None:
        raise InvalidInputError(f"no frames to compare between {d_path} and {r_path}")
    ys = [f.psnr_y for f in scores]
    finite = [v for v in ys if math.isfinite(v)]
    n_identical = len(ys) - len(finite)
    if n_identical:
        notes.add(f"{n_identical} frame(s) identical (inf dB) were left out of the means")
    return PsnrReport(
        distorted=str(d_path),
        reference=str(r_path),
        frames=tuple(scores),
        height=pairs.size[0],
        width=pairs.size[1],
        n_distorted=int(pairs.n_distorted),  # type: ignore[arg-type]
        n_reference=int(pairs.n_reference),  # type: ignore[arg-type]
        mean_psnr_y=finite_mean(ys),
        std_psnr_y=float(np.std(finite)) if finite else 0.0,
        mean_psnr_rgb=finite_mean([f.psnr_rgb for f in scores]),
        mean_ssim_y=float(np.mean([f.ssim_y for f in scores])),
        worst_index=int(np.argmin(ys)),
        best_index=int(np.argmax(ys)),
        n_identical=n_identical,
        examples=extremes.examples(),
        notes=tuple(sorted(notes)),
    )
