"""`vsr upscale`: the command-line face of :func:`vsr.upscale` (and of the one-frame preview)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from vsr.cli._options import PRECISIONS, VIDEO_DECODERS, Scale, Seconds, key_values
from vsr.io import DEFAULT_MAX_PIXELS

__all__ = ["upscale_cmd"]


def _target_options(
    scale: float | None, size: str | None, width: int | None, height: int | None, model_scale: int | None
) -> tuple[int | None, Any]:
    """(the model factor when it is known up front, the OutputSize or None for a plain integer scale)."""
    from vsr.inference import OutputSize

    if size is not None and (width is not None or height is not None):
        raise click.UsageError("give --size WxH, or --width and/or --height, not both")
    if scale is not None and (size is not None or width is not None or height is not None):
        raise click.UsageError("give --scale or a size (--size/--width/--height), not both")
    if scale is None and size is None and width is None and height is None:
        raise click.UsageError("give --scale (2, 3, 4, or e.g. 1.5), --size WxH, --width W or --height H")
    from vsr.errors import UnsupportedError

    try:
        if size is not None:
            target = OutputSize.parse_size(size, model_scale=model_scale)
        else:
            target = OutputSize(scale=scale, width=width, height=height, model_scale=model_scale)
    except UnsupportedError as e:
        raise click.UsageError(str(e)) from None
    if target.integer_scale is not None:
        return target.integer_scale, None
    return target.model_scale, target


@click.command("upscale")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file, or folder (default: <stem>_x<scale><ext>, _<W>x<H>, _w<W> or _h<H> beside each input).")
@click.option("-s", "--scale", type=Scale(), default=None,
              help="Upscaling factor: 2, 3 or 4 (the model's own), or fractional such as 1.5 (the model runs at the next "
                   "integer factor, then the result is reduced with an area filter).")
@click.option("--size", metavar="WxH", default=None, help="Exact output size, e.g. 1920x1080 (instead of --scale).")
@click.option("--width", type=int, default=None, metavar="W",
              help="Output width; the height follows the aspect ratio (rounded to even) unless --height is given.")
@click.option("--height", type=int, default=None, metavar="H",
              help="Output height; the width follows the aspect ratio (rounded to even) unless --width is given.")
@click.option("--model-scale", type=click.IntRange(2, 4), default=None,
              help="Factor the model runs at for --size/--width/--height/fractional --scale (default: the smallest "
                   "that reaches the target); its output is reduced to the target with an area (box) filter, frame by "
                   "frame, in the same pass.")
@click.option("-m", "--model", "model_src",
              help="A rung of the speed/quality ladder: fast or default (bundled, offline; `vsr models` lists "
                   "their quality and speed, --preview projects each one's time for the file), an official model edsr, "
                   "edsr_baseline, mdsr or mdsr_baseline (the authors' weights, downloaded on first use), a bundled "
                   "model name, or a checkpoint file (default: the bundled model for the scale, offline. A video "
                   "coded lossily with fewer bits per pixel than the threshold `vsr models` lists gets the "
                   "compression-aware _x264 variant of the default or of the rung named, which cleans up codec "
                   "artefacts but loses PSNR on clean input; so does a JPEG image at or under the quality it "
                   "lists; other images and lossless or higher-rate video keep the clean model. The run's line says "
                   "when a variant ran; naming a model by file or full name keeps it; see docs/models.md).")
@click.option("--offline", is_flag=True,
              help="Never touch the network: an official --model must already be cached (also VSR_OFFLINE=1).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Inference precision. auto: bf16 where the CPU has it natively (or a GPU), else fp32; never an "
                   "emulated format. int8 (CPU, opt-in; faster, costs a little PSNR: see docs/speed.md): OpenVINO's "
                   "int8 kernels with pip install 'vsr[cpu-openvino]', else torchao with pip install 'vsr[cpu-int8]' "
                   "and a C++ compiler (slower, and costs more PSNR).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Video frames per forward pass (default: the execution plan's, measured on long videos).")
@click.option("--tile", type=click.IntRange(min=16), default=None,
              help="LR tile side for large frames (default: whole frames, or the measured plan's).")
@click.option("--compile/--no-compile", "compile_model", default=None,
              help="Run through torch.compile (default: when a measured plan says so for a long video).")
@click.option("--runtime", type=click.Choice(["eager", "compiled", "openvino"]), default=None,
              help="How the model runs (default: the measured plan's choice for a long video; for int8, openvino when "
                   "installed). openvino: OpenVINO's CPU runtime, in fp32 the same pixels, in bf16 where the CPU has it "
                   "natively (pip install 'vsr[cpu-openvino]'); compiled: as --compile (for int8: torchao).")
@click.option("--plan", "show_plan", is_flag=True,
              help="Print the execution plan each input would run with, and why; upscale nothing.")
@click.option("--self-ensemble", is_flag=True, help="Average the 8 flips/transposes (8x slower, slightly better).")
@click.option("--codec", default=None,
              help="Video encoder: libx264 (default; libvpx-vp9 for .webm), libx265, libvpx-vp9, libsvtav1, ffv1, h264_nvenc, ...")
@click.option("--crf", type=click.IntRange(min=0), default=None, help="Constant quality, lower is better (default 18 for libx264).")
@click.option("--preset", default=None, help="Encoder speed preset (default: medium for x264/x265).")
@click.option("--pix-fmt", default="yuv420p", show_default=True, help="Output pixel format, e.g. yuv420p10le for 10-bit.")
@click.option("--encoder-opt", "encoder_opts", multiple=True, metavar="KEY=VALUE", callback=key_values,
              help="Extra FFmpeg encoder option (repeatable), e.g. --encoder-opt tune=film.")
@click.option("--decoder", type=click.Choice(VIDEO_DECODERS), default="auto", show_default=True,
              help="Video decoder: decord when it decodes the file correctly and the file's frames fit in 128 MiB "
                   "(its read-ahead is unbounded: it can hold the rest of the file decoded), else PyAV.")
@click.option("--start", type=Seconds(), default=None, help="Start this far into each video (seconds or [HH:]MM:SS).")
@click.option("--duration", type=Seconds(), default=None, help="Upscale only this much of each video.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--preview", is_flag=True,
              help="Write no video: upscale one frame and save <output>_preview.png (bicubic | vsr side by side, a zoomed "
                   "crop of the most detailed region), and print the speed on it and the projected time for the file.")
@click.option("--at", type=Seconds(), default=None, help="Time of the --preview frame (default: the middle of the video).")
@click.option("--segment-frames", type=click.IntRange(min=1), default=None, metavar="N",
              help="Work in segments of about N frames (moved to nearby keyframes), joined by stream copy at the end, so "
                   "that --resume can continue after a crash. Default with --resume or under torchrun: a quarter of each "
                   "process's share, at most 1000.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted segmented run: reuse its finished segments (in .<OUTPUT>.vsr-segments "
                   "beside the output). The settings must be the same. When that run had finished, report 'already "
                   "complete' and exit 0; a --resume run keeps its small manifest there for this.")
@click.option("--keep-segments", is_flag=True, help="Keep the segment folder (manifest, segment files) after joining.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS, show_default=True, metavar="N",
              help="Refuse images and video frames larger than N pixels (width x height) before decoding them.")
@click.option("--strict", is_flag=True,
              help="Fail, writing nothing, when a video is damaged: frames it indexes cannot be decoded, or (PyAV "
                   "decoder) decode with errors. Default: upscale what decodes and say so in the summary.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
def upscale_cmd(
    input_path: Path, output: Path | None, scale: float | None, size: str | None, width: int | None, height: int | None,
    model_scale: int | None, model_src: str | None, offline: bool, device: str, precision: str, batch_size: int | None,
    tile: int | None, compile_model: bool | None, runtime: str | None, show_plan: bool, self_ensemble: bool, codec: str | None, crf: int | None, preset: str | None, pix_fmt: str,
    encoder_opts: dict[str, str], decoder: str, start: float | None, duration: float | None, overwrite: bool,
    preview: bool, at: float | None, segment_frames: int | None, resume: bool, keep_segments: bool, max_pixels: int,
    strict: bool, quiet: bool,
) -> None:
    """Upscale a video, an image, or every video and image in a folder.

    By a factor (--scale 2, --scale 1.5) or to a size (--size 1920x1080,
    --width 3840, --height 1080). Videos keep their timestamps, audio,
    subtitles, colour tags and rotation.
    In a folder, a failing file is reported and the others go on; the exit
    code is 1 if any failed.

    One video can be split over processes and GPUs with torchrun, e.g.
    `torchrun --nproc-per-node 4 -m vsr upscale IN -o OUT --scale 2`: each process
    upscales segments of it, and the segments are joined without re-encoding.
    """
    from vsr._core import dist_env
    from vsr.upscaling import (
        FileResult, FolderStats, upscale, DecodeSettings, EncodeSettings, InferenceSettings, SegmentSettings,
    )
    from vsr.errors import InputNotFoundError

    if not input_path.exists():
        raise InputNotFoundError(f"{input_path}: does not exist")
    k_fixed, target = _target_options(scale, size, width, height, model_scale)
    if offline:
        from vsr.models import OFFLINE_ENV

        os.environ[OFFLINE_ENV] = "1"  # also reaches official names resolved later, once the model factor is known
    env = dist_env()
    segmented = resume or segment_frames is not None or keep_segments
    if at is not None and not preview:
        raise click.UsageError("--at chooses the --preview frame; add --preview")
    if preview and (env.distributed or segmented):
        raise click.UsageError("--preview upscales one frame in one process; drop torchrun/--resume/--segment-frames/--keep-segments")
    inference = InferenceSettings(model=model_src, scale=k_fixed, target=target, device=device, precision=precision,
                                  batch_size=batch_size, tile=tile, self_ensemble=self_ensemble, compile=compile_model,
                                  runtime=runtime)
    if show_plan:
        if preview or segmented:
            raise click.UsageError("--plan only prints the plan; drop --preview/--resume/--segment-frames/--keep-segments")
        from vsr.upscaling import describe_plans

        for line in describe_plans(input_path, inference, progress=not quiet):
            click.echo(line)
        return
    show = (preview or not quiet) and env.is_main  # under torchrun every rank runs this; rank 0 speaks for all

    def echo(done: FileResult) -> None:
        if done.error is not None:
            click.echo(done.line(), err=True)
        elif show:
            click.echo(done.line())

    result: Any
    if preview:
        from vsr.upscaling import preview_files

        result = preview_files(input_path, output, inference, at=at, decoder=decoder, progress=not quiet, on_file=echo)  # type: ignore[arg-type]
    else:
        result = upscale(
            input_path, output, inference=inference,
            encode=EncodeSettings(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt, encoder_options=encoder_opts),
            decode=DecodeSettings(decoder=decoder, start=start, duration=duration, max_pixels=max_pixels, strict=strict),  # type: ignore[arg-type]
            segments=SegmentSettings(segment_frames, resume, keep_segments) if segmented else None,
            overwrite=overwrite, progress=not quiet, on_file=echo,
        )
    if isinstance(result, FolderStats):
        click.echo(result.summary(), err=bool(result.failed))
        if result.failed:
            sys.exit(1)
    elif show:
        click.echo(result.line())
