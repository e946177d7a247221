"""Video input and output: :class:`VideoReader` (decord or PyAV), :class:`VideoWriter` (PyAV),
:func:`join_segments` (stream-copy concatenation of segment files), :func:`codec_roundtrip`
(encode + decode, for compressed-LR degradations).

The only package that imports ``av`` and ``decord``.
"""

from ._concat import SegmentInfo as SegmentInfo
from ._concat import join_segments as join_segments
from ._concat import probe_segment as probe_segment
from ._reader import BACKENDS as BACKENDS
from ._reader import Backend as Backend
from ._reader import FrameBatch as FrameBatch
from ._reader import VIDEO_EXTENSIONS as VIDEO_EXTENSIONS
from ._reader import VideoInfo as VideoInfo
from ._reader import VideoReader as VideoReader
from ._reader import decord_available as decord_available
from ._reader import is_video_path as is_video_path
from ._roundtrip import ROUNDTRIP_CODECS as ROUNDTRIP_CODECS
from ._roundtrip import EncodedClip as EncodedClip
from ._roundtrip import codec_roundtrip as codec_roundtrip
from ._reader import set_ffmpeg_logging as set_ffmpeg_logging
from ._writer import CODECS as CODECS
from ._writer import CONTAINERS as CONTAINERS
from ._writer import VideoWriter as VideoWriter
from ._writer import check_container as check_container
from ._writer import default_codec as default_codec
from ._writer import encoder_settings as encoder_settings

__all__ = [
    "BACKENDS",
    "Backend",
    "CODECS",
    "CONTAINERS",
    "FrameBatch",
    "SegmentInfo",
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "VideoReader",
    "ROUNDTRIP_CODECS",
    "EncodedClip",
    "VideoWriter",
    "check_container",
    "codec_roundtrip",
    "decord_available",
    "default_codec",
    "encoder_settings",
    "is_video_path",
    "set_ffmpeg_logging",
    "join_segments",
    "probe_segment",
]
