"""Encode frames with a real video codec and decode them again: the compression half of a degradation.

:func:`codec_roundtrip` streams: it takes RGB frames one at a time and yields
the decoded frames in the same order and number, holding only the encoder's
and decoder's own delay in memory, so a long clip never sits in memory whole.

libx264 does not always produce the same bits for the same frames (measured
here: with macroblock-tree rate control on, about one run in four differs,
even with one thread), and libx265 differs more often on small frames (8 of 8
runs of a padded 32x40 clip differed). So a comparison that must show every model the same
compressed input records the bitstream once (``record``) as an
:class:`EncodedClip` and decodes that for each model (:meth:`EncodedClip.frames`):
decoding is deterministic, and the bitstream is small.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from vsr.errors import InvalidInputError, UnsupportedError

__all__ = ["CRF_RANGE", "PRESETS", "ROUNDTRIP_CODECS", "VP9_SPEEDS", "EncodedClip", "codec_roundtrip"]

#: Codec names accepted by :func:`codec_roundtrip`, mapped to the libav (encoder, decoder).
ROUNDTRIP_CODECS: dict[str, tuple[str, str]] = {
    "x264": ("libx264", "h264"),
    "x265": ("libx265", "hevc"),
    "vp9": ("libvpx-vp9", "vp9"),
}

#: The constant-quality scale of each codec: (best, worst).
CRF_RANGE: dict[str, tuple[int, int]] = {"x264": (0, 51), "x265": (0, 51), "vp9": (0, 63)}

#: x264's and x265's speed presets, fastest first.
PRESETS: tuple[str, ...] = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")

#: libvpx-vp9's ``cpu-used`` speeds in ``deadline=good`` mode (0 slowest and best, 8 fastest).
VP9_SPEEDS: tuple[int, int] = (0, 8)


def _encoder_options(codec: str, crf: int, preset: str, speed: int) -> dict[str, str]:
    """The encoder's options: constant quality, one thread, and no log lines on stderr."""
    if codec == "x264":
        return {"crf": str(crf), "preset": preset, "threads": "1"}
    if codec == "x265":
        # x265 prints an info banner per encoder unless told otherwise; pools=none keeps it to one thread.
        return {"crf": str(crf), "preset": preset, "x265-params": "log-level=none:pools=none:frame-threads=1"}
    # libvpx-vp9's constant-quality mode needs the bitrate set to 0; without it crf is only a cap.
    return {"crf": str(crf), "b": "0", "deadline": "good", "cpu-used": str(speed), "threads": "1", "row-mt": "0"}


@dataclass(frozen=True)
class EncodedClip:
    """The bitstream of one :func:`codec_roundtrip`: replaying it gives exactly the frames that run yielded."""

    decoder: str
    extradata: bytes
    packets: tuple[bytes, ...]
    size: tuple[int, int]
    count: int

    def frames(self) -> Iterator[np.ndarray]:
        """The decoded RGB frames, in order (``count`` of them, ``size`` = (height, width))."""
        decoder = _decoder(self.decoder, self.extradata)
        n = 0
        for data in (*self.packets, None):
            for out in decoder.decode(None if data is None else av.Packet(data)):
                n += 1
                yield _rgb(out, self.size)
        if n != self.count:
            raise InvalidInputError(f"replaying a recorded clip gave {n} frames for {self.count}")


def _decoder(name: str, extradata: bytes | None) -> av.CodecContext:
    decoder = av.CodecContext.create(name, "r")
    decoder.extradata = extradata
    decoder.thread_count = 1
    decoder.thread_type = "NONE"
    return decoder


def _rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    return np.array(frame.to_ndarray(format="rgb24")[: size[0], : size[1]])


#: Smallest frame side each encoder is given. libx265 corrupts the heap on frames smaller than its 64-pixel
#: coding tree unit (seen with the PyAV 18.1 wheel's x265: "corrupted size vs. prev_size" after a few 32x40 clips).
_MIN_SIDE: dict[str, int] = {"libx265": 64}


def _padded(frame: np.ndarray, min_side: int) -> np.ndarray:
    """Pad to even height and width of at least ``min_side`` by repeating the last row/column (4:2:0 needs even sizes)."""
    h, w = frame.shape[:2]
    ph, pw = max(h + h % 2, min_side) - h, max(w + w % 2, min_side) - w
    if ph == 0 and pw == 0:
        return frame
    return np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge")


def codec_roundtrip(
    frames: Iterable[np.ndarray],
    *,
    codec: str = "x264",
    crf: int = 23,
    preset: str = "medium",
    speed: int = 4,
    fps: int = 25,
    record: Callable[[EncodedClip], None] | None = None,
) -> Iterator[np.ndarray]:
    """Yield each RGB frame of ``frames`` after encoding with ``codec`` (yuv420p, constant quality ``crf``) and decoding.

    ``x264`` and ``x265`` take ``preset``; ``vp9`` (libvpx-vp9 in constant-quality mode, ``deadline=good``)
    takes ``speed`` (its ``cpu-used``) instead.

    The frames form one stream (so P/B-frame prediction and rate control act
    across them, as in a real video); they must all have the same size. The
    conversion to and from yuv420p uses libswscale's defaults (BT.601, limited
    range) both ways. Odd sizes (and, for x265, sides under 64 pixels) are padded
    by edge replication for the encoder and cropped back. The output is the same, bit for bit, for the same input and
    settings as far as the encoder allows (see the module docstring; pass
    ``record`` and replay the clip where identical frames matter).

    Args:
        frames: uint8 ``H×W×3`` RGB frames.
        codec: a key of :data:`ROUNDTRIP_CODECS`.
        crf: the constant rate factor, in :data:`CRF_RANGE` of the codec (higher: smaller and worse).
        preset: x264/x265 speed preset (one of :data:`PRESETS`).
        speed: libvpx-vp9's ``cpu-used``, 0-8.
        fps: nominal frame rate written to the stream (affects rate control only).
        record: called once, after the last frame, with the clip's bitstream.

    Raises:
        UnsupportedError: unknown codec; crf, preset or speed out of range.
        InvalidInputError: a frame is not uint8 RGB, or sizes change within the stream.
    """
    if codec not in ROUNDTRIP_CODECS:
        raise UnsupportedError(f"unknown codec {codec!r} for a compression round trip; allowed: {', '.join(ROUNDTRIP_CODECS)}")
    lo, hi = CRF_RANGE[codec]
    if not lo <= int(crf) <= hi:
        raise UnsupportedError(f"crf = {crf} is out of range; {codec} takes {lo} (best) to {hi} (worst)")
    if codec != "vp9" and preset not in PRESETS:
        raise UnsupportedError(f"preset {preset!r} is not an {codec} preset; allowed: {', '.join(PRESETS)}")
    if codec == "vp9" and not VP9_SPEEDS[0] <= int(speed) <= VP9_SPEEDS[1]:
        raise UnsupportedError(f"vp9 speed = {speed} is out of range; allowed {VP9_SPEEDS[0]}-{VP9_SPEEDS[1]}")
    options = _encoder_options(codec, int(crf), preset, int(speed))
    return _roundtrip(frames, *ROUNDTRIP_CODECS[codec], options, int(fps), record)


def _roundtrip(
    frames: Iterable[np.ndarray], encoder_name: str, decoder_name: str, options: dict[str, str], fps: int,
    record: Callable[[EncodedClip], None] | None,
) -> Iterator[np.ndarray]:
    # A throw-away in-memory container gives the encoder a time base and lets the stream's extradata
    # (SPS/PPS) reach the decoder; the packets are decoded as they come out, never muxed to a file.
    container = av.open(io.BytesIO(), mode="w", format="mp4")
    min_side = _MIN_SIDE.get(encoder_name, 0)
    decoder: av.CodecContext | None = None
    size: tuple[int, int] | None = None
    stream = None
    n_in = 0
    n_out = 0
    kept: list[bytes] = []
    try:
        def decode(packets: Iterable[av.Packet | None]) -> Iterator[np.ndarray]:
            nonlocal n_out
            assert decoder is not None and size is not None
            for packet in packets:
                if packet is not None and record is not None:
                    kept.append(bytes(packet))
                for out in decoder.decode(packet):
                    n_out += 1
                    yield _rgb(out, size)

        for frame in frames:
            arr = np.asarray(frame)
            if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
                raise InvalidInputError(f"codec round trip needs uint8 HxWx3 RGB frames, got {arr.dtype} {arr.shape}")
            if size is None:
                size = (arr.shape[0], arr.shape[1])
                padded = _padded(arr, min_side)
                stream = container.add_stream(encoder_name, rate=fps)
                stream.width, stream.height = padded.shape[1], padded.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.time_base = Fraction(1, fps)
                stream.options = options
                stream.codec_context.thread_count = 1
                stream.codec_context.thread_type = "NONE"
                stream.codec_context.open()
                decoder = _decoder(decoder_name, stream.codec_context.extradata)
            elif (arr.shape[0], arr.shape[1]) != size:
                raise InvalidInputError(
                    f"codec round trip: frame {n_in + 1} is {arr.shape[1]}x{arr.shape[0]}, the stream is {size[1]}x{size[0]}"
                )
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(_padded(arr, min_side)), format="rgb24").reformat(format="yuv420p")
            vf.pts = n_in
            vf.time_base = Fraction(1, fps)
            n_in += 1
            assert stream is not None
            yield from decode(stream.encode(vf))
        if stream is None:
            return
        yield from decode(stream.encode(None))  # the encoder's delayed frames
        yield from decode([None])  # then the decoder's
        if n_out != n_in:
            raise InvalidInputError(f"codec round trip returned {n_out} frames for {n_in}; the encoder dropped frames")
        if record is not None:
            assert size is not None
            record(EncodedClip(decoder_name, bytes(stream.codec_context.extradata or b""), tuple(kept), size, n_out))
    finally:
        _discard(container)


def _discard(container: av.container.OutputContainer) -> None:
    """Close the throw-away container; its header was never written, so closing may complain, harmlessly."""
    try:
        container.close()
    except Exception:  # noqa: BLE001 - nothing was muxed; the in-memory buffer is dropped either way
        pass
