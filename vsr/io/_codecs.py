"""Which encoders and containers vsr writes, and how each encoder takes quality and speed settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from vsr.errors import UnsupportedError

__all__ = ["CODECS", "CONTAINERS", "RateControl", "check_container", "codec_name", "default_codec", "encoder_settings",
           "has_encoder", "subsampling"]

#: Output extensions and the FFmpeg muxer used for each.
CONTAINERS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}


@dataclass(frozen=True)
class RateControl:
    """How one encoder takes quality and speed settings."""

    quality_option: str | None
    default_quality: int | None
    preset_option: str | None
    default_preset: str | None
    extra: Mapping[str, str] = None  # type: ignore[assignment]


#: Encoders with known quality/speed options. Any other FFmpeg video encoder may
#: be named too; it then gets only the ``encoder_options`` given.
CODECS: dict[str, RateControl] = {
    "libx264": RateControl("crf", 18, "preset", "medium"),
    "libx264rgb": RateControl("crf", 18, "preset", "medium"),
    "libx265": RateControl("crf", 20, "preset", "medium", {"x265-params": "log-level=error"}),
    "libvpx-vp9": RateControl("crf", 31, None, None, {"b": "0", "row-mt": "1"}),
    "libsvtav1": RateControl("crf", 32, "preset", None),
    "ffv1": RateControl(None, None, None, None),
    "h264_nvenc": RateControl("cq", 19, "preset", "p5", {"rc": "vbr", "b": "0"}),
    "hevc_nvenc": RateControl("cq", 21, "preset", "p5", {"rc": "vbr", "b": "0"}),
    "av1_nvenc": RateControl("cq", 28, "preset", "p5", {"rc": "vbr", "b": "0"}),
}

def default_codec(path: str | os.PathLike[str]) -> str:
    """The encoder used when none is named: libx264, or libvpx-vp9 for ``.webm``."""
    return "libvpx-vp9" if Path(path).suffix.lower() == ".webm" else "libx264"


def encoder_settings(
    codec: str, *, crf: int | None = None, preset: str | None = None, encoder_options: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The options :class:`VideoWriter` opens ``codec`` with: its quality and preset defaults, then ``encoder_options``.

    Raises :class:`UnsupportedError` for a crf or preset the encoder cannot take.
    """
    rc = CODECS.get(codec)
    opts: dict[str, str] = {}
    if rc is None:
        if crf is not None or preset is not None:
            raise UnsupportedError(
                f"vsr does not know how {codec} takes crf/preset; pass them with --encoder-opt (encoder_options) instead"
            )
    else:
        if crf is not None and rc.quality_option is None:
            raise UnsupportedError(f"{codec} has no quality setting (it is lossless); drop --crf")
        if preset is not None and rc.preset_option is None:
            raise UnsupportedError(f"{codec} has no --preset; pass speed settings with --encoder-opt")
        if rc.quality_option is not None:
            opts[rc.quality_option] = str(rc.default_quality if crf is None else int(crf))
        if rc.preset_option is not None and (preset or rc.default_preset):
            opts[rc.preset_option] = str(preset or rc.default_preset)
        opts.update(rc.extra or {})
    opts.update({str(k): str(v) for k, v in (encoder_options or {}).items()})
    return opts


def check_container(path: str | os.PathLike[str], codec: str, *, container: str | None = None) -> None:
    """Raise :class:`UnsupportedError` when the container of ``path`` cannot hold ``codec`` video.

    The container is the one the extension picks (:data:`CONTAINERS`), or the
    FFmpeg muxer ``container``. ``codec`` is an encoder (``libx264``) or a codec
    name (``h264``); unknown names pass (the encoder reports them when opened).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    fmt = container or CONTAINERS.get(suffix)
    if fmt is None:
        raise UnsupportedError(f"{path}: unsupported output extension {suffix or '(none)'!r}; use one of {', '.join(CONTAINERS)}")
    name = None
    for mode in ("w", "r"):
        try:
            name = av.codec.Codec(codec, mode).canonical_name
            break
        except (av.error.FFmpegError, ValueError):
            continue
    if name is None:
        return
    with av.open(os.devnull, "w", format=fmt) as probe:
        if name not in probe.supported_codecs:
            where = f"{suffix} files" if container is None else f"{container} files"
            raise UnsupportedError(f"{path}: {where} cannot hold {codec} video; use .mkv or another --codec")


def subsampling(pix_fmt: str) -> tuple[int, int]:
    fmt = av.video.format.VideoFormat(pix_fmt)
    if fmt.is_rgb or len(fmt.components) < 3:
        return 1, 1
    return max(1, 1024 // fmt.chroma_width(1024)), max(1, 1024 // fmt.chroma_height(1024))


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def codec_name(stream: Any) -> str:
    """The codec's canonical name (``subrip``, not the decoder's ``srt``), as muxers list them."""
    cc = stream.codec_context
    if cc is None:
        return ""
    try:
        return str(cc.codec.canonical_name)
    except (AttributeError, ValueError):
        return str(cc.name)
