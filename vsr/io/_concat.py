"""Join segment files into one video by stream copy: no second encode, the source's other streams copied once.

A long video can be upscaled in pieces (one process per piece, or one piece at a
time so that a crash loses little): each piece is encoded into a *segment* file
that holds only video, with the source's timestamps. :func:`join_segments` then
copies the segments' video packets, in order, into the final file and copies
audio, subtitles, attachments, chapters and metadata from the source exactly as
:class:`~vsr.io.VideoWriter` does for a single-piece run, interleaved with the
video. Nothing is decoded or encoded again.

Every segment starts with a keyframe (each was encoded by a fresh encoder), so
the joined stream decodes exactly as the segments do. Presentation timestamps
are the segments' own, each segment moved by a constant when the caller says
where its first frame belongs (a muxer may have shifted a whole segment file to
avoid negative decoding timestamps). Decoding timestamps are made up anew: each
encoder delays its own by however far its first frames are reordered, which for
variable frame rate differs from segment to segment and would make them go
backwards at a border. The joined stream gets ``dts[i]`` = the ``(i - depth)``-th
smallest pts, where ``depth`` is the largest reordering distance of any segment
(what x264 itself does for constant frame rate).
"""

from __future__ import annotations

import hashlib
import heapq
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vsr.errors import EncodeError, InvalidInputError
from vsr.io._probe import VideoInfo
from vsr.io._codecs import check_container, codec_name
from vsr.io._writer import VideoWriter

__all__ = ["SegmentInfo", "probe_segment", "join_segments"]


@dataclass(frozen=True)
class SegmentInfo:
    """The video stream of one segment file, as :func:`probe_segment` found it.

    ``first_pts``/``last_pts`` (in ``time_base``) are the smallest and largest
    presentation timestamps; ``reorder_depth`` is how many packets at most a frame
    is decoded after the frames shown before it (0 without B-frames).
    """

    path: Path
    codec: str
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    packets: int
    first_pts: int
    last_pts: int
    first_duration: int
    reorder_depth: int
    extradata_sha256: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the path as a string, the time base as ``"num/den"``)."""
        return {
            "path": str(self.path),
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "pix_fmt": self.pix_fmt,
            "time_base": f"{self.time_base.numerator}/{self.time_base.denominator}",
            "packets": self.packets,
            "first_pts": self.first_pts,
            "last_pts": self.last_pts,
            "first_duration": self.first_duration,
            "reorder_depth": self.reorder_depth,
            "extradata_sha256": self.extradata_sha256,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SegmentInfo:
        """The inverse of :meth:`to_dict`; raises ``KeyError``/``ValueError`` on a malformed dict."""
        return cls(
            path=Path(d["path"]),
            codec=str(d["codec"]),
            width=int(d["width"]),
            height=int(d["height"]),
            pix_fmt=str(d["pix_fmt"]),
            time_base=Fraction(d["time_base"]),
            packets=int(d["packets"]),
            first_pts=int(d["first_pts"]),
            last_pts=int(d["last_pts"]),
            first_duration=int(d["first_duration"]),
            reorder_depth=int(d["reorder_depth"]),
            extradata_sha256=str(d["extradata_sha256"]),
        )


def _open_segment(path: Path) -> av.container.InputContainer:
    try:
        return av.open(os.fspath(path), "r")
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise InvalidInputError(f"{path}: unreadable segment file ({reason}); delete it and rerun with --resume") from None


def probe_segment(path: str | os.PathLike[str]) -> SegmentInfo:
    """Demux (without decoding) the video packets of a segment file and describe them.

    Raises:
        InvalidInputError: the file is unreadable, has no video or no timestamps.
    """
    path = Path(path)
    pts: list[int] = []
    first_duration = 0
    with _open_segment(path) as c:
        if not c.streams.video:
            raise InvalidInputError(f"{path}: segment file has no video stream; delete it and rerun with --resume")
        s = c.streams.video[0]
        cc = s.codec_context
        try:
            for p in c.demux(s):
                if p.size == 0:
                    continue
                if p.pts is None:
                    raise InvalidInputError(f"{path}: segment packet {len(pts)} has no timestamp; delete it and rerun with --resume")
                if not pts:
                    first_duration = int(p.duration or 0)
                pts.append(int(p.pts))
        except av.error.FFmpegError as e:
            raise InvalidInputError(f"{path}: damaged segment after {len(pts)} packets ({e}); delete it and rerun with --resume") from None
        info = dict(
            codec=codec_name(s),
            width=int(cc.width),
            height=int(cc.height),
            pix_fmt=str(cc.pix_fmt or ""),
            time_base=Fraction(s.time_base),
            extradata_sha256=hashlib.sha256(bytes(cc.extradata or b"")).hexdigest(),
        )
    if not pts:
        raise InvalidInputError(f"{path}: segment file holds no video packets; delete it and rerun with --resume")
    rank = {p: i for i, p in enumerate(sorted(pts))}
    depth = max(0, max(d - rank[p] for d, p in enumerate(pts)))
    return SegmentInfo(
        path=path,
        packets=len(pts),
        first_pts=min(pts),
        last_pts=max(pts),
        first_duration=first_duration,
        reorder_depth=depth,
        **info,  # type: ignore[arg-type]
    )


def _offsets(segments: Sequence[SegmentInfo], source: VideoInfo, first_pts: Sequence[int] | None, start: float | None) -> list[int]:
    """Per segment, what to add to its timestamps so that its first frame lands on ``first_pts`` (source time base)."""
    if first_pts is None:
        return [0] * len(segments)
    if len(first_pts) != len(segments):
        raise ValueError(f"{len(segments)} segments but {len(first_pts)} first_pts")
    shift = int(round(Fraction(start or 0) / source.time_base))  # as the segments' VideoWriter moved them
    out = []
    for seg, pts in zip(segments, first_pts):
        want = (pts - shift) * source.time_base / seg.time_base
        if want.denominator != 1:
            raise EncodeError(f"{seg.path}: its time base {seg.time_base} cannot hold the source's timestamp {pts} x {source.time_base} exactly")
        out.append(int(want) - seg.first_pts)
    return out


def _check_joinable(segments: Sequence[SegmentInfo], offsets: Sequence[int]) -> None:
    first = segments[0]
    for k in range(1, len(segments)):
        prev, seg = segments[k - 1], segments[k]
        for field, label in (
            ("codec", "codec"),
            ("width", "width"),
            ("height", "height"),
            ("pix_fmt", "pixel format"),
            ("time_base", "time base"),
            ("extradata_sha256", "codec header (extradata)"),
        ):
            a, b = getattr(first, field), getattr(seg, field)
            if a != b:
                raise EncodeError(
                    f"{seg.path}: cannot be joined to {first.path.name} by stream copy: its {label} differs ({b} vs {a}); "
                    "the segments were made with different settings, delete the segment folder and rerun"
                )
        if seg.first_pts + offsets[k] <= prev.last_pts + offsets[k - 1]:
            raise EncodeError(f"{seg.path}: starts before {prev.path.name} ends; the segments overlap")


class _SegmentJoiner(VideoWriter):
    """A :class:`VideoWriter` whose video stream is copied from segment files instead of encoded."""

    def __init__(
        self,
        path: Path,
        segments: Sequence[SegmentInfo],
        offsets: Sequence[int],
        *,
        source: VideoInfo,
        start: float | None,
        duration: float | None,
        overwrite: bool,
    ) -> None:
        self._segments = list(segments)
        self._offsets = list(offsets)
        self._depth = max(s.reorder_depth for s in segments)
        self._heap: list[int] = []
        self._last_dts: int | None = None
        first = segments[0]
        super().__init__(
            path, width=first.width, height=first.height, source=source, fps=source.fps, codec=first.codec,
            pix_fmt=first.pix_fmt or "yuv420p", start=start, duration=duration, overwrite=overwrite,
        )

    def _check_codec(self) -> tuple[int, int]:
        check_container(self.path, self.codec, container=self._container)
        return 1, 1

    def _setup_video(self) -> None:
        first = self._segments[0]
        with _open_segment(first.path) as c:
            stream = self._out.add_stream_from_template(c.streams.video[0])
        # What a VideoWriter encoding these frames would have set; segment containers need not keep it.
        stream.metadata.clear()
        stream.time_base = self.time_base
        if self.fps:
            stream.codec_context.framerate = self.fps
        self._tag_video(stream)
        self._video = stream

    def _encode(self, frame: av.VideoFrame | None) -> None:
        if frame is not None:
            raise EncodeError(f"{self.path}: the segment joiner copies packets; it does not encode frames")

    def append(self, k: int) -> None:
        """Copy every video packet of segment ``k`` into the output, with the source's other streams interleaved."""
        if self._closed or self._finished:
            raise EncodeError(f"{self.path}: append() after finish(), close() or abort()")
        seg, offset = self._segments[k], self._offsets[k]
        first = self._segments[0]
        step = max(1, first.first_duration)
        n = 0
        with _open_segment(seg.path) as c:
            s = c.streams.video[0]
            try:
                for p in c.demux(s):
                    if p.size == 0:
                        continue
                    if p.pts is None:
                        raise InvalidInputError(f"{seg.path}: packet {n} has no timestamp; delete it and rerun with --resume")
                    pts = int(p.pts) + offset
                    heapq.heappush(self._heap, pts)
                    if self.frames_written < self._depth:
                        dts = first.first_pts + self._offsets[0] - (self._depth - self.frames_written) * step
                    else:
                        dts = heapq.heappop(self._heap)
                    if dts > pts or (self._last_dts is not None and dts <= self._last_dts):
                        raise EncodeError(
                            f"{seg.path}: packet {n} (pts {pts}) is reordered further than the {self._depth} frames "
                            "its probe reported; delete the segment folder and rerun"
                        )
                    p.pts, p.dts = pts, dts
                    self._last_dts = dts
                    self._copy_until(dts * p.time_base + self._shift_s)
                    p.stream = self._video
                    self._mux(p)
                    self.frames_written += 1
                    n += 1
            except av.error.FFmpegError as e:
                raise InvalidInputError(f"{seg.path}: damaged segment after {n} packets ({e}); delete it and rerun with --resume") from None
        if n != seg.packets:
            raise EncodeError(f"{seg.path}: holds {n} video packets, {seg.packets} when it was finished; delete it and rerun with --resume")


def join_segments(
    segments: Sequence[SegmentInfo],
    dst: str | os.PathLike[str],
    *,
    source: VideoInfo,
    first_pts: Sequence[int] | None = None,
    start: float | None = None,
    duration: float | None = None,
    overwrite: bool = False,
) -> int:
    """Write ``dst`` from the segments' video packets (in order) plus the source's other streams.

    Args:
        segments: the segment files, in presentation order, as :func:`probe_segment`
            described them. They must share codec, size, pixel format, time base and
            codec header (made by identically configured encoders).
        dst: the output; its extension picks the container (as for ``VideoWriter``).
        source: the input's :class:`VideoInfo`: its audio, subtitles, attachments,
            chapters and metadata are copied once, its tags carried over.
        first_pts: the source timestamp (``source.time_base``) of each segment's first
            frame. Each segment's timestamps are moved by a constant so that its first
            frame lands there: muxers shift a whole file when its first decoding
            timestamp is negative (NUT, for instance). ``None`` keeps them as they are.
        start, duration: the window of the source the segments cover (seconds), as
            given to the ``VideoWriter`` of each segment.
        overwrite: replace an existing ``dst``.

    Returns:
        The number of video packets (frames) written.

    The file is written under a temporary name and renamed over ``dst`` only when
    complete; on any error nothing is left at ``dst``.
    """
    if not segments:
        raise EncodeError(f"{dst}: no segments to join")
    offsets = _offsets(segments, source, first_pts, start)
    _check_joinable(segments, offsets)
    with _SegmentJoiner(Path(dst), segments, offsets, source=source, start=start, duration=duration, overwrite=overwrite) as joiner:
        for k in range(len(segments)):
            joiner.append(k)
    return joiner.frames_written
