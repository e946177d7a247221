"""The source's other streams in the output: packets copied as they are, or audio re-encoded when the
output container cannot hold its codec; and the metadata that must not be copied (the old encode's statistics)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

__all__ = ["AudioReencoder", "StreamCopy", "fresh_metadata"]

#: Matroska statistics tags that describe the old encode, and encoder names.
STALE_STREAM_KEYS = {"encoder", "duration", "bps", "number_of_frames", "number_of_bytes", "vendor_id"}



def fresh_metadata(meta: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in meta.items() if k.lower() not in STALE_STREAM_KEYS and not k.startswith("_STATISTICS")}


@dataclass
class StreamCopy:
    src: Any
    out: Any
    reencoder: AudioReencoder | None


class AudioReencoder:
    """Decode one audio stream and encode it again for a container that cannot hold its codec."""

    def __init__(self, src: Any, out: Any) -> None:
        self.out = out
        cc = out.codec_context
        self.rate = cc.sample_rate
        out.time_base = Fraction(1, self.rate)
        self.src = src
        self.resampler: av.AudioResampler | None = None
        self.next_pts: int | None = None

    def _resampler(self) -> av.AudioResampler:
        if self.resampler is None:
            cc = self.out.codec_context
            self.resampler = av.AudioResampler(format=cc.format, layout=cc.layout, rate=self.rate, frame_size=cc.frame_size or None)
        return self.resampler

    def _encode(self, frames: list[av.AudioFrame]) -> list[av.Packet]:
        packets = []
        for f in frames:
            f.pts, f.time_base = self.next_pts, Fraction(1, self.rate)
            self.next_pts = (self.next_pts or 0) + f.samples
            packets.extend(self.out.encode(f))
        return packets

    def push(self, packet: av.Packet) -> list[av.Packet]:
        out: list[av.Packet] = []
        for frame in self.src.codec_context.decode(packet):
            if self.next_pts is None:
                self.next_pts = int(round((frame.pts or 0) * frame.time_base * self.rate)) if frame.pts is not None else 0
            out.extend(self._encode(self._resampler().resample(frame)))
        return out

    def flush(self) -> list[av.Packet]:
        out: list[av.Packet] = []
        for frame in self.src.codec_context.decode(None):
            out.extend(self._encode(self._resampler().resample(frame)))
        if self.resampler is not None:
            out.extend(self._encode(self.resampler.resample(None)))
        out.extend(self.out.encode(None))
        return out
