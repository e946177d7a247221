"""`vsr eval`, `vsr psnr`, `vsr compare` and `vsr experiment`: scores, reports and the image-vs-video experiment."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vsr.cli._options import (
    DEGRADATION_HELP,
    PATH_IN,
    PRECISIONS,
    PROTOCOLS,
    degradation_spec,
    degradation_specs,
    key_values,
)

__all__ = ["compare_cmd", "eval_cmd", "experiment_cmd", "psnr_cmd"]


@click.command("eval")
@click.option("-m", "--model", "model_src", default=None,
              help="Bundled model name or checkpoint file (default: the bundled model for the scale); "
                   "'bicubic' evaluates the bicubic baseline only.")
@click.option("-d", "--dataset", type=PATH_IN, required=True,
              help="EDSR-layout set (HR/ + LR_bicubic/X<s>/), folder of images, folder of frame folders (Vid4), "
                   "folder of septuplets (Vimeo90K) or a video file.")
@click.option("-s", "--scale", type=click.IntRange(min=2), required=True, help="Upscaling factor.")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=None,
              help="Scoring protocol (default: edsr-benchmark for image sets, video for clips and video files, "
                   "vimeo90k-t for septuplets).")
@click.option("--degradation", default="bi", show_default=True, callback=degradation_spec, metavar="SPEC",
              help="How LR is made when it is not on disk: " + DEGRADATION_HELP + ".")
@click.option("--self-ensemble", is_flag=True, help="Average the model over the 8 flips/transposes.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
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
    from vsr.evaluation import evaluate, format_eval, write_eval_report

    if html_page and out_dir is None:
        raise click.UsageError("--html writes into the -o/--output folder; pass -o DIR")
    upscaler = None
    if model_src is None:
        from vsr.models import default_model_name

        model_src = default_model_name(scale)
    if model_src != "bicubic":
        from vsr.inference import Upscaler

        upscaler = Upscaler(model_src, scale=scale, device=device, precision=precision, self_ensemble=self_ensemble)
    elif self_ensemble:
        raise click.UsageError("--self-ensemble needs a model; --model bicubic has none")
    result = evaluate(dataset, scale, upscaler, model_name=model_src, protocol=protocol,
                      degradation=degradation, progress=sys.stderr.isatty())
    click.echo(format_eval(result))
    if out_dir is not None:
        for path in write_eval_report(result, out_dir, html_page=html_page):
            click.echo(f"wrote {path}")


@click.command("psnr")
@click.argument("distorted", type=PATH_IN)
@click.argument("reference", type=PATH_IN)
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the per-frame CSV and JSON and the PSNR plot.")
@click.option("--html", "html_page", is_flag=True, help="Also write a self-contained HTML report (needs -o).")
@click.option("--common-prefix", is_flag=True, help="When frame counts differ, compare the first min(n) frames.")
@click.option("--crop-to-common", is_flag=True, help="When frame sizes differ, compare the common top-left region.")
def psnr_cmd(distorted: Path, reference: Path, out_dir: Path | None, html_page: bool, common_prefix: bool,
             crop_to_common: bool) -> None:
    """Per-frame PSNR (Y and RGB) and SSIM of DISTORTED against REFERENCE (videos, frame folders or images)."""
    from vsr.evaluation import score_frames, format_psnr_report, write_psnr_report

    if html_page and out_dir is None:
        raise click.UsageError("--html writes into the -o/--output folder; pass -o DIR")
    result = score_frames(distorted, reference, common_prefix=common_prefix, crop_to_common=crop_to_common)
    click.echo(format_psnr_report(result))
    if out_dir is not None:
        for path in write_psnr_report(result, out_dir, html_page=html_page):
            click.echo(f"wrote {path}")


@click.command("compare")
@click.option("-m", "--model", "models", multiple=True,
              help="Checkpoint file or bundled model name (repeat for each model; required unless --rerender).")
@click.option("--image-set", "image_sets", multiple=True, type=click.Path(path_type=Path),
              help="Image test set (EDSR layout or a folder of images), scored with the edsr-benchmark protocol (repeatable).")
@click.option("--video-set", "video_sets", multiple=True, type=click.Path(path_type=Path),
              help="Video test set (folder of frame folders such as Vid4, one frame folder, or a video file), scored "
                   "per frame with the video protocol, mean of clip means, plus temporal error (repeatable).")
@click.option("-s", "--scale", type=click.IntRange(min=2), help="Upscaling factor; every model must support it.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Report folder: report.md, report.html, CSV/JSON, plots/, crops/.")
@click.option("--label", "labels", multiple=True, metavar="MODEL=NAME", callback=key_values,
              help="Row name of a model (MODEL as given to --model, or its file stem); default: the file stem.")
@click.option("--degradation", default="bi", show_default=True, callback=degradation_spec, metavar="SPEC",
              help="How LR is made when it is not on disk: " + DEGRADATION_HELP + ".")
@click.option("--video-degradation", "video_degradations", multiple=True, callback=degradation_specs, metavar="SPEC",
              help="Score every video set again under this further condition, as its own column (repeatable), "
                   "e.g. --video-degradation bi+x264:crf=23 --video-degradation bi+x264:crf=28.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="Inference precision (fp32 so scores match published ones).")
@click.option("--rerender", "rerender_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Draw the report in DIR again from its comparison.json (and curves.csv), scoring nothing: "
                   "rewrites report.md, report.html, plots and CSVs with today's report code; keeps its crops. "
                   "Takes no other option.")
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
    rerender_dir: Path | None,
) -> None:
    """Compare models and bicubic on image and video test sets: tables, per-frame curves, crops, CSV/JSON."""
    if rerender_dir is not None:
        _rerender(rerender_dir)
        return
    for name, given in (("-m/--model", models), ("-s/--scale", scale), ("-o/--output", out_dir)):
        if not given:
            raise click.UsageError(f"Missing option {name} (or give --rerender DIR to redraw a report).")
    from vsr.compare import compare_models, format_comparison, write_comparison_report

    result = compare_models(models, scale=scale, image_sets=image_sets, video_sets=video_sets, labels=labels,
                            device=device, precision=precision, degradation=degradation,
                            video_degradations=video_degradations, progress=sys.stderr.isatty())
    click.echo(format_comparison(result))
    paths = write_comparison_report(result, out_dir)
    click.echo(f"wrote {out_dir / 'report.md'}, {out_dir / 'report.html'} and {len(paths) - 2} more files in {out_dir}")


def _rerender(folder: Path) -> None:
    """``--rerender DIR``: alone, since the report's numbers all come from DIR."""
    ctx = click.get_current_context()
    others = [p.opts[-1] for p in ctx.command.params if p.name != "rerender_dir"
              and ctx.get_parameter_source(p.name) != click.core.ParameterSource.DEFAULT]  # type: ignore[arg-type]
    if others:
        raise click.UsageError(f"--rerender takes no other option (got {', '.join(others)}): the numbers come from "
                               "DIR/comparison.json")
    from vsr.compare import rerender_report

    paths = rerender_report(folder)
    click.echo(f"wrote {folder / 'report.md'}, {folder / 'report.html'} and {len(paths) - 2} more files in {folder} "
               f"from {folder / 'comparison.json'}")


@click.command("experiment")
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
    from vsr.compare import run_experiment

    result = run_experiment(recipe, force=force, out_dir=out_dir, progress=not no_progress, train_only=train_only,
                            jobs=jobs, recompare=recompare)
    for s in result.stages:
        click.echo(f"{s.name}: {s.status}{f' ({s.detail})' if s.detail else ''}")
    if train_only:
        click.echo(f"trained: {result.out_dir / 'models'}; run again without --train-only to compare")
        return
    for md in result.reports:
        click.echo(f"report: {md} and {md.with_suffix('.html')}")
