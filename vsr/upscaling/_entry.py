"""The one entry point of upscaling: a video, an image or a folder; one process, segments, or torchrun.

:func:`upscale` takes the frozen settings of :mod:`vsr.upscaling._settings`, works
out each destination, walks folders, and picks the engine for each file:

* an image: :func:`vsr.upscaling._single_process.upscale_image`;
* a video: :func:`vsr.upscaling._single_process.run_single` (decode thread -> model -> encode thread);
* a video in segments (:mod:`vsr.upscaling._segmented`) when segment settings are given,
  under torchrun, or when an interrupted segmented run left its folder beside
  the output (so that it is never silently ignored).

:func:`upscale_video` and :func:`upscale_segmented` are its keyword forms for one
video file (``scale=2, crf=20`` instead of settings objects).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsr._core import dist_env
from vsr.upscaling._single_process import ImageStats, UpscaleStats, run_single, upscale_image
from vsr.upscaling._manifest import work_dir_for
from vsr.upscaling._segmented import SegmentedStats, run_segmented
from vsr.upscaling._models import Upscalers
from vsr.upscaling._settings import DecodeSettings, EncodeSettings, InferenceSettings, SegmentSettings, split_settings
from vsr.errors import InputNotFoundError, UnsupportedError, VSRError
from vsr.io import is_image_path, is_video_path

__all__ = [
    "FileResult",
    "FolderStats",
    "default_output_path",
    "destination",
    "find_inputs",
    "run_folder",
    "upscale",
    "upscale_segmented",
    "upscale_video",
]

#: Name suffixes of vsr's own outputs (``clip_x2.mp4``), never taken as inputs when a folder is upscaled again.
_OUTPUT_TAGS = ("x2", "x3", "x4")


def default_output_path(src: str | os.PathLike[str], scale: int | str) -> Path:
    """``<stem>_x<scale><ext>`` next to the input; a string ``scale`` is used as the suffix itself (``1920x1080``)."""
    p = Path(src)
    tag = scale if isinstance(scale, str) else f"x{scale}"
    return p.with_name(f"{p.stem}_{tag}{p.suffix}")


def destination(src: Path, output: Path | None, tag: str) -> Path:
    """Where ``src``'s result goes: beside it (no ``output``), into the folder ``output``, or ``output`` itself."""
    if output is None:
        return default_output_path(src, tag)
    if output.is_dir():
        return output / default_output_path(src, tag).name
    return output


def find_inputs(folder: Path, tag: str) -> tuple[list[Path], list[Path]]:
    """The videos and images in ``folder`` (sorted by name), and those skipped as earlier outputs.

    Earlier outputs end in ``_x2``/``_x3``/``_x4``, ``_<tag>`` or ``_preview``.

    Raises:
        InputNotFoundError: nothing to upscale in the folder.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and (is_video_path(p) or is_image_path(p)))
    earlier = [p for p in files if any(p.stem.endswith(f"_{t}") for t in (*_OUTPUT_TAGS, tag, "preview"))]
    inputs = [p for p in files if p not in set(earlier)]
    if not inputs:
        raise InputNotFoundError(f"{folder}: no videos or images in this folder")
    return inputs, earlier


@dataclass(frozen=True)
class FileResult:
    """One file of a folder run: what it gave (:class:`UpscaleStats`, :class:`ImageStats`, a preview), or its error."""

    src: Path
    result: Any = None
    error: VSRError | OSError | None = None

    def line(self) -> str:
        """The line ``vsr upscale`` prints for this file (``Failed: ...`` on an error)."""
        if self.error is not None:
            msg = str(self.error)
            return f"Failed: {msg}" if str(self.src) in msg else f"Failed: {self.src}: {msg}"
        return str(self.result.line())


@dataclass(frozen=True)
class FolderStats:
    """What a folder run did: every file's result in order, and the earlier outputs it skipped."""

    folder: Path
    files: tuple[FileResult, ...]
    skipped: tuple[Path, ...]
    tag: str
    verb: str = "upscaled"

    @property
    def failed(self) -> tuple[FileResult, ...]:
        """The files that failed."""
        return tuple(f for f in self.files if f.error is not None)

    def summary(self) -> str:
        """``3 files: 2 upscaled, 1 failed, 1 earlier outputs (*_x2/_x3/_x4) skipped``."""
        extra = [t for t in (self.tag, "preview") if t not in _OUTPUT_TAGS and any(p.stem.endswith(f"_{t}") for p in self.skipped)]
        patterns = "*" + "/".join(f"_{t}" for t in (*_OUTPUT_TAGS, *extra))
        skipped = f", {len(self.skipped)} earlier outputs ({patterns}) skipped" if self.skipped else ""
        n, failed = len(self.files), len(self.failed)
        return f"{n} files: {n - failed} {self.verb}, {failed} failed{skipped}"


def run_folder(
    folder: Path,
    output: Path | None,
    tag: str,
    work: Callable[[Path, Path], Any],
    *,
    prepare: Callable[[], None] = lambda: None,
    on_file: Callable[[FileResult], None] | None = None,
    verb: str = "upscaled",
) -> FolderStats:
    """Run ``work(src, dst)`` on every input of ``folder``; a file that fails is recorded and the others go on.

    ``output`` (a folder, created if needed) or the input folder receives the
    results under their default names. ``prepare`` runs once the folder is known to
    hold inputs, before the first file (e.g. loading the model); ``on_file`` gets
    each file's result as soon as it is done.
    """
    inputs, earlier = find_inputs(folder, tag)
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
    prepare()
    results = []
    for src in inputs:
        try:
            done = FileResult(src, work(src, destination(src, output, tag)))
        except (VSRError, OSError) as e:
            done = FileResult(src, error=e)
        results.append(done)
        if on_file is not None:
            on_file(done)
    return FolderStats(folder, tuple(results), tuple(earlier), tag, verb)


def upscale(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str] | None = None,
    *,
    inference: InferenceSettings,
    encode: EncodeSettings | None = None,
    decode: DecodeSettings | None = None,
    segments: SegmentSettings | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int], None] = True,
    on_file: Callable[[FileResult], None] | None = None,
) -> UpscaleStats | SegmentedStats | ImageStats | FolderStats:
    """Upscale a video, an image, or every video and image in a folder.

    Videos keep their timestamps, audio, subtitles, colour tags and rotation; every
    output is written under a temporary name and renamed when complete.

    Args:
        src: a video or image file, or a folder of them.
        dst: the output file, or a folder for the outputs; ``None``: beside each
            input, named ``<stem>_<tag><ext>`` (:attr:`InferenceSettings.tag`).
        inference, encode, decode: the settings (:mod:`vsr.upscaling._settings`).
        segments: work in segments (resumable; see :class:`SegmentSettings`). A video
            is also done in segments under torchrun, and when an interrupted
            segmented run left its folder beside the output (which then needs
            ``resume``). Segments take one video file, not an image or a folder.
        overwrite: replace existing outputs.
        progress: progress bars, or a callable receiving frame counts as batches are encoded.
        on_file: for a folder, called with each file's :class:`FileResult` as soon as it is done.

    Returns:
        :class:`UpscaleStats` (a video), :class:`SegmentedStats` (in segments),
        :class:`ImageStats` (an image) or :class:`FolderStats` (a folder, where a
        failing file is recorded and the others go on).

    Raises:
        InputNotFoundError: ``src`` does not exist, or the folder holds nothing to upscale.
        UnsupportedError: segments (or torchrun) asked for something other than one video file.
        The errors of :func:`vsr.upscaling._single_process.run_single` and :func:`vsr.upscaling._segmented.run_segmented`
        for a single file.
    """
    src, output = Path(src), (Path(dst) if dst is not None else None)
    encode, decode = encode or EncodeSettings(), decode or DecodeSettings()
    if not src.exists():
        raise InputNotFoundError(f"{src}: does not exist")
    env = dist_env()
    tag = inference.tag
    upscalers = Upscalers(inference, progress=progress is True)
    one_video = src.is_file() and not is_image_path(src)
    if segments is not None or env.distributed or (one_video and work_dir_for(destination(src, output, tag)).is_dir()):
        if not one_video:
            why = "torchrun" if env.distributed else "--resume/--segment-frames/--keep-segments"
            raise UnsupportedError(f"{src}: {why} works on one video file; upscale folders and images without it")
        return run_segmented(src, destination(src, output, tag), upscalers, encode, decode, segments or SegmentSettings(),
                             overwrite=overwrite, progress=progress)

    def one(path: Path, to: Path) -> UpscaleStats | ImageStats:
        if is_image_path(path):
            return upscale_image(path, to, upscalers, overwrite=overwrite, max_pixels=decode.max_pixels)
        return run_single(path, to, upscalers, encode, decode, overwrite=overwrite, progress=progress)

    if src.is_dir():
        return run_folder(src, output, tag, one, prepare=upscalers.preload, on_file=on_file)
    upscalers.preload()
    return one(src, destination(src, output, tag))


def upscale_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool | Callable[[int], None] = True,
    **settings: Any,
) -> UpscaleStats:
    """Upscale one video file in this process: the keyword form of :func:`upscale` for scripts.

    ``settings`` are the fields of :class:`InferenceSettings`, :class:`EncodeSettings`
    and :class:`DecodeSettings`, e.g. ``upscale_video("in.mp4", "out.mp4", scale=2,
    model="edsr", crf=20, start=5.0)``. Unlike :func:`upscale` it never works in
    segments and takes no folder.

    Raises:
        TypeError: a keyword that is no settings field.
        The errors of :func:`upscale` for one video.
    """
    inference, encode, decode, _ = split_settings("upscale_video", settings)
    upscalers = Upscalers(inference, progress=progress is True)
    return run_single(Path(src), Path(dst), upscalers, encode, decode, overwrite=overwrite, progress=progress)


def upscale_segmented(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool | Callable[[int], None] = True,
    **settings: Any,
) -> SegmentedStats:
    """Upscale one video file in segments (resumable; all ranks under torchrun): the keyword form of :func:`upscale`.

    ``settings`` are the fields of :class:`InferenceSettings`, :class:`EncodeSettings`,
    :class:`DecodeSettings` and :class:`SegmentSettings`, e.g. ``segment_frames=500,
    resume=True``. Under torchrun every rank makes the same call.

    Raises:
        TypeError: a keyword that is no settings field.
        The errors of :func:`upscale` for one video in segments.
    """
    inference, encode, decode, segments = split_settings("upscale_segmented", settings, segments=True)
    upscalers = Upscalers(inference, progress=progress is True)
    return run_segmented(Path(src), Path(dst), upscalers, encode, decode, segments, overwrite=overwrite, progress=progress)
