"""vsr: video super-resolution with EDSR/MDSR.

Public API (everything else is internal)::

    import vsr
    model = vsr.load_model("path/to/edsr_baseline_x2-1bc95232.pt")
    up = vsr.Upscaler(model, scale=2)
    big = up(frames_uint8_nhwc)
    stats = vsr.upscale("in.mp4", "out.mp4", inference=vsr.InferenceSettings(model=model, scale=2),
                        encode=vsr.EncodeSettings(crf=20))
    stats = vsr.upscale_video("in.mp4", "out.mp4", scale=2, model=model, crf=20)  # the same, as keywords

:func:`upscale` is the one entry point (a video, an image or a folder; one
process, segments or torchrun); :func:`upscale_video` and
:func:`upscale_segmented` are its keyword forms for one video file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr._core import lazy_attributes

__version__ = "0.1.0"

from vsr.errors import (
    CheckpointError as CheckpointError,
    ConfigError as ConfigError,
    DatasetError as DatasetError,
    DownloadError as DownloadError,
    EncodeError as EncodeError,
    InputNotFoundError as InputNotFoundError,
    InvalidInputError as InvalidInputError,
    OutOfMemoryError as OutOfMemoryError,
    OutputExistsError as OutputExistsError,
    RankFailedError as RankFailedError,
    UnsupportedError as UnsupportedError,
    VSRError as VSRError,
)
# The rest of the public API is imported on first use (PEP 562), so that `import vsr` and the CLI's
# `vsr --help` do not pay for torch, PyAV, decord and OpenCV.
_LAZY: dict[str, str] = {
    "OutputSize": "vsr.inference",
    "imresize": "vsr.data",
    "Upscaler": "vsr.inference",
    "FrameBatch": "vsr.io",
    "VideoInfo": "vsr.io",
    "VideoReader": "vsr.io",
    "VideoWriter": "vsr.io",
    "psnr": "vsr.metrics",
    "ssim": "vsr.metrics",
    "DecodeSettings": "vsr.upscaling",
    "EncodeSettings": "vsr.upscaling",
    "InferenceSettings": "vsr.upscaling",
    "SegmentSettings": "vsr.upscaling",
    "ImageStats": "vsr.upscaling",
    "UpscaleStats": "vsr.upscaling",
    "SegmentedStats": "vsr.upscaling",
    "FolderStats": "vsr.upscaling",
    "upscale": "vsr.upscaling",
    "upscale_segmented": "vsr.upscaling",
    "upscale_video": "vsr.upscaling",
    "get_model": "vsr.models",
    "list_models": "vsr.models",
    "load_model": "vsr.models",
    "save_model": "vsr.models",
}

if TYPE_CHECKING:
    from vsr.data import imresize as imresize
    from vsr.inference import OutputSize as OutputSize, Upscaler as Upscaler
    from vsr.inference import OutputSize as Target  # deprecated: see _DEPRECATED
    from vsr.io import FrameBatch as FrameBatch, VideoInfo as VideoInfo, VideoReader as VideoReader, VideoWriter as VideoWriter
    from vsr.metrics import psnr as psnr, ssim as ssim
    from vsr.models import get_model as get_model, list_models as list_models, load_model as load_model, save_model as save_model
    from vsr.upscaling import (
        DecodeSettings as DecodeSettings,
        EncodeSettings as EncodeSettings,
        FolderStats as FolderStats,
        ImageStats as ImageStats,
        InferenceSettings as InferenceSettings,
        SegmentedStats as SegmentedStats,
        SegmentSettings as SegmentSettings,
        UpscaleStats as UpscaleStats,
        upscale as upscale,
        upscale_segmented as upscale_segmented,
        upscale_video as upscale_video,
    )


# Old public names, still answered with a DeprecationWarning.
_DEPRECATED: dict[str, str] = {
    "Target": "OutputSize",  # an output size; in super-resolution a "target" is the HR ground truth
}

__getattr__, __dir__ = lazy_attributes("vsr", _LAZY, globals(), _DEPRECATED)


__all__ = [
    "__version__",
    "CheckpointError",
    "ConfigError",
    "DatasetError",
    "DownloadError",
    "EncodeError",
    "InputNotFoundError",
    "InvalidInputError",
    "OutOfMemoryError",
    "OutputExistsError",
    "RankFailedError",
    "UnsupportedError",
    "DecodeSettings",
    "EncodeSettings",
    "FolderStats",
    "FrameBatch",
    "ImageStats",
    "InferenceSettings",
    "SegmentSettings",
    "OutputSize",
    "SegmentedStats",
    "UpscaleStats",
    "Upscaler",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "VSRError",
    "get_model",
    "imresize",
    "list_models",
    "load_model",
    "psnr",
    "save_model",
    "ssim",
    "upscale",
    "upscale_segmented",
    "upscale_video",
]
