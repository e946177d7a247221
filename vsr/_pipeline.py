"""Upscale a whole video: decode thread -> Upscaler (calling thread) -> encode thread.

::

    decode thread   VideoReader batches (uint8 RGB + pts)  -> bounded queue
    calling thread  Upscaler (device, precision, batching) -> bounded queue
    encode thread   VideoWriter: RGB -> YUV, encode, mux + copied audio/subtitles

Both queues hold at most ``_QUEUE_BATCHES`` batches, so memory does not depend
on the length of the video. An exception in any stage, or Ctrl-C, stops the
other two, joins their threads, deletes the partial output and re-raises; the
destination only ever holds a complete file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from vsr._files import destination_lock
from vsr._device import Precision
from vsr._prefetch import Prefetcher, Sink
from vsr._target import Target, choose_model_scale
from vsr.errors import InvalidInputError, OutputExistsError
from vsr._upscaler import Upscaler
from vsr.io import DEFAULT_MAX_PIXELS, Backend, FrameBatch, VideoReader, VideoWriter, check_pixels, read_image, write_image
from vsr.models import model_scales

__all__ = ["UpscaleStats", "upscale_video", "upscale_stream", "default_output_path", "upscale_array", "upscale_image"]

log = logging.getLogger(__name__)

#: Batches waiting between stages (each side).
_QUEUE_BATCHES = 2


@dataclass(frozen=True)
class UpscaleStats:
    """What :func:`upscale_video` did.

    ``frames_expected`` is the frame count known before decoding (exact when
    ``frames_expected_exact``); ``seconds`` is the wall time of the whole call.
    ``frames_damaged`` counts frames decoded with errors (PyAV's decoder; ``None``
    when decord decoded, which does not tell).
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
            notes.append(f"{self.frames_missing} of {self.frames_expected} frames could not be decoded")
        if self.frames_damaged:
            notes.append(f"{self.frames_damaged} frames decoded with errors (may show glitches)")
        return f"; damaged input: {', '.join(notes)}; --strict refuses it" if notes else ""

    def summary(self) -> str:
        """One line: frames, speed, output path and size, and frames lost to damage if any."""
        w, h = self.output_size
        return (
            f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps) -> {self.dst} "
            f"({w}x{h}, {self.codec}, {self.bytes_written / 1e6:.1f} MB){self.damage_note()}"
        )


def default_output_path(src: str | os.PathLike[str], scale: int | str) -> Path:
    """``<stem>_x<scale><ext>`` next to the input; a string ``scale`` is used as the suffix itself (``1920x1080``)."""
    p = Path(src)
    tag = scale if isinstance(scale, str) else f"x{scale}"
    return p.with_name(f"{p.stem}_{tag}{p.suffix}")


def upscale_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    scale: int | None,
    model: nn.Module | str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    precision: Precision | str = "auto",
    batch_size: int = 4,
    tile: int | None = None,
    self_ensemble: bool = False,
    target: Target | None = None,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str = "yuv420p",
    encoder_options: Mapping[str, str] | None = None,
    decoder: Backend = "auto",
    start: float | None = None,
    duration: float | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int], None] = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    strict: bool = False,
) -> UpscaleStats:
    """Upscale the video ``src`` by ``scale`` into ``dst``, keeping timestamps, audio, subtitles and colour.

    Args:
        src: input video file.
        dst: output file; its extension picks the container (.mp4, .mkv, .mov, .webm).
        scale: 2, 3 or 4 (what the model supports): the factor the model runs at;
            ``None`` with a ``target`` picks the smallest one that reaches it.
        model: a module, a bundled or official model name or a checkpoint path;
            ``None`` uses the bundled default for the scale.
        device, precision, batch_size, tile, self_ensemble: see :class:`vsr.Upscaler`.
        target: an exact output size or fractional scale (:class:`vsr.Target`); the
            model output is reduced to it with an area filter, frame by frame.
        codec, crf, preset, pix_fmt, encoder_options: see :class:`vsr.io.VideoWriter`
            (defaults: libx264, crf 18, preset medium, yuv420p).
        decoder: ``auto``, ``decord`` or ``pyav`` (see :class:`vsr.io.VideoReader`).
        start, duration: the part of the input to upscale, in seconds.
        overwrite: replace ``dst`` if it exists.
        progress: show a progress bar, or a callable receiving the number of
            frames each time a batch has been encoded.
        max_pixels: refuse frames larger than this (width x height) before decoding any.
        strict: fail (with nothing written) when frames the input indexes could not be
            decoded, instead of writing the frames that could.

    Returns:
        :class:`UpscaleStats`.

    Raises:
        InputNotFoundError, InvalidInputError: unreadable input.
        OutputExistsError: ``dst`` exists and ``overwrite`` is false.
        UnsupportedError: an option this input, model or encoder cannot take.
        EncodeError: the encoder or muxer failed.
    """
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst}: already exists; pass --overwrite (overwrite=True) to replace it")
    if src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise InvalidInputError(f"{dst}: the output would overwrite the input; choose another output name")
    # One run per destination at a time: a second one refuses at once instead of racing the first to the end.
    with destination_lock(dst), VideoReader(src, backend=decoder, batch_size=batch_size, start=start, duration=duration) as reader:
        info = reader.info
        check_pixels(src, info.width, info.height, max_pixels)
        if info.num_frames_exact and info.num_frames == 0:
            lasts = f"; the video lasts {info.duration:.2f} s" if info.duration else ""
            raise InvalidInputError(f"{src}: no frames from {start or 0:g} s for {duration or 'the rest'} s{lasts}; check --start/--duration")
        scale = choose_model_scale(scale, target, info.width, info.height, model_scales(model) if isinstance(model, nn.Module) else (), what=str(src))
        if model is None:
            from vsr.models import default_model_name

            model = default_model_name(scale)
        upscaler = Upscaler(
            model, scale=scale, device=device, precision=precision, batch_size=batch_size, tile=tile, self_ensemble=self_ensemble,
            target=target,
        )
        out_w, out_h = upscaler.output_size(info.width, info.height)
        writer = VideoWriter(
            dst,
            width=out_w,
            height=out_h,
            source=info,
            codec=codec,
            crf=crf,
            preset=preset,
            pix_fmt=pix_fmt,
            encoder_options=encoder_options,
            start=start,
            duration=duration,
            overwrite=overwrite,
        )
        bar, report = _progress(progress, info.num_frames, info.num_frames_exact, src.name)
        try:
            frames = upscale_stream(lambda: reader, upscaler, writer, report)
            if strict and info.num_frames_exact and frames != info.num_frames:
                raise InvalidInputError(
                    f"{src}: {info.num_frames - frames} of {info.num_frames} frames could not be decoded (damaged input); "
                    "rerun without --strict to upscale the frames that decode"
                )
            if strict and reader.frames_damaged:
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
    if info.num_frames_exact and frames != info.num_frames:
        log.warning("%s: wrote %d frames but the file indexes %d; some frames could not be decoded", src, frames, info.num_frames)
    elif not info.num_frames_exact and info.num_frames and start is None and duration is None and frames != info.num_frames:
        log.info("%s: %d frames decoded; the container claims %d", src, frames, info.num_frames)
    return UpscaleStats(
        src=src,
        dst=dst,
        frames=frames,
        frames_expected=info.num_frames,
        frames_expected_exact=info.num_frames_exact,
        seconds=time.perf_counter() - t0,
        input_size=(info.width, info.height),
        output_size=(writer.width, writer.height),
        scale=scale,
        decoder=reader.backend,
        device=str(upscaler.device),
        precision=upscaler.precision,
        codec=writer.codec,
        pix_fmt=writer.pix_fmt,
        bytes_written=dst.stat().st_size,
        frames_damaged=reader.frames_damaged if reader.backend == "pyav" else None,
    )


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
    upscaler: Upscaler,
    *,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Path:
    """Read ``src``, upscale it, write ``dst`` (never a half-written file); returns ``dst``.

    Inputs above ``max_pixels`` (width x height) are refused before decoding.
    """
    d = Path(dst)
    if d.exists() and not overwrite:
        raise OutputExistsError(f"{d}: output exists; pass --overwrite to replace it")
    return write_image(d, upscale_array(read_image(src, max_pixels=max_pixels), upscaler), overwrite=overwrite)
