"""The evaluation item loader: how ``vsr eval``, ``vsr psnr`` and ``vsr compare`` read what they score.

A data set is in one of five layouts (:func:`detect_layout`). Its items are

- images of an image set: :func:`image_pairs` lists (HR file, LR file or None)
  and :func:`image_item` turns one into (ground truth, LR), the LR read from
  ``LR_bicubic/X<s>`` or made by the degradation, then through its codec;
- frames of a clip: :func:`video_clips` lists the clips, :func:`clip_frames`
  reads their frames and :func:`degraded_clip` makes the LR of a whole clip
  (a codec sees the clip as one stream).

:func:`item_pair` reads one item again, exactly as the evaluation read it (the
crops of ``vsr compare``); :class:`FramePairs` aligns the frames of two videos,
frame folders or images (``vsr psnr``). Conventions: ground truth is cropped to a multiple of
the scale; grey images are replicated to RGB and alpha is dropped (both noted).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from vsr.data import Degradation, degrade, parse_degradation
from vsr.errors import DatasetError, InputNotFoundError, InvalidInputError, UnsupportedError
from vsr.io import IMAGE_EXTENSIONS, EncodedClip, VideoReader, codec_roundtrip, list_images, natural_key, read_image

__all__ = [
    "CodecCache",
    "FramePairs",
    "Layout",
    "clip_frames",
    "degradation_words",
    "degraded_clip",
    "detect_layout",
    "image_item",
    "image_pairs",
    "item_pair",
    "modcrop",
    "video_clips",
]

Layout = Literal["edsr", "images", "clips", "septuplets", "video"]

#: Recorded bitstreams of compressed LR, by clip and condition: see :func:`degraded_clip`.
CodecCache = MutableMapping[str, EncodedClip]

_SEPTUPLET = tuple(f"im{i}" for i in range(1, 8))
_MAX_CLIP_DEPTH = 3


# --------------------------------------------------------------------------- pixels and files


def as_rgb(img: np.ndarray, path: Path | str, notes: set[str]) -> np.ndarray:
    """uint8 RGB H×W×3: grey replicated, alpha dropped (both noted)."""
    if img.ndim == 2:
        notes.add("grey images were replicated to RGB; their Y is 16 + 219/255 * v (EDSR-PyTorch/BasicSR convention)")
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        notes.add(f"alpha channels were ignored (e.g. {Path(path).name})")
        return np.ascontiguousarray(img[:, :, :3])
    return img


def modcrop(img: np.ndarray, scale: int, where: str | os.PathLike[str] = "an image") -> np.ndarray:
    """``img`` cropped at the bottom and right to a multiple of ``scale``; ``where`` names it in errors."""
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    if h == 0 or w == 0:
        raise InvalidInputError(
            f"{os.fspath(where)}: {img.shape[1]}x{img.shape[0]} pixels is smaller than the scale {scale}; "
            "it cannot be scored at this scale"
        )
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


def _video_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a video file (decoded from the start, as the evaluation read it)."""
    with VideoReader(path) as reader:
        seen = 0
        for batch in reader:
            if index < seen + len(batch.frames):
                return np.ascontiguousarray(batch.frames[index - seen])
            seen += len(batch.frames)
    raise DatasetError(f"{path}: has {seen} frames, frame {index} was evaluated; was the file changed?")


def _video_frame_count(path: Path) -> int | None:
    """Exact frame count of a video (counted by demuxing), or None when only the container's claim is known."""
    with VideoReader(path) as reader:
        return reader.info.num_frames if reader.info.num_frames_exact else None


def _frame_source(path: Path, notes: set[str]) -> tuple[Iterator[np.ndarray], int | None]:
    """RGB frames of a video file, an image file or a folder of images, and their count when known."""
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise DatasetError(f"{path}: no images in this folder; expected frame images (PNG, JPEG, BMP, ...)")
        return (as_rgb(read_image(f), f, notes) for f in files), len(files)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return iter([as_rgb(read_image(path), path, notes)]), 1
    return _iter_video_frames(path), _video_frame_count(path)


# --------------------------------------------------------------------------- frame pairs


class FramePairs:
    """Two frame sources aligned by index, for ``vsr psnr``: iterate for (distorted, reference) RGB frames.

    Each source is a video file, a folder of frame images or one image. Frames
    of different sizes raise unless ``crop_to_common`` (then both are cropped to
    the common top-left region); every pair must have the size of the first.
    Different frame counts raise unless ``common_prefix``. After the iteration,
    ``n_distorted`` and ``n_reference`` hold both totals and ``size`` the
    (height, width) compared (None when there were no frames).
    """

    def __init__(
        self, distorted: Path, reference: Path, *, common_prefix: bool, crop_to_common: bool, notes: set[str]
    ) -> None:
        self.distorted, self.reference = distorted, reference
        self._common_prefix, self._crop, self._notes = common_prefix, crop_to_common, notes
        self._d_frames, n_d = _frame_source(distorted, notes)
        self._r_frames, n_r = _frame_source(reference, notes)
        if n_d is not None and n_r is not None and n_d != n_r and not common_prefix:
            raise self._count_error(n_d, n_r)
        self.n_distorted: int | None = n_d
        self.n_reference: int | None = n_r
        self.size: tuple[int, int] | None = None

    def _count_error(self, n_d: int, n_r: int) -> InvalidInputError:
        return InvalidInputError(
            f"frame counts differ: {self.distorted} has {n_d} frames, {self.reference} has {n_r}; "
            f"pass common_prefix=True (--common-prefix) to compare the first {min(n_d, n_r)}"
        )

    def _aligned(self, index: int, d: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if d.shape != r.shape:
            if not self._crop:
                raise InvalidInputError(
                    f"frame {index}: sizes differ: {self.distorted} is {d.shape[1]}x{d.shape[0]}, "
                    f"{self.reference} is {r.shape[1]}x{r.shape[0]}; "
                    "pass crop_to_common=True (--crop-to-common) to compare the common top-left region"
                )
            h, w = min(d.shape[0], r.shape[0]), min(d.shape[1], r.shape[1])
            self._notes.add(f"frames cropped to the common top-left {w}x{h} region")
            d, r = d[:h, :w], r[:h, :w]
        if self.size is None:
            self.size = (d.shape[0], d.shape[1])
        elif (d.shape[0], d.shape[1]) != self.size:
            raise InvalidInputError(
                f"frame {index}: size changed to {d.shape[1]}x{d.shape[0]} from {self.size[1]}x{self.size[0]} mid-sequence"
            )
        return d, r

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = 0
        d, r = next(self._d_frames, None), next(self._r_frames, None)
        while d is not None and r is not None:
            yield self._aligned(n, d, r)
            n += 1
            d, r = next(self._d_frames, None), next(self._r_frames, None)
        # Count what is left, so both totals are known (a video's length is only known once decoded).
        n_d = n + (d is not None) + sum(1 for _ in self._d_frames)
        n_r = n + (r is not None) + sum(1 for _ in self._r_frames)
        if n_d != n_r and not self._common_prefix:
            raise self._count_error(n_d, n_r)
        if n_d != n_r and n:
            self._notes.add(f"frame counts differ ({n_d} vs {n_r}); the first {n} frames were compared")
        self.n_distorted, self.n_reference = n_d, n_r


# --------------------------------------------------------------------------- layouts


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


# --------------------------------------------------------------------------- image sets


def degradation_words(degradation: Degradation) -> str:
    """How the LR is made, in words, for the notes of a report."""
    base = "MATLAB-exact bicubic (imresize)" if degradation.kind == "bi" else \
        "BD (12x12 Gaussian blur, sigma 1.6, every 4th pixel)"
    return base if degradation.codec is None else f"{base}, then {_codec_words(degradation)}"


def _codec_words(degradation: Degradation) -> str:
    return f"encoded with {degradation.codec} ({degradation.codec_words}, yuv420p) and decoded again"


def image_pairs(
    root: Path, layout: Layout, scale: int, degradation: Degradation, notes: set[str]
) -> list[tuple[Path, Path | None]]:
    """(HR path, LR path or None) for every image of an image set; None means "make the LR"."""
    if layout == "images":
        files = [root] if root.is_file() else list_images(root)
        notes.add(f"LR made from the images by {degradation_words(degradation)}")
        return [(f, None) for f in files]
    hr_dir = root / "HR"
    hrs = list_images(hr_dir)
    if not hrs:
        raise DatasetError(f"{hr_dir}: no images in the HR folder")
    lr_dir = root / "LR_bicubic" / f"X{scale}"
    if degradation.kind == "bd":
        notes.add(f"LR made from HR by {degradation_words(degradation)} ({lr_dir} is bicubic, so it is not used)")
        return [(h, None) for h in hrs]
    if not lr_dir.is_dir():
        notes.add(f"LR made from HR by {degradation_words(degradation)} because {lr_dir} does not exist")
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


def image_item(
    hr_path: Path, lr_path: Path | None, scale: int, degradation: Degradation, notes: set[str],
    cache: CodecCache | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth, LR) of one pair of :func:`image_pairs`; the LR has been through the degradation's codec."""
    hr = as_rgb(read_image(hr_path), hr_path, notes)
    if lr_path is None:
        gt = modcrop(hr, scale, hr_path)
        lr = degrade(gt, scale, degradation.kind)
    else:
        lr = as_rgb(read_image(lr_path), lr_path, notes)
        h, w = lr.shape[0] * scale, lr.shape[1] * scale
        if hr.shape[0] < h or hr.shape[1] < w:
            raise DatasetError(
                f"{lr_path}: LR is {lr.shape[1]}x{lr.shape[0]}, so x{scale} needs HR of at least {w}x{h}, "
                f"but {hr_path} is {hr.shape[1]}x{hr.shape[0]}"
            )
        gt = hr[:h, :w]
    return gt, compress_image(lr, degradation, cache=cache, key=f"{hr_path}")


# --------------------------------------------------------------------------- clips


def video_clips(root: Path, layout: Layout) -> list[tuple[str, Sequence[Path] | Path]]:
    """(clip name, frame files) per clip, or (stem, file) for a video file."""
    if layout == "video":
        return [(root.stem, root)]
    if layout == "images":
        return [(root.name, [root] if root.is_file() else list_images(root))]
    return [(c.relative_to(root).as_posix(), list_images(c)) for c in _leaf_frame_folders(root)]


def clip_frames(source: Sequence[Path] | Path, center_only: bool, notes: set[str]) -> Iterator[tuple[int, str, np.ndarray]]:
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
        yield i, source[i].stem, as_rgb(read_image(source[i]), source[i], notes)


def _clip_source(root: Path, clip: str) -> Sequence[Path] | Path:
    source = dict(video_clips(root, detect_layout(root))).get(clip)
    if source is None:
        raise DatasetError(f"{root}: no clip {clip!r}; was the folder changed?")
    return source


def clip_ground_truth(dataset: str | os.PathLike[str], clip: str, scale: int) -> Iterator[np.ndarray]:
    """Every ground-truth frame of one clip of a video set, read and cropped as the evaluation does."""
    for _, _, frame in clip_frames(_clip_source(Path(dataset), clip), False, set()):
        yield modcrop(frame, scale)


# --------------------------------------------------------------------------- degradation


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
    return codec_roundtrip(lr_frames, codec=deg.codec or "", crf=deg.crf, preset=deg.preset, speed=deg.speed, record=record)


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


# --------------------------------------------------------------------------- one item again


def item_pair(
    dataset: str | os.PathLike[str],
    layout: Layout,
    scale: int,
    degradation: str | Degradation,
    *,
    clip: str,
    index: int,
    name: str,
    cache: CodecCache | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth, LR) of one evaluated item, made exactly as the evaluation made them.

    The item is image ``index`` (named ``name``) of an image set when ``clip`` is
    ``""``, else frame ``index`` of ``clip``. Compressed LR is replayed from
    ``cache``, the bitstreams the evaluation recorded.
    """
    root, deg = Path(dataset), parse_degradation(degradation)
    if not clip:
        pairs = image_pairs(root, layout, scale, deg, set())
        if index >= len(pairs) or pairs[index][0].stem != name:
            raise _moved(root / "HR" if layout == "edsr" else root, name)
        hr_path, lr_path = pairs[index]
        return image_item(hr_path, lr_path, scale, deg, set(), cache)
    if deg.codec is not None:
        # The LR of a compressed clip depends on the frames before it: run the clip's stream up to the item.
        seen = 0
        gts = clip_ground_truth(root, clip, scale)
        for gt_batch, lr_batch in degraded_clip(gts, scale, deg, cache=cache, key=f"{root}|{clip}"):
            if index < seen + len(gt_batch):
                k = index - seen
                return np.ascontiguousarray(gt_batch[k]), np.ascontiguousarray(lr_batch[k])
            seen += len(gt_batch)
        raise DatasetError(f"{root}: clip {clip!r} has {seen} frames, frame {index} was evaluated; was it changed?")
    source = _clip_source(root, clip)
    if isinstance(source, Path):
        frame = _video_frame(source, index)
    else:
        if index >= len(source) or source[index].stem != name:
            raise _moved(source[0].parent if source else root, name)
        frame = as_rgb(read_image(source[index]), source[index], set())
    gt = modcrop(frame, scale)
    return gt, degrade(gt, scale, deg.kind)


def _moved(where: Path, name: str) -> DatasetError:
    return DatasetError(f"{where}: frame {name!r} is no longer where it was evaluated; was the folder changed?")
