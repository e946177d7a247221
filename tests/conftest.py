"""Shared test fixtures: tiny media made on the fly with PyAV, tiny models, RNG hygiene, the needs_cuda skip.

Every clip is generated into ``tmp_path`` by :func:`make_video`; nothing is
downloaded and nothing binary is committed. The frame-index pattern
(:class:`FrameCode`) survives lossy coding and nearest-neighbour upscaling, so a
test can read back which source frame each output frame came from.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch import nn

from _models import make_tiny_model, save_tiny_model

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# A test run started in the background by a non-interactive shell (`pytest &`, nohup, some CI wrappers) inherits
# SIGINT *ignored*, and so would every process the tests start: the Ctrl-C tests would then see vsr run to the end
# and fail for a reason outside vsr. Give this process Python's own handler; exec'd children then start with the
# default disposition, as a process started from a terminal does.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: 75% colour bars (SMPTE order) as 8-bit RGB.
BARS: tuple[tuple[int, int, int], ...] = (
    (191, 191, 191),
    (191, 191, 0),
    (0, 191, 191),
    (0, 191, 0),
    (191, 0, 191),
    (191, 0, 0),
    (0, 0, 191),
)

_SWS = {"bt709": 1, "smpte170m": 5, "bt470bg": 5, "bt2020nc": 9}
_AVCOL = {"bt709": 1, "smpte170m": 6, "bt470bg": 5, "bt2020nc": 9}


# --------------------------------------------------------------------------- hooks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``needs_cuda`` tests without a GPU, unless FAIL_WITHOUT_CUDA is set (then they fail)."""
    if torch.cuda.is_available() or os.environ.get("FAIL_WITHOUT_CUDA"):
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "needs_cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def private_plan_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Execution plans measured earlier on the developer's machine must not change what a test runs."""
    monkeypatch.setenv("VSR_CACHE_DIR", str(tmp_path_factory.mktemp("vsr_cache")))


@pytest.fixture(autouse=True)
def prevent_leaking_rng() -> Iterator[None]:
    """Restore the torch, numpy and random states after each test."""
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    np_state = np.random.get_state()
    py_state = random.getstate()
    yield
    torch.set_rng_state(torch_state)
    if cuda_states is not None:
        torch.cuda.set_rng_state_all(cuda_states)
    np.random.set_state(np_state)
    random.setstate(py_state)


# --------------------------------------------------------------------------- tiny models
@pytest.fixture
def tiny_model() -> nn.Module:
    """A random EDSR-baseline x2 with 1 block of 8 features (seed 0): the real architecture, fast."""
    return make_tiny_model()


@pytest.fixture
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_model`` saved as ``tiny_x2.pt`` in a folder of its own."""
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny_x2.pt")


# --------------------------------------------------------------------------- frame content
class FrameCode:
    """Writes a frame number into a picture as a 4 x 2 grid of black/white cells (8 bits) and reads it back."""

    cols, rows = 4, 2

    @classmethod
    def draw(cls, index: int, width: int, height: int) -> np.ndarray:
        """An ``H x W x 3`` uint8 frame showing ``index`` (0..255)."""
        if not 0 <= index < 2 ** (cls.cols * cls.rows):
            raise ValueError(f"index {index} does not fit in {cls.cols * cls.rows} bits")
        img = np.zeros((height, width, 3), np.uint8)
        for bit in range(cls.cols * cls.rows):
            if index >> bit & 1:
                (x0, x1), (y0, y1) = cls._cell(bit, width, height)
                img[y0:y1, x0:x1] = 255
        return img

    @classmethod
    def read(cls, frame: np.ndarray) -> int:
        """The index drawn by :meth:`draw`, from the middle of each cell (robust to blur, scaling, cropping)."""
        h, w = frame.shape[:2]
        value = 0
        for bit in range(cls.cols * cls.rows):
            (x0, x1), (y0, y1) = cls._cell(bit, w, h)
            mx, my = max(1, (x1 - x0) // 4), max(1, (y1 - y0) // 4)
            if frame[y0 + my : y1 - my, x0 + mx : x1 - mx].mean() > 128:
                value |= 1 << bit
        return value

    @classmethod
    def _cell(cls, bit: int, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
        c, r = bit % cls.cols, bit // cls.cols
        return (c * width // cls.cols, (c + 1) * width // cls.cols), (r * height // cls.rows, (r + 1) * height // cls.rows)


def colour_bars(width: int, height: int) -> np.ndarray:
    """Vertical 75% colour bars, ``H x W x 3`` uint8 RGB."""
    img = np.zeros((height, width, 3), np.uint8)
    for i, rgb in enumerate(BARS):
        img[:, i * width // len(BARS) : (i + 1) * width // len(BARS)] = rgb
    return img


# --------------------------------------------------------------------------- clip factory
def write_video(
    path: Path,
    *,
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    content: str | Callable[[int], np.ndarray] = "index",
    audio: Sequence[str] = (),
    subtitles: Sequence[tuple[int, int, str]] = (),
    rotation: int = 0,
    colorspace: str | None = None,
    color_range: str | None = None,
    tag_colour: bool = True,
    metadata: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write a small test clip with PyAV and return its path.

    ``content`` is ``index`` (:class:`FrameCode`), ``bars`` (:func:`colour_bars`),
    ``noise`` or a function of the frame number. ``pts`` (in ``time_base``, default
    ``1/fps``) gives variable frame rate. ``audio`` lists audio encoders, one stream
    each (stereo noise covering the video); ``subtitles`` are ``(start_ms,
    duration_ms, text)`` cues in a subrip stream. ``colorspace`` (``bt709``,
    ``smpte170m``, ...) and ``color_range`` (``limited``/``full``) convert, and tag
    unless ``tag_colour`` is false.
    """
    w, h = size
    tb = time_base or Fraction(1, fps)
    if pts is None:
        step = int(round(Fraction(1, fps) / tb))
        pts = [i * step for i in range(frames)]
    rng = np.random.default_rng(0)
    with av.open(os.fspath(path), "w", options=container_options or {}) as out:
        if metadata:
            out.metadata.update(metadata)
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.time_base = tb
        vs.codec_context.time_base = tb
        vs.codec_context.options = dict({"crf": "10"} if codec == "libx264" else {}, **(options or {}))
        if rotation:
            vs.set_display_rotation(rotation)
        conv: dict[str, int] = {}
        if colorspace is not None:
            conv["dst_colorspace"] = _SWS[colorspace]
            if tag_colour:
                vs.codec_context.colorspace = _AVCOL[colorspace]
                vs.codec_context.color_primaries = _AVCOL[colorspace]
                vs.codec_context.color_trc = 1 if colorspace == "bt709" else 6
        if color_range is not None:
            conv["dst_color_range"] = 2 if color_range == "full" else 1
            if tag_colour:
                vs.codec_context.color_range = 2 if color_range == "full" else 1
        audio_streams = []
        for name in audio:
            a = out.add_stream(name, rate=48000)
            a.layout = "stereo"
            audio_streams.append(a)
        sub = None
        if subtitles:
            sub = out.add_mux_stream("subrip")
            sub.time_base = Fraction(1, 1000)
            sub.metadata["language"] = "eng"
        for i in range(frames):
            if callable(content):
                img = content(i)
            elif content == "index":
                img = FrameCode.draw(i, w, h)
            elif content == "bars":
                img = colour_bars(w, h)
            else:
                img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame = frame.reformat(format=pix_fmt, **conv) if not pix_fmt.startswith(("rgb", "bgr", "gbr")) else frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = int(pts[i]), tb
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        end_s = float((pts[-1] - pts[0]) * tb) + float(tb * (pts[1] - pts[0] if len(pts) > 1 else 1))
        for a in audio_streams:
            size_ = a.codec_context.frame_size or 1024
            fmt = a.codec_context.format.name
            for k in range(int(end_s * 48000 / size_) + 1):
                samples = (rng.standard_normal((2, size_)) * 0.1).astype(np.float32)
                if fmt in ("s16", "s16p"):
                    samples = (samples * 32767).astype(np.int16)
                if not fmt.endswith("p"):
                    samples = samples.T.reshape(1, -1)
                af = av.AudioFrame.from_ndarray(samples, format=fmt, layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, k * size_, Fraction(1, 48000)
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode(None):
                out.mux(p)
        for start_ms, dur_ms, text in subtitles:
            assert sub is not None
            pkt = av.Packet(text.encode())
            pkt.stream, pkt.time_base = sub, Fraction(1, 1000)
            pkt.pts = pkt.dts = start_ms
            pkt.duration = dur_ms
            out.mux(pkt)
    return path


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """``make_video(name, **kw)`` writes a clip into ``tmp_path`` (see :func:`write_video`)."""

    def make(name: str = "clip.mp4", **kw: object) -> Path:
        return write_video(tmp_path / name, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def bad_videos(tmp_path: Path, make_video: Callable[..., Path]) -> dict[str, Path]:
    """Inputs that must be refused, by kind: missing, zero-byte, garbage, truncated (plain and faststart MP4),
    audio-only, a text file, a folder. All in ``tmp_path``; the good clips they were cut from are removed."""
    good = make_video("good.mp4", frames=20)
    fast = make_video("fast.mp4", frames=20, content="noise", container_options={"movflags": "faststart"})
    with_audio = make_video("with_audio.mkv", frames=5, audio=["aac"])
    out = {
        "missing": tmp_path / "nope.mp4",
        "zero-byte": tmp_path / "empty.mp4",
        "garbage": tmp_path / "garbage.mp4",
        "truncated": tmp_path / "trunc.mp4",
        "truncated-faststart": tmp_path / "trunc_fast.mp4",
        "audio-only": tmp_path / "audio_only.mkv",
        "text": tmp_path / "notes.mp4",
        "folder": tmp_path / "dir.mp4",
    }
    out["zero-byte"].write_bytes(b"")
    out["garbage"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    data, fdata = good.read_bytes(), fast.read_bytes()
    out["truncated"].write_bytes(data[: len(data) * 6 // 10])  # the index (moov) at the end is lost
    out["truncated-faststart"].write_bytes(fdata[: len(fdata) * 6 // 10])  # index intact, frames missing
    out["text"].write_text("not a video\n" * 20)
    out["folder"].mkdir()
    with av.open(os.fspath(with_audio)) as i, av.open(os.fspath(out["audio-only"]), "w") as o:
        a = o.add_stream_from_template(i.streams.audio[0])
        for p in i.demux(i.streams.audio[0]):
            if p.size:
                p.stream = a
                o.mux(p)
    for p in (good, fast, with_audio):
        p.unlink()
    return out


@pytest.fixture
def frame_code() -> type[FrameCode]:
    """The frame-index pattern: ``frame_code.draw(i, w, h)`` and ``frame_code.read(frame)``."""
    return FrameCode


@pytest.fixture
def bars() -> tuple[tuple[int, int, int], ...]:
    """The RGB values of the colour bars drawn by ``content="bars"``."""
    return BARS


@pytest.fixture
def shared_videos() -> Path:
    """The real clips of ../shared/data/videos; skips when that folder is absent (a fresh clone)."""
    folder = SHARED_DATA / "videos"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (research data is only present in CI and on the dev machines)")
    return folder


@pytest.fixture
def damaged(make_video: Callable[..., Path], tmp_path: Path) -> Path:
    """An H.264 clip with 40 bytes flipped in its middle third: every frame decodes, some with concealed errors."""
    clean = make_video("clean.mp4", frames=30, size=(64, 48), content="noise")
    data = bytearray(clean.read_bytes())
    for i in np.random.default_rng(1).integers(len(data) // 3, len(data) * 2 // 3, 40):
        data[i] ^= 0xFF
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(data))
    clean.unlink()
    return path
