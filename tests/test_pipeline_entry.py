"""vsr.upscale, the one entry point: settings objects, destinations, folders, the choice of the segmented engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from torch import nn

import vsr
from vsr import (
    DecodeSettings,
    EncodeSettings,
    FolderStats,
    ImageStats,
    InferenceSettings,
    SegmentSettings,
    SegmentedStats,
    UpscaleStats,
)
from vsr.upscaling._manifest import work_dir_for
from vsr.upscaling._entry import FileResult, destination
from vsr.upscaling._models import Upscalers
from vsr.upscaling._settings import split_settings
from vsr.errors import InputNotFoundError, OutputExistsError, UnsupportedError

from _models import make_tiny_model


def _image(path: Path, h: int = 10, w: int = 12) -> Path:
    # Random pixels written with OpenCV.
    assert cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))
    return path


def _fp32(model: nn.Module, **kw: object) -> InferenceSettings:
    return InferenceSettings(model=model, scale=2, device="cpu", precision="fp32", batch_size=2, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- settings
def test_settings_check_themselves_and_keep_their_own_copy() -> None:
    with pytest.raises(UnsupportedError, match="give a scale or a target size"):
        InferenceSettings()
    with pytest.raises(UnsupportedError, match="segment_frames must be >= 1"):
        SegmentSettings(segment_frames=0)
    options = {"tune": "film"}
    encode = EncodeSettings(encoder_options=options)
    options["tune"] = "grain"
    assert encode.encoder_options == {"tune": "film"}
    assert InferenceSettings(scale=3).tag == "x3"
    assert InferenceSettings(target=vsr.OutputSize(width=1280)).tag == "w1280"


def test_keywords_are_sorted_into_the_settings_and_unknown_ones_refused() -> None:
    inference, encode, decode, segments = split_settings("f", {"scale": 2, "crf": 30, "start": 1.5, "segment_frames": 4}, segments=True)
    assert (inference.scale, encode.crf, decode.start, segments.segment_frames) == (2, 30, 1.5, 4)
    with pytest.raises(TypeError, match=r"upscale_video\(\) got an unexpected keyword argument 'segment_frames'"):
        vsr.upscale_video("in.mp4", "out.mp4", scale=2, segment_frames=4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'qualty'"):
        vsr.upscale_segmented("in.mp4", "out.mp4", scale=2, qualty=3)


def test_upscalers_build_each_factor_once_and_pick_it_from_the_input_size() -> None:
    mdsr = make_tiny_model("mdsr_baseline")
    ups = Upscalers(InferenceSettings(model=mdsr, target=vsr.OutputSize(width=30), device="cpu", precision="fp32"))
    assert ups.for_size(10, 8).scale == 3 and ups.for_size(15, 8).scale == 2
    assert ups.for_size(10, 8) is ups.get(3)


def test_destination_follows_the_output_argument(tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    assert destination(src, None, "x2") == tmp_path / "clip_x2.mp4"
    assert destination(src, tmp_path / "o.mkv", "x2") == tmp_path / "o.mkv"
    (tmp_path / "out").mkdir()
    assert destination(src, tmp_path / "out", "1920x1080") == tmp_path / "out" / "clip_1920x1080.mp4"


# --------------------------------------------------------------------------- one file
def test_an_image_gives_image_stats(tmp_path: Path, tiny_model: nn.Module) -> None:
    src = _image(tmp_path / "a.png")
    stats = vsr.upscale(src, inference=_fp32(tiny_model))
    assert isinstance(stats, ImageStats) and stats.dst == tmp_path / "a_x2.png"
    assert stats.line() == f"{src} -> {tmp_path / 'a_x2.png'} (x2, cpu, fp32)"
    assert cv2.imread(str(stats.dst)).shape == (20, 24, 3)


def test_a_video_runs_in_one_process_with_the_given_encoder(tmp_path: Path, make_video: Callable[..., Path], tiny_model: nn.Module) -> None:
    src = make_video("in.mp4", frames=3, size=(24, 16))
    stats = vsr.upscale(src, tmp_path / "o.mkv", inference=_fp32(tiny_model), encode=EncodeSettings(codec="ffv1"), progress=False)
    assert type(stats) is UpscaleStats
    assert (stats.frames, stats.codec, stats.output_size) == (3, "ffv1", (48, 32))
    assert stats.line().startswith(f"{src}: 3 frames in ")


def test_segments_are_chosen_by_settings_or_by_a_leftover_folder(tmp_path: Path, make_video: Callable[..., Path], tiny_model: nn.Module) -> None:
    src = make_video("in.mp4", frames=6)
    stats = vsr.upscale(src, tmp_path / "s.mp4", inference=_fp32(tiny_model), segments=SegmentSettings(segment_frames=2), progress=False)
    assert isinstance(stats, SegmentedStats) and (stats.frames, stats.segments) == (6, 3)
    work_dir_for(tmp_path / "t.mp4").mkdir()
    (work_dir_for(tmp_path / "t.mp4") / "manifest.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="--resume"):  # never silently ignored: the segmented engine refuses
        vsr.upscale(src, tmp_path / "t.mp4", inference=_fp32(tiny_model), progress=False)


def test_segments_need_one_video_file(tmp_path: Path, tiny_model: nn.Module) -> None:
    src = _image(tmp_path / "a.png")
    with pytest.raises(UnsupportedError, match="works on one video file"):
        vsr.upscale(src, inference=_fp32(tiny_model), segments=SegmentSettings(resume=True))
    with pytest.raises(InputNotFoundError, match="does not exist"):
        vsr.upscale(tmp_path / "missing.mp4", inference=_fp32(tiny_model))


# --------------------------------------------------------------------------- folders
def test_a_folder_reports_each_file_and_goes_on_after_a_failure(tmp_path: Path, make_video: Callable[..., Path], tiny_model: nn.Module) -> None:
    make_video("b.mp4", frames=2)
    _image(tmp_path / "a.png")
    (tmp_path / "c.mp4").write_bytes(b"not a video")
    _image(tmp_path / "old_x2.png")  # an earlier output: skipped
    (tmp_path / "notes.txt").write_text("not media")
    out = tmp_path / "out"
    seen: list[FileResult] = []
    stats = vsr.upscale(tmp_path, out, inference=_fp32(tiny_model), decode=DecodeSettings(decoder="pyav"), progress=False,
                        on_file=seen.append)
    assert isinstance(stats, FolderStats) and [f.src.name for f in seen] == ["a.png", "b.mp4", "c.mp4"]
    assert list(stats.files) == seen and [f.src.name for f in stats.failed] == ["c.mp4"]
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.mp4"]
    assert seen[2].line().startswith("Failed: ") and str(tmp_path / "c.mp4") in seen[2].line()
    assert stats.summary() == "3 files: 2 upscaled, 1 failed, 1 earlier outputs (*_x2/_x3/_x4) skipped"


def test_an_empty_folder_is_an_error(tmp_path: Path, tiny_model: nn.Module) -> None:
    _image(tmp_path / "a_x2.png")
    with pytest.raises(InputNotFoundError, match="no videos or images"):
        vsr.upscale(tmp_path, inference=_fp32(tiny_model))
