"""Command-line interface: a thin adapter over the library.

The only module that imports click. Library errors (:class:`VSRError`) become a
one-line message on stderr and exit code 1; usage errors exit 2; Ctrl-C exits
130. ``vsr --debug ...`` (or ``VSR_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

try:
    import click
except KeyboardInterrupt:  # Ctrl-C while the console script is still starting: the same one line as later
    sys.stderr.write("Interrupted.\n")
    sys.exit(130)

from vsr import __version__
from vsr.io import DEFAULT_MAX_PIXELS
from vsr.errors import VSRError

_DEBUG_ENV = "VSR_DEBUG"


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


class _VSRGroup(click.Group):
    """A group that turns library errors into one-line messages with the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get(_DEBUG_ENV, "") not in ("", "0")
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except VSRError as e:
            if debug:
                raise
            _fail(str(e))
        except OSError as e:
            if debug:
                raise
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            _fail(f"{where}{e.strerror or e}")
        except Exception as e:  # noqa: BLE001 - last line of defence: no traceback without --debug
            if debug:
                raise
            _fail(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback and please report it)")


@click.group(cls=_VSRGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="vsr")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors (implies --verbose).")
@click.option("-v", "--verbose", is_flag=True, help="Show informational messages and FFmpeg's own log lines.")
def cli(debug: bool, verbose: bool) -> None:
    """vsr: video super-resolution with EDSR/MDSR."""
    if verbose or debug or os.environ.get(_DEBUG_ENV, "") not in ("", "0"):
        import logging

        from vsr.io import set_ffmpeg_logging

        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        set_ffmpeg_logging(True)


@cli.command("models")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--fetch", is_flag=True,
              help="Download the named official models (edsr_x2 ... mdsr, or a preset such as edsr for all its "
                   "scales) into the cache now.")
@click.option("--offline", is_flag=True, help="Never touch the network (also VSR_OFFLINE=1).")
def models_cmd(names: tuple[str, ...], fetch: bool, offline: bool) -> None:
    """List architecture presets, bundled weights and the authors' official models (cached or not).

    `vsr models --fetch edsr_x2 mdsr` prefetches official files, e.g. before
    going offline. Scores marked "published" are the authors', not measured by vsr.
    """
    from vsr.models import (
        MODELS, OFFICIAL_WEIGHTS, PRESET_PARAMETERS, bundled_weights, cache_dir, cached_path, official_file,
    )

    if names and not fetch:
        raise click.UsageError("NAME arguments go with --fetch, e.g. `vsr models --fetch edsr_x2`")
    if fetch:
        if not names:
            raise click.UsageError(f"--fetch needs names: {', '.join(OFFICIAL_WEIGHTS)} (or a preset: {', '.join(MODELS)})")
        wanted: list[str] = []
        for n in names:
            group = [w.name for w in OFFICIAL_WEIGHTS.values() if w.preset == n] if n in MODELS else [n]
            wanted += [g for g in group if g not in wanted]
        for n in wanted:
            path = official_file(n, offline=offline or None)
            click.echo(f"{n}: {path}")
        return
    # Parameter counts are read from the presets table and the weights manifest: listing builds no model.
    click.echo("Architecture presets (untrained; pass a checkpoint with --model):")
    for name in MODELS:
        if name.startswith("mdsr"):
            click.echo(f"  {name:<15} x2/x3/x4   {PRESET_PARAMETERS[name][2] / 1e6:6.2f}M params")
        else:
            counts = ", ".join(f"x{s} {PRESET_PARAMETERS[name][s] / 1e6:.2f}M" for s in (2, 3, 4))
            click.echo(f"  {name:<15} {counts} params")
    weights = bundled_weights()
    click.echo("Bundled weights:" if weights else "Bundled weights: none installed")
    for w in weights.values():
        scales = "/".join(f"x{s}" for s in w.config["scales"])
        default = f"  default for {'/'.join(f'x{s}' for s in w.default_for)}" if w.default_for else ""
        set5 = w.metrics.get("Set5", {})
        psnr = "  Set5 " + ", ".join(f"x{k}: {v['psnr']:.2f} dB" for k, v in sorted(set5.items())) if set5 else ""
        click.echo(f"  {w.name:<28} {scales}  {w.params / 1e6:.2f}M params{psnr}{default}")
    click.echo(f"Official models (the authors' files, --model PRESET --scale S; fetched on first use into {cache_dir()}):")
    for w in OFFICIAL_WEIGHTS.values():
        state = "cached" if cached_path(w.file).is_file() else "not cached"
        scores = ", ".join(f"{ds} " + "/".join(f"x{s} {v:.2f}" for s, v in sorted(by.items())) for ds, by in w.published.items())
        click.echo(f"  {w.name:<17} {'/'.join(f'x{s}' for s in w.scales):<9} {PRESET_PARAMETERS[w.preset][w.scales[0]] / 1e6:6.2f}M params"
                   f"  {state:<10}  published: {scores} dB")
    click.echo("  (published = the authors' figures: Set5/Set14 Y channel, DIV2K-val RGB; not measured by vsr)")


_PATH_IN = click.Path(exists=True, path_type=Path)


# Choices repeated from the library so that `vsr --help` imports neither torch nor av; tests/test_cli_startup.py
# checks that they match vsr.io.BACKENDS, vsr._device.PRECISIONS, vsr.metrics.PROTOCOLS and vsr.data.DEGRADATIONS.
_VIDEO_DECODERS = ("auto", "decord", "pyav")
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_PROTOCOLS = ("edsr-benchmark", "div2k", "video", "vimeo90k-t")


class _Seconds(click.ParamType):
    """A time as seconds (``12.5``) or ``[HH:]MM:SS[.ms]``."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            parts = [float(p) for p in str(value).split(":")]
        except ValueError:
            self.fail(f"{value!r} is not a time; use seconds (12.5) or [HH:]MM:SS[.ms]", param, ctx)
        if len(parts) > 3 or any(p < 0 for p in parts):
            self.fail(f"{value!r} is not a time; use seconds (12.5) or [HH:]MM:SS[.ms]", param, ctx)
        seconds = 0.0
        for p in parts:
            seconds = seconds * 60 + p
        return seconds


class _Scale(click.ParamType):
    """An upscaling factor: 2, 3, 4 or a fractional one such as 1.5."""

    name = "FACTOR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            factor = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number; use e.g. 2, 3, 4 or 1.5", param, ctx)
        if not factor > 1 or factor != factor or factor == float("inf"):
            self.fail(f"{value!r} must be greater than 1; vsr only enlarges", param, ctx)
        return factor


def _target_options(
    scale: float | None, size: str | None, width: int | None, height: int | None, model_scale: int | None
) -> tuple[int | None, Any]:
    """(the model factor when it is known up front, the Target or None for a plain integer scale)."""
    from vsr._target import Target

    if size is not None and (width is not None or height is not None):
        raise click.UsageError("give --size WxH, or --width and/or --height, not both")
    if scale is not None and (size is not None or width is not None or height is not None):
        raise click.UsageError("give --scale or a size (--size/--width/--height), not both")
    if scale is None and size is None and width is None and height is None:
        raise click.UsageError("give --scale (2, 3, 4, or e.g. 1.5), --size WxH, --width W or --height H")
    from vsr.errors import UnsupportedError

    try:
        if size is not None:
            target = Target.parse_size(size, model_scale=model_scale)
        else:
            target = Target(scale=scale, width=width, height=height, model_scale=model_scale)
    except UnsupportedError as e:
        raise click.UsageError(str(e)) from None
    if target.integer_scale is not None:
        return target.integer_scale, None
    return target.model_scale, target


def _key_values(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {v!r}")
        out[key] = val
    return out


@cli.command("upscale")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file, or folder (default: <stem>_x<scale><ext>, _<W>x<H>, _w<W> or _h<H> beside each input).")
@click.option("-s", "--scale", type=_Scale(), default=None,
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
              help="Official model edsr, edsr_baseline, mdsr or mdsr_baseline (the authors' weights, downloaded on first "
                   "use), a bundled model name, or a checkpoint file (default: the bundled model for the scale; offline).")
@click.option("--offline", is_flag=True,
              help="Never touch the network: an official --model must already be cached (also VSR_OFFLINE=1).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(_PRECISIONS), default="auto", show_default=True, help="Inference precision.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True, help="Video frames per forward pass.")
@click.option("--tile", type=click.IntRange(min=16), default=None, help="LR tile side for large frames (default: whole frames).")
@click.option("--self-ensemble", is_flag=True, help="Average the 8 flips/transposes (8x slower, slightly better).")
@click.option("--codec", default=None,
              help="Video encoder: libx264 (default; libvpx-vp9 for .webm), libx265, libvpx-vp9, libsvtav1, ffv1, h264_nvenc, ...")
@click.option("--crf", type=click.IntRange(min=0), default=None, help="Constant quality, lower is better (default 18 for libx264).")
@click.option("--preset", default=None, help="Encoder speed preset (default: medium for x264/x265).")
@click.option("--pix-fmt", default="yuv420p", show_default=True, help="Output pixel format, e.g. yuv420p10le for 10-bit.")
@click.option("--encoder-opt", "encoder_opts", multiple=True, metavar="KEY=VALUE", callback=_key_values,
              help="Extra FFmpeg encoder option (repeatable), e.g. --encoder-opt tune=film.")
@click.option("--decoder", type=click.Choice(_VIDEO_DECODERS), default="auto", show_default=True,
              help="Video decoder: decord when it decodes the file correctly, else PyAV.")
@click.option("--start", type=_Seconds(), default=None, help="Start this far into each video (seconds or [HH:]MM:SS).")
@click.option("--duration", type=_Seconds(), default=None, help="Upscale only this much of each video.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--preview", is_flag=True,
              help="Write no video: upscale one frame and save <output>_preview.png (bicubic | vsr side by side, a zoomed "
                   "crop of the most detailed region), and print the speed on it and the projected time for the file.")
@click.option("--at", type=_Seconds(), default=None, help="Time of the --preview frame (default: the middle of the video).")
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
    input_path: Path,
    output: Path | None,
    scale: float | None,
    size: str | None,
    width: int | None,
    height: int | None,
    model_scale: int | None,
    model_src: str | None,
    offline: bool,
    device: str,
    precision: str,
    batch_size: int,
    tile: int | None,
    self_ensemble: bool,
    codec: str | None,
    crf: int | None,
    preset: str | None,
    pix_fmt: str,
    encoder_opts: dict[str, str],
    decoder: str,
    start: float | None,
    duration: float | None,
    overwrite: bool,
    preview: bool,
    at: float | None,
    segment_frames: int | None,
    resume: bool,
    keep_segments: bool,
    max_pixels: int,
    strict: bool,
    quiet: bool,
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
    from vsr._distributed import dist_env
    from vsr.errors import InputNotFoundError, UnsupportedError
    from vsr.io import is_image_path
    from vsr._pipeline import upscale_image
    from vsr._upscaler import Upscaler
    from vsr.io import is_video_path
    from vsr._target import choose_model_scale
    from vsr.models import default_model_name, resolve_model_source
    from vsr._pipeline import default_output_path, upscale_video
    from vsr._segments import upscale_segmented, work_dir_for

    if not input_path.exists():
        raise InputNotFoundError(f"{input_path}: does not exist")
    k_fixed, target = _target_options(scale, size, width, height, model_scale)
    tag = target.tag if target is not None else f"x{k_fixed}"
    if offline:
        from vsr.models._hub import OFFLINE_ENV

        os.environ[OFFLINE_ENV] = "1"  # also reaches official names resolved later, once the model factor is known
    if model_src is not None and k_fixed is not None:
        model_src = resolve_model_source(model_src, k_fixed, progress=not quiet)
    env = dist_env()
    if at is not None and not preview:
        raise click.UsageError("--at chooses the --preview frame; add --preview")
    if preview and (env.distributed or resume or segment_frames is not None or keep_segments):
        raise click.UsageError("--preview upscales one frame in one process; drop torchrun/--resume/--segment-frames/--keep-segments")
    single = input_path.is_file() and not is_image_path(input_path)
    if output is None:
        single_dst = default_output_path(input_path, tag)
    else:
        single_dst = output / default_output_path(input_path, tag).name if output.is_dir() else output
    # A segment folder left by an interrupted run must not be silently ignored: the segmented path refuses without --resume.
    if resume or segment_frames is not None or keep_segments or env.distributed or (
            single and not preview and work_dir_for(single_dst).is_dir()):
        why = "torchrun" if env.distributed else "--resume/--segment-frames/--keep-segments"
        if not single:
            raise UnsupportedError(f"{input_path}: {why} works on one video file; upscale folders and images without it")
        stats = upscale_segmented(
            input_path, single_dst, scale=k_fixed, model=model_src, device=device, target=target,
            precision=precision, batch_size=batch_size, tile=tile, self_ensemble=self_ensemble, codec=codec, crf=crf,
            preset=preset, pix_fmt=pix_fmt, encoder_options=encoder_opts, decoder=decoder,  # type: ignore[arg-type]
            start=start, duration=duration, overwrite=overwrite, progress=not quiet, segment_frames=segment_frames,
            resume=resume, keep_segments=keep_segments, max_pixels=max_pixels, strict=strict,
        )
        if env.is_main and not quiet:
            click.echo(f"{input_path}: {stats.summary()}")
        return
    if input_path.is_dir():
        inputs = sorted(p for p in input_path.iterdir() if p.is_file() and (is_video_path(p) or is_image_path(p)))
        earlier = {p for p in inputs if any(p.stem.endswith(f"_{t}") for t in ("x2", "x3", "x4", tag, "preview"))}
        inputs = [p for p in inputs if p not in earlier]
        if not inputs:
            raise InputNotFoundError(f"{input_path}: no videos or images in this folder")
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
    else:
        inputs, earlier = [input_path], set()
    upscalers: dict[int, Upscaler] = {}

    def upscaler_for(k: int) -> Upscaler:
        if k not in upscalers:
            src = resolve_model_source(model_src, k, progress=not quiet) if model_src else default_model_name(k)
            upscalers[k] = Upscaler(src, scale=k, device=device, precision=precision, batch_size=batch_size, tile=tile,
                                    self_ensemble=self_ensemble, target=target)
        return upscalers[k]

    if k_fixed is not None:
        upscaler_for(k_fixed)  # load the model once, before the first file, so that a bad --model fails at once

    def destination(src: Path) -> Path:
        if output is None:
            return default_output_path(src, tag)
        if output.is_dir():
            return output / default_output_path(src, tag).name
        return output

    def one(src: Path) -> str:
        dst = destination(src)
        if preview:
            from vsr._preview import preview as make_preview, preview_path

            def for_size(w: int, h: int) -> Upscaler:
                return upscaler_for(choose_model_scale(k_fixed, target, w, h, what=str(src)))

            label = Path(model_src).stem if model_src else "vsr"
            return make_preview(src, preview_path(dst), for_size, at=at, decoder=decoder, label=label).summary()  # type: ignore[arg-type]
        if is_image_path(src):
            if target is None:
                up = upscaler_for(k_fixed)  # type: ignore[arg-type]
            else:
                from vsr.io import read_image

                h, w = read_image(src).shape[:2]
                up = upscaler_for(choose_model_scale(k_fixed, target, w, h, what=str(src)))
            out = upscale_image(src, dst, up, overwrite=overwrite, max_pixels=max_pixels)
            return f"{src} -> {out} ({tag} via x{up.scale}, {up.device}, {up.precision})" if target else \
                f"{src} -> {out} ({tag}, {up.device}, {up.precision})"
        # With a target the model factor depends on the video's size, which upscale_video reads first.
        up = upscaler_for(k_fixed) if k_fixed is not None else None
        stats = upscale_video(
            src, dst, scale=k_fixed, model=up.model if up is not None else model_src, target=target,
            device=up.device if up is not None else device, precision=up.precision if up is not None else precision,
            batch_size=batch_size, tile=up.tile if up is not None else tile, self_ensemble=self_ensemble, codec=codec,
            crf=crf, preset=preset, pix_fmt=pix_fmt, encoder_options=encoder_opts, decoder=decoder,  # type: ignore[arg-type]
            start=start, duration=duration, overwrite=overwrite, progress=not quiet, max_pixels=max_pixels,
            strict=strict,
        )
        return f"{src}: {stats.summary()}"

    if not input_path.is_dir():
        line = one(input_path)
        if not quiet or preview:
            click.echo(line)
        return
    failed: list[Path] = []
    for src in inputs:
        try:
            line = one(src)
        except (VSRError, OSError) as e:
            failed.append(src)
            msg = str(e) if str(src) in str(e) else f"{src}: {e}"
            click.echo(f"Failed: {msg}", err=True)
            continue
        if not quiet or preview:
            click.echo(line)
    extra = [t for t in (tag, "preview") if t not in ("x2", "x3", "x4") and any(p.stem.endswith(f"_{t}") for p in earlier)]
    patterns = "*" + "/".join(f"_{t}" for t in ("x2", "x3", "x4", *extra))
    skipped = f", {len(earlier)} earlier outputs ({patterns}) skipped" if earlier else ""
    done = "previewed" if preview else "upscaled"
    click.echo(f"{len(inputs)} files: {len(inputs) - len(failed)} {done}, {len(failed)} failed{skipped}", err=bool(failed))
    if failed:
        sys.exit(1)


@cli.command("train")
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Recipe file, e.g. pipelines/edsr_baseline_x2_t91_bsd200.toml.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a recipe value (repeatable), e.g. --set optim.lr=2e-4 --set data.sources.0.weight=2.")
@click.option("--resume", "resume_dir", metavar="RUN_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Continue the run in RUN_DIR from its latest checkpoint (its stored recipe is used).")
@click.option("--no-progress", is_flag=True, help="No progress bar (the logs in the run folder are still written).")
def train_cmd(config_path: Path | None, overrides: tuple[str, ...], resume_dir: Path | None, no_progress: bool) -> None:
    """Train EDSR/MDSR from a recipe; also under `torchrun --nproc-per-node N -m vsr train ...`."""
    from vsr.train import load_config, load_run_config, train

    if (config_path is None) == (resume_dir is None):
        raise click.UsageError("give either --config RECIPE.toml or --resume RUN_DIR")
    if resume_dir is not None:
        cfg = load_run_config(resume_dir, overrides)
        result = train(cfg, run_dir=resume_dir, resume=True, progress=not no_progress)
    else:
        assert config_path is not None
        cfg = load_config(config_path, overrides)
        result = train(cfg, progress=not no_progress)
    best = f", best {result.best['psnr']:.3f} dB at iteration {result.best['iteration']}" if result.best else ""
    if result.rank == 0:
        click.echo(f"{result.run_dir}: {result.iteration} iterations{best}")


@cli.command("export")
@click.argument("run_dir", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Model file to write.")
@click.option("--which", type=click.Choice(["best", "latest"]), default="best", show_default=True,
              help="Checkpoint of the run to export.")
@click.option("--official", is_flag=True, help="Write a bare state_dict in the official EDSR-PyTorch key layout.")
@click.option("--half", is_flag=True, help="Store fp16 weights (half the size).")
def export_cmd(run_dir: Path, output: Path, which: str, official: bool, half: bool) -> None:
    """Export a training run's weights as a model file `vsr upscale --model` reads."""
    from vsr.train import export

    out = export(run_dir, output, which=which, official=official, half=half)  # type: ignore[arg-type]
    click.echo(f"{run_dir} ({which}) -> {out}")


_DEGRADATION_HELP = ("bi (MATLAB bicubic), bd (blur-downsample, x4 only), optionally + a codec round trip of the LR, "
                     "e.g. bi+x264:crf=28 (yuv420p; a clip is compressed as one stream)")


def _degradation_specs(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v for v in (_degradation_spec(ctx, param, x) for x in value) if v is not None)


def _degradation_spec(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a degradation spec at parse time, so a typo is a usage error naming the option."""
    if value is None:
        return None
    from vsr.data import parse_degradation
    from vsr.errors import UnsupportedError

    try:
        return parse_degradation(value).name
    except UnsupportedError as e:
        raise click.BadParameter(str(e)) from None


@cli.command("eval")
@click.option("-m", "--model", "model_src", default=None,
              help="Bundled model name or checkpoint file (default: the bundled model for the scale); "
                   "'bicubic' evaluates the bicubic baseline only.")
@click.option("-d", "--dataset", type=_PATH_IN, required=True,
              help="EDSR-layout set (HR/ + LR_bicubic/X<s>/), folder of images, folder of frame folders (Vid4), "
                   "folder of septuplets (Vimeo90K) or a video file.")
@click.option("-s", "--scale", type=click.IntRange(min=2), required=True, help="Upscaling factor.")
@click.option("--protocol", type=click.Choice(_PROTOCOLS), default=None,
              help="Scoring protocol (default: edsr-benchmark for image sets, video for clips and video files, "
                   "vimeo90k-t for septuplets).")
@click.option("--degradation", default="bi", show_default=True, callback=_degradation_spec, metavar="SPEC",
              help="How LR is made when it is not on disk: " + _DEGRADATION_HELP + ".")
@click.option("--self-ensemble", is_flag=True, help="Average the model over the 8 flips/transposes.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(_PRECISIONS), default="fp32", show_default=True,
              help="Inference precision (fp32 so scores match published ones; bf16/fp16 are faster).")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the CSV (one row per image/frame), JSON and PSNR plot.")
@click.option("--html", "html_page", is_flag=True, help="Also write a self-contained HTML report (needs -o).")
def eval_cmd(
    model_src: str | None,
    dataset: Path,
    scale: int,
    protocol: str | None,
    degradation: str,
    self_ensemble: bool,
    device: str,
    precision: str,
    out_dir: Path | None,
    html_page: bool,
) -> None:
    """Score a model next to MATLAB bicubic under a published protocol (PSNR, SSIM, gain)."""
    from vsr._evaluate import evaluate
    from vsr._report import format_eval, write_eval_report

    if html_page and out_dir is None:
        raise click.UsageError("--html writes into the -o/--output folder; pass -o DIR")
    upscaler = None
    if model_src is None:
        from vsr.models import default_model_name

        model_src = default_model_name(scale)
    if model_src != "bicubic":
        from vsr._upscaler import Upscaler

        upscaler = Upscaler(model_src, scale=scale, device=device, precision=precision, self_ensemble=self_ensemble)
    elif self_ensemble:
        raise click.UsageError("--self-ensemble needs a model; --model bicubic has none")
    result = evaluate(dataset, scale, upscaler, model_name=model_src, protocol=protocol,
                      degradation=degradation, progress=sys.stderr.isatty())
    click.echo(format_eval(result))
    if out_dir is not None:
        for path in write_eval_report(result, out_dir, html_page=html_page):
            click.echo(f"wrote {path}")


@cli.command("psnr")
@click.argument("distorted", type=_PATH_IN)
@click.argument("reference", type=_PATH_IN)
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the per-frame CSV and JSON and the PSNR plot.")
@click.option("--html", "html_page", is_flag=True, help="Also write a self-contained HTML report (needs -o).")
@click.option("--common-prefix", is_flag=True, help="When frame counts differ, compare the first min(n) frames.")
@click.option("--crop-to-common", is_flag=True, help="When frame sizes differ, compare the common top-left region.")
def psnr_cmd(distorted: Path, reference: Path, out_dir: Path | None, html_page: bool, common_prefix: bool,
             crop_to_common: bool) -> None:
    """Per-frame PSNR (Y and RGB) and SSIM of DISTORTED against REFERENCE (videos, frame folders or images)."""
    from vsr._evaluate import compare_frames
    from vsr._report import format_compare, write_compare_report

    if html_page and out_dir is None:
        raise click.UsageError("--html writes into the -o/--output folder; pass -o DIR")
    result = compare_frames(distorted, reference, common_prefix=common_prefix, crop_to_common=crop_to_common)
    click.echo(format_compare(result))
    if out_dir is not None:
        for path in write_compare_report(result, out_dir, html_page=html_page):
            click.echo(f"wrote {path}")


@cli.command("compare")
@click.option("-m", "--model", "models", multiple=True, required=True,
              help="Checkpoint file or bundled model name (repeat for each model).")
@click.option("--image-set", "image_sets", multiple=True, type=click.Path(path_type=Path),
              help="Image test set (EDSR layout or a folder of images), scored with the edsr-benchmark protocol (repeatable).")
@click.option("--video-set", "video_sets", multiple=True, type=click.Path(path_type=Path),
              help="Video test set (folder of frame folders such as Vid4, one frame folder, or a video file), scored "
                   "per frame with the video protocol, mean of clip means, plus temporal error (repeatable).")
@click.option("-s", "--scale", type=click.IntRange(min=2), required=True, help="Upscaling factor; every model must support it.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Report folder: report.md, report.html, CSV/JSON, plots/, crops/.")
@click.option("--label", "labels", multiple=True, metavar="MODEL=NAME", callback=_key_values,
              help="Row name of a model (MODEL as given to --model, or its file stem); default: the file stem.")
@click.option("--degradation", default="bi", show_default=True, callback=_degradation_spec, metavar="SPEC",
              help="How LR is made when it is not on disk: " + _DEGRADATION_HELP + ".")
@click.option("--video-degradation", "video_degradations", multiple=True, callback=_degradation_specs, metavar="SPEC",
              help="Score every video set again under this further condition, as its own column (repeatable), "
                   "e.g. --video-degradation bi+x264:crf=23 --video-degradation bi+x264:crf=28.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(_PRECISIONS), default="fp32", show_default=True,
              help="Inference precision (fp32 so scores match published ones).")
def compare_cmd(
    models: tuple[str, ...],
    image_sets: tuple[Path, ...],
    video_sets: tuple[Path, ...],
    scale: int,
    out_dir: Path,
    labels: dict[str, str],
    degradation: str,
    video_degradations: tuple[str, ...],
    device: str,
    precision: str,
) -> None:
    """Compare models and bicubic on image and video test sets: tables, per-frame curves, crops, CSV/JSON."""
    from vsr._compare import compare_models, format_comparison, write_comparison_report

    result = compare_models(models, scale=scale, image_sets=image_sets, video_sets=video_sets, labels=labels,
                            device=device, precision=precision, degradation=degradation,
                            video_degradations=video_degradations, progress=sys.stderr.isatty())
    click.echo(format_comparison(result))
    paths = write_comparison_report(result, out_dir)
    click.echo(f"wrote {out_dir / 'report.md'}, {out_dir / 'report.html'} and {len(paths) - 2} more files in {out_dir}")


@cli.command("experiment")
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Experiment folder (default: the recipe's experiment.out_dir).")
@click.option("--force", is_flag=True, help="Redo every stage from scratch (deletes the experiment's runs and report).")
@click.option("--train-only", is_flag=True, help="Stop after training; a later plain run does the comparison.")
@click.option("--recompare", is_flag=True, help="Redo the comparison even if it finished (training stages are kept).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Training stages run at once, each a process with its share of the CPU threads.")
@click.option("--no-progress", is_flag=True, help="No stage messages or progress bars.")
def experiment_cmd(recipe: Path, out_dir: Path | None, force: bool, train_only: bool, recompare: bool, jobs: int,
                   no_progress: bool) -> None:
    """Train the models of an experiment recipe under one budget, then compare them (re-run to continue).

    E.g. `vsr experiment pipelines/compare_image_vs_video.toml`. Finished stages are skipped.
    """
    from vsr._experiment import run_experiment

    result = run_experiment(recipe, force=force, out_dir=out_dir, progress=not no_progress, train_only=train_only,
                            jobs=jobs, recompare=recompare)
    for s in result.stages:
        click.echo(f"{s.name}: {s.status}{f' ({s.detail})' if s.detail else ''}")
    if train_only:
        click.echo(f"trained: {result.out_dir / 'models'}; run again without --train-only to compare")
        return
    click.echo(f"report: {result.report_dir / 'report.md'} and {result.report_dir / 'report.html'}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``vsr``).

    The commands import torch, PyAV, decord and OpenCV when they run, so Ctrl-C
    during those imports reaches :class:`_VSRGroup` (one line, exit 130); this
    catches it in the little that happens before (parsing, ``--help``).
    """
    try:
        cli.main(args=argv, prog_name="vsr")
    except KeyboardInterrupt:
        if os.environ.get(_DEBUG_ENV, "") not in ("", "0") or "--debug" in (sys.argv[1:] if argv is None else argv):
            raise
        click.echo("Interrupted.", err=True)
        sys.exit(130)
