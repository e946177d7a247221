"""Encode RGB uint8 frames with PyAV, carrying over everything else from the source file.

What :class:`VideoWriter` keeps from the source (given as ``source=reader.info``):

* video timestamps: each frame is encoded with its source ``pts`` in the source's
  ``time_base``, so variable frame rate and the stream's start offset survive;
* colour: RGB is converted back to YUV with the matrix and range the reader used,
  and the output is tagged with them plus the source's primaries and transfer;
* display rotation, sample aspect ratio, stream language/title, container
  metadata and chapters;
* every audio, subtitle and attachment stream, packet for packet (no re-encode),
  interleaved with the video as it is written. When the output container cannot
  hold a stream's codec, audio is re-encoded (AAC, or Opus for WebM) and
  subtitles and attachments are skipped, each with a warning. Data streams
  (e.g. timecode tracks) are not copied.

Odd sizes: 4:2:0 and 4:2:2 pixel formats need even dimensions, so the last column
and/or row of an odd-sized frame is **cropped** (at most 1 output pixel; never
padded, so no invented pixels appear at the edge).

The file is written as an unnamed file in the destination folder (a locked hidden
``.partial`` file where the file system cannot; see :mod:`vsr._core._files`) and
given its name only by :meth:`VideoWriter.close` after the encoder is flushed;
:meth:`VideoWriter.abort` (or leaving the ``with`` block on an exception) throws
it away, and so does a kill.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Interpolation

from vsr._core import AtomicFile
from vsr.errors import EncodeError, InvalidInputError, OutputExistsError, UnsupportedError
from vsr.io._codecs import CODECS, CONTAINERS, check_container, codec_name, default_codec, encoder_settings, has_encoder, subsampling
from vsr.io._copies import AudioReencoder, StreamCopy, fresh_metadata
from vsr.io._probe import VideoInfo, guess_matrix, matrix_value, primaries_value, range_value, sws_matrix, trc_value

__all__ = ["VideoWriter"]

log = logging.getLogger(__name__)

#: Container metadata the muxer writes itself.
_MUXER_KEYS = {"encoder", "major_brand", "minor_version", "compatible_brands"}

class VideoWriter:
    """Write RGB uint8 frames to a video file (PyAV), copying the source's other streams.

    Args:
        path: destination; the extension picks the container (``.mp4``, ``.m4v``,
            ``.mov``, ``.mkv``, ``.webm``).
        width, height: frame size of the frames passed to :meth:`write`. Odd sizes
            are cropped to even for subsampled pixel formats (see the module notes);
            :attr:`width`/:attr:`height` give the encoded size.
        source: the input's :class:`VideoInfo`; its timestamps' time base, colour
            tags, rotation and metadata are carried over, and, with ``copy_streams``,
            its audio/subtitle/attachment streams and chapters.
        fps: nominal frame rate (default: the source's); required without a source.
        codec: an FFmpeg video encoder (default :func:`default_codec`).
        crf: quality for the encoder's constant-quality mode (lower is better;
            default per codec, 18 for libx264). ``cq`` for NVENC.
        preset: the encoder's speed preset (default ``medium`` for x264/x265).
        pix_fmt: output pixel format, e.g. ``yuv420p`` or ``yuv420p10le``.
        encoder_options: extra FFmpeg encoder options, e.g. ``{"tune": "film"}``.
        copy_streams: copy the source's non-video streams, chapters and metadata.
        container: an FFmpeg muxer to use instead of the one the extension picks,
            e.g. ``nut``, which keeps any time base exactly (the extension is then free).
        start, duration: the window of the source (seconds from its start) that the
            frames come from: copied packets outside it are dropped and all
            timestamps move back by ``start``.
        overwrite: replace an existing destination (on success only).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        source: VideoInfo | None = None,
        fps: Fraction | float | None = None,
        codec: str | None = None,
        crf: int | None = None,
        preset: str | None = None,
        pix_fmt: str = "yuv420p",
        encoder_options: Mapping[str, str] | None = None,
        copy_streams: bool = True,
        start: float | None = None,
        duration: float | None = None,
        overwrite: bool = False,
        container: str | None = None,
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if container is None and suffix not in CONTAINERS:
            raise UnsupportedError(f"{self.path}: unsupported output extension {suffix or '(none)'!r}; use one of {', '.join(CONTAINERS)}")
        if self.path.exists() and not overwrite:
            raise OutputExistsError(f"{self.path}: already exists; pass --overwrite (overwrite=True) to replace it")
        if self.path.is_dir():
            raise OutputExistsError(f"{self.path}: is a folder; give a file name")
        if not self.path.parent.is_dir():
            raise InvalidInputError(f"{self.path}: the folder {self.path.parent} does not exist")
        if width < 1 or height < 1:
            raise InvalidInputError(f"frame size must be positive, got {width}x{height}")
        if fps is None and source is not None:
            fps = source.fps
        if fps is None and (source is None or source.time_base is None):
            raise UnsupportedError("fps is required when there is no source video to take timestamps from")
        self.codec = codec or default_codec(self.path)
        self.pix_fmt = pix_fmt
        self.source = source
        self.fps = Fraction(fps).limit_denominator(1_000_000) if fps else None
        self.time_base = source.time_base if source is not None else Fraction(1) / self.fps  # type: ignore[operator]
        self._container = container
        self._format = container or CONTAINERS[suffix]
        sub_w, sub_h = self._check_codec()
        self.width, self.height = width - width % sub_w, height - height % sub_h
        if self.width < 1 or self.height < 1:
            raise UnsupportedError(f"{width}x{height} frames are too small for {pix_fmt}")
        if (self.width, self.height) != (width, height):
            log.info("%s: cropping %dx%d frames to %dx%d (%s needs multiples of %dx%d)", self.path, width, height, self.width, self.height, pix_fmt, sub_w, sub_h)
        self._in_width, self._in_height = width, height
        self._options = self._encoder_options(crf, preset, encoder_options)
        self._shift_s = Fraction(start or 0)
        origin = None if source is None else source.start_pts * source.time_base
        self._window = (
            None if origin is None or not start else origin + self._shift_s,
            None if origin is None or duration is None else origin + self._shift_s + Fraction(duration),
        )
        self._durations: dict[int, int] = {}
        self.frames_written = 0
        self._last_pts: int | None = None
        self._closed = False
        self._finished = False
        self._file = AtomicFile(self.path, overwrite=overwrite)
        self._side: av.container.InputContainer | None = None
        self._copies: dict[int, StreamCopy] = {}
        self._pending: av.Packet | None = None
        self._side_packets: Iterator[av.Packet] | None = None
        try:
            self._out = av.open(self._file.path, "w", format=self._format)
            self._setup_video()
            if source is not None and copy_streams:
                self._setup_copies(source)
        except BaseException:
            self.abort()
            raise

    @property
    def tmp_path(self) -> Path:
        """Where the data are being written: ``/proc/self/fd/N`` for an unnamed file, else the hidden partial file."""
        return Path(self._file.path)

    # ------------------------------------------------------------------ setup
    def _check_codec(self) -> tuple[int, int]:
        try:
            enc = av.codec.Codec(self.codec, "w")
        except (av.error.FFmpegError, ValueError):
            raise UnsupportedError(f"unknown video encoder {self.codec!r}; known here: {', '.join(c for c in CODECS if has_encoder(c))}") from None
        if enc.type != "video":
            raise UnsupportedError(f"{self.codec!r} is a {enc.type} encoder; pass a video encoder such as libx264")
        check_container(self.path, self.codec, container=self._container)
        formats = [f.name for f in (enc.video_formats or [])]
        try:
            av.video.format.VideoFormat(self.pix_fmt)
        except (ValueError, TypeError):
            raise UnsupportedError(f"unknown pixel format {self.pix_fmt!r}; e.g. yuv420p, yuv420p10le, yuv444p") from None
        if formats and self.pix_fmt not in formats:
            raise UnsupportedError(f"{self.codec} cannot encode {self.pix_fmt}; it supports {', '.join(formats)}")
        return subsampling(self.pix_fmt)

    def _encoder_options(self, crf: int | None, preset: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        return encoder_settings(self.codec, crf=crf, preset=preset, encoder_options=extra)

    def _setup_video(self) -> None:
        stream = self._out.add_stream(self.codec, rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, self.pix_fmt
        stream.time_base = self.time_base
        cc = stream.codec_context
        cc.time_base = self.time_base
        if self.fps:
            cc.framerate = self.fps
        cc.options = dict(self._options)
        self._tag_video(stream)
        self._video = stream

    def _tag_video(self, stream: Any) -> None:
        """Choose the RGB->YUV conversion, and tag ``stream`` with colour, rotation, aspect ratio and metadata."""
        src = self.source
        cc = stream.codec_context
        fmt = av.video.format.VideoFormat(self.pix_fmt)
        self._rgb_out = fmt.is_rgb or self.pix_fmt.startswith("gray")
        if src is not None:
            matrix, crange = src.colorspace, src.color_range
            primaries, trc = src.color_primaries, src.color_trc
        else:
            matrix, crange, primaries, trc = guess_matrix(self.width, self.height), "limited", "unspecified", "unspecified"
        if matrix == "rgb" and not self._rgb_out:
            # An RGB source encoded to YUV: use the matrix players assume for this size.
            matrix, crange = guess_matrix(self.width, self.height), "limited"
        if self.pix_fmt.startswith("yuvj"):
            crange = "full"
        self.colorspace, self.color_range = ("rgb", "full") if self._rgb_out else (matrix, crange)
        # Rounded rather than truncated RGB->YUV: the fast default is biased by up to half a level.
        self._reformat: dict[str, Any] = {"interpolation": Interpolation.BILINEAR | Interpolation.ACCURATE_RND}
        if not self._rgb_out:
            sws = sws_matrix(matrix)
            if sws is not None:
                self._reformat["dst_colorspace"] = sws
            self._reformat["dst_color_range"] = ColorRange.JPEG if crange == "full" else ColorRange.MPEG
            cc.colorspace = matrix_value(matrix)
            cc.color_range = range_value(crange)
        else:
            cc.colorspace = 0
            cc.color_range = 2
        cc.color_primaries = primaries_value(primaries)
        cc.color_trc = trc_value(trc)
        if src is not None:
            if src.rotation:
                stream.set_display_rotation(src.rotation)
            if src.sample_aspect_ratio and src.sample_aspect_ratio != 1:
                cc.sample_aspect_ratio = src.sample_aspect_ratio
            stream.metadata.update(fresh_metadata(src.metadata))
            if src.is_hdr:
                log.warning(
                    "%s: HDR source (%s): colour tags are carried over, but processing is 8-bit and mastering metadata "
                    "is not copied; use --pix-fmt yuv420p10le to limit banding",
                    src.path,
                    src.color_trc,
                )

    def _setup_copies(self, source: VideoInfo) -> None:
        side = av.open(os.fspath(source.path), "r")
        self._side = side
        meta = {k: v for k, v in side.metadata.items() if k.lower() not in _MUXER_KEYS}
        self._out.metadata.update(meta)
        supported = self._out.supported_codecs
        fmt = self._format
        for s in side.streams:
            if s.type == "video" and s.index == side.streams.video[0].index:
                continue
            name = codec_name(s)
            if s.type == "audio":
                if name in supported:
                    out = self._out.add_stream_from_template(s)
                    self._copies[s.index] = StreamCopy(s, out, None)
                else:
                    enc_name = "libopus" if fmt == "webm" else "aac"
                    log.warning("%s: %s cannot hold %s audio (stream %d); re-encoding it to %s", self.path, fmt, name, s.index, enc_name)
                    self._copies[s.index] = StreamCopy(s, *self._audio_encoder(s, enc_name))
            elif s.type in ("subtitle", "attachment"):
                if (s.type == "subtitle" and name in supported) or (s.type == "attachment" and fmt == "matroska"):
                    out = self._out.add_stream_from_template(s)
                    self._copies[s.index] = StreamCopy(s, out, None)
                else:
                    log.warning("%s: %s cannot hold the %s %s stream %d; skipped (use .mkv to keep it)", self.path, fmt, name or "", s.type, s.index)
                    continue
            else:
                log.info("%s: %s stream %d (%s) not copied", self.path, s.type, s.index, name)
                continue
            out_s = self._copies[s.index].out
            out_s.metadata.update(fresh_metadata(s.metadata))
            try:
                out_s.disposition = s.disposition
            except (AttributeError, TypeError, ValueError):
                pass
        chapters = []
        lo, hi = self._window
        for ch in side.chapters():
            tb = ch["time_base"]
            start, end = ch["start"] * tb, ch["end"] * tb
            if (lo is not None and end <= lo) or (hi is not None and start >= hi):
                continue
            shift = int(round(self._shift_s / tb))
            chapters.append({**ch, "start": max(0, ch["start"] - shift), "end": max(0, ch["end"] - shift)})
        if chapters:
            self._out.set_chapters(chapters)
        copy_streams = [c.src for c in self._copies.values()]
        if copy_streams:
            if lo is not None and lo > 0:
                side.seek(int(lo / Fraction(1, av.time_base)), backward=True)
            self._side_packets = side.demux(copy_streams)
        else:
            side.close()
            self._side = None

    def _audio_encoder(self, s: Any, enc_name: str) -> tuple[Any, AudioReencoder]:
        out = self._out.add_stream(enc_name, rate=48000 if enc_name == "libopus" else s.codec_context.sample_rate)
        out.layout = s.codec_context.layout.name if s.codec_context.layout else "stereo"
        return out, AudioReencoder(s, out)

    # ------------------------------------------------------------------ writing
    def write(self, frames: np.ndarray, pts: Sequence[int] | None = None, durations: Sequence[int] | None = None) -> None:
        """Encode frames ``N x H x W x 3`` (or one ``H x W x 3``) uint8 RGB.

        ``pts`` are in :attr:`time_base` (the source's); without them frames follow
        the last one at the nominal rate. ``durations`` (same units, 0 = unknown)
        set each packet's duration.
        """
        if self._closed or self._finished:
            raise EncodeError(f"{self.path}: write() after finish(), close() or abort()")
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise InvalidInputError(f"expected uint8 RGB frames N x H x W x 3, got {frames.dtype} {tuple(frames.shape)}")
        if frames.shape[1:3] != (self._in_height, self._in_width):
            raise InvalidInputError(f"expected {self._in_width}x{self._in_height} frames, got {frames.shape[2]}x{frames.shape[1]}")
        n = frames.shape[0]
        if pts is None:
            step = int(round(1 / (self.fps * self.time_base))) if self.fps else 1
            first = 0 if self._last_pts is None else self._last_pts + step
            pts = [first + i * step for i in range(n)]
        if len(pts) != n or (durations is not None and len(durations) != n):
            raise InvalidInputError(f"{n} frames but {len(pts)} pts" + ("" if durations is None else f" and {len(durations)} durations"))
        shift = int(round(self._shift_s / self.time_base))
        if self._in_width != self.width or self._in_height != self.height:
            frames = frames[:, : self.height, : self.width]
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            frame = frame.reformat(format=self.pix_fmt, **self._reformat)
            frame.pts = int(pts[i]) - shift
            frame.time_base = self.time_base
            if durations is not None and durations[i]:
                # Not every encoder passes frame durations on (libx264 does not): set them on the packets.
                self._durations[frame.pts] = int(durations[i])
            self._encode(frame)
            self._last_pts = int(pts[i])
            self.frames_written += 1

    def _encode(self, frame: av.VideoFrame | None) -> None:
        try:
            packets = self._video.encode(frame)
        except av.error.FFmpegError as e:
            hint = "; NVENC needs an NVIDIA GPU and driver, use --codec libx264" if "nvenc" in self.codec else ""
            raise EncodeError(f"{self.path}: {self.codec} failed to encode frame {self.frames_written} ({e}){hint}") from None
        if frame is not None and self.frames_written == 0:
            self._check_opened()
        for p in packets:
            if not p.duration and p.pts is not None:
                p.duration = self._durations.pop(p.pts, 0)
            else:
                self._durations.pop(p.pts, None)
            if p.dts is not None:
                self._copy_until(p.dts * p.time_base + self._shift_s)
            self._mux(p)

    def _check_opened(self) -> None:
        got = self._video.codec_context.pix_fmt
        if got != self.pix_fmt:
            raise EncodeError(f"{self.path}: {self.codec} fell back to {got} instead of {self.pix_fmt}; choose another --pix-fmt or --codec")

    def _mux(self, packet: av.Packet) -> None:
        try:
            self._out.mux(packet)
        except av.error.FFmpegError as e:
            raise EncodeError(f"{self.path}: writing failed ({e})") from None

    def _copy_until(self, t: Fraction | None) -> None:
        """Mux the source's other packets up to source time ``t`` seconds (``None`` = all)."""
        if self._side_packets is None:
            return
        lo, hi = self._window
        while True:
            p = self._pending
            if p is None:
                try:
                    p = next(self._side_packets)
                except StopIteration:
                    self._side_packets = None
                    return
                except av.error.FFmpegError as e:
                    log.warning("%s: stopped copying audio/subtitles at a damaged packet (%s)", self.source.path if self.source else "", e)
                    self._side_packets = None
                    return
            if p.size == 0:
                self._pending = None
                continue
            ts = p.dts if p.dts is not None else p.pts
            when = None if ts is None else ts * p.time_base
            if t is not None and when is not None and when > t:
                self._pending = p
                return
            self._pending = None
            at = None if p.pts is None else p.pts * p.time_base
            if at is not None and ((lo is not None and at < lo) or (hi is not None and at >= hi)):
                continue
            copy = self._copies[p.stream.index]
            shift = int(round(self._shift_s / p.time_base))
            if shift:
                if p.pts is not None:
                    p.pts -= shift
                if p.dts is not None:
                    p.dts -= shift
            if copy.reencoder is not None:
                for q in copy.reencoder.push(p):
                    self._mux(q)
            else:
                p.stream = copy.out
                self._mux(p)

    # ------------------------------------------------------------------ finishing
    def finish(self) -> None:
        """Flush the encoder, copy the remaining packets and complete the file, still under its temporary name.

        :meth:`close` then publishes it; a pipeline can finish in its encoding
        thread and publish from the caller once nothing else can fail.
        """
        if self._finished:
            return
        if self._closed:
            raise EncodeError(f"{self.path}: the writer was aborted")
        try:
            if self.frames_written == 0:
                raise EncodeError(f"{self.path}: no frames were written")
            self._encode(None)
            self._copy_until(None)
            for c in self._copies.values():
                if c.reencoder is not None:
                    for q in c.reencoder.flush():
                        self._mux(q)
            self._close_containers()
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def close(self) -> None:
        """:meth:`finish` the file and give it its name (the destination)."""
        if self._closed:
            return
        self.finish()
        self._closed = True
        # Without overwrite, a run that finished the same destination meanwhile wins: OutputExistsError here.
        self._file.commit()

    def abort(self) -> None:
        """Stop writing and throw the file away; the destination is left untouched."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close_containers()
        except Exception:  # noqa: BLE001 - the file is being thrown away
            pass
        file = getattr(self, "_file", None)
        if file is not None:
            file.abort()

    def _close_containers(self) -> None:
        out, side = getattr(self, "_out", None), self._side
        self._out = None  # type: ignore[assignment]
        self._side = None
        self._side_packets = None
        try:
            if out is not None:
                out.close()
        finally:
            if side is not None:
                side.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return f"VideoWriter({str(self.path)!r}, {self.width}x{self.height}, {self.codec}, {self.pix_fmt}, frames={self.frames_written})"
