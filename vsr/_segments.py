"""Upscale a video in segments: resumable after a crash, and spread over processes under torchrun.

The frames of the video (or of its ``start``/``duration`` window) are split into
contiguous segments of about ``segment_frames`` frames, each starting on a
keyframe of the source where one is within half a segment, so that it decodes
from its own keyframe. Every segment is upscaled and encoded into its own
video-only file with the same encoder settings, in a work folder beside the
output. When all are done, rank 0 joins them by stream copy
(:func:`vsr.io.join_segments`: no second encode) into the output, copying audio,
subtitles, chapters and metadata from the source once, and deletes the folder.
The output has the frames and timestamps a single :func:`vsr.upscale_video` run
writes; only the encoder's keyframe placement differs (each segment starts with one).

The work folder, ``.<output name>.vsr-segments/`` beside the output::

    manifest.json     the plan: the settings and their hash, the frame range, pts range and file of every
                      segment; rank 0 writes it before any work and again, with every segment's record,
                      before joining
    seg_00000.nut     segment 0: video only, in NUT (exact timestamps in any time base; see _SEGMENT_CONTAINER)
    seg_00000.json    segment 0's record, written once the segment file is complete: its SHA-256, size,
                      frame count, pts range, stream description, and the settings hash it was made with

A ``resume`` run keeps ``manifest.json`` after joining, with a record of the output (size, SHA-256, frames),
so that the same command run again reports "already complete" instead of refusing the existing output; the
same holds when a run was killed between giving the output its name and deleting the folder.

Every file is written atomically (:mod:`vsr._files`), so a crash leaves a whole
file or none. ``resume=True`` reuses each segment whose record matches its
file (size and SHA-256) and the manifest's settings; a run with other settings is
refused with the list of what differs, so segments made differently are never mixed.

Under torchrun every rank makes the same call. Rank 0 plans (and checks what
can be reused) and broadcasts the plan; the ranks then take segments one at a
time from a counter they share, so faster ranks take more; rank 0 shows the
frames done by all, the aggregate fps and the ETA, waits for every rank and
joins. A failure anywhere fails every rank with nothing at the destination; the
finished segments stay for ``resume``.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from vsr._files import destination_lock, remove_stale_partials, sha256_file, write_text
from vsr._device import Precision
from vsr.io import DEFAULT_MAX_PIXELS, check_pixels
from vsr._distributed import Group, Progress, RankFailedError, dist_env, rank_device, sigterm_as_interrupt
from vsr._target import Target, choose_model_scale
from vsr.errors import EncodeError, InvalidInputError, OutputExistsError, UnsupportedError
from vsr._upscaler import Upscaler
from vsr.io import Backend, FrameBatch, SegmentInfo, VideoInfo, VideoReader, VideoWriter, check_container, default_codec, encoder_settings
from vsr.io import join_segments, probe_segment
from vsr.models import model_scales
from vsr._pipeline import UpscaleStats, upscale_stream

__all__ = [
    "MAX_AUTO_SEGMENT_FRAMES",
    "Segment",
    "SegmentedStats",
    "default_segment_frames",
    "plan_segments",
    "upscale_segmented",
    "work_dir_for",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_FORMAT = "vsr-segments/1"
#: The automatic segment size never exceeds this, so a crash loses at most this many frames per rank.
MAX_AUTO_SEGMENT_FRAMES = 1000
#: Automatic segments per rank: enough for a fast rank to take over a slow one's share.
_SEGMENTS_PER_RANK = 4
#: Segment files are NUT, whatever the output: it keeps timestamps exact in any time base (MP4 edit lists round
#: a start offset to milliseconds, Matroska every timestamp), and holds every codec the outputs can.
_SEGMENT_CONTAINER, _SEGMENT_SUFFIX = "nut", ".nut"


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
        return f"seg_{self.index:05d}{_SEGMENT_SUFFIX}"

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


@dataclass(frozen=True)
class SegmentedStats(UpscaleStats):
    """What :func:`upscale_segmented` did; ``frames`` counts the whole output, reused segments included."""

    segments: int = 0
    segments_reused: int = 0
    frames_reused: int = 0
    world_size: int = 1
    work_dir: Path = field(default_factory=Path)
    already_complete: bool = False

    @property
    def fps(self) -> float:
        """Frames upscaled in this run per second of this run (all ranks together)."""
        done = self.frames - self.frames_reused
        return done / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: frames, speed, processes, reused segments, output path and size."""
        w, h = self.output_size
        if self.already_complete:
            return f"already complete: {self.dst} ({self.frames} frames, {self.bytes_written / 1e6:.1f} MB; made earlier with the same settings)"
        procs = f", {self.world_size} processes" if self.world_size > 1 else ""
        reused = f", {self.segments_reused} of {self.segments} segments reused" if self.segments_reused else ""
        return (
            f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.2f} fps{procs}{reused}) -> {self.dst} "
            f"({w}x{h}, {self.codec}, {self.bytes_written / 1e6:.1f} MB){self.damage_note()}"
        )


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


def _write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically, so readers see the old file or the new one, never a part."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = _flatten(old), _flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _agree(group: Group, fn: Callable[[], T], *, poll: Callable[[], None] | None = None) -> T:
    """Run ``fn`` on every rank; if it raises on any rank, raise on every rank (the original error where it happened)."""
    error: Exception | None = None
    result: Any = None
    try:
        result = fn()
    except Exception as e:  # noqa: BLE001 - re-raised below, after every rank has heard of it
        error = e
        group.set_flag("failed", _describe(e))
    group.wait_all(poll)
    statuses = group.all_gather(None if error is None else _describe(error))
    if error is not None:
        raise error
    for rank, status in enumerate(statuses):
        if status is not None:
            raise RankFailedError(f"rank {rank} failed: {status}")
    return result  # type: ignore[no-any-return]


def _on_main(group: Group, fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 and give its result to every rank; if it raises, raise on every rank."""
    outcome: tuple[str, Any] = ("ok", None)
    error: Exception | None = None
    if group.env.is_main:
        try:
            outcome = ("ok", fn())
        except Exception as e:  # noqa: BLE001 - re-raised below, after every rank has heard of it
            error = e
            outcome = ("error", _describe(e))
    outcome = group.broadcast(outcome)
    if error is not None:
        raise error
    if outcome[0] == "error":
        raise RankFailedError(f"rank 0 failed: {outcome[1]}")
    return outcome[1]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class _Plan:
    """What rank 0 decides and every rank follows."""

    work_dir: Path
    settings_sha256: str
    segments: tuple[Segment, ...]
    pending: tuple[int, ...]
    frames_reused: int
    #: Set when ``dst`` is the finished output of an earlier run with these settings: nothing to do.
    complete: Mapping[str, Any] | None = None


def _settings(
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
        problem = f"unreadable record ({_describe(e)})"
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
    return data if isinstance(data, dict) and data.get("format") == _FORMAT else {}


def _output_record(dst: Path, frames: int, probe: SegmentInfo) -> dict[str, Any]:
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
            complete = _output_record(dst, frames, probe)
            _write_json(work / "manifest.json", {**old, "complete": complete})
            _remove_segment_files(work, segments)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    settings.update(mine)
    return settings_sha256, segments, complete


def _remove_segment_files(work: Path, segments: Sequence[Segment]) -> None:
    for seg in segments:
        (work / seg.record_name).unlink(missing_ok=True)
        (work / seg.file_name).unlink(missing_ok=True)


def _plan(
    src: Path, dst: Path, reader: VideoReader, settings: dict[str, Any], *, segment_frames: int | None, resume: bool,
    overwrite: bool, world_size: int,
) -> _Plan:
    """Rank 0: check the destination, reuse or start the work folder, and decide the segments."""
    work = work_dir_for(dst)
    manifest_path = work / "manifest.json"
    if dst.is_file() and not overwrite:
        finished = _finished_run(dst, work, settings, segment_frames) if resume else None
        if finished is None:
            raise OutputExistsError(f"{dst}: already exists; pass --overwrite (overwrite=True) to replace it")
        settings_sha256, segments, complete = finished
        return _Plan(work, settings_sha256, segments, (), sum(s.frames for s in segments), complete)
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
            if old.get("format") != _FORMAT:
                raise ValueError(f"format {old.get('format')!r}, expected {_FORMAT!r}")
            old_segments = tuple(Segment.from_dict(d) for d in old["segments"])
            if [seg.index for seg in old_segments] != list(range(len(old_segments))):
                raise ValueError("segments are not numbered 0, 1, 2, ...")
            old_settings = dict(old["settings"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise InvalidInputError(f"{manifest_path}: not a readable vsr segment manifest ({_describe(e)}); delete {work} to start over") from None
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
    _write_json(manifest_path, _manifest(src, dst, settings, settings_sha256, segments, done))
    reused = sum(segments[i].frames for i in done)
    if done:
        log.info("%s: reusing %d of %d segments (%d frames)", dst, len(done), len(segments), reused)
    return _Plan(work, settings_sha256, segments, pending, reused)


def _manifest(
    src: Path, dst: Path, settings: Mapping[str, Any], settings_sha256: str, segments: Sequence[Segment], done: Mapping[int, Any]
) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "source": str(src),
        "output": str(dst),
        "settings": settings,
        "settings_sha256": settings_sha256,
        "frames": sum(s.frames for s in segments),
        "segments": [{**s.to_dict(), "done": done.get(s.index)} for s in segments],
    }


# --------------------------------------------------------------------------- making and joining segments
@dataclass
class _Context:
    """What every rank holds while it makes segments."""

    src: Path
    reader: VideoReader
    pts: tuple[int, ...]
    upscaler: Upscaler
    plan: _Plan
    codec: str
    crf: int | None
    preset: str | None
    pix_fmt: str
    encoder_options: Mapping[str, str] | None
    start: float | None
    rank: int
    progress: Progress


def _make_segment(ctx: _Context, seg: Segment) -> None:
    """Upscale one segment into its file, check it, and record it."""
    info = ctx.reader.info
    pts = ctx.pts
    if pts[seg.first] != seg.first_pts or pts[seg.end - 1] != seg.last_pts:
        raise InvalidInputError(
            f"{ctx.src}: frames {seg.first}-{seg.end - 1} have other timestamps here than in the plan; every rank must read the same file"
        )
    work = ctx.plan.work_dir
    path = work / seg.file_name
    (work / seg.record_name).unlink(missing_ok=True)
    t0 = time.perf_counter()
    first_pts: list[int] = []

    def batches() -> Iterator[FrameBatch]:
        for b in ctx.reader.iter_frames(seg.first, seg.end):
            if not first_pts:
                first_pts.append(b.pts[0])
            yield b

    writer = VideoWriter(
        path, width=ctx.upscaler.output_size(info.width, info.height)[0],
        height=ctx.upscaler.output_size(info.width, info.height)[1], source=info, codec=ctx.codec,
        crf=ctx.crf, preset=ctx.preset, pix_fmt=ctx.pix_fmt, encoder_options=ctx.encoder_options, copy_streams=False,
        start=ctx.start, overwrite=True, container=_SEGMENT_CONTAINER,
    )
    try:
        frames = upscale_stream(batches, ctx.upscaler, writer, ctx.progress.add, after_batch=ctx.progress.publish)
        if first_pts[0] != seg.first_pts:
            # A frame lost inside a segment is the decoder's (a single run loses it too); one lost at a border is ours.
            raise InvalidInputError(
                f"{ctx.src}: decoding from the keyframe before frame {seg.first} did not deliver that frame (seeking in this "
                "file is inexact); upscale it without --resume/--segment-frames/torchrun"
            )
        writer.close()
    except BaseException:
        writer.abort()
        raise
    probe = probe_segment(path)
    if probe.packets != frames:
        raise EncodeError(f"{path}: holds {probe.packets} video packets after {frames} frames were encoded")
    if frames != seg.frames:
        log.warning("%s: segment %d: wrote %d frames but the file indexes %d; some frames could not be decoded", ctx.src, seg.index, frames, seg.frames)
    record = {
        "format": _FORMAT,
        "index": seg.index,
        "frames": [seg.first, seg.end],
        "pts": [seg.first_pts, seg.last_pts],
        "frames_written": frames,
        "first_pts_written": first_pts[0],
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "settings_sha256": ctx.plan.settings_sha256,
        "segment": {**probe.to_dict(), "path": path.name},
        "rank": ctx.rank,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    _write_json(work / seg.record_name, record)


def _make_segments(ctx: _Context, group: Group) -> None:
    """Take segments from the shared counter until none is left (or another rank has failed)."""
    pending = ctx.plan.pending
    while group.flag("failed") is None:
        k = group.next_index("next_segment")
        if k >= len(pending):
            return
        _make_segment(ctx, ctx.plan.segments[pending[k]])


def _join(
    src: Path, dst: Path, info: VideoInfo, plan: _Plan, settings: Mapping[str, Any], *, start: float | None,
    duration: float | None, overwrite: bool, keep: bool, keep_manifest: bool, strict: bool = False,
) -> tuple[int, int, tuple[int, int], str]:
    """Rank 0: record every segment in the manifest, join them into ``dst``, and delete the folder unless ``keep``.

    ``keep_manifest`` (a ``resume`` run) keeps the manifest with a record of the output, so that the same
    command run again finds the job complete.

    Returns frames written, bytes written, output size and the segments' pixel format.
    """
    work = plan.work_dir
    records: dict[int, Any] = {}
    probes: list[SegmentInfo] = []
    first_pts: list[int] = []
    for seg in plan.segments:
        rec_path = work / seg.record_name
        try:
            rec = json.loads(rec_path.read_text(encoding="utf-8"))
            probe = SegmentInfo.from_dict({**rec["segment"], "path": str(work / rec["file"])})
            first_pts.append(int(rec["first_pts_written"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EncodeError(f"{rec_path}: segment {seg.index} is not complete ({_describe(e)}); rerun with --resume") from None
        if rec.get("settings_sha256") != plan.settings_sha256:
            raise EncodeError(f"{rec_path}: segment {seg.index} was made with other settings; rerun with --resume")
        records[seg.index] = rec
        probes.append(probe)
    _write_json(work / "manifest.json", _manifest(src, dst, settings, plan.settings_sha256, plan.segments, records))
    written, indexed = sum(int(r["frames_written"]) for r in records.values()), sum(s.frames for s in plan.segments)
    if strict and written != indexed:
        raise InvalidInputError(
            f"{src}: {indexed - written} of {indexed} frames could not be decoded (damaged input); "
            "rerun without --strict to upscale the frames that decode"
        )
    frames = join_segments(
        probes, dst, source=info, first_pts=first_pts, start=start, duration=duration, overwrite=overwrite
    )
    # A kill from here on leaves a complete dst beside a complete plan: _finished_run recognises both.
    if keep or keep_manifest:
        _write_json(work / "manifest.json", {**_manifest(src, dst, settings, plan.settings_sha256, plan.segments, records),
                                             "complete": _output_record(dst, frames, probes[0])})
    if not keep:
        _remove_segment_files(work, plan.segments)
    if not keep and not keep_manifest:
        (work / "manifest.json").unlink(missing_ok=True)
        try:
            work.rmdir()
        except OSError:
            log.warning("%s: left in place: it holds files vsr did not make", work)
    return frames, dst.stat().st_size, (probes[0].width, probes[0].height), probes[0].pix_fmt


def _already_complete(
    src: Path, dst: Path, plan: _Plan, info: VideoInfo, upscaler: Upscaler, decoder: str, codec: str, world_size: int, t0: float
) -> SegmentedStats:
    done = plan.complete or {}
    w, h = done.get("size") or (info.width * upscaler.scale, info.height * upscaler.scale)
    return SegmentedStats(
        src=src, dst=dst, frames=int(done.get("frames", 0)), frames_expected=plan.frames_reused, frames_expected_exact=True,
        seconds=time.perf_counter() - t0, input_size=(info.width, info.height), output_size=(int(w), int(h)),
        scale=upscaler.scale, decoder=decoder, device=str(upscaler.device), precision=upscaler.precision, codec=codec,
        pix_fmt=str(done.get("pix_fmt", "")), bytes_written=int(done.get("bytes", 0)), segments=len(plan.segments),
        segments_reused=len(plan.segments), frames_reused=plan.frames_reused, world_size=world_size,
        work_dir=plan.work_dir, already_complete=True,
    )


# --------------------------------------------------------------------------- the entry point
def upscale_segmented(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    scale: int | None,
    model: nn.Module | str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    precision: Precision | str = "auto",
    batch_size: int = 4,
    tile: int | None = None,
    self_ensemble: bool = False,
    target: Target | None = None,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str = "yuv420p",
    encoder_options: Mapping[str, str] | None = None,
    decoder: Backend = "auto",
    start: float | None = None,
    duration: float | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int], None] = True,
    segment_frames: int | None = None,
    resume: bool = False,
    keep_segments: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    strict: bool = False,
) -> SegmentedStats:
    """Upscale ``src`` into ``dst`` segment by segment: resumable, and spread over all ranks under torchrun.

    Takes the arguments of :func:`vsr.upscale_video` (same meaning, same output
    frames and timestamps), plus:

    Args:
        progress: a bar on rank 0 with the frames of all ranks, or a callable
            receiving this rank's frame count after each encoded batch.
        segment_frames: frames per segment (moved to a nearby keyframe); default:
            about a quarter of each rank's share, at most :data:`MAX_AUTO_SEGMENT_FRAMES`,
            or, with ``resume``, what the interrupted run used.
        resume: reuse the finished segments of an interrupted run with the same
            settings (in :func:`work_dir_for`); without it, such a folder is an error.
        keep_segments: keep the segment folder (manifest, records, segment files)
            after joining.

    Under torchrun (``WORLD_SIZE`` > 1) every rank must make this call with the same
    arguments; ``device`` ``auto``/``cuda`` then means ``cuda:<local rank modulo the GPU count>``.

    Returns:
        :class:`SegmentedStats` (on every rank).

    Raises:
        The errors of :func:`vsr.upscale_video`; UnsupportedError for a file that cannot be
        indexed (no packet timestamps), or for ``resume`` with other settings;
        OutputExistsError for a leftover segment folder without ``resume``;
        RankFailedError on the other ranks when one rank fails.
    """
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    env = dist_env()
    suffix = dst.suffix.lower()
    if segment_frames is not None and segment_frames < 1:
        raise UnsupportedError(f"segment_frames must be >= 1, got {segment_frames}")
    codec = codec or default_codec(dst)
    options = encoder_settings(codec, crf=crf, preset=preset, encoder_options=encoder_options)
    check_container(dst, codec)
    check_container(work_dir_for(dst) / f"seg{_SEGMENT_SUFFIX}", codec, container=_SEGMENT_CONTAINER)
    with ExitStack() as stack:
        stack.enter_context(sigterm_as_interrupt())
        group = stack.enter_context(Group(env))

        def setup() -> tuple[VideoReader, Upscaler]:
            if env.is_main:  # one run per destination at a time (every rank of a torchrun job is one run)
                stack.enter_context(destination_lock(dst))
            reader = stack.enter_context(VideoReader(src, backend=decoder, batch_size=batch_size, start=start, duration=duration))
            check_pixels(src, reader.info.width, reader.info.height, max_pixels)
            try:
                pts = reader.frame_pts
            except UnsupportedError:
                raise UnsupportedError(
                    f"{src}: cannot be split into segments: its packets carry no timestamps; remux it "
                    "(ffmpeg -i IN -c copy OUT.mkv), or upscale it without --resume/--segment-frames/torchrun"
                ) from None
            if not pts:
                lasts = f"; the video lasts {reader.info.duration:.2f} s" if reader.info.duration else ""
                raise InvalidInputError(f"{src}: no frames from {start or 0:g} s for {duration or 'the rest'} s{lasts}; check --start/--duration")
            from vsr.models import default_model_name

            k = choose_model_scale(scale, target, reader.info.width, reader.info.height, model_scales(model) if isinstance(model, nn.Module) else (), what=str(src))
            up = Upscaler(
                model if model is not None else default_model_name(k), scale=k, device=rank_device(device, env),
                precision=precision, batch_size=batch_size, tile=tile, self_ensemble=self_ensemble, target=target,
            )
            return reader, up

        reader, upscaler = _agree(group, setup)
        info = reader.info
        settings: dict[str, Any] = {}

        def plan() -> _Plan:
            settings.update(_settings(src, reader.frame_pts, info, upscaler, codec=codec, options=options, pix_fmt=pix_fmt,
                                      suffix=suffix, start=start, duration=duration))
            return _plan(src, dst, reader, settings, segment_frames=segment_frames, resume=resume, overwrite=overwrite,
                         world_size=env.world_size)

        the_plan = _on_main(group, plan)
        total = sum(s.frames for s in the_plan.segments)
        if the_plan.complete is not None:
            return _already_complete(src, dst, the_plan, info, upscaler, reader.backend, codec, env.world_size, t0)
        show = progress if callable(progress) else (bool(progress) and env.is_main)
        bar = Progress(group, total=total, done=the_plan.frames_reused, desc=src.name, show=show)
        ctx = _Context(src, reader, reader.frame_pts, upscaler, the_plan, codec, crf, preset, pix_fmt, encoder_options, start, env.rank, bar)

        def work() -> None:
            _make_segments(ctx, group)
            bar.publish(force=True)  # every count is in the store before the barrier, so rank 0's last redraw is complete

        try:
            try:
                _agree(group, work, poll=bar.publish)
            finally:
                bar.close()
        except RankFailedError as e:
            raise RankFailedError(f"{e}; the finished segments are kept in {the_plan.work_dir}: rerun with --resume to continue") from None
        frames, size, out_size, out_pix_fmt = _on_main(
            group,
            lambda: _join(src, dst, info, the_plan, settings, start=start, duration=duration, overwrite=overwrite,
                          keep=keep_segments, keep_manifest=resume, strict=strict),
        )
    if frames != total:
        log.warning("%s: wrote %d frames but the file indexes %d; some frames could not be decoded", src, frames, total)
    return SegmentedStats(
        src=src,
        dst=dst,
        frames=frames,
        frames_expected=total,
        frames_expected_exact=True,
        seconds=time.perf_counter() - t0,
        input_size=(info.width, info.height),
        output_size=out_size,
        scale=upscaler.scale,
        decoder=reader.backend,
        device=str(upscaler.device),
        precision=upscaler.precision,
        codec=codec,
        pix_fmt=out_pix_fmt,
        bytes_written=size,
        segments=len(the_plan.segments),
        segments_reused=len(the_plan.segments) - len(the_plan.pending),
        frames_reused=the_plan.frames_reused,
        world_size=env.world_size,
        work_dir=the_plan.work_dir,
    )
