"""A one-frame preview of an upscale: bicubic | vsr side by side, a zoomed crop of the most detailed region.

:func:`preview` upscales one frame of a video (or an image), measures how long
the model took on it, projects that to the whole file, and writes a PNG; it
writes no video. :func:`preview_files` does it for a file or every video and
image of a folder, as ``vsr upscale --preview`` does, with the settings and
destinations of :func:`vsr.upscale`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from torch import nn

from vsr._core import clock_text
from vsr.upscaling._entry import FileResult, FolderStats, destination, run_folder
from vsr.upscaling._models import Upscalers
from vsr.upscaling._projection import LadderProjection, project_ladder
from vsr.upscaling._settings import InferenceSettings
from vsr.inference import Upscaler
from vsr.errors import InvalidInputError
from vsr.io import Backend, VideoReader, is_image_path, jpeg_quality, read_image, write_image

__all__ = ["Preview", "preview", "preview_files", "preview_path", "detail_region"]

#: Widest panel in the picture; larger outputs are shown reduced (area filter), the crops are not.
_PANEL_WIDTH = 960
_BANNER = 30
_MARK = (255, 210, 0)


@dataclass(frozen=True)
class Preview:
    """What :func:`preview` measured and wrote.

    ``seconds`` is the model time on the previewed frame (after a warm-up run
    when the first one was short); ``frames`` the frame count of the whole
    file (1 for an image; ``None`` when unknown); ``ladder`` the projected
    model time of the whole file for every rung of the ladder (videos only).
    """

    path: Path
    at: float | None
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    seconds: float
    frames: int | None
    device: str
    precision: str
    ladder: LadderProjection | None = None

    @property
    def fps(self) -> float:
        return 1.0 / self.seconds if self.seconds > 0 else math.inf

    @property
    def projected_seconds(self) -> float | None:
        """Model time for every frame of the file at this frame's speed."""
        return None if self.frames is None else self.frames * self.seconds

    def summary(self) -> str:
        """One line: where, the speed on this frame, and the projection."""
        (w, h), (ow, oh) = self.input_size, self.output_size
        where = f" at {clock_text(self.at)}" if self.at is not None else ""
        line = (f"preview{where} -> {self.path} ({w}x{h} -> {ow}x{oh}): {self.seconds:.2f} s for this frame "
                f"({self.fps:.2f} fps, {self.device}, {self.precision})")
        if self.frames is not None and self.frames > 1:
            line += f"; the whole file ({self.frames} frames) would take about {_duration(self.projected_seconds or 0.0)} here"
            if self.ladder is not None:
                line += f"\n  every rung for the whole file: {self.ladder.text(_duration)}"
        return line

    def line(self) -> str:
        """The line ``vsr upscale --preview`` prints for this file: the :meth:`summary`."""
        return self.summary()


def preview_path(output: str | os.PathLike[str]) -> Path:
    """``<output stem>_preview.png`` beside the output the full run would write."""
    p = Path(output)
    return p.with_name(f"{p.stem}_preview.png")


def preview(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    upscaler: Upscaler | Callable[[int, int, float | None], Upscaler],
    *,
    at: float | None = None,
    decoder: Backend = "auto",
    label: str | Callable[[int, float | None], str] = "vsr",
) -> Preview:
    """Upscale one frame of ``src`` (at ``at`` seconds; default the middle) and write the comparison PNG ``dst``.

    ``upscaler`` may be a function of the input's (width, height, bits per pixel), for targets whose model factor
    depends on the input size and defaults whose model depends on how compressed the video is; ``label`` may
    likewise be a function of the (model factor, bits per pixel). ``dst`` is replaced if it exists.

    Raises:
        InvalidInputError: unreadable input, or ``at`` past the end of the video.
    """
    src, dst = Path(src), Path(dst)
    frame, used_at, frames, bpp = _grab(src, at, decoder)
    h, w = frame.shape[:2]
    up = upscaler if isinstance(upscaler, Upscaler) else upscaler(w, h, bpp)
    label = label if isinstance(label, str) else label(up.scale, bpp)
    out_w, out_h = up.output_size(w, h)
    t0 = time.perf_counter()
    sr = up(frame)
    seconds = time.perf_counter() - t0
    if seconds < 2.0:  # a short first run is dominated by one-time setup: time a second one
        t0 = time.perf_counter()
        sr = up(frame)
        seconds = time.perf_counter() - t0
    bicubic = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
    factor = f"x{out_w / w:.3g}" if (out_w, out_h) != (w * up.scale, h * up.scale) else f"x{up.scale}"
    model = f"{label} x{up.scale}" + (f" -> {out_w}x{out_h}" if factor != f"x{up.scale}" else f" ({out_w}x{out_h})")
    picture = compose(bicubic, sr, detail_region(frame), (w, h), (f"input {w}x{h}, bicubic {factor}", model), ("bicubic", label))
    write_image(dst, picture, overwrite=True)
    ladder = project_ladder(up.model, up.scale, up.device.type, seconds, frames) if frames and frames > 1 else None
    return Preview(dst, used_at, (w, h), (out_w, out_h), seconds, frames, str(up.device), up.precision, ladder)


def preview_files(
    src: Path,
    output: Path | None,
    inference: InferenceSettings,
    *,
    at: float | None = None,
    decoder: Backend = "auto",
    progress: bool = True,
    on_file: Callable[[FileResult], None] | None = None,
) -> Preview | FolderStats:
    """Preview ``src``, or every video and image of the folder ``src``, instead of upscaling it.

    Each picture goes to ``<stem>_preview.png`` beside the output :func:`vsr.upscale`
    would write for ``output`` (see :func:`vsr.upscaling._entry.destination`). A folder is
    walked as :func:`vsr.upscale` walks it: a failing file is recorded, the others
    go on, and ``on_file`` gets each file's result as soon as it is done.
    ``progress`` shows a download bar when an official model is fetched.
    """
    upscalers = Upscalers(inference, progress=progress)

    def one(path: Path, to: Path) -> Preview:
        quality = jpeg_quality(path) if is_image_path(path) else None  # a JPEG image may choose the model too

        def label(scale: int, bits_per_pixel: float | None) -> str:
            return _label(upscalers, scale, bits_per_pixel, quality)

        def for_size(w: int, h: int, bits_per_pixel: float | None) -> Upscaler:
            return upscalers.for_size(w, h, what=str(path), bits_per_pixel=bits_per_pixel, jpeg_quality=quality)

        return preview(path, preview_path(to), for_size, at=at, decoder=decoder, label=label)

    if src.is_dir():
        return run_folder(src, output, inference.tag, one, prepare=upscalers.preload, on_file=on_file, verb="previewed")
    upscalers.preload()
    return one(src, destination(src, output, inference.tag))


def _label(upscalers: Upscalers, scale: int, bits_per_pixel: float | None, jpeg_quality: int | None = None) -> str:
    """The model's name in the picture: its file's stem (an official model's cached file), or the bundled name."""
    model = upscalers.source(scale, bits_per_pixel, jpeg_quality)
    return "vsr" if isinstance(model, nn.Module) else Path(model).stem


def _grab(src: Path, at: float | None, decoder: Backend) -> tuple[np.ndarray, float | None, int | None, float | None]:
    """One RGB frame of ``src``, the time it was taken at, the file's frame count and bits per pixel (video)."""
    if is_image_path(src):
        img = read_image(src)
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        return np.ascontiguousarray(img[:, :, :3]), None, 1, None
    with VideoReader(src, backend=decoder, batch_size=1) as whole:
        info = whole.info
    if at is None:
        at = info.duration / 2 if info.duration else 0.0
    elif info.duration is not None and at >= info.duration:
        raise InvalidInputError(f"{src}: --at {clock_text(at)} is past the end (the video lasts {clock_text(info.duration)}); pick an earlier time")
    with VideoReader(src, backend=decoder, batch_size=1, start=at) as reader:
        for batch in reader:
            return batch.frames[0], at, info.num_frames, info.lossy_bits_per_pixel
    raise InvalidInputError(f"{src}: no frame at {clock_text(at)}; pick an earlier --at")


def detail_region(frame: np.ndarray, fraction: float = 0.25) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the window (``fraction`` of each side) of ``frame`` with the most fine detail."""
    h, w = frame.shape[:2]
    cw, ch = max(8, min(w, round(w * fraction))), max(8, min(h, round(h * fraction)))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    # Density of edge pixels, not gradient energy: energy is won by a few high-contrast blobs (highlights) or by
    # coding noise in flat areas; Canny's hysteresis thresholds keep real edges and drop both.
    energy = (cv2.Canny(grey, 50, 150) > 0).astype(np.float64)
    # Summed-area table: the energy of every window in O(1) each.
    sat = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = sat[ch:, cw:] - sat[:-ch, cw:] - sat[ch:, :-cw] + sat[:-ch, :-cw]
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(x), int(y), min(cw, w), min(ch, h)


def compose(
    left: np.ndarray,
    right: np.ndarray,
    region: tuple[int, int, int, int],
    input_size: tuple[int, int],
    labels: tuple[str, str],
    names: tuple[str, str],
) -> np.ndarray:
    """The preview picture: the two full frames on top (region marked), the region of each zoomed below, labelled."""
    out_h, out_w = left.shape[:2]
    sx, sy = out_w / input_size[0], out_h / input_size[1]
    x, y, cw, ch = region
    ox, oy, ocw, och = round(x * sx), round(y * sy), max(1, round(cw * sx)), max(1, round(ch * sy))
    panel_w = min(out_w, _PANEL_WIDTH)
    shrink = panel_w / out_w
    panel_h = max(1, round(out_h * shrink))
    zoom = max(1, min(8, panel_w // ocw))
    row1, row2 = [], []
    for img, text, name in zip((left, right), labels, names):
        full = img if shrink == 1 else cv2.resize(img, (panel_w, panel_h), interpolation=cv2.INTER_AREA)
        full = np.ascontiguousarray(full)
        p0 = (round(ox * shrink), round(oy * shrink))
        p1 = (round((ox + ocw) * shrink) - 1, round((oy + och) * shrink) - 1)
        cv2.rectangle(full, p0, p1, _MARK, 2 if panel_w >= 320 else 1)
        crop = img[oy : oy + och, ox : ox + ocw]
        # Nearest neighbour so that the pixels the model made are shown as they are.
        crop = cv2.resize(crop, (ocw * zoom, och * zoom), interpolation=cv2.INTER_NEAREST)
        row1.append(_labelled(full, text))
        row2.append(_labelled(crop, f"{name}: zoom x{zoom} of the most detailed region"))
    gap = np.full((1, 8, 3), 255, np.uint8)
    rows = [_hstack(row1, gap), _hstack(row2, gap)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


def _labelled(img: np.ndarray, text: str) -> np.ndarray:
    w = img.shape[1]
    banner = np.full((_BANNER, w, 3), 255, np.uint8)
    scale = 0.5
    while scale > 0.3 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > w - 8:
        scale -= 0.05
    cv2.putText(banner, text, (4, _BANNER - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([banner, img], axis=0)


def _hstack(images: list[np.ndarray], gap: np.ndarray) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    padded = [np.pad(i, ((0, h - i.shape[0]), (0, 0), (0, 0)), constant_values=255) for i in images]
    return np.concatenate([padded[0], np.repeat(gap, h, axis=0), *padded[1:]], axis=1)


def _duration(seconds: float) -> str:
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
