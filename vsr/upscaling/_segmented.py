"""Upscale a video in segments: resumable after a crash, and spread over processes under torchrun.

The frames of the video (or of its ``start``/``duration`` window) are split into
segments (:mod:`vsr.upscaling._manifest`: the plan, the work folder beside the output,
its manifest and records). Every segment is upscaled and encoded into its own
video-only file with the same encoder settings. When all are done, rank 0 joins
them by stream copy (:func:`vsr.io.join_segments`: no second encode) into the
output, copying audio, subtitles, chapters and metadata from the source once,
and deletes the folder. The output has the frames and timestamps a single
:func:`vsr.upscale_video` run writes; only the encoder's keyframe placement
differs (each segment starts with one).

Under torchrun every rank makes the same call. Rank 0 plans (and checks what
can be reused) and broadcasts the plan; the ranks then take segments one at a
time from a counter they share, so faster ranks take more; rank 0 shows the
frames done by all, the aggregate fps and the ETA, waits for every rank and
joins. A failure anywhere fails every rank with nothing at the destination; the
finished segments stay for ``resume``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from vsr._core import DistEnv, Group, Progress, dist_env, sigterm_as_interrupt, destination_lock, sha256_file
from vsr.inference import plan_fits
from vsr.upscaling._single_process import UpscaleStats, damaged_error, no_frames_error, upscale_stream, warn_if_short
from vsr.upscaling._manifest import (
    FORMAT,
    SEGMENT_CONTAINER,
    SEGMENT_SUFFIX,
    SegmentPlan,
    Segment,
    describe,
    make_segment_plan,
    manifest,
    output_record,
    remove_segment_files,
    run_settings,
    work_dir_for,
    write_json,
)
from vsr.upscaling._models import Upscalers
from vsr.upscaling._settings import DecodeSettings, EncodeSettings, SegmentSettings
from vsr.inference import Upscaler
from vsr.errors import EncodeError, InvalidInputError, RankFailedError, UnsupportedError
from vsr.io import (
    FrameBatch, SegmentInfo, VideoInfo, VideoReader, VideoWriter, check_container, check_pixels, default_codec,
    encoder_settings, join_segments, probe_segment,
)

__all__ = ["SegmentedStats", "run_segmented"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class SegmentedStats(UpscaleStats):
    """What a segmented upscale did (:func:`vsr.upscale`, :func:`vsr.upscale_segmented`).

    ``frames`` counts the whole output, reused segments included.
    """

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
            f"({w}x{h}, {self.codec}, {self.bytes_written / 1e6:.1f} MB){self.notes()}"
        )


# --------------------------------------------------------------------------- agreeing across ranks
def _agree(group: Group, fn: Callable[[], T], *, poll: Callable[[], None] | None = None) -> T:
    """Run ``fn`` on every rank; if it raises on any rank, raise on every rank (the original error where it happened)."""
    error: Exception | None = None
    result: Any = None
    try:
        result = fn()
    except Exception as e:  # noqa: BLE001 - re-raised below, after every rank has heard of it
        error = e
        group.set_flag("failed", describe(e))
    group.wait_all(poll)
    statuses = group.all_gather(None if error is None else describe(error))
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
            outcome = ("error", describe(e))
    outcome = group.broadcast(outcome)
    if error is not None:
        raise error
    if outcome[0] == "error":
        raise RankFailedError(f"rank 0 failed: {outcome[1]}")
    return outcome[1]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- making and joining segments
@dataclass
class _Context:
    """What every rank holds while it makes segments."""

    src: Path
    reader: VideoReader
    pts: tuple[int, ...]
    upscaler: Upscaler
    plan: SegmentPlan
    codec: str
    encode: EncodeSettings
    start: float | None
    rank: int


def _make_segment(ctx: _Context, seg: Segment, progress: Progress) -> None:
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

    width, height = ctx.upscaler.output_size(info.width, info.height)
    enc = ctx.encode
    writer = VideoWriter(
        path, width=width, height=height, source=info, codec=ctx.codec, crf=enc.crf, preset=enc.preset, pix_fmt=enc.pix_fmt,
        encoder_options=enc.encoder_options, copy_streams=False, start=ctx.start, overwrite=True, container=SEGMENT_CONTAINER,
    )
    try:
        frames = upscale_stream(batches, ctx.upscaler, writer, progress.add, after_batch=progress.publish)
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
        "format": FORMAT,
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
    write_json(work / seg.record_name, record)


def _make_segments(ctx: _Context, group: Group, progress: Progress) -> None:
    """Take segments from the shared counter until none is left (or another rank has failed)."""
    pending = ctx.plan.pending
    while group.flag("failed") is None:
        k = group.next_index("next_segment")
        if k >= len(pending):
            return
        _make_segment(ctx, ctx.plan.segments[pending[k]], progress)


def _make_all(ctx: _Context, group: Group, progress: bool | Callable[[int], None]) -> None:
    """Every rank makes segments until none is left; a failure on any rank fails all, and the finished segments stay."""
    plan = ctx.plan
    show = progress if callable(progress) else (bool(progress) and group.env.is_main)
    bar = Progress(group, total=sum(s.frames for s in plan.segments), done=plan.frames_reused, desc=ctx.src.name, show=show)

    def work() -> None:
        _make_segments(ctx, group, bar)
        bar.publish(force=True)  # every count is in the store before the barrier, so rank 0's last redraw is complete

    try:
        try:
            _agree(group, work, poll=bar.publish)
        finally:
            bar.close()
    except RankFailedError as e:
        raise RankFailedError(f"{e}; the finished segments are kept in {plan.work_dir}: rerun with --resume to continue") from None


def _join(
    src: Path, dst: Path, info: VideoInfo, plan: SegmentPlan, settings: Mapping[str, Any], decode: DecodeSettings, *,
    overwrite: bool, keep: bool, keep_manifest: bool,
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
            raise EncodeError(f"{rec_path}: segment {seg.index} is not complete ({describe(e)}); rerun with --resume") from None
        if rec.get("settings_sha256") != plan.settings_sha256:
            raise EncodeError(f"{rec_path}: segment {seg.index} was made with other settings; rerun with --resume")
        records[seg.index] = rec
        probes.append(probe)
    write_json(work / "manifest.json", manifest(src, dst, settings, plan.settings_sha256, plan.segments, records))
    written, indexed = sum(int(r["frames_written"]) for r in records.values()), sum(s.frames for s in plan.segments)
    if decode.strict and written != indexed:
        raise damaged_error(src, indexed - written, indexed)
    frames = join_segments(
        probes, dst, source=info, first_pts=first_pts, start=decode.start, duration=decode.duration, overwrite=overwrite
    )
    # A kill from here on leaves a complete dst beside a complete plan: a resume recognises both (_manifest).
    if keep or keep_manifest:
        write_json(work / "manifest.json", {**manifest(src, dst, settings, plan.settings_sha256, plan.segments, records),
                                             "complete": output_record(dst, frames, probes[0])})
    if not keep:
        remove_segment_files(work, plan.segments)
    if not keep and not keep_manifest:
        (work / "manifest.json").unlink(missing_ok=True)
        try:
            work.rmdir()
        except OSError:
            log.warning("%s: left in place: it holds files vsr did not make", work)
    return frames, dst.stat().st_size, (probes[0].width, probes[0].height), probes[0].pix_fmt


def _already_complete(
    src: Path, dst: Path, plan: SegmentPlan, info: VideoInfo, upscaler: Upscaler, decoder: str, codec: str, world_size: int, t0: float
) -> SegmentedStats:
    """What a resume reports when ``dst`` is already the finished output of this job."""
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


# --------------------------------------------------------------------------- the engine
def run_segmented(
    src: Path,
    dst: Path,
    upscalers: Upscalers,
    encode: EncodeSettings,
    decode: DecodeSettings,
    segments: SegmentSettings,
    *,
    overwrite: bool = False,
    progress: bool | Callable[[int], None] = True,
) -> SegmentedStats:
    """Upscale ``src`` into ``dst`` segment by segment: resumable, and spread over all ranks under torchrun.

    The engine behind :func:`vsr.upscale` (for ``segments``, torchrun, or a leftover
    segment folder) and :func:`vsr.upscale_segmented`; same output frames and
    timestamps as :func:`run_single`. ``progress`` is a bar on rank 0 with the
    frames of all ranks, or a callable receiving this rank's frame count after
    each encoded batch.

    Under torchrun (``WORLD_SIZE`` > 1) every rank must make this call with the same
    arguments; device ``auto``/``cuda`` then means ``cuda:<local rank modulo the GPU count>``.

    Returns:
        :class:`SegmentedStats` (on every rank).

    Raises:
        The errors of :func:`run_single`; UnsupportedError for a file that cannot be
        indexed (no packet timestamps), or for ``resume`` with other settings;
        OutputExistsError for a leftover segment folder without ``resume``;
        RankFailedError on the other ranks when one rank fails.
    """
    t0 = time.perf_counter()
    env = dist_env()
    codec = encode.codec or default_codec(dst)
    options = encoder_settings(codec, crf=encode.crf, preset=encode.preset, encoder_options=encode.encoder_options)
    check_container(dst, codec)
    check_container(work_dir_for(dst) / f"seg{SEGMENT_SUFFIX}", codec, container=SEGMENT_CONTAINER)
    with ExitStack() as stack:
        stack.enter_context(sigterm_as_interrupt())
        group = stack.enter_context(Group(env))
        reader, upscaler = _agree(group, lambda: _open(stack, src, dst, upscalers, decode, env))
        info = reader.info
        settings: dict[str, Any] = {}

        def plan() -> SegmentPlan:
            settings.update(run_settings(src, reader.frame_pts, info, upscaler, codec=codec, options=options, pix_fmt=encode.pix_fmt,
                                         suffix=dst.suffix.lower(), start=decode.start, duration=decode.duration))
            return make_segment_plan(src, dst, reader, settings, segment_frames=segments.segment_frames, resume=segments.resume,
                             overwrite=overwrite, world_size=env.world_size)

        the_plan = _on_main(group, plan)
        if the_plan.complete is not None:
            return _already_complete(src, dst, the_plan, info, upscaler, reader.backend, codec, env.world_size, t0)
        ctx = _Context(src, reader, reader.frame_pts, upscaler, the_plan, codec, encode, decode.start, env.rank)
        _make_all(ctx, group, progress)
        frames, size, out_size, out_pix_fmt = _on_main(
            group,
            lambda: _join(src, dst, info, the_plan, settings, decode, overwrite=overwrite, keep=segments.keep_segments,
                          keep_manifest=segments.resume),
        )
    total = sum(s.frames for s in the_plan.segments)
    warn_if_short(src, frames, total)
    return SegmentedStats(
        src=src, dst=dst, frames=frames, frames_expected=total, frames_expected_exact=True,
        seconds=time.perf_counter() - t0, input_size=(info.width, info.height), output_size=out_size,
        scale=upscaler.scale, decoder=reader.backend, device=str(upscaler.device), precision=upscaler.precision,
        codec=codec, pix_fmt=out_pix_fmt, bytes_written=size, segments=len(the_plan.segments),
        segments_reused=len(the_plan.segments) - len(the_plan.pending), frames_reused=the_plan.frames_reused,
        world_size=env.world_size, work_dir=the_plan.work_dir,
        model_note=upscalers.variant_note(upscaler.scale, info.lossy_bits_per_pixel),
    )


def _open(
    stack: ExitStack, src: Path, dst: Path, upscalers: Upscalers, decode: DecodeSettings, env: DistEnv
) -> tuple[VideoReader, Upscaler]:
    """Every rank: lock the destination (rank 0), open and index the input, and load the model."""
    if env.is_main:  # one run per destination at a time (every rank of a torchrun job is one run)
        stack.enter_context(destination_lock(dst))
    reader = stack.enter_context(VideoReader(
        src, backend=decode.decoder, batch_size=upscalers.read_batch, start=decode.start, duration=decode.duration
    ))
    check_pixels(src, reader.info.width, reader.info.height, decode.max_pixels)
    try:
        pts = reader.frame_pts
    except UnsupportedError:
        raise UnsupportedError(
            f"{src}: cannot be split into segments: its packets carry no timestamps; remux it "
            "(ffmpeg -i IN -c copy OUT.mkv), or upscale it without --resume/--segment-frames/torchrun"
        ) from None
    if not pts:
        raise no_frames_error(src, decode, reader.info.duration)
    up = upscalers.for_size(reader.info.width, reader.info.height, what=str(src), bits_per_pixel=reader.info.lossy_bits_per_pixel)
    w, h = reader.info.width, reader.info.height
    up.prepare(w, h, len(pts) // env.world_size, fits=plan_fits(up, w, h))  # this rank's share of the frames
    return reader, up
