"""Upscale one video in one process (decode thread -> Upscaler -> encode thread), or one image.

::

    decode thread   VideoReader batches (uint8 RGB + pts)  -> bounded queue
    calling thread  Upscaler (device, precision, batching) -> bounded queue
    encode thread   VideoWriter: RGB -> YUV, encode, mux + copied audio/subtitles

Both queues hold at most ``_QUEUE_BATCHES`` batches, so memory does not depend
on the length of the video. An exception in any stage, or Ctrl-C, stops the
other two, joins their threads, deletes the partial output and re-raises; the
destination only ever holds a complete file.

:func:`run_single` is the engine; :func:`vsr.upscale` (:mod:`vsr.upscaling._entry`) is the
entry point that picks it, or the segmented engine (:mod:`vsr.upscaling._segmented`), which
reuses :func:`upscale_stream` for each segment.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vsr._core import destination_lock
from vsr.inference import plan_fits
from vsr._core import Prefetcher, Sink, clock_text
from vsr.upscaling._models import Upscalers
from vsr.upscaling._settings import DecodeSettings, EncodeSettings
from vsr.inference import Upscaler
from vsr.errors import InvalidInputError, UnsupportedError, OutputExistsError
from vsr.io import (
    DEFAULT_MAX_PIXELS, FrameBatch, VideoInfo, VideoReader, VideoWriter, check_pixels, jpeg_quality, read_image, write_image,
)

__all__ = [
    "ImageStats",
    "UpscaleStats",
    "damaged_error",
    "no_frames_error",
    "run_single",
    "upscale_array",
    "upscale_image",
    "upscale_stream",
    "warn_if_short",
]

log = logging.getLogger(__name__)

#: Batches waiting between stages (each side).
_QUEUE_BATCHES = 2


@dataclass(frozen=True)
class UpscaleStats:
    """What upscaling one video did (:func:`vsr.upscale`, :func:`vsr.upscale_video`).

    ``frames_expected`` is the frame count known before decoding (exact when
    ``frames_expected_exact``); ``seconds`` is the wall time of the whole call.
    ``frames_damaged`` counts frames decoded with errors (PyAV's decoder; ``None``
    when decord decoded, which does not tell). ``missing_at`` and ``damaged_at``
    are the times (seconds from the start of the stream) of the frames that could
    not be decoded and of those decoded with errors, when known. ``model_note`` says
    which model the input picked when it was not the default's clean model
    (:meth:`vsr.upscaling._models.Upscalers.variant_note`).
    """

    src: Path
    dst: Path
    frames: int
    frames_expected: int | None
    frames_expected_exact: bool
    seconds: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    scale: int
    decoder: str
    device: str
    precision: str
    codec: str
    pix_fmt: str
    bytes_written: int
    frames_damaged: int | None = None
    missing_at: tuple[float, ...] = ()
    damaged_at: tuple[float, ...] = ()
    model_note: str = ""

    @property
    def fps(self) -> float:
        """Frames per second over the whole call, model loading included."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def frames_missing(self) -> int:
        """Frames the input indexes but that could not be decoded (0 when the count is not known exactly)."""
        if not self.frames_expected_exact or self.frames_expected is None:
            return 0
        return max(0, self.frames_expected - self.frames)

    def damage_note(self) -> str:
        """``"; 3 of 150 frames could not be decoded ..."`` for a damaged input, else ``""``."""
        notes = []
        if self.frames_missing:
            notes.append(f"{self.frames_missing} of {self.frames_expected} frames could not be decoded{_when(self.missing_at)}")
        if self.frames_damaged:
            notes.append(f"{self.frames_damaged} frames decoded with errors{_when(self.damaged_at)} (may show glitches)")
        return f"; damaged input: {', '.join(notes)}; --strict refuses it" if notes else ""

    def notes(self) -> str:
        """What the summary line adds after the output: :meth:`damage_note`, then ``model_note`` if any."""
        return self.damage_note() + (f"; {self.model_note}" if self.model_note else "")

    def summary(self) -> str:
        """One line: frames, speed, output path and size, and frames lost to damage if any."""
        w, h = self.output_size
        return (
            f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps) -> {self.dst} "
            f"({w}x{h}, {self.codec}, {self.bytes_written / 1e6:.1f} MB){self.notes()}"
        )

    def line(self) -> str:
        """The line ``vsr upscale`` prints for this video: ``<src>: <summary>``."""
        return f"{self.src}: {self.summary()}"


def _when(times: Sequence[float], most: int = 3) -> str:
    """`` at 00:00:04.2-00:00:04.5, 00:01:10.0`` for frame times (runs of close frames merged); ``""`` if none."""
    if not times:
        return ""
    spans: list[list[float]] = []
    for t in sorted(times):
        if spans and t - spans[-1][1] <= 1.0:  # within a second of the previous damage: one place in the video
            spans[-1][1] = t
        else:
            spans.append([t, t])
    shown = [clock_text(a, 1) if a == b else f"{clock_text(a, 1)}-{clock_text(b, 1)}" for a, b in spans[:most]]
    more = f" and {len(spans) - most} more places" if len(spans) > most else ""
    return f" at {', '.join(shown)}{more}"


class _Delivered:
    """Which of the frames the reader's index lists were delivered: one flag per frame, not a set of timestamps.

    A set of every delivered ``pts`` costs ~80 bytes a frame for the whole run (27 MB for
    an hour at 100 fps) only to name the few frames that did not decode; these arrays
    cost 25 (the sorted timestamps and their order, 8 bytes each, and a 1-byte flag).
    Without an index (packets without timestamps) nothing is recorded.
    """

    def __init__(self, reader: VideoReader) -> None:
        try:
            pts = np.fromiter(reader.frame_pts, dtype=np.int64)
        except UnsupportedError:  # packets without timestamps: the count is all we know
            pts = np.empty(0, np.int64)
        self._pts = pts
        self._order = np.argsort(pts, kind="stable")
        self._sorted = pts[self._order]
        self._seen = np.zeros(len(pts), dtype=bool)  # in the order of ``_sorted``

    def note(self, batches: Iterable[FrameBatch]) -> Iterator[FrameBatch]:
        """Pass ``batches`` through, flagging each frame's timestamp (and its duplicates) as delivered."""
        for b in batches:
            lo = np.searchsorted(self._sorted, b.pts, side="left")
            hi = np.searchsorted(self._sorted, b.pts, side="right")
            for a, z in zip(lo.tolist(), hi.tolist()):
                self._seen[a:z] = True
            yield b

    def missing(self) -> list[int]:
        """Timestamps of the indexed frames that were not delivered, in the index's order."""
        return self._pts[np.sort(self._order[~self._seen])].tolist()


def _times(pts: Sequence[int], info: VideoInfo) -> tuple[float, ...]:
    return tuple(float((p - info.start_pts) * info.time_base) for p in pts)


@dataclass(frozen=True)
class ImageStats:
    """What upscaling one image did: the model ran at ``scale``, then reduced to ``target`` (a tag) if one was asked."""

    src: Path
    dst: Path
    scale: int
    target: str | None
    device: str
    precision: str
    model_note: str = ""

    def line(self) -> str:
        """The line ``vsr upscale`` prints for this image (with ``model_note`` when the input chose the model)."""
        how = f"{self.target} via x{self.scale}" if self.target is not None else f"x{self.scale}"
        return f"{self.src} -> {self.dst} ({how}, {self.device}, {self.precision})" + (f"; {self.model_note}" if self.model_note else "")


def run_single(
    src: Path,
    dst: Path,
    upscalers: Upscalers,
    encode: EncodeSettings,
    decode: DecodeSettings,
    *,
    overwrite: bool = False,
    progress: bool | Callable[[int], None] = True,
) -> UpscaleStats:
    """Upscale the video ``src`` into ``dst`` in this process, keeping timestamps, audio, subtitles and colour.

    The engine behind :func:`vsr.upscale` and :func:`vsr.upscale_video`: the model
    comes from ``upscalers`` (its factor may depend on the video's size), the
    container from ``dst``'s extension. ``progress`` shows a bar, or is a callable
    receiving the number of frames each time a batch has been encoded.

    Raises:
        InputNotFoundError, InvalidInputError: unreadable input (or damaged, with ``decode.strict``).
        OutputExistsError: ``dst`` exists and ``overwrite`` is false.
        UnsupportedError: an option this input, model or encoder cannot take.
        EncodeError: the encoder or muxer failed.
    """
    t0 = time.perf_counter()
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst}: already exists; pass --overwrite (overwrite=True) to replace it")
    if src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise InvalidInputError(f"{dst}: the output would overwrite the input; choose another output name")
    start, duration = decode.start, decode.duration
    # One run per destination at a time: a second one refuses at once instead of racing the first to the end.
    with destination_lock(dst), VideoReader(
        src, backend=decode.decoder, batch_size=upscalers.read_batch, start=start, duration=duration
    ) as reader:
        info = reader.info
        check_pixels(src, info.width, info.height, decode.max_pixels)
        if info.num_frames_exact and info.num_frames == 0:
            raise no_frames_error(src, decode, info.duration)
        upscaler = upscalers.for_size(info.width, info.height, what=str(src), bits_per_pixel=info.lossy_bits_per_pixel)
        out_w, out_h = upscaler.output_size(info.width, info.height)
        # May measure plans on the first batches; only among those that fit in memory.
        decision = upscaler.prepare(info.width, info.height, info.num_frames or None,
                                    fits=plan_fits(upscaler, info.width, info.height))
        log.info("%s: %s", src, decision.summary())
        writer = VideoWriter(
            dst, width=out_w, height=out_h, source=info, codec=encode.codec, crf=encode.crf, preset=encode.preset,
            pix_fmt=encode.pix_fmt, encoder_options=encode.encoder_options, start=start, duration=duration, overwrite=overwrite,
        )
        bar, report = _progress(progress, info.num_frames, info.num_frames_exact, src.name)
        try:
            delivered = _Delivered(reader)
            frames = upscale_stream(lambda: delivered.note(reader), upscaler, writer, report)
            if decode.strict and info.num_frames_exact and frames != info.num_frames:
                raise damaged_error(src, info.num_frames - frames, info.num_frames)
            if decode.strict and reader.frames_damaged:
                raise InvalidInputError(
                    f"{src}: {reader.frames_damaged} frames decoded with errors (damaged input); "
                    "rerun without --strict to upscale them as they decode"
                )
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
    if info.num_frames_exact:
        warn_if_short(src, frames, info.num_frames)
    elif info.num_frames and start is None and duration is None and frames != info.num_frames:
        log.info("%s: %d frames decoded; the container claims %d", src, frames, info.num_frames)
    return UpscaleStats(
        src=src, dst=dst, frames=frames, frames_expected=info.num_frames, frames_expected_exact=info.num_frames_exact,
        seconds=time.perf_counter() - t0, input_size=(info.width, info.height), output_size=(writer.width, writer.height),
        scale=upscaler.scale, decoder=reader.backend, device=str(upscaler.device), precision=upscaler.precision,
        codec=writer.codec, pix_fmt=writer.pix_fmt, bytes_written=dst.stat().st_size,
        frames_damaged=reader.frames_damaged if reader.backend == "pyav" else None,
        missing_at=_times(delivered.missing(), info) if info.num_frames_exact and frames < (info.num_frames or 0) else (),
        damaged_at=_times(reader.damaged_pts, info),
        model_note=upscalers.variant_note(upscaler.scale, info.lossy_bits_per_pixel),
    )


def no_frames_error(src: Path, decode: DecodeSettings, video_duration: float | None) -> InvalidInputError:
    """The error for a ``start``/``duration`` window that holds no frame."""
    lasts = f"; the video lasts {video_duration:.2f} s" if video_duration else ""
    return InvalidInputError(
        f"{src}: no frames from {decode.start or 0:g} s for {decode.duration or 'the rest'} s{lasts}; check --start/--duration"
    )


def damaged_error(src: Path, missing: int, total: int) -> InvalidInputError:
    """The error of a ``strict`` run when ``missing`` of the ``total`` frames the input indexes could not be decoded."""
    return InvalidInputError(
        f"{src}: {missing} of {total} frames could not be decoded (damaged input); "
        "rerun without --strict to upscale the frames that decode"
    )


def warn_if_short(src: Path, frames: int, total: int) -> None:
    """Log a warning when fewer than the ``total`` frames the input indexes were written."""
    if frames != total:
        log.warning("%s: wrote %d frames but the file indexes %d; some frames could not be decoded", src, frames, total)


def upscale_stream(
    batches: Callable[[], Iterable[FrameBatch]],
    upscaler: Upscaler,
    writer: VideoWriter,
    report: Callable[[int], None] = lambda n: None,
    *,
    after_batch: Callable[[], None] | None = None,
) -> int:
    """Run decode thread -> ``upscaler`` (calling thread) -> encode thread into ``writer``; return the frames written.

    ``batches`` is called in the decode thread and returns the batches to upscale
    (e.g. a :class:`VideoReader` or ``reader.iter_frames(a, b)``). ``report`` gets
    the frame count of each encoded batch (in the encode thread); ``after_batch``
    is called in the calling thread after each batch is handed to the encoder.
    The writer is finished but neither closed nor aborted: the caller publishes
    (:meth:`VideoWriter.close`) or discards (:meth:`VideoWriter.abort`) the file.
    """

    def encode(items: Iterator[FrameBatch]) -> int:
        for b in items:
            writer.write(b.frames, b.pts, b.durations)
            report(len(b))
        writer.finish()
        return writer.frames_written

    with Prefetcher(batches, maxsize=_QUEUE_BATCHES, name="vsr-decode") as decoded:
        with Sink(encode, maxsize=_QUEUE_BATCHES, name="vsr-encode") as sink:
            for batch in decoded:
                sink.put(FrameBatch(upscaler(batch.frames), batch.pts, batch.durations, batch.index))
                if after_batch is not None:
                    after_batch()
            return sink.finish()


def _progress(progress: bool | Callable[[int], None], total: int | None, exact: bool, name: str) -> tuple[Any, Callable[[int], None]]:
    """A tqdm bar (or the caller's callback) and a thread-safe function to advance it."""
    if callable(progress):
        return None, progress
    if not progress:
        return None, lambda n: None
    from tqdm import tqdm

    fmt = "{l_bar}{bar}| {n_fmt}/" + ("" if exact else "~") + "{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
    bar = tqdm(total=total, unit="frame", desc=name, dynamic_ncols=True, bar_format=fmt if total else None)
    lock = threading.Lock()

    def report(n: int) -> None:
        with lock:
            bar.update(n)

    return bar, report


def upscale_array(img: np.ndarray, upscaler: Upscaler) -> np.ndarray:
    """Upscale a uint8 grey/RGB/RGBA array; the layout of the result matches the input."""
    if img.ndim == 2:
        rgb = upscaler(np.repeat(img[:, :, None], 3, axis=2))
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if img.shape[2] == 4:
        rgb = upscaler(np.ascontiguousarray(img[:, :, :3]))
        alpha = cv2.resize(img[:, :, 3], upscaler.output_size(img.shape[1], img.shape[0]), interpolation=cv2.INTER_CUBIC)
        return np.concatenate([rgb, alpha[:, :, None]], axis=2)
    return upscaler(img)


def upscale_image(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    upscalers: Upscalers,
    *,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ImageStats:
    """Read ``src``, upscale it, write ``dst`` (never a half-written file).

    Inputs above ``max_pixels`` (width x height) are refused before decoding.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst}: output exists; pass --overwrite to replace it")
    img = read_image(src, max_pixels=max_pixels)
    quality = jpeg_quality(src)
    up = upscalers.for_size(img.shape[1], img.shape[0], what=str(src), jpeg_quality=quality)
    out = write_image(dst, upscale_array(img, up), overwrite=overwrite)
    target = upscalers.settings.target
    return ImageStats(src, out, up.scale, target.tag if target is not None else None, str(up.device), up.precision,
                      model_note=upscalers.variant_note(up.scale, None, quality))
