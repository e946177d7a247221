"""Training and validation datasets, each reading its official on-disk layout.

Frame sources (:class:`ImageFolder`, :class:`DIV2K`, :class:`REDS`,
:class:`Vimeo90K`, :class:`VideoFrames`) give full HR frames as ``H x W x 3``
uint8 RGB arrays, plus the matching LR frame when the layout ships one for the
requested scale. :class:`PatchSampler` draws training batches from one or more
of them; :class:`BenchmarkFolder` serves whole images for validation.

Every size called ``lr_patch`` is in LR pixels: the HR patch is ``lr_patch * scale``.
LR that is not on disk is made with MATLAB-exact bicubic (:func:`vsr.data.imresize`)
from the HR frame cropped to a multiple of the scale, as the benchmarks were made.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from vsr.errors import DatasetError
from vsr.io import IMAGE_EXTENSIONS, list_images, read_rgb

__all__ = [
    "REDS4_CLIPS",
    "FrameSource",
    "ImageFolder",
    "DIV2K",
    "REDS",
    "Vimeo90K",
    "BenchmarkFolder",
    "BenchmarkImage",
]

#: REDS4, the usual REDS test clips; excluded from REDS training by default.
REDS4_CLIPS: tuple[str, ...] = ("000", "011", "015", "020")


def _require_dir(path: Path, what: str, layout: str) -> None:
    if not path.is_dir():
        raise DatasetError(f"{path}: {what} folder not found; expected layout: {layout}")


class FrameSource(Dataset, abc.ABC):
    """A list of HR frames (images or video frames) a patch sampler can draw from.

    ``source[i]`` is the ``i``-th HR frame; :meth:`lr` returns the LR frame of a
    layout that ships one, else ``None``.
    """

    #: Short description used in logs and errors.
    name: str = ""

    def __init__(self, *, cache: bool) -> None:
        self.cache = cache
        self._hr_cache: dict[int, np.ndarray] = {}
        self._lr_cache: dict[tuple[int, int], np.ndarray | None] = {}

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of frames."""

    @abc.abstractmethod
    def describe(self, index: int) -> str:
        """Where frame ``index`` comes from (a path, or a video and frame number)."""

    @abc.abstractmethod
    def _load_hr(self, index: int) -> np.ndarray: ...

    def _lr_path(self, index: int, scale: int) -> Path | None:
        """Path of the shipped LR frame for ``scale``, or ``None`` if the layout has none."""
        return None

    def hr(self, index: int) -> np.ndarray:
        """HR frame ``index`` as ``H x W x 3`` uint8 RGB."""
        if index < 0 or index >= len(self):
            raise IndexError(f"{self.name}: frame index {index} out of range 0..{len(self) - 1}")
        if not self.cache:
            return self._load_hr(index)
        img = self._hr_cache.get(index)
        if img is None:
            img = self._hr_cache[index] = self._load_hr(index)
        return img

    def lr(self, index: int, scale: int) -> np.ndarray | None:
        """The shipped LR frame for ``scale`` (``HR // scale`` in size), or ``None`` to make it by bicubic."""
        key = (index, scale)
        if self.cache and key in self._lr_cache:
            return self._lr_cache[key]
        path = self._lr_path(index, scale)
        img = None
        if path is not None:
            img = read_rgb(path)
            hr_shape = self.hr(index).shape
            want = (hr_shape[0] // scale, hr_shape[1] // scale)
            if img.shape[:2] != want:
                raise DatasetError(
                    f"{path}: LR image is {img.shape[1]}x{img.shape[0]} but its HR frame "
                    f"({self.describe(index)}) is {hr_shape[1]}x{hr_shape[0]}, which at x{scale} needs "
                    f"{want[1]}x{want[0]}; remake the LR folder with datasets/make_lr.py"
                )
        if self.cache:
            self._lr_cache[key] = img
        return img

    def clip_of(self, index: int) -> str | None:
        """The clip frame ``index`` belongs to, or ``None`` for a still image.

        A clip's frames are consecutive indices in time order (with the source's frame stride).
        """
        return None

    def neighbours(self, index: int, count: int) -> list[int] | None:
        """``count`` frame indices of ``index``'s clip with ``index`` in the middle (position ``count // 2``).

        At a clip's ends the clip is reflected (``.., 2, 1, 0, 1, 2``), so the middle frame is never
        the first of the clip. ``None`` for a still image or a clip of one frame.
        """
        clip = self.clip_of(index)
        if clip is None or count < 2:
            return None
        first = index
        while first > 0 and index - first < count and self.clip_of(first - 1) == clip:
            first -= 1
        last = index
        while last + 1 < len(self) and last - index < count and self.clip_of(last + 1) == clip:
            last += 1
        if first == last:
            return None
        out = []
        for k in range(index - count // 2, index - count // 2 + count):
            while not first <= k <= last:  # reflect about the ends (a short clip may need several bounces)
                k = 2 * first - k if k < first else 2 * last - k
            out.append(k)
        return out

    def cached_frames(self) -> list[np.ndarray] | None:
        """Every HR frame, when all are in the in-memory cache (after :meth:`preload`); else ``None``."""
        if not (self.cache and len(self._hr_cache) == len(self)):
            return None
        return list(self._hr_cache.values())

    def preload(self) -> None:
        """Decode every HR frame into the in-memory cache (no-op when ``cache`` is off)."""
        if self.cache:
            for i in range(len(self)):
                self.hr(i)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.hr(index)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, frames={len(self)}, cache={self.cache})"


class ImageFolder(FrameSource):
    """Every image in a folder (T91's ``.bmp``, BSD200's ``.png``, any photos); LR made by bicubic.

    Args:
        root: the folder.
        recursive: also read images in sub-folders.
        cache: keep decoded images in memory (T91 + BSD200 take about 70 MB).
    """

    LAYOUT = "<root>/<name>.{png,bmp,jpg,...} (or nested folders with recursive=true)"

    def __init__(self, root: str | os.PathLike[str], *, recursive: bool = False, cache: bool = True) -> None:
        super().__init__(cache=cache)
        self.root = Path(root)
        _require_dir(self.root, "image", self.LAYOUT)
        self.files = list_images(self.root, recursive=recursive)
        if not self.files:
            raise DatasetError(
                f"{self.root}: no images found (extensions {', '.join(IMAGE_EXTENSIONS)}); "
                f"expected layout: {self.LAYOUT}"
            )
        self.name = self.root.name

    def __len__(self) -> int:
        return len(self.files)

    def describe(self, index: int) -> str:
        return os.fspath(self.files[index])

    def _load_hr(self, index: int) -> np.ndarray:
        return read_rgb(self.files[index])


class DIV2K(FrameSource):
    """DIV2K as distributed: ``DIV2K_{split}_HR/0001.png`` and ``DIV2K_{split}_LR_bicubic/X{s}/0001x{s}.png``.

    The LR folder of a scale is used when present; otherwise LR patches are made
    by MATLAB-exact bicubic on the fly.

    Args:
        root: the folder holding ``DIV2K_train_HR`` (and the LR folders).
        split: ``train`` or ``valid``.
        first, last: image numbers to use, inclusive (the paper trains on 1..800;
            some distributions merge 801..900 into the train folder).
        cache: keep decoded images in memory (the 800 train images take ~7 GB).
    """

    LAYOUT = "<root>/DIV2K_{split}_HR/0001.png, optional <root>/DIV2K_{split}_LR_bicubic/X{s}/0001x{s}.png"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = "train",
        first: int = 1,
        last: int = 800,
        cache: bool = False,
    ) -> None:
        super().__init__(cache=cache)
        if split not in ("train", "valid"):
            raise DatasetError(f"DIV2K split must be 'train' or 'valid', got {split!r}")
        self.root = Path(root)
        self.split = split
        hr_dir = self.root / f"DIV2K_{split}_HR"
        _require_dir(hr_dir, f"DIV2K {split} HR", self.LAYOUT)
        self.files = [
            p for p in sorted(hr_dir.glob("*.png")) if p.stem.isdigit() and first <= int(p.stem) <= last
        ]
        if not self.files:
            raise DatasetError(
                f"{hr_dir}: no images numbered {first:04d}..{last:04d}; expected layout: {self.LAYOUT}"
            )
        self.name = f"DIV2K_{split}[{first}-{last}]"

    def __len__(self) -> int:
        return len(self.files)

    def describe(self, index: int) -> str:
        return os.fspath(self.files[index])

    def _load_hr(self, index: int) -> np.ndarray:
        return read_rgb(self.files[index])

    def _lr_path(self, index: int, scale: int) -> Path | None:
        stem = self.files[index].stem
        p = self.root / f"DIV2K_{self.split}_LR_bicubic" / f"X{scale}" / f"{stem}x{scale}.png"
        return p if p.is_file() else None


class REDS(FrameSource):
    """REDS frames: ``train_sharp/<clip>/<frame>.png`` with optional ``train_sharp_bicubic/X4/<clip>/<frame>.png``.

    Validation clips regrouped as 240..269 (``datasets/regroup_reds_val.py``) are
    read like any other clip.

    Args:
        root: the folder holding ``train_sharp``.
        exclude: clip names left out (default REDS4: 000, 011, 015, 020).
        frame_stride: use every n-th frame of each clip, to avoid near-duplicates.
        cache: keep decoded frames in memory (REDS is ~2.6 MB per frame decoded).
    """

    LAYOUT = "<root>/train_sharp/<000..269>/<00000000..00000099>.png, optional <root>/train_sharp_bicubic/X4/..."

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        exclude: Sequence[str] = REDS4_CLIPS,
        frame_stride: int = 1,
        cache: bool = False,
    ) -> None:
        super().__init__(cache=cache)
        if frame_stride < 1:
            raise DatasetError(f"REDS frame_stride must be >= 1, got {frame_stride}")
        self.root = Path(root)
        hr_dir = self.root / "train_sharp"
        _require_dir(hr_dir, "REDS train_sharp", self.LAYOUT)
        excluded = set(exclude)
        self.frames: list[tuple[str, str]] = []
        for clip in sorted(p for p in hr_dir.iterdir() if p.is_dir() and p.name not in excluded):
            for f in sorted(clip.glob("*.png"))[::frame_stride]:
                self.frames.append((clip.name, f.name))
        if not self.frames:
            raise DatasetError(
                f"{hr_dir}: no frames found (excluding clips {', '.join(sorted(excluded)) or 'none'}); "
                f"expected layout: {self.LAYOUT}"
            )
        self.name = "REDS"

    def __len__(self) -> int:
        return len(self.frames)

    def describe(self, index: int) -> str:
        clip, frame = self.frames[index]
        return os.fspath(self.root / "train_sharp" / clip / frame)

    def _load_hr(self, index: int) -> np.ndarray:
        return read_rgb(self.describe(index))

    def clip_of(self, index: int) -> str | None:
        return self.frames[index][0]

    def _lr_path(self, index: int, scale: int) -> Path | None:
        clip, frame = self.frames[index]
        p = self.root / "train_sharp_bicubic" / f"X{scale}" / clip / frame
        return p if p.is_file() else None


class Vimeo90K(FrameSource):
    """Vimeo90K septuplets: ``sequences/<00001>/<0001>/im1.png .. im7.png``; LR made by bicubic.

    The septuplets are those of ``list_file`` (one ``00001/0001`` per line), by
    default ``<root>/sep_trainlist.txt`` when it exists; otherwise every
    septuplet found under ``sequences/`` is used.

    Args:
        root: the folder holding ``sequences`` (``vimeo_septuplet``).
        list_file: a list of septuplets, or ``None`` for the default above.
        frame_stride: use frames 1, 1+n, 1+2n, ... of each septuplet.
        cache: keep decoded frames in memory (344 KB per frame).
    """

    LAYOUT = "<root>/sequences/<00001>/<0001>/im1.png..im7.png, optional <root>/sep_trainlist.txt"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        list_file: str | os.PathLike[str] | None = None,
        frame_stride: int = 1,
        cache: bool = True,
    ) -> None:
        super().__init__(cache=cache)
        if frame_stride < 1:
            raise DatasetError(f"Vimeo90K frame_stride must be >= 1, got {frame_stride}")
        self.root = Path(root)
        seq_dir = self.root / "sequences"
        _require_dir(seq_dir, "Vimeo90K sequences", self.LAYOUT)
        lst = Path(list_file) if list_file is not None else self.root / "sep_trainlist.txt"
        if list_file is not None and not lst.is_file():
            raise DatasetError(f"{lst}: Vimeo90K list file not found; expected lines like 00001/0001")
        if lst.is_file():
            septs = [ln.strip() for ln in lst.read_text(encoding="utf-8").splitlines() if ln.strip()]
        else:
            septs = sorted(f"{a.name}/{b.name}" for a in seq_dir.iterdir() if a.is_dir() for b in a.iterdir() if b.is_dir())
        self.frames: list[Path] = []
        for s in septs:
            for k in range(1, 8, frame_stride):
                p = seq_dir / s / f"im{k}.png"
                if not p.is_file():
                    raise DatasetError(f"{p}: frame missing (septuplet {s}); expected layout: {self.LAYOUT}")
                self.frames.append(p)
        if not self.frames:
            raise DatasetError(f"{seq_dir}: no septuplets found; expected layout: {self.LAYOUT}")
        self.name = "Vimeo90K"

    def __len__(self) -> int:
        return len(self.frames)

    def describe(self, index: int) -> str:
        return os.fspath(self.frames[index])

    def clip_of(self, index: int) -> str | None:
        return os.fspath(self.frames[index].parent)

    def _load_hr(self, index: int) -> np.ndarray:
        return read_rgb(self.frames[index])


@dataclass(frozen=True)
class BenchmarkImage:
    """One validation image: the LR input and the HR target cropped to ``LR size * scale``."""

    name: str
    lr: np.ndarray
    hr: np.ndarray

    def __repr__(self) -> str:
        return f"BenchmarkImage({self.name!r}, lr={self.lr.shape}, hr={self.hr.shape})"


class BenchmarkFolder(Dataset):
    """A benchmark set in the EDSR layout: ``HR/<name>.png`` and ``LR_bicubic/X{s}/<name>x{s}.png``.

    The LR images are read from the shipped (MATLAB-made) files, never remade,
    so scores follow the published protocol. HR is cropped to ``LR * scale``.
    """

    LAYOUT = "<root>/HR/<name>.png and <root>/LR_bicubic/X{s}/<name>x{s}.png"

    def __init__(self, root: str | os.PathLike[str], *, scale: int) -> None:
        self.root = Path(root)
        self.scale = int(scale)
        hr_dir = self.root / "HR"
        lr_dir = self.root / "LR_bicubic" / f"X{self.scale}"
        _require_dir(hr_dir, "benchmark HR", self.LAYOUT)
        _require_dir(lr_dir, f"benchmark LR x{self.scale}", self.LAYOUT)
        self.hr_files = list_images(hr_dir, recursive=False)
        if not self.hr_files:
            raise DatasetError(f"{hr_dir}: no images found; expected layout: {self.LAYOUT}")
        self.lr_files = []
        for hr in self.hr_files:
            lr = lr_dir / f"{hr.stem}x{self.scale}{hr.suffix}"
            if not lr.is_file():
                raise DatasetError(f"{lr}: LR image missing for {hr}; expected layout: {self.LAYOUT}")
            self.lr_files.append(lr)
        self.name = self.root.name
        self._items: list[BenchmarkImage | None] = [None] * len(self.hr_files)

    def __len__(self) -> int:
        return len(self.hr_files)

    def __getitem__(self, index: int) -> BenchmarkImage:
        item = self._items[index]
        if item is None:
            lr = read_rgb(self.lr_files[index])
            hr = read_rgb(self.hr_files[index])
            h, w = lr.shape[0] * self.scale, lr.shape[1] * self.scale
            if hr.shape[0] < h or hr.shape[1] < w:
                raise DatasetError(
                    f"{self.lr_files[index]}: LR {lr.shape[1]}x{lr.shape[0]} x{self.scale} is larger than "
                    f"its HR {hr.shape[1]}x{hr.shape[0]} ({self.hr_files[index]})"
                )
            item = self._items[index] = BenchmarkImage(self.hr_files[index].stem, lr, hr[:h, :w])
        return item

    def __repr__(self) -> str:
        return f"BenchmarkFolder({os.fspath(self.root)!r}, scale={self.scale}, images={len(self)})"
