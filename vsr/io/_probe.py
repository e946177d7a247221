"""What a video file holds, before decoding it: :class:`VideoInfo` (size, frame count, timing, colour tags,
other streams), the first frame, and the packet index (timestamps and keyframes) the reader plans with.

Also the FFmpeg colour tables (matrix, range, primaries, transfer) that the reader and writer share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from vsr.errors import InputNotFoundError, InvalidInputError

__all__ = ["Packet", "RGBConverter", "VideoInfo", "check_path", "guess_matrix", "matrix_value", "open_input",
           "primaries_value", "probe", "range_value", "sws_matrix", "trc_value"]


#: FFmpeg's AVColorSpace values and names (libavutil/pixfmt.h).
_MATRIX_NAMES: dict[int, str] = {
    0: "rgb",
    1: "bt709",
    2: "unspecified",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
}
#: AVColorSpace -> the swscale coefficient table that implements it.
_SWS_MATRIX: dict[int, Colorspace] = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,
    6: Colorspace.SMPTE170M,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
    10: Colorspace.BT2020,
}
_RANGE_NAMES: dict[int, str] = {0: "unspecified", 1: "limited", 2: "full"}
_PRIMARIES_NAMES: dict[int, str] = {int(v): k.lower() for k, v in ColorPrimaries.__members__.items()}
_TRC_NAMES: dict[int, str] = {int(v): k.lower() for k, v in ColorTrc.__members__.items()}


def _name(table: Mapping[int, str], value: int) -> str:
    return table.get(int(value), str(int(value)))


def _value(table: Mapping[int, str], name: str) -> int:
    for k, v in table.items():
        if v == name:
            return k
    return int(name)


def matrix_value(name: str) -> int:
    """FFmpeg's AVColorSpace number for a matrix name such as ``bt709``."""
    return _value(_MATRIX_NAMES, name)


def range_value(name: str) -> int:
    """FFmpeg's AVColorRange number for ``limited``/``full``."""
    return _value(_RANGE_NAMES, name)


def primaries_value(name: str) -> int:
    """FFmpeg's AVColorPrimaries number for a name such as ``bt709``."""
    return _value(_PRIMARIES_NAMES, name)


def trc_value(name: str) -> int:
    """FFmpeg's AVColorTransferCharacteristic number for a name such as ``bt709``."""
    return _value(_TRC_NAMES, name)


def sws_matrix(name: str) -> Colorspace | None:
    """The swscale table for a matrix name, or ``None`` for RGB sources."""
    return _SWS_MATRIX.get(matrix_value(name))


def guess_matrix(width: int, height: int) -> str:
    """The matrix players assume for untagged video: BT.709 for HD, BT.601 for SD (mpv's rule)."""
    return "bt709" if width >= 1280 or height > 576 else "smpte170m"


#: Decoders of codecs that are lossless by design: their bit rate says nothing about coding damage.
LOSSLESS_CODECS = frozenset({
    "ffv1", "huffyuv", "ffvhuff", "utvideo", "magicyuv", "rawvideo", "png", "apng", "qtrle", "zlib", "lagarith",
    "r210", "r10k", "v210", "v308", "v408", "v410", "y41p", "yuv4", "ayuv", "tiff", "bmp", "targa", "sgi", "ppm", "pam",
})


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video stream before decoding it.

    ``bits_per_pixel`` is the video stream's size in bits over ``width x height`` times its packets, from the
    packet index (``None`` when the file has no index): how hard the encoder compressed it, whatever the codec.

    Timestamps (``start_pts``, :attr:`FrameBatch.pts`) are integers in ``time_base``.
    ``colorspace``/``color_range`` are what the RGB conversion uses: the file's
    tags, or, for untagged video, BT.709 for HD and BT.601 for SD and the limited
    range (``colorspace_tagged`` says which). Colour names are FFmpeg's.
    """

    path: Path
    width: int
    height: int
    num_frames: int | None
    num_frames_exact: bool
    fps: Fraction | None
    time_base: Fraction
    start_pts: int
    duration: float | None
    codec: str
    pix_fmt: str
    bit_depth: int
    colorspace: str
    color_range: str
    colorspace_tagged: bool
    color_primaries: str
    color_trc: str
    rotation: int
    sample_aspect_ratio: Fraction | None
    metadata: Mapping[str, str] = field(default_factory=dict)
    audio_streams: int = 0
    subtitle_streams: int = 0
    bits_per_pixel: float | None = None

    @property
    def lossy_bits_per_pixel(self) -> float | None:
        """``bits_per_pixel`` of a lossy codec's stream; ``None`` for a lossless codec (:data:`LOSSLESS_CODECS`),
        whose rate depends on the content alone, or when unknown."""
        return None if self.codec in LOSSLESS_CODECS else self.bits_per_pixel

    @property
    def is_hdr(self) -> bool:
        """True for PQ (SMPTE 2084) or HLG (ARIB STD-B67) transfer."""
        return self.color_trc in ("smpte2084", "arib_std_b67")


@dataclass(frozen=True, slots=True)
class Packet:
    pts: int
    duration: int
    keyframe: bool = False


def check_path(path: Path) -> None:
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InvalidInputError(f"{path}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path}: file is empty (0 bytes)")


def open_input(path: Path) -> av.container.InputContainer:
    try:
        return av.open(os.fspath(path), "r")
    except av.error.FileNotFoundError:
        raise InputNotFoundError(f"{path}: no such file") from None
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise InvalidInputError(f"{path}: not a readable video file ({reason}); is it corrupt or truncated?") from None


def bit_depth_of(pix_fmt: str) -> int:
    try:
        return max(c.bits for c in av.video.format.VideoFormat(pix_fmt).components)
    except (ValueError, TypeError):
        return 8


class RGBConverter:
    """Turns decoded frames into RGB uint8 with the stream's matrix and range.

    8-bit video goes through FFmpeg's default YUV->RGB path, the one decord uses,
    so both backends deliver identical frames. That path is slightly biased
    (measured: -1.2 levels on average, at most 3, against exact arithmetic);
    ``ACCURATE_RND | FULL_CHR_H_INT`` would be exact but decord cannot follow.
    """

    def __init__(self, matrix: str, color_range: str, bit_depth: int, is_rgb: bool) -> None:
        self.deep = bit_depth > 8
        self.kwargs: dict[str, Any] = {}
        if not is_rgb:
            sws = sws_matrix(matrix)
            if sws is not None:
                self.kwargs["src_colorspace"] = sws
            self.kwargs["src_color_range"] = ColorRange.JPEG if color_range == "full" else ColorRange.MPEG

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if not self.deep:
            return frame.to_ndarray(format="rgb24", **self.kwargs)
        # swscale's own 16->8 bit step is off by up to 4 levels; round exactly instead.
        wide = frame.to_ndarray(format="rgb48le", **self.kwargs).astype(np.uint32)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def probe(path: Path) -> tuple[VideoInfo, np.ndarray, list[Packet] | None]:
    """Read the stream's description, decode its first frame (as RGB), and demux its packet index.

    The index is ``None`` when packets carry no timestamps (raw elementary streams).
    """
    info, rgb = _describe(path)
    packets, total_bytes, count = _packet_index(path)
    if packets is not None and count:
        info = replace(info, bits_per_pixel=8 * total_bytes / (info.width * info.height * count))
    return info, rgb, packets


def _first_frame(path: Path, container: av.container.InputContainer) -> tuple[Any, av.VideoFrame]:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no"]
        raise InvalidInputError(f"{path}: has no video stream (found {', '.join(kinds)} streams); pass a video file")
    stream = container.streams.video[0]
    if stream.time_base is None:
        raise InvalidInputError(f"{path}: the video stream has no time base; remux it (ffmpeg -i IN -c copy OUT.mkv)")
    stream.thread_type = "AUTO"
    first: av.VideoFrame | None = None
    try:
        for first in container.decode(stream):
            break
    except av.error.FFmpegError as e:
        raise InvalidInputError(f"{path}: cannot decode the first video frame ({e}); is it corrupt or truncated?") from None
    if first is None:
        raise InvalidInputError(f"{path}: the video stream holds no decodable frames; is it corrupt or truncated?")
    return stream, first


def _colour(first: av.VideoFrame) -> tuple[str, str, bool, bool]:
    """(matrix, range, whether both were tagged, whether the frames are RGB already) of the first frame."""
    pix_fmt = first.format.name
    is_rgb = first.format.is_rgb or pix_fmt.startswith("gray")
    tagged_matrix = int(first.colorspace) if first.colorspace is not None else 2
    tagged_range = int(first.color_range) if first.color_range is not None else 0
    if is_rgb:
        matrix, tagged = "rgb", True
    elif tagged_matrix in _SWS_MATRIX:
        matrix, tagged = _MATRIX_NAMES[tagged_matrix], True
    else:
        matrix, tagged = guess_matrix(first.width, first.height), False
    if tagged_range in (1, 2):
        crange = _RANGE_NAMES[tagged_range]
    else:
        crange = "full" if pix_fmt.startswith("yuvj") or is_rgb else "limited"
        tagged = False
    return matrix, crange, tagged, is_rgb


def _describe(path: Path) -> tuple[VideoInfo, np.ndarray]:
    with open_input(path) as container:
        stream, first = _first_frame(path, container)
        pix_fmt = first.format.name
        matrix, crange, tagged, is_rgb = _colour(first)
        depth = bit_depth_of(pix_fmt)
        rgb = RGBConverter(matrix, crange, depth, is_rgb)(first)
        cc = stream.codec_context
        fps = stream.average_rate or stream.guessed_rate
        start_pts = int(stream.start_time) if stream.start_time is not None else int(first.pts or 0)
        tb = Fraction(stream.time_base)
        if stream.duration:
            duration: float | None = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        sar = cc.sample_aspect_ratio
        info = VideoInfo(
            path=path,
            width=first.width,
            height=first.height,
            num_frames=int(stream.frames) or None,
            num_frames_exact=False,
            fps=Fraction(fps) if fps else None,
            time_base=tb,
            start_pts=start_pts,
            duration=duration,
            codec=cc.name,
            pix_fmt=pix_fmt,
            bit_depth=depth,
            colorspace=matrix,
            color_range=crange,
            colorspace_tagged=tagged,
            color_primaries=_name(_PRIMARIES_NAMES, first.color_primaries if first.color_primaries is not None else 2),
            color_trc=_name(_TRC_NAMES, first.color_trc if first.color_trc is not None else 2),
            rotation=int(first.rotation or 0),
            sample_aspect_ratio=Fraction(sar) if sar else None,
            metadata=dict(stream.metadata),
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
        )
    return info, rgb


def _packet_index(path: Path) -> tuple[list[Packet] | None, int, int]:
    """The video packets' timestamps in presentation order (``None`` when they carry none), their bytes and count."""
    packets: list[Packet] | None = []
    present = total = 0
    with open_input(path) as container:
        stream = container.streams.video[0]
        # MP4/MOV list every sample up front, so fewer packets than listed means the file was cut short.
        listed = int(stream.frames) if "mp4" in container.format.name or "mov" in container.format.name else 0
        try:
            for p in container.demux(stream):
                if p.size == 0:
                    continue
                present += 1
                total += p.size
                if p.is_discard or packets is None:
                    continue
                if p.pts is None:
                    packets = None
                    continue
                packets.append(Packet(int(p.pts), int(p.duration or 0), bool(p.is_keyframe)))
        except av.error.FFmpegError as e:
            raise InvalidInputError(f"{path}: the file is damaged after {present} video packets ({e}); is it truncated?") from None
    if listed and present < listed:
        raise InvalidInputError(f"{path}: truncated: the container lists {listed} video frames but only {present} are in the file")
    if packets is not None:
        packets.sort(key=lambda q: q.pts)
    return packets, total, present


