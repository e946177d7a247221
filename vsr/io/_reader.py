"""Decode a video into batches of RGB uint8 frames with their presentation timestamps.

Two backends deliver the same frames in the same order with the same timestamps:

* ``decord`` (the default when it is installed, decodes the file correctly and the
  file is short enough, see below), read here with ``get_batch`` over sequential
  index ranges;
* ``pyav``: FFmpeg through PyAV, the fallback and the reference.

decord 0.6 is unmaintained and has known defects, each guarded here:

* ``len()`` can be wrong and reading past the real end can hang or raise: the
  frames to read are counted by demuxing the file with PyAV first (the *index*),
  and decord is never asked for an index beyond it; if decord's own count
  disagrees, or a batch fails, the rest of the video is decoded with PyAV from the
  exact timestamp where decord stopped.
* it converts YUV to RGB with FFmpeg's defaults (BT.601 for untagged video) and
  mangles >8-bit video: the first frame it returns is compared with PyAV's, and
  decord is not used when they differ.
* it silently repeats frames it could not decode: ``fault_tol`` makes it raise instead.
* its read-ahead has no bound. ``VideoReader::NextFrameImpl`` pushes one more packet
  to its decoder thread every time ``Pop`` finds no decoded frame yet, so while that
  thread decodes the first frame the caller queues hundreds of packets; the thread
  then decodes all of them into RGB frames that wait in an unbounded queue, for as
  long as the caller is slower than decoding (the model always is). Measured: a
  600-frame 1280x720 clip held over 400 decoded frames (+1.1 GiB) after its first 4
  frames were read. Only the end of the file bounds it, so ``auto`` uses decord only
  when every frame from the start of the window to the end of the file fits in
  :data:`DECORD_AHEAD_LIMIT` bytes as RGB (``decord`` asked for by name is used anyway).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args

import av
import numpy as np

from vsr.errors import InvalidInputError, UnsupportedError
from vsr.io._probe import Packet, RGBConverter, VideoInfo, check_path, open_input, probe

__all__ = [
    "Backend",
    "BACKENDS",
    "FrameBatch",
    "VIDEO_EXTENSIONS",
    "VideoReader",
    "decord_available",
    "is_video_path",
    "set_ffmpeg_logging",
]

log = logging.getLogger(__name__)

Backend = Literal["auto", "decord", "pyav"]
BACKENDS: tuple[str, ...] = get_args(Backend)

#: File extensions treated as videos when a folder is scanned.
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts", ".flv", ".wmv", ".ogv", ".3gp", ".y4m",
)


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """True when the extension is one of :data:`VIDEO_EXTENSIONS`."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS

@dataclass(frozen=True, repr=False)
class FrameBatch:
    """Consecutive frames ``N x H x W x 3`` (uint8 RGB) and their timestamps.

    ``pts`` and ``durations`` are in the stream's ``time_base``; a duration of 0
    means unknown. ``index`` is the position of the first frame in the read.

    Raises:
        InvalidInputError: ``frames`` is not uint8 ``N x H x W x 3``, or the counts disagree.
    """

    frames: np.ndarray
    pts: tuple[int, ...]
    durations: tuple[int, ...]
    index: int

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise InvalidInputError(f"frames must be uint8 N x H x W x 3, got {self.frames.dtype} {self.frames.shape}")
        if not (len(self.pts) == len(self.durations) == self.frames.shape[0]):
            raise InvalidInputError(f"{self.frames.shape[0]} frames but {len(self.pts)} pts and {len(self.durations)} durations")

    def __len__(self) -> int:
        return len(self.pts)

    def __repr__(self) -> str:
        first = self.pts[0] if self.pts else None
        return f"FrameBatch(index={self.index}, frames={tuple(self.frames.shape)}, first_pts={first})"


#: Whether FFmpeg's own messages are shown (see :func:`set_ffmpeg_logging`).
_FFMPEG_VERBOSE = False


def set_ffmpeg_logging(verbose: bool) -> None:
    """Show FFmpeg's own messages (``[h264 @ 0x...] error while decoding MB ...``) or hide them (the default).

    vsr reports what matters of them itself (a file that cannot be read, frames
    that could not be decoded); the raw lines are for ``vsr --debug``, which
    prints them to stderr (PyAV's FFmpeg and decord's bundled copy alike).
    """
    global _FFMPEG_VERBOSE
    _FFMPEG_VERBOSE = verbose
    # Not PyAV's Python log callback (av.logging.set_level(WARNING)): an FFmpeg decode thread that logs needs the
    # GIL, which the thread freeing the decoder holds while it waits for that thread: a deadlock, seen on corrupt
    # input (reference/video_io.md). FFmpeg's own callback prints to stderr without Python, as decord's copy does.
    av.logging.set_level(None)  # PyAV's silent callback
    if verbose:
        av.logging.restore_default_callback()
        av.logging.set_libav_level(av.logging.WARNING)
    if "decord" in sys.modules:
        _import_decord()


def _import_decord() -> Any:
    # decord's wheel bundles zlib 1.2.3. Loaded before OpenCV, it shadows the zlib OpenCV's libpng was
    # built against, and every PNG read afterwards fails ("libpng error: bad parameters to zlib").
    import cv2  # noqa: F401
    import decord

    # decord's FFmpeg prints every decode error of a damaged file to stderr, --quiet or not.
    decord.logging.set_level(decord.logging.WARNING if _FFMPEG_VERBOSE else decord.logging.QUIET)
    return decord


def decord_available() -> bool:
    """True when the decord module can be imported."""
    try:
        _import_decord()
    except Exception:  # noqa: BLE001 - a broken install is as good as a missing one
        return False
    return True


#: The most memory (bytes of RGB frames) ``auto`` lets decord's unbounded read-ahead take: the file's
#: frames from the window's start to its end must fit, or PyAV decodes it. 128 MiB is 760 frames of 320x180,
#: 46 of 1280x720, 5 of 3840x2160 (decoding only as fast as the model reads is PyAV's way, at the same speed).
DECORD_AHEAD_LIMIT = 128 * 2**20


def _window(info: VideoInfo, start: float | None, duration: float | None) -> tuple[int | None, int | None]:
    """``[start, end)`` in stream pts for the requested seconds (relative to the stream start)."""
    lo = None if not start else info.start_pts + int(round(Fraction(start) / info.time_base))
    hi = None
    if duration is not None:
        hi = (lo if lo is not None else info.start_pts) + int(round(Fraction(duration) / info.time_base))
    return lo, hi


class VideoReader:
    """Decode a video file into :class:`FrameBatch` es of RGB uint8 frames, in presentation order.

    Args:
        path: the video file.
        backend: ``auto`` (decord when installed, correct for this file and its
            frames from ``start`` to the end fit in 128 MiB as RGB, else
            PyAV), ``decord`` (fail if it cannot decode this file correctly) or ``pyav``.
        batch_size: frames per batch.
        start: seconds from the start of the stream to skip.
        duration: seconds to read from ``start`` (``None`` = to the end).
        threads: decoder threads (0 = automatic).

    ``frames_damaged`` counts the frames PyAV delivered with FFmpeg's "corrupt"
    flag (decoded with errors, concealed; they may show glitches), and
    ``damaged_pts`` holds their timestamps. decord reports no such thing, so
    frames decord delivers are never counted.

    Iterating decodes the file from ``start`` each time. Every decodable frame is
    delivered exactly once with its source timestamp; ``info.num_frames`` is the
    number of frames in the window when ``info.num_frames_exact`` is true (counted by
    demuxing), else the container's claim.

    Example::

        with VideoReader("movie.mp4") as reader:
            for batch in reader:
                print(batch.frames.shape, batch.pts[0] * reader.info.time_base)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        backend: Backend = "auto",
        batch_size: int = 8,
        start: float | None = None,
        duration: float | None = None,
        threads: int = 0,
    ) -> None:
        if backend not in BACKENDS:
            raise UnsupportedError(f"unknown decoder backend {backend!r}; allowed: {', '.join(BACKENDS)}")
        if batch_size < 1:
            raise UnsupportedError(f"batch_size must be >= 1, got {batch_size}")
        if start is not None and start < 0:
            raise UnsupportedError(f"start must be >= 0 seconds, got {start}")
        if duration is not None and duration <= 0:
            raise UnsupportedError(f"duration must be > 0 seconds, got {duration}")
        self.path = Path(path)
        check_path(self.path)
        self.batch_size = int(batch_size)
        self.threads = int(threads)
        info, self._first_rgb, self._packets = probe(self.path)
        self._lo, self._hi = _window(info, start, duration)
        self._convert = RGBConverter(info.colorspace, info.color_range, info.bit_depth, info.colorspace == "rgb")
        self._first_index = 0
        if self._packets is not None:
            pts = [p.pts for p in self._packets]
            lo = 0 if self._lo is None else int(np.searchsorted(pts, self._lo, side="left"))
            hi = len(pts) if self._hi is None else int(np.searchsorted(pts, self._hi, side="left"))
            self._first_index, self._end_index = lo, max(lo, hi)
            info = replace(info, num_frames=self._end_index - lo, num_frames_exact=True)
        elif (self._lo is not None or self._hi is not None) and info.fps:
            span = (duration if duration is not None else max(0.0, (info.duration or 0.0) - (start or 0.0)))
            info = replace(info, num_frames=int(round(span * info.fps)) or None)
        self.info = info
        self.frames_damaged = 0
        self.damaged_pts: list[int] = []
        self._decord: Any = None
        self.backend, self.backend_note = self._choose(backend)

    # ------------------------------------------------------------------ setup
    def _choose(self, backend: Backend) -> tuple[str, str]:
        if backend == "pyav":
            return "pyav", "requested"
        problem = self._decord_problem(bounded=backend == "auto")
        if problem is None:
            return "decord", "requested" if backend == "decord" else "default"
        if backend == "decord":
            raise UnsupportedError(f"{self.path}: decord cannot decode this file correctly ({problem}); use --decoder pyav or auto")
        log.debug("%s: using PyAV instead of decord: %s", self.path, problem)
        return "pyav", f"decord not used: {problem}"

    def _decord_problem(self, *, bounded: bool = False) -> str | None:
        """Why decord must not decode this file, or ``None`` once it has proved itself on the first frame.

        ``bounded``: also refuse files whose frames, from the window's start to the end of
        the file, exceed :data:`DECORD_AHEAD_LIMIT` (decord may decode all of them ahead).
        """
        if not decord_available():
            return "decord is not installed"
        if self._packets is None:
            return "the packets carry no timestamps"
        if self.info.bit_depth > 8:
            return f"it decodes {self.info.bit_depth}-bit video wrongly"
        if bounded:
            # Checked before decord opens the file: opening reads every packet, and its first read starts the read-ahead.
            ahead = len(self._packets) - self._first_index
            size = ahead * self.info.width * self.info.height * 3
            if size > DECORD_AHEAD_LIMIT:
                return (f"its read-ahead is unbounded and could hold {ahead} decoded frames ({size / 2**20:.0f} MiB, "
                        f"more than {DECORD_AHEAD_LIMIT // 2**20} MiB); --decoder decord uses it anyway")
        decord = _import_decord()
        try:
            vr = decord.VideoReader(os.fspath(self.path), ctx=decord.cpu(0), num_threads=self.threads, fault_tol=1e-9)
        except Exception as e:  # noqa: BLE001 - decord raises RuntimeError, DECORDError, AssertionError
            return f"it cannot open the file: {str(e).splitlines()[0][:120]}"
        n = len(self._packets)
        if len(vr) < n:
            return f"it sees {len(vr)} frames where the file has {n}"
        try:
            ts = np.asarray(vr.get_frame_timestamp(list(range(min(n, 64)))))[:, 0]
            first = _as_numpy(vr.get_batch([0]))[0]
        except Exception as e:  # noqa: BLE001
            return f"it failed on the first frame: {str(e).splitlines()[0][:120]}"
        want = np.array([(p.pts - self.info.start_pts) * self.info.time_base for p in self._packets[: len(ts)]], dtype=np.float64)
        if len(ts) and np.abs(ts - want).max() > 1e-3:
            return "its frame order or timestamps differ from the file's"
        if first.shape != self._first_rgb.shape or not np.array_equal(first, self._first_rgb):
            return f"its YUV->RGB conversion differs from the source's {self.info.colorspace}/{self.info.color_range}"
        self._decord = vr
        return None

    # ------------------------------------------------------------------ the index
    def _index(self, what: str) -> list[Packet]:
        if self._packets is None:
            raise UnsupportedError(f"{self.path}: {what} needs timestamped packets, which this file lacks; remux it (ffmpeg -i IN -c copy OUT.mkv)")
        return self._packets[self._first_index : self._end_index]

    @property
    def frame_pts(self) -> tuple[int, ...]:
        """Presentation timestamps (in ``info.time_base``) of every frame of the window, in order.

        Raises :class:`UnsupportedError` for files whose packets carry no timestamps.
        """
        return tuple(p.pts for p in self._index("listing frame timestamps"))

    @property
    def keyframes(self) -> tuple[int, ...]:
        """Indices (as in :attr:`FrameBatch.index`) of the window's frames that are keyframes.

        Decoding can start at these frames without decoding earlier ones. Raises
        :class:`UnsupportedError` for files whose packets carry no timestamps.
        """
        return tuple(i for i, p in enumerate(self._index("listing keyframes")) if p.keyframe)

    # ------------------------------------------------------------------ reading
    def __iter__(self) -> Iterator[FrameBatch]:
        if self.backend == "decord":
            return self._iter_decord(self._first_index, self._end_index)
        return self._iter_pyav(self._lo, self._hi, 0)

    def iter_frames(self, first: int, end: int) -> Iterator[FrameBatch]:
        """Decode frames ``[first, end)`` of the window (indices as in :attr:`FrameBatch.index`).

        Delivers exactly the frames a full iteration delivers at those positions,
        with the same timestamps; decoding starts at the nearest keyframe before
        ``first``. Raises :class:`UnsupportedError` for files whose packets carry no
        timestamps (they cannot be indexed).
        """
        index = self._index("reading a frame range")
        if not 0 <= first < end <= len(index):
            raise UnsupportedError(f"{self.path}: frame range [{first}, {end}) is outside the {len(index)} frames of the window")
        if self.backend == "decord":
            return self._iter_decord(self._first_index + first, self._first_index + end)
        hi = index[end].pts if end < len(index) else self._hi
        return self._iter_pyav(index[first].pts, hi, first)

    def _iter_decord(self, lo: int, hi: int) -> Iterator[FrameBatch]:
        """Decode packets ``[lo, hi)`` of the index with decord, handing over to PyAV if decord fails."""
        assert self._packets is not None
        vr = self._decord
        if vr is None:
            decord = _import_decord()
            vr = self._decord = decord.VideoReader(os.fspath(self.path), ctx=decord.cpu(0), num_threads=self.threads, fault_tol=1e-9)
        usable = min(hi, len(vr))
        i = lo
        while i < usable:
            j = min(i + self.batch_size, usable)
            try:
                arr = _as_numpy(vr.get_batch(list(range(i, j))))
            except Exception as e:  # noqa: BLE001 - any decord failure: hand over to PyAV
                # INFO, not WARNING: PyAV decodes the same frames from here, and if it fails too its error is the
                # one line the user needs (a second line here broke the one-line contract of failures).
                log.info("%s: decord failed at frame %d (%s); continuing with PyAV", self.path, i, str(e).splitlines()[0][:120])
                break
            if arr.shape[0] != j - i:
                log.info("%s: decord returned %d of %d frames at frame %d; continuing with PyAV", self.path, arr.shape[0], j - i, i)
                break
            pk = self._packets[i:j]
            yield FrameBatch(arr, tuple(p.pts for p in pk), tuple(p.duration for p in pk), i - self._first_index)
            i = j
        if i < hi:
            end = self._packets[hi].pts if hi < len(self._packets) else self._hi
            yield from self._iter_pyav(self._packets[i].pts, end, i - self._first_index)

    def _iter_pyav(self, lo: int | None, hi: int | None, index: int) -> Iterator[FrameBatch]:
        """Decode ``[lo, hi)`` (stream pts; ``None`` = open end) with PyAV, batch by batch."""
        frames: list[np.ndarray] = []
        pts: list[int] = []
        durs: list[int] = []
        last_pts: int | None = None
        step = int(round(1 / (self.info.fps * self.info.time_base))) if self.info.fps else 1
        with open_input(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if self.threads:
                stream.codec_context.thread_count = self.threads
            if lo is not None and lo > self.info.start_pts:
                container.seek(lo, stream=stream, backward=True, any_frame=False)
            decoded = 0
            try:
                for frame in container.decode(stream):
                    decoded += 1
                    p = frame.pts
                    if p is None:
                        # Raw streams: continue the timeline at the nominal rate.
                        p = self.info.start_pts if last_pts is None else last_pts + step
                    if lo is not None and p < lo:
                        continue
                    if hi is not None and p >= hi:
                        break
                    if last_pts is not None and p <= last_pts:
                        log.warning("%s: frame %d has timestamp %d after %d; kept in decode order", self.path, index, p, last_pts)
                    last_pts = p
                    if frame.is_corrupt:
                        self.frames_damaged += 1
                        self.damaged_pts.append(int(p))
                    frames.append(self._convert(frame))
                    pts.append(int(p))
                    durs.append(int(frame.duration or 0))
                    if len(frames) == self.batch_size:
                        yield FrameBatch(np.stack(frames), tuple(pts), tuple(durs), index)
                        index += len(frames)
                        frames, pts, durs = [], [], []
            except av.error.FFmpegError as e:
                raise InvalidInputError(f"{self.path}: decoding failed after {index + len(frames)} frames ({e}); is it corrupt or truncated?") from None
        if frames:
            yield FrameBatch(np.stack(frames), tuple(pts), tuple(durs), index)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the decoder (decord holds the file open)."""
        self._decord = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        i = self.info
        n = f"{i.num_frames}" if i.num_frames_exact else f"~{i.num_frames}"
        return f"VideoReader({str(self.path)!r}, {i.width}x{i.height}, {n} frames, backend={self.backend})"


def _as_numpy(batch: Any) -> np.ndarray:
    # decord returns its own NDArray, or a torch/mxnet tensor if someone set a global bridge.
    if hasattr(batch, "asnumpy"):
        return np.ascontiguousarray(batch.asnumpy())
    if hasattr(batch, "numpy"):
        return np.ascontiguousarray(batch.numpy())
    return np.ascontiguousarray(np.asarray(batch))

