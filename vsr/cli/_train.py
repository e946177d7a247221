"""`vsr train` and `vsr export`: training runs from recipes, and their weights as model files."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["export_cmd", "train_cmd"]


@click.command("train")
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


@click.command("export")
@click.argument("run_dir", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Model file to write.")
@click.option("--which", type=click.Choice(["best", "latest"]), default="best", show_default=True,
              help="Checkpoint of the run to export.")
@click.option("--official", is_flag=True, help="Write a bare state_dict in the official EDSR-PyTorch key layout.")
@click.option("--half", is_flag=True, help="Store fp16 weights (half the size).")
@click.option("--blend", "blend", default=None, metavar="MODEL",
              help="Interpolate the run's weights with this model's (bundled name or file; same architecture), "
                   "e.g. the model a fine-tune started from.")
@click.option("--blend-weight", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Share of the run's weights in the blend (the rest is --blend's).")
@click.option("--onto", default=None, metavar="MODEL",
              help="With --blend: write MODEL + weight * (run - blend), i.e. carry the fine-tune's change over to a "
                   "further-trained version of the model it started from.")
def export_cmd(run_dir: Path, output: Path, which: str, official: bool, half: bool, blend: str | None,
               blend_weight: float, onto: str | None) -> None:
    """Export a training run's weights as a model file `vsr upscale --model` reads."""
    from vsr.train import export

    out = export(run_dir, output, which=which, official=official, half=half,  # type: ignore[arg-type]
                 blend=blend, blend_weight=blend_weight, onto=onto)
    if blend is None:
        extra = ""
    elif onto is None:
        extra = f", blended {blend_weight:g} : {1 - blend_weight:g} with {blend}"
    else:
        extra = f", {blend_weight:g} x its change from {blend} added to {onto}"
    click.echo(f"{run_dir} ({which}{extra}) -> {out}")
