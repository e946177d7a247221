"""Upscaling files: the one entry point :func:`upscale` (a video, an image or a folder) and its engines.

- ``_entry``: :func:`upscale` and its keyword forms :func:`upscale_video` and :func:`upscale_segmented`;
  destinations and folder walks;
- ``_settings``: the frozen settings of a run (:class:`InferenceSettings`, :class:`EncodeSettings`,
  :class:`DecodeSettings`, :class:`SegmentSettings`), plain data without torch;
- ``_models``: :class:`Upscalers`, which loads the :class:`~vsr.Upscaler` of each model factor a run needs, once;
- ``_single_process``: the single-process engine (decode thread, upscaler, encode thread) and the still-image path;
- ``_segmented``: the segmented engine (resumable; spread over processes under torchrun);
- ``_manifest``: a segmented run's :class:`SegmentPlan`, its work folder, manifest and records;
- ``_preview``: the one-frame preview (``--preview``);
- ``_explain``: ``vsr upscale --plan``, the plan each input would run with and why.

The package is named ``upscaling``, not ``upscale``: ``vsr.upscale`` is the public function, and importing a
subpackage of that name would replace it on the ``vsr`` module. Names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr._core import lazy_attributes

_LAZY: dict[str, str] = {
    "FileResult": "vsr.upscaling._entry",
    "FolderStats": "vsr.upscaling._entry",
    "upscale": "vsr.upscaling._entry",
    "upscale_segmented": "vsr.upscaling._entry",
    "upscale_video": "vsr.upscaling._entry",
    "describe_plans": "vsr.upscaling._explain",
    "preview_files": "vsr.upscaling._preview",
    "SegmentedStats": "vsr.upscaling._segmented",
    "DecodeSettings": "vsr.upscaling._settings",
    "EncodeSettings": "vsr.upscaling._settings",
    "InferenceSettings": "vsr.upscaling._settings",
    "SegmentSettings": "vsr.upscaling._settings",
    "ImageStats": "vsr.upscaling._single_process",
    "UpscaleStats": "vsr.upscaling._single_process",
}

if TYPE_CHECKING:
    from vsr.upscaling._entry import (
        FileResult as FileResult,
        FolderStats as FolderStats,
        upscale as upscale,
        upscale_segmented as upscale_segmented,
        upscale_video as upscale_video,
    )
    from vsr.upscaling._explain import describe_plans as describe_plans
    from vsr.upscaling._preview import preview_files as preview_files
    from vsr.upscaling._segmented import SegmentedStats as SegmentedStats
    from vsr.upscaling._settings import (
        DecodeSettings as DecodeSettings,
        EncodeSettings as EncodeSettings,
        InferenceSettings as InferenceSettings,
        SegmentSettings as SegmentSettings,
    )
    from vsr.upscaling._single_process import ImageStats as ImageStats, UpscaleStats as UpscaleStats


__getattr__, __dir__ = lazy_attributes("vsr.upscaling", _LAZY, globals())

__all__ = [
    "DecodeSettings",
    "describe_plans",
    "EncodeSettings",
    "FileResult",
    "FolderStats",
    "ImageStats",
    "InferenceSettings",
    "preview_files",
    "SegmentedStats",
    "SegmentSettings",
    "upscale",
    "upscale_segmented",
    "upscale_video",
    "UpscaleStats",
]
