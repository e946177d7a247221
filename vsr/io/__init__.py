"""Media files: video input and output (:class:`VideoReader` with decord or PyAV, :class:`VideoWriter`
with PyAV), stream-copy concatenation of segment files (:func:`join_segments`), codec round trips for
compressed-LR degradations (:func:`codec_roundtrip`), and image files (:func:`read_image`,
:func:`write_image`, :func:`list_images`, one :data:`IMAGE_EXTENSIONS`, one natural order), with the
header-size check that refuses absurd sizes before anything is decoded (:func:`check_pixels`) and a JPEG's
quality read from its quantisation table (:func:`jpeg_quality`).

The only package that imports ``av`` and ``decord``. Names are imported on first use (PEP 562), so
that a caller who needs only :data:`DEFAULT_MAX_PIXELS` does not pay for PyAV, decord and OpenCV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr._core import lazy_attributes

_LAZY: dict[str, str] = {
    "SegmentInfo": "vsr.io._concat",
    "IMAGE_EXTENSIONS": "vsr.io._images",
    "is_image_path": "vsr.io._images",
    "list_images": "vsr.io._images",
    "natural_key": "vsr.io._images",
    "read_image": "vsr.io._images",
    "read_rgb": "vsr.io._images",
    "write_image": "vsr.io._images",
    "DEFAULT_MAX_PIXELS": "vsr.io._imsize",
    "check_pixels": "vsr.io._imsize",
    "declared_size": "vsr.io._imsize",
    "jpeg_quality": "vsr.io._jpeg",
    "join_segments": "vsr.io._concat",
    "probe_segment": "vsr.io._concat",
    "BACKENDS": "vsr.io._reader",
    "Backend": "vsr.io._reader",
    "FrameBatch": "vsr.io._reader",
    "VIDEO_EXTENSIONS": "vsr.io._reader",
    "VideoInfo": "vsr.io._probe",
    "VideoReader": "vsr.io._reader",
    "decord_available": "vsr.io._reader",
    "is_video_path": "vsr.io._reader",
    "ROUNDTRIP_CODECS": "vsr.io._roundtrip",
    "CRF_RANGE": "vsr.io._roundtrip",
    "PRESETS": "vsr.io._roundtrip",
    "VP9_SPEEDS": "vsr.io._roundtrip",
    "EncodedClip": "vsr.io._roundtrip",
    "codec_roundtrip": "vsr.io._roundtrip",
    "set_ffmpeg_logging": "vsr.io._reader",
    "set_opencv_logging": "vsr.io._opencv_log",
    "CODECS": "vsr.io._codecs",
    "CONTAINERS": "vsr.io._codecs",
    "VideoWriter": "vsr.io._writer",
    "check_container": "vsr.io._codecs",
    "default_codec": "vsr.io._codecs",
    "encoder_settings": "vsr.io._codecs",
}

if TYPE_CHECKING:
    from vsr.io._concat import SegmentInfo as SegmentInfo
    from vsr.io._images import (
        IMAGE_EXTENSIONS as IMAGE_EXTENSIONS, is_image_path as is_image_path, list_images as list_images,
        natural_key as natural_key, read_image as read_image, read_rgb as read_rgb, write_image as write_image,
    )
    from vsr.io._imsize import (
        DEFAULT_MAX_PIXELS as DEFAULT_MAX_PIXELS, check_pixels as check_pixels, declared_size as declared_size,
    )
    from vsr.io._jpeg import jpeg_quality as jpeg_quality
    from vsr.io._concat import join_segments as join_segments, probe_segment as probe_segment
    from vsr.io._reader import (
        BACKENDS as BACKENDS, Backend as Backend, FrameBatch as FrameBatch, VIDEO_EXTENSIONS as VIDEO_EXTENSIONS,
    )
    from vsr.io._probe import VideoInfo as VideoInfo
    from vsr.io._reader import (
        VideoReader as VideoReader, decord_available as decord_available, is_video_path as is_video_path,
    )
    from vsr.io._roundtrip import (
        ROUNDTRIP_CODECS as ROUNDTRIP_CODECS, CRF_RANGE as CRF_RANGE, PRESETS as PRESETS, VP9_SPEEDS as VP9_SPEEDS,
        EncodedClip as EncodedClip, codec_roundtrip as codec_roundtrip,
    )
    from vsr.io._reader import set_ffmpeg_logging as set_ffmpeg_logging
    from vsr.io._opencv_log import set_opencv_logging as set_opencv_logging
    from vsr.io._codecs import CODECS as CODECS, CONTAINERS as CONTAINERS
    from vsr.io._writer import VideoWriter as VideoWriter
    from vsr.io._codecs import (
        check_container as check_container, default_codec as default_codec, encoder_settings as encoder_settings,
    )


__getattr__, __dir__ = lazy_attributes("vsr.io", _LAZY, globals())


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "check_pixels",
    "declared_size",
    "jpeg_quality",
    "is_image_path",
    "list_images",
    "natural_key",
    "read_image",
    "read_rgb",
    "write_image",
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
    "CRF_RANGE",
    "PRESETS",
    "VP9_SPEEDS",
    "EncodedClip",
    "VideoWriter",
    "check_container",
    "codec_roundtrip",
    "decord_available",
    "default_codec",
    "encoder_settings",
    "is_video_path",
    "set_ffmpeg_logging",
    "set_opencv_logging",
    "join_segments",
    "probe_segment",
]
