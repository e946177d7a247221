"""Training frames sampled from video files (mp4, mkv, ...) without extracting them to disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vsr.errors import DatasetError
from vsr.data._datasets import FrameSource

__all__ = ["VIDEO_EXTENSIONS", "VideoFrames"]

#: File extensions read as videos when a folder is given (case-insensitive).
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")


class VideoFrames(FrameSource):
    """Every ``frame_stride``-th frame of one video file or of every video in a folder.

    Frames are decoded once, through :class:`vsr.io.VideoReader` (decord, or
    PyAV where decord is wrong for the file or the file is long), and held in memory as RGB uint8;
    ``max_frames`` bounds how many are kept per file (spread over the whole
    video). A stride of a few frames avoids training on near-duplicates.

    Args:
        path: a video file or a folder of them.
        frame_stride: keep frames 0, n, 2n, ... of each video.
        max_frames: keep at most this many frames per video (``None``: all).
        cache: must be true: frames are always decoded into memory.
    """

    LAYOUT = "a video file, or <root>/<name>.{mp4,mkv,mov,...}"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        frame_stride: int = 5,
        max_frames: int | None = None,
        cache: bool = True,
    ) -> None:
        super().__init__(cache=True)
        if not cache:
            raise DatasetError(f"{path}: video frames are always decoded into memory; use max_frames to bound memory")
        if frame_stride < 1:
            raise DatasetError(f"{path}: frame_stride must be >= 1, got {frame_stride}")
        if max_frames is not None and max_frames < 1:
            raise DatasetError(f"{path}: max_frames must be >= 1, got {max_frames}")
        self.root = Path(path)
        if self.root.is_dir():
            self.files = sorted(p for p in self.root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not self.files:
                raise DatasetError(
                    f"{self.root}: no video files found ({', '.join(VIDEO_EXTENSIONS)}); expected layout: {self.LAYOUT}"
                )
        elif self.root.is_file():
            self.files = [self.root]
        else:
            raise DatasetError(f"{self.root}: no such video file or folder; expected layout: {self.LAYOUT}")
        self.frame_stride = int(frame_stride)
        self.max_frames = max_frames
        self.name = self.root.name
        self.index: list[tuple[Path, int]] = []
        self._frames: list[np.ndarray] = []
        for f in self.files:
            self._decode(f)
        if not self._frames:
            raise DatasetError(f"{self.root}: no frames decoded from {len(self.files)} video file(s)")

    def _decode(self, path: Path) -> None:
        from vsr.io import VideoReader  # imported here: decoding libraries load only when videos are used

        kept: list[tuple[int, np.ndarray]] = []
        with VideoReader(path, batch_size=16) as reader:
            for batch in reader:
                for j in range(len(batch)):
                    n = batch.index + j
                    if n % self.frame_stride == 0:
                        kept.append((n, np.ascontiguousarray(batch.frames[j])))
        if not kept:
            raise DatasetError(f"{path}: the video has no decodable frames")
        if self.max_frames is not None and len(kept) > self.max_frames:
            pick = np.linspace(0, len(kept) - 1, self.max_frames).round().astype(int)
            kept = [kept[k] for k in pick]
        for n, frame in kept:
            self.index.append((path, n))
            self._frames.append(frame)

    def __len__(self) -> int:
        return len(self._frames)

    def describe(self, index: int) -> str:
        path, n = self.index[index]
        return f"{path} frame {n}"

    def clip_of(self, index: int) -> str | None:
        return os.fspath(self.index[index][0])

    def _load_hr(self, index: int) -> np.ndarray:
        return self._frames[index]
