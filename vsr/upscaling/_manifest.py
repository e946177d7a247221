"""The plan of a segmented upscale: the segments, the work folder, the manifest, and what a resume may reuse.

The frames of the video (or of its ``start``/``duration`` window) are split into
contiguous segments of about ``segment_frames`` frames (:func:`plan_segments`),
each starting on a keyframe of the source where one is within half a segment,
so that it decodes from its own keyframe. :mod:`vsr.upscaling._segmented` makes and joins
them; this module decides them and keeps their records.

The work folder, ``.<output name>.vsr-segments/`` beside the output (:func:`work_dir_for`)::

    manifest.json     the plan: the settings and their hash, the frame range, pts range and file of every
                      segment; rank 0 writes it before any work and again, with every segment's record,
                      before joining
    seg_00000.nut     segment 0: video only, in NUT (exact timestamps in any time base; see SEGMENT_CONTAINER)
    seg_00000.json    segment 0's record, written once the segment file is complete: its SHA-256, size,
                      frame count, pts range, stream description, and the settings hash it was made with

A ``resume`` run keeps ``manifest.json`` after joining, with a record of the output (size, SHA-256, frames),
so that the same command run again reports "already complete" instead of refusing the existing output; the
same holds when a run was killed between giving the output its name and deleting the folder.

Every file is written atomically (:mod:`vsr._core._files`), so a crash leaves a whole
file or none. ``resume=True`` reuses each segment whose record matches its
file (size and SHA-256) and the manifest's settings; a run with other settings is
refused with the list of what differs, so segments made differently are never mixed.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsr._core import flatten, remove_stale_partials, sha256_file, write_text
from vsr.inference import Upscaler
from vsr.errors import EncodeError, InvalidInputError, OutputExistsError, UnsupportedError
from vsr.io import SegmentInfo, VideoInfo, VideoReader, probe_segment

__all__ = [
    "FORMAT",
    "MAX_AUTO_SEGMENT_FRAMES",
    "SEGMENT_CONTAINER",
    "SEGMENT_SUFFIX",
    "SegmentPlan",
    "Segment",
    "default_segment_frames",
    "describe",
    "make_segment_plan",
    "manifest",
    "output_record",
    "plan_segments",
    "remove_segment_files",
    "run_settings",
    "work_dir_for",
    "write_json",
]

log = logging.getLogger(__name__)

FORMAT = "vsr-segments/1"
#: The automatic segment size never exceeds this, so a crash loses at most this many frames per rank.
MAX_AUTO_SEGMENT_FRAMES = 1000
#: Automatic segments per rank: enough for a fast rank to take over a slow one's share.
_SEGMENTS_PER_RANK = 4
#: Segment files are NUT, whatever the output: it keeps timestamps exact in any time base (MP4 edit lists round
#: a start offset to milliseconds, Matroska every timestamp), and holds every codec the outputs can.
SEGMENT_CONTAINER, SEGMENT_SUFFIX = "nut", ".nut"


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, end)`` of the window (indices as in :attr:`vsr.io.FrameBatch.index`) and their pts range."""

    index: int
    first: int
    end: int
    first_pts: int
    last_pts: int

    @property
    def frames(self) -> int:
        """Number of frames."""
        return self.end - self.first

    @property
    def file_name(self) -> str:
        """The segment file's name, e.g. ``seg_00003.nut``."""
        return f"seg_{self.index:05d}{SEGMENT_SUFFIX}"

    @property
    def record_name(self) -> str:
        """The name of the record written once the segment is complete, e.g. ``seg_00003.json``."""
        return f"seg_{self.index:05d}.json"

    def to_dict(self) -> dict[str, Any]:
        """The manifest's entry for this segment."""
        return {"index": self.index, "frames": [self.first, self.end], "pts": [self.first_pts, self.last_pts]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Segment:
        """The inverse of :meth:`to_dict`."""
        (first, end), (first_pts, last_pts) = d["frames"], d["pts"]
        return cls(int(d["index"]), int(first), int(end), int(first_pts), int(last_pts))


def default_segment_frames(num_frames: int, world_size: int = 1) -> int:
    """About a quarter of each rank's share of ``num_frames``, at most :data:`MAX_AUTO_SEGMENT_FRAMES`."""
    return max(1, min(MAX_AUTO_SEGMENT_FRAMES, math.ceil(num_frames / (_SEGMENTS_PER_RANK * max(1, world_size)))))


def plan_segments(num_frames: int, segment_frames: int, keyframes: Sequence[int] = ()) -> list[tuple[int, int]]:
    """Split frames ``[0, num_frames)`` into contiguous ``(first, end)`` ranges of about ``segment_frames`` frames.

    Each range after the first starts ``segment_frames`` after the previous start,
    moved to the nearest of ``keyframes`` within half a segment (the earlier one on a
    tie) when there is one, so every range can be decoded from its own keyframe;
    without a keyframe nearby the range starts exactly there (decoding then begins
    at the keyframe before it). Intra-only video, where every frame is a
    keyframe, is split exactly every ``segment_frames``.

    Example: 100 frames, keyframes every 30, ``segment_frames=25`` ->
    ``[(0, 30), (30, 60), (60, 90), (90, 100)]``.
    """
    if num_frames < 1:
        raise UnsupportedError(f"cannot plan segments of an empty video ({num_frames} frames)")
    if segment_frames < 1:
        raise UnsupportedError(f"segment_frames must be >= 1, got {segment_frames}")
    keys = sorted({int(k) for k in keyframes if 0 < k < num_frames})
    half = segment_frames // 2
    starts = [0]
    target = segment_frames
    while target < num_frames:
        lo, hi = max(starts[-1] + 1, target - half), min(num_frames - 1, target + half)
        i = bisect.bisect_left(keys, target)
        near = [k for k in keys[max(0, i - 1) : i + 1] if lo <= k <= hi]
        start = min(near, key=lambda k: (abs(k - target), k)) if near else target
        starts.append(start)
        target = start + segment_frames
    return list(zip(starts, starts[1:] + [num_frames]))


def work_dir_for(dst: str | os.PathLike[str]) -> Path:
    """The segment folder of an output: ``.<name>.vsr-segments`` beside it."""
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.vsr-segments")


# --------------------------------------------------------------------------- small helpers
def _model_sha256(model: nn.Module) -> str:
    """A hash of the weights (names, dtypes, shapes and values), independent of device and memory format."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _json_sha256(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically, so readers see the old file or the new one, never a part."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``key.path: old -> new`` for every setting that differs."""
    a, b = flatten(old), flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def describe(e: BaseException) -> str:
    """The first line of an error's message (its type when it has none), for one-line reports."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class SegmentPlan:
    """What rank 0 decides and every rank follows."""

    work_dir: Path
    settings_sha256: str
    segments: tuple[Segment, ...]
    pending: tuple[int, ...]
    frames_reused: int
    #: Set when ``dst`` is the finished output of an earlier run with these settings: nothing to do.
    complete: Mapping[str, Any] | None = None


def run_settings(
    src: Path, pts: Sequence[int], info: VideoInfo, upscaler: Upscaler, *, codec: str, options: Mapping[str, str],
    pix_fmt: str, suffix: str, start: float | None, duration: float | None,
) -> dict[str, Any]:
    """Everything that decides a segment's content; the file's name, size and timestamps identify the source
    (not its path or mtime, so a moved or touched file can still be resumed)."""
    return {
        "source": {
            "name": src.name,
            "bytes": src.stat().st_size,
            "frames": len(pts),
            "time_base": str(info.time_base),
            "pts_sha256": _json_sha256(list(pts)),
        },
        "window": {"start": start, "duration": duration},
        "model": {"sha256": _model_sha256(upscaler.model), "scale": upscaler.scale},
        "output_size": list(upscaler.output_size(info.width, info.height)),
        "inference": {"device_type": upscaler.device.type, "precision": upscaler.precision, "self_ensemble": upscaler.self_ensemble},
        "encoder": {"codec": codec, "options": dict(options), "pix_fmt": pix_fmt, "container": suffix},
    }


def _valid_record(work: Path, seg: Segment, settings_sha256: str) -> dict[str, Any] | None:
    """The segment's record if it and its file are complete and were made with these settings, else ``None``."""
    rec_path = work / seg.record_name
    if not rec_path.exists():
        return None
    try:
        rec = json.loads(rec_path.read_text(encoding="utf-8"))
        path = work / seg.file_name
        problem = None
        if rec.get("settings_sha256") != settings_sha256:
            problem = "made with other settings"
        elif rec.get("frames") != [seg.first, seg.end]:
            problem = f"covers frames {rec.get('frames')}, the plan says {[seg.first, seg.end]}"
        elif not path.exists() or path.stat().st_size != rec.get("bytes"):
            problem = f"{path.name} is missing or has changed size"
        elif sha256_file(path) != rec.get("sha256"):
            problem = f"{path.name} does not match its SHA-256"
        else:
            SegmentInfo.from_dict({**rec["segment"], "path": str(path)})
            int(rec["first_pts_written"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        problem = f"unreadable record ({describe(e)})"
    if problem is not None:
        log.warning("%s: segment %d will be redone: %s", work, seg.index, problem)
        return None
    return rec  # type: ignore[no-any-return]


def _clean(work: Path, segments: Sequence[Segment], pending: Sequence[int]) -> None:
    """Delete partial files of killed writers and whatever is left of the segments still to make."""
    for name in ("manifest.json", *(n for s in segments for n in (s.file_name, s.record_name))):
        remove_stale_partials(work / name)
    for i in pending:
        (work / segments[i].record_name).unlink(missing_ok=True)
        (work / segments[i].file_name).unlink(missing_ok=True)


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest as a dict; ``{}`` when it is missing or unreadable (the callers that need it say so)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def output_record(dst: Path, frames: int, probe: SegmentInfo) -> dict[str, Any]:
    """What identifies a finished output (its size and SHA-256), and what a rerun reports of it."""
    return {"bytes": dst.stat().st_size, "sha256": sha256_file(dst), "frames": frames, "size": [probe.width, probe.height],
            "pix_fmt": probe.pix_fmt}


def _finished_run(
    dst: Path, work: Path, settings: dict[str, Any], segment_frames: int | None
) -> tuple[str, tuple[Segment, ...], dict[str, Any]] | None:
    """For ``resume``: the settings hash, segments and output record when ``dst`` is the finished output of a run
    with these settings, else ``None``.

    Either the manifest records the output (its SHA-256 must match), or the run was stopped between giving the
    output its name and recording it: then every segment is recorded as done and ``dst`` holds their frames.
    """
    old = _read_manifest(work / "manifest.json")
    try:
        old_settings = dict(old["settings"])
        segments = tuple(Segment.from_dict(d) for d in old["segments"])
        records = [d.get("done") for d in old["segments"]]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    mine = {**settings, "segment_frames": segment_frames if segment_frames is not None else old_settings.get("segment_frames")}
    if _differences(old_settings, mine):
        return None
    settings_sha256 = _json_sha256(mine)
    complete = old.get("complete")
    try:
        if isinstance(complete, dict):
            if dst.stat().st_size != complete.get("bytes") or sha256_file(dst) != complete.get("sha256"):
                return None
        else:
            if not all(isinstance(r, dict) and r.get("settings_sha256") == settings_sha256 for r in records):
                return None
            frames = sum(int(r["frames_written"]) for r in records)  # type: ignore[index]
            probe = probe_segment(dst)
            if probe.packets != frames:
                return None
            complete = output_record(dst, frames, probe)
            write_json(work / "manifest.json", {**old, "complete": complete})
            remove_segment_files(work, segments)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    settings.update(mine)
    return settings_sha256, segments, complete


def remove_segment_files(work: Path, segments: Sequence[Segment]) -> None:
    """Delete the segment files and their records (the manifest stays)."""
    for seg in segments:
        (work / seg.record_name).unlink(missing_ok=True)
        (work / seg.file_name).unlink(missing_ok=True)


def make_segment_plan(
    src: Path, dst: Path, reader: VideoReader, settings: dict[str, Any], *, segment_frames: int | None, resume: bool,
    overwrite: bool, world_size: int,
) -> SegmentPlan:
    """Rank 0: check the destination, reuse or start the work folder, and decide the segments."""
    work = work_dir_for(dst)
    manifest_path = work / "manifest.json"
    if dst.is_file() and not overwrite:
        finished = _finished_run(dst, work, settings, segment_frames) if resume else None
        if finished is None:
            raise OutputExistsError(f"{dst}: already exists; pass --overwrite (overwrite=True) to replace it")
        settings_sha256, segments, complete = finished
        return SegmentPlan(work, settings_sha256, segments, (), sum(s.frames for s in segments), complete)
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst}: already exists; pass --overwrite (overwrite=True) to replace it")
    if dst.is_dir():
        raise OutputExistsError(f"{dst}: is a folder; give a file name")
    if not dst.parent.is_dir():
        raise InvalidInputError(f"{dst}: the folder {dst.parent} does not exist")
    if dst.exists() and src.resolve() == dst.resolve():
        raise InvalidInputError(f"{dst}: the output would overwrite the input; choose another output name")
    pts = reader.frame_pts
    old: dict[str, Any] | None = None
    if _read_manifest(manifest_path).get("complete") is not None:
        # What a finished --resume run keeps; the output it describes is being replaced or is gone.
        manifest_path.unlink()
    if manifest_path.exists():
        if not resume:
            raise OutputExistsError(
                f"{work}: an interrupted run left segments here; rerun with --resume to continue it, or delete the folder to start over"
            )
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
            if old.get("format") != FORMAT:
                raise ValueError(f"format {old.get('format')!r}, expected {FORMAT!r}")
            old_segments = tuple(Segment.from_dict(d) for d in old["segments"])
            if [seg.index for seg in old_segments] != list(range(len(old_segments))):
                raise ValueError("segments are not numbered 0, 1, 2, ...")
            old_settings = dict(old["settings"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise InvalidInputError(f"{manifest_path}: not a readable vsr segment manifest ({describe(e)}); delete {work} to start over") from None
        settings["segment_frames"] = segment_frames if segment_frames is not None else old_settings.get("segment_frames")
        diffs = _differences(old_settings, settings)
        if diffs:
            raise UnsupportedError(
                f"{manifest_path}: the segments there were made with other settings ({'; '.join(diffs)}); "
                f"rerun with the same settings, or delete {work} to start over"
            )
        segments = old_segments
    else:
        if resume:
            log.info("%s: no earlier run to resume; starting from the beginning", dst)
        size = segment_frames or default_segment_frames(len(pts), world_size)
        settings["segment_frames"] = size
        segments = tuple(Segment(i, a, b, pts[a], pts[b - 1]) for i, (a, b) in enumerate(plan_segments(len(pts), size, reader.keyframes)))
    settings_sha256 = _json_sha256(settings)
    try:
        work.mkdir(exist_ok=True)
    except OSError as e:
        raise EncodeError(f"{work}: cannot create the segment folder ({e.strerror})") from None
    done = {s.index: rec for s in segments if old is not None and (rec := _valid_record(work, s, settings_sha256))}
    pending = tuple(s.index for s in segments if s.index not in done)
    _clean(work, segments, pending)
    write_json(manifest_path, manifest(src, dst, settings, settings_sha256, segments, done))
    reused = sum(segments[i].frames for i in done)
    if done:
        log.info("%s: reusing %d of %d segments (%d frames)", dst, len(done), len(segments), reused)
    return SegmentPlan(work, settings_sha256, segments, pending, reused)


def manifest(
    src: Path, dst: Path, settings: Mapping[str, Any], settings_sha256: str, segments: Sequence[Segment], done: Mapping[int, Any]
) -> dict[str, Any]:
    """The content of ``manifest.json``: the plan, and the record of each segment in ``done``."""
    return {
        "format": FORMAT,
        "source": str(src),
        "output": str(dst),
        "settings": settings,
        "settings_sha256": settings_sha256,
        "frames": sum(s.frames for s in segments),
        "segments": [{**s.to_dict(), "done": done.get(s.index)} for s in segments],
    }
