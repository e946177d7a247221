"""Evaluation behind ``vsr eval`` and ``vsr psnr``: a model next to bicubic, and frame-level comparisons.

:func:`evaluate` scores a model (any callable with the :class:`vsr.Upscaler`
contract: uint8 ``N×H×W×3`` in, uint8 ``N×sH×sW×3`` out) and MATLAB bicubic on

- an image set in the EDSR layout (``HR/<name>.png`` + ``LR_bicubic/X<s>/<name>x<s>.png``)
  or a plain folder of images (LR made with :func:`vsr.data.imresize`);
- video data: a folder of frame folders (Vid4), a folder of septuplets
  (Vimeo90K ``<id>/<clip>/im1..7.png``) or a video file; LR made by the ``bi`` or
  ``bd`` degradation.

:func:`compare_frames` scores two videos or frame folders against each other,
frame by frame. Both return plain dataclasses; :mod:`vsr._report` turns them
into tables, CSV/JSON, plots and HTML.

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
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np

from vsr.data import Degradation, degrade, imresize, parse_degradation
from vsr.errors import DatasetError, InputNotFoundError, InvalidInputError, UnsupportedError
from vsr.io import IMAGE_EXTENSIONS, list_images, natural_key, read_image
from vsr.io import EncodedClip, VideoReader, codec_roundtrip
from vsr.metrics import Protocol, finite_mean, get_protocol, psnr, ssim, temporal_error, video_means

__all__ = [
    "CompareResult",
    "ClipSummary",
    "EvalResult",
    "Example",
    "FrameCompare",
    "ItemScore",
    "Layout",
    "Summary",
    "CodecCache",
    "clip_ground_truth",
    "compare_frames",
    "compress_image",
    "degraded_clip",
    "detect_layout",
    "evaluate",
]

#: The :class:`vsr.Upscaler` call contract: uint8 RGB ``N×H×W×3`` in, ``N×sH×sW×3`` out.
UpscaleFn = Callable[[np.ndarray], np.ndarray]

Layout = Literal["edsr", "images", "clips", "septuplets", "video"]
_T = TypeVar("_T")

_DEFAULT_PROTOCOL: Mapping[str, str] = {
    "edsr": "edsr-benchmark",
    "images": "edsr-benchmark",
    "clips": "video",
    "septuplets": "vimeo90k-t",
    "video": "video",
}
_SEPTUPLET = tuple(f"im{i}" for i in range(1, 8))
_CHUNK = 8  # frames degraded and upscaled together
_MAX_CLIP_DEPTH = 3


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ItemScore:
    """Scores of one image or frame.

    ``psnr``/``ssim`` are the model's (``None`` when only bicubic was run);
    ``clip`` is ``""`` for image sets; ``index`` is the frame's position in its
    clip (0-based) or the image's position in the set.
    """

    clip: str
    name: str
    index: int
    psnr: float | None
    ssim: float | None
    bicubic_psnr: float
    bicubic_ssim: float

    @property
    def gain(self) -> float | None:
        """Model PSNR minus bicubic PSNR, dB."""
        return None if self.psnr is None else self.psnr - self.bicubic_psnr


@dataclass(frozen=True)
class Summary:
    """Means of PSNR/SSIM (and, for video, of the temporal error) for the model and bicubic."""

    psnr: float | None
    ssim: float | None
    bicubic_psnr: float
    bicubic_ssim: float
    temporal: float | None = None
    bicubic_temporal: float | None = None

    @property
    def gain(self) -> float | None:
        """Model PSNR minus bicubic PSNR, dB."""
        return None if self.psnr is None else self.psnr - self.bicubic_psnr


@dataclass(frozen=True)
class ClipSummary:
    """Means over the scored frames of one clip; temporal errors over its consecutive pairs."""

    clip: str
    n_frames: int
    scores: Summary


@dataclass(frozen=True)
class Example:
    """Full images of one item for the visual report: ``images`` maps a label to uint8 RGB H×W×3."""

    label: str
    item: str
    psnr: float
    images: Mapping[str, np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class EvalResult:
    """Result of :func:`evaluate`.

    Attributes:
        mean: the protocol's figure: mean over images, or mean of clip means.
        frame_weighted: video only: mean over all scored frames, labelled as such.
        clips: video only: per-clip means.
        notes: how the data was read (LR made or loaded, grey images, inf scores).
    """

    dataset: str
    layout: Layout
    model: str
    scale: int
    protocol: Protocol
    degradation: str
    crop_border: int
    items: tuple[ItemScore, ...]
    clips: tuple[ClipSummary, ...]
    mean: Summary
    frame_weighted: Summary | None
    examples: tuple[Example, ...] = field(repr=False)
    notes: tuple[str, ...]

    @property
    def has_model(self) -> bool:
        """False when only bicubic was evaluated."""
        return any(i.psnr is not None for i in self.items)


@dataclass(frozen=True)
class FrameCompare:
    """Scores of one frame pair in :func:`compare_frames` (Y PSNR, RGB PSNR, Y SSIM)."""

    index: int
    psnr_y: float
    psnr_rgb: float
    ssim_y: float


@dataclass(frozen=True)
class CompareResult:
    """Result of :func:`compare_frames`: per-frame scores and their summary.

    Means leave out identical frames (``inf`` dB; counted in ``n_identical``).
    ``worst_index``/``best_index`` are by Y PSNR.
    """

    distorted: str
    reference: str
    frames: tuple[FrameCompare, ...]
    height: int
    width: int
    n_distorted: int
    n_reference: int
    mean_psnr_y: float
    std_psnr_y: float
    mean_psnr_rgb: float
    mean_ssim_y: float
    worst_index: int
    best_index: int
    n_identical: int
    examples: tuple[Example, ...] = field(repr=False)
    notes: tuple[str, ...]


# --------------------------------------------------------------------------- reading


def _as_rgb(img: np.ndarray, path: Path | str, notes: set[str]) -> np.ndarray:
    """uint8 RGB H×W×3: grey replicated, alpha dropped (both noted)."""
    if img.ndim == 2:
        notes.add("grey images were replicated to RGB; their Y is 16 + 219/255 * v (EDSR-PyTorch/BasicSR convention)")
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        notes.add(f"alpha channels were ignored (e.g. {Path(path).name})")
        return np.ascontiguousarray(img[:, :, :3])
    return img


def _modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    if h == 0 or w == 0:
        raise InvalidInputError(f"an image of {img.shape[0]}x{img.shape[1]} pixels is smaller than the scale {scale}")
    return img[:h, :w]


def _iter_video_frames(path: Path) -> Iterator[np.ndarray]:
    """Decode a video file into uint8 RGB frames with :class:`vsr.io.VideoReader`."""
    with VideoReader(path) as reader:
        n = 0
        for batch in reader:
            for frame in batch.frames:
                n += 1
                yield frame
    if n == 0:
        raise InvalidInputError(f"{path}: no decodable video frames")


def _video_frame_count(path: Path) -> int | None:
    """Exact frame count of a video (counted by demuxing), or None when only the container's claim is known."""
    with VideoReader(path) as reader:
        return reader.info.num_frames if reader.info.num_frames_exact else None


def _leaf_frame_folders(root: Path) -> list[Path]:
    """Folders under ``root`` (depth <= 3) that directly hold images: the clips."""
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        subdirs.sort(key=lambda p: natural_key(p.name))
        if list_images(folder) and folder != root:
            found.append(folder)
        if depth < _MAX_CLIP_DEPTH:
            for d in subdirs:
                walk(d, depth + 1)

    walk(root, 0)
    return found


def detect_layout(path: str | os.PathLike[str]) -> Layout:
    """Say how ``path`` is organised.

    Returns ``"edsr"`` (has ``HR/``), ``"images"`` (a folder of images or one image
    file), ``"septuplets"`` (frame folders all holding ``im1..im7``), ``"clips"``
    (other frame folders, up to three levels deep) or ``"video"`` (a video file).
    """
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such file or folder")
    if p.is_file():
        return "images" if p.suffix.lower() in IMAGE_EXTENSIONS else "video"
    if (p / "HR").is_dir():
        return "edsr"
    if list_images(p):
        return "images"
    clips = _leaf_frame_folders(p)
    if not clips:
        raise DatasetError(
            f"{p}: no images found; expected HR/ + LR_bicubic/X<s>/ (EDSR layout), a folder of images, "
            "a folder of frame folders (Vid4) or of septuplets (Vimeo90K <id>/<clip>/im1..7.png)"
        )
    if all(tuple(f.stem for f in list_images(c)) == _SEPTUPLET for c in clips):
        return "septuplets"
    return "clips"


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
    gt: np.ndarray, bic: np.ndarray, sr: np.ndarray | None, crop: int, y: bool
) -> tuple[float | None, float | None, float, float]:
    kw = {"crop_border": crop, "y_channel": y}
    return (
        None if sr is None else psnr(sr, gt, **kw),
        None if sr is None else ssim(sr, gt, **kw),
        psnr(bic, gt, **kw),
        ssim(bic, gt, **kw),
    )


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


def _image_pairs(
    root: Path, layout: Layout, scale: int, degradation: Degradation, notes: set[str]
) -> list[tuple[Path, Path | None]]:
    """(HR path, LR path or None) for every image; None means "make the LR"."""
    if layout == "images":
        files = [root] if root.is_file() else list_images(root)
        notes.add(f"LR made from the images by {_degradation_words(degradation)}")
        return [(f, None) for f in files]
    hr_dir = root / "HR"
    hrs = list_images(hr_dir)
    if not hrs:
        raise DatasetError(f"{hr_dir}: no images in the HR folder")
    lr_dir = root / "LR_bicubic" / f"X{scale}"
    if degradation.kind == "bd":
        notes.add(f"LR made from HR by {_degradation_words(degradation)} ({lr_dir} is bicubic, so it is not used)")
        return [(h, None) for h in hrs]
    if not lr_dir.is_dir():
        notes.add(f"LR made from HR by {_degradation_words(degradation)} because {lr_dir} does not exist")
        return [(h, None) for h in hrs]
    pairs: list[tuple[Path, Path | None]] = []
    for h in hrs:
        candidates = [lr_dir / f"{h.stem}x{scale}{h.suffix}"] + [lr_dir / f"{h.stem}x{scale}{e}" for e in IMAGE_EXTENSIONS]
        lr = next((c for c in candidates if c.is_file()), None)
        if lr is None:
            raise DatasetError(
                f"{candidates[0]}: LR image for {h} is missing (EDSR layout: LR_bicubic/X{scale}/<name>x{scale}.png)"
            )
        pairs.append((h, lr))
    notes.add(f"LR read from {lr_dir}" + (
        "" if degradation.codec is None else f", then each image {_codec_words(degradation)} as a one-frame video"
    ))
    return pairs


def _degradation_words(degradation: Degradation) -> str:
    base = "MATLAB-exact bicubic (imresize)" if degradation.kind == "bi" else \
        "BD (12x12 Gaussian blur, sigma 1.6, every 4th pixel)"
    return base if degradation.codec is None else f"{base}, then {_codec_words(degradation)}"


def _codec_words(degradation: Degradation) -> str:
    return (f"encoded with {degradation.codec} (crf {degradation.crf}, preset {degradation.preset}, yuv420p) "
            "and decoded again")


#: Recorded bitstreams of compressed LR, by clip and condition: see :func:`degraded_clip`.
CodecCache = MutableMapping[str, EncodedClip]


def compress_image(
    lr: np.ndarray, degradation: str | Degradation, *, cache: CodecCache | None = None, key: str = ""
) -> np.ndarray:
    """One LR image through the degradation's codec as a one-frame (intra) video; unchanged without a codec.

    With ``cache``, the bitstream is recorded under ``key`` on first use and replayed after.
    """
    degradation = parse_degradation(degradation)
    if degradation.codec is None:
        return lr
    return next(_compressed(iter([lr]), degradation, cache, f"{key}|{degradation.name}"))


def _compressed(
    lr_frames: Iterator[np.ndarray], deg: Degradation, cache: CodecCache | None, key: str
) -> Iterator[np.ndarray]:
    """``lr_frames`` through the codec as one stream; recorded in ``cache[key]`` on first use, replayed after."""
    if cache is not None and key in cache:
        return _replay(cache[key], lr_frames)
    record = None if cache is None else (lambda clip: cache.__setitem__(key, clip))
    return codec_roundtrip(lr_frames, codec=deg.codec or "", crf=deg.crf, preset=deg.preset, record=record)


def degraded_clip(
    gts: Iterable[np.ndarray],
    scale: int,
    degradation: str | Degradation,
    *,
    batch: int = 8,
    cache: CodecCache | None = None,
    key: str = "",
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ground-truth batch, LR batch) of one clip's frames under ``degradation``, in order, ``batch`` frames at a time.

    Ground truth must already be cropped to a multiple of ``scale``. With a codec
    in the spec the clip's LR frames are encoded as one stream and decoded again
    (so prediction across frames acts as in a real video); memory holds only the
    codec's delay, not the clip. The encoder is not bit-exact from run to run, so
    where several models must see the same input pass one ``cache`` and a ``key``
    naming the clip: the first call records the bitstream, later ones replay it.
    """
    deg = parse_degradation(degradation)
    chunks = _stacked(gts, batch)
    if deg.codec is None:
        for gt in chunks:
            yield gt, degrade(gt, scale, deg.kind)
        return
    pending: deque[np.ndarray] = deque()

    def lr_frames() -> Iterator[np.ndarray]:
        for gt in chunks:
            pending.append(gt)
            yield from degrade(gt, scale, deg.kind)

    out: list[np.ndarray] = []
    for frame in _compressed(lr_frames(), deg, cache, f"{key}|{deg.name}|x{scale}"):
        out.append(frame)
        if len(out) == len(pending[0]):
            yield pending.popleft(), np.stack(out)
            out = []


def _replay(clip: EncodedClip, lr_frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The recorded frames, pulling the (unused) fresh LR frames alongside so the ground truth advances in step."""
    for frame in clip.frames():
        fresh = next(lr_frames, None)
        if fresh is None or fresh.shape != frame.shape:
            raise DatasetError("the clip changed since its compressed LR was recorded (frame count or size differs)")
        yield frame
    if next(lr_frames, None) is not None:
        raise DatasetError("the clip changed since its compressed LR was recorded (it has more frames now)")


def _stacked(frames: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    chunk: list[np.ndarray] = []
    for f in frames:
        chunk.append(f)
        if len(chunk) == n:
            yield np.stack(chunk)
            chunk = []
    if chunk:
        yield np.stack(chunk)


def _evaluate_images(
    root: Path, layout: Layout, scale: int, model: UpscaleFn | None, proto: Protocol, degradation: Degradation,
    notes: set[str], progress: bool, cache: CodecCache | None = None,
) -> tuple[list[ItemScore], _Extremes]:
    crop = proto.crop_border(scale)
    items: list[ItemScore] = []
    extremes = _Extremes()
    pairs = _image_pairs(root, layout, scale, degradation, notes)
    for index, (hr_path, lr_path) in enumerate(_progress(pairs, progress, "image")):
        hr = _as_rgb(read_image(hr_path), hr_path, notes)
        if lr_path is None:
            gt = _modcrop(hr, scale)
            lr = degrade(gt, scale, degradation.kind)
        else:
            lr = _as_rgb(read_image(lr_path), lr_path, notes)
            h, w = lr.shape[0] * scale, lr.shape[1] * scale
            if hr.shape[0] < h or hr.shape[1] < w:
                raise DatasetError(
                    f"{lr_path}: LR is {lr.shape[1]}x{lr.shape[0]}, so x{scale} needs HR of at least {w}x{h}, "
                    f"but {hr_path} is {hr.shape[1]}x{hr.shape[0]}"
                )
            gt = hr[:h, :w]
        lr = compress_image(lr, degradation, cache=cache, key=f"{hr_path}")
        bic = imresize(lr, scale)
        sr = None if model is None else _upscale(model, lr[None], scale)[0]
        p, s, bp, bs = _score(gt, bic, sr, crop, proto.y_channel)
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


def _video_clips(root: Path, layout: Layout) -> list[tuple[str, Sequence[Path] | Path]]:
    """(clip name, frame files) per clip, or (stem, file) for a video file."""
    if layout == "video":
        return [(root.stem, root)]
    if layout == "images":
        return [(root.name, [root] if root.is_file() else list_images(root))]
    return [(c.relative_to(root).as_posix(), list_images(c)) for c in _leaf_frame_folders(root)]


def _clip_frames(source: Sequence[Path] | Path, center_only: bool, notes: set[str]) -> Iterator[tuple[int, str, np.ndarray]]:
    """(index in clip, name, RGB frame) for the frames a protocol scores."""
    if isinstance(source, Path):
        if center_only:
            raise UnsupportedError(
                f"{source}: the centre-frame protocol is for septuplets; use --protocol video for a video file"
            )
        for i, frame in enumerate(_iter_video_frames(source)):
            yield i, f"frame {i + 1}", frame
        return
    indices = [len(source) // 2] if center_only else range(len(source))
    for i in indices:
        yield i, source[i].stem, _as_rgb(read_image(source[i]), source[i], notes)


def clip_ground_truth(dataset: str | os.PathLike[str], clip: str, scale: int) -> Iterator[np.ndarray]:
    """Every scored ground-truth frame of one clip of a video set, read and cropped as :func:`evaluate` does."""
    root = Path(dataset)
    source = dict(_video_clips(root, detect_layout(root))).get(clip)
    if source is None:
        raise DatasetError(f"{root}: no clip {clip!r}; was the folder changed?")
    for _, _, frame in _clip_frames(source, False, set()):
        yield _modcrop(frame, scale)


def _evaluate_video(
    root: Path, layout: Layout, scale: int, model: UpscaleFn | None, proto: Protocol, degradation: Degradation,
    notes: set[str], progress: bool, frame_stride: int = 1, cache: CodecCache | None = None,
) -> tuple[list[ItemScore], list[ClipSummary], _Extremes]:
    crop = proto.crop_border(scale)
    y = proto.y_channel
    items: list[ItemScore] = []
    clips: list[ClipSummary] = []
    extremes = _Extremes()
    notes.add(f"LR made from the ground-truth frames by {_degradation_words(degradation)}")
    if degradation.codec is not None:
        notes.add("each clip's LR frames were compressed as one video stream (inter-frame prediction as in real video)")
    if proto.frames == "center":
        notes.add("only the centre frame of each clip is scored (Vimeo90K-T convention); no temporal figure")
    if frame_stride > 1:
        notes.add(f"every {frame_stride}th frame of each clip is scored (frame_stride); no temporal figure")
    for clip, source in _progress(_video_clips(root, layout), progress, "clip"):
        indexed = _clip_frames(source, proto.frames == "center", notes)
        clip_items: list[ItemScore] = []
        te: list[float] = []
        bte: list[float] = []
        prev: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        size: tuple[int, ...] | None = None
        names: deque[tuple[int, str]] = deque()

        def ground_truth() -> Iterator[np.ndarray]:
            nonlocal size
            for index, name, frame in indexed:
                g = _modcrop(frame, scale)
                if size is None:
                    size = g.shape
                elif g.shape != size:
                    raise DatasetError(
                        f"clip {clip!r}: frame {name!r} is {g.shape[1]}x{g.shape[0]}, earlier frames {size[1]}x{size[0]}"
                    )
                names.append((index, name))
                yield g

        clip_key = f"{root}|{clip}"
        for gt_all, lr_all in degraded_clip(ground_truth(), scale, degradation, batch=_CHUNK, cache=cache, key=clip_key):
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
                p, ss, bp, bs = _score(g, b, s_, crop, y)
                item = ItemScore(clip, name, index, p, ss, bp, bs)
                clip_items.append(item)
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
        items.extend(clip_items)
        clips.append(
            ClipSummary(
                clip, len(clip_items),
                _summary(clip_items, float(np.mean(te)) if te else None, float(np.mean(bte)) if bte else None),
            )
        )
    return items, clips, extremes


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


# --------------------------------------------------------------------------- compare


def _frame_source(path: Path, notes: set[str]) -> tuple[Iterator[np.ndarray], int | None]:
    """RGB frames of a video file, an image file or a folder of images, and their count when known."""
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise DatasetError(f"{path}: no images in this folder; expected frame images (PNG, JPEG, BMP, ...)")
        return (_as_rgb(read_image(f), f, notes) for f in files), len(files)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return iter([_as_rgb(read_image(path), path, notes)]), 1
    return _iter_video_frames(path), _video_frame_count(path)


def _count_error(distorted: Path, reference: Path, n_d: int, n_r: int) -> InvalidInputError:
    return InvalidInputError(
        f"frame counts differ: {distorted} has {n_d} frames, {reference} has {n_r}; "
        f"pass common_prefix=True (--common-prefix) to compare the first {min(n_d, n_r)}"
    )


def compare_frames(
    distorted: str | os.PathLike[str],
    reference: str | os.PathLike[str],
    *,
    common_prefix: bool = False,
    crop_to_common: bool = False,
) -> CompareResult:
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
    d_frames, n_d = _frame_source(d_path, notes)
    r_frames, n_r = _frame_source(r_path, notes)
    if n_d is not None and n_r is not None and n_d != n_r and not common_prefix:
        raise _count_error(d_path, r_path, n_d, n_r)
    scores: list[FrameCompare] = []
    extremes = _Extremes()
    size: tuple[int, int] | None = None
    d, r = next(d_frames, None), next(r_frames, None)
    while d is not None and r is not None:
        index = len(scores)
        if d.shape != r.shape:
            if not crop_to_common:
                raise InvalidInputError(
                    f"frame {index}: sizes differ: {d_path} is {d.shape[1]}x{d.shape[0]}, {r_path} is {r.shape[1]}x{r.shape[0]}; "
                    "pass crop_to_common=True (--crop-to-common) to compare the common top-left region"
                )
            h, w = min(d.shape[0], r.shape[0]), min(d.shape[1], r.shape[1])
            notes.add(f"frames cropped to the common top-left {w}x{h} region")
            d, r = d[:h, :w], r[:h, :w]
        if size is None:
            size = (d.shape[0], d.shape[1])
        elif (d.shape[0], d.shape[1]) != size:
            raise InvalidInputError(
                f"frame {index}: size changed to {d.shape[1]}x{d.shape[0]} from {size[1]}x{size[0]} mid-sequence"
            )
        py = psnr(d, r, y_channel=True)
        scores.append(FrameCompare(index, py, psnr(d, r), ssim(d, r, y_channel=True)))
        if extremes.wants(py):
            extremes.offer(f"frame {index}", py, {"distorted": d.copy(), "reference": r.copy()})
        d, r = next(d_frames, None), next(r_frames, None)
    # Count what is left, so both totals are known (a video's length is only known once decoded).
    n_d = len(scores) + (d is not None) + sum(1 for _ in d_frames)
    n_r = len(scores) + (r is not None) + sum(1 for _ in r_frames)
    if n_d != n_r and not common_prefix:
        raise _count_error(d_path, r_path, n_d, n_r)
    if not scores or size is None:
        raise InvalidInputError(f"no frames to compare between {d_path} and {r_path}")
    if n_d != n_r:
        notes.add(f"frame counts differ ({n_d} vs {n_r}); the first {len(scores)} frames were compared")
    ys = [f.psnr_y for f in scores]
    finite = [v for v in ys if math.isfinite(v)]
    n_identical = len(ys) - len(finite)
    if n_identical:
        notes.add(f"{n_identical} frame(s) identical (inf dB) were left out of the means")
    return CompareResult(
        distorted=str(d_path),
        reference=str(r_path),
        frames=tuple(scores),
        height=size[0],
        width=size[1],
        n_distorted=int(n_d),
        n_reference=int(n_r),
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
