"""The last stage of an experiment: compare the trained models, draw their learning curves, write the report.

:func:`compare_stages` compares, at every scale the models were trained for, the models of that scale (an MDSR
model takes part at each of its scales) with :func:`vsr.compare._compare.compare_models`, scores the snapshots for
the learning curves (:mod:`vsr.compare._curves`) and writes one report folder: ``report/`` when the experiment has
one scale, ``report/x<s>/`` per scale otherwise. Each scale is a stage of the record (``compare``, or
``compare-x<s>``), skipped on a re-run when its models and settings are unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsr._core import flatten, write_csv
from vsr.compare._recipe import ExperimentConfig, ModelEntry, TrainingStage
from vsr.compare._stage_record import StageOutcome, digest, finished, now, say, write_record
from vsr.train import config_to_dict

if TYPE_CHECKING:
    from vsr.compare._results import Comparison

__all__ = ["compare_stages", "report_dirs"]


def report_dirs(stages: list[TrainingStage], report_dir: Path) -> list[tuple[int, Path]]:
    """(scale, report folder) of each scale some model was trained for, ascending: ``report_dir`` itself when there
    is one scale, ``report_dir/x<s>`` per scale otherwise."""
    scales = sorted({s for st in stages for s in st.config.model.scales})
    return [(scales[0], report_dir)] if len(scales) == 1 else [(s, report_dir / f"x{s}") for s in scales]


def compare_stages(
    exp: ExperimentConfig, stages: list[TrainingStage], manifest: dict[str, Any], manifest_path: Path,
    report_dir: Path, recompare: bool, progress: bool,
) -> list[tuple[StageOutcome, Comparison | None]]:
    """The comparison stage of each scale (one, named ``compare``, for a single-scale experiment), in scale order."""
    dirs = report_dirs(stages, report_dir)
    return [
        _compare_stage(exp, [st for st in stages if s in st.config.model.scales], s,
                       "compare" if len(dirs) == 1 else f"compare-x{s}", manifest, manifest_path, d, recompare, progress)
        for s, d in dirs
    ]


def _training_span(runs: list[dict[str, Any]]) -> str:
    """One sentence with the wall-clock span of the training stages (they may have run in parallel or in sittings)."""
    spans = []
    for r in runs:
        try:
            end = datetime.fromisoformat(r["finished"])
            spans.append((end.timestamp() - float(r["stage_wall_s"]), end.timestamp()))
        except (KeyError, TypeError, ValueError):
            return ""
    if not spans:
        return ""
    start, end = min(a for a, _ in spans), max(b for _, b in spans)
    busy = sum(b - a for a, b in spans)
    fmt = "%Y-%m-%d %H:%M"
    return (
        f"Training: {len(spans)} stages, {datetime.fromtimestamp(start, timezone.utc).strftime(fmt)} to "
        f"{datetime.fromtimestamp(end, timezone.utc).strftime(fmt)} UTC ({(end - start) / 60:.0f} min wall clock; "
        f"{busy / 60:.0f} stage-minutes in all, so {busy / max(end - start, 1e-9):.1f} stages ran at a time on average; "
        "a stage resumed in a later sitting counts only its last sitting)."
    )


def _intro(exp: ExperimentConfig, stages: list[TrainingStage], records: dict[str, Any], scale: int) -> str:
    """Markdown describing how the models compared at ``scale`` were trained (recipes, budget, data, seeds, time)."""
    cfg = stages[0].config
    d, o, t = cfg.data, cfg.optim, cfg.train
    sched = {
        "cosine": f"cosine to {o.min_lr:g}", "step": f"x{o.gamma:g} at {list(o.milestones)}", "constant": "constant"
    }[o.schedule]
    where = sorted({f"{r['precision']} on {r['device']}" for r in records.values() if r.get("precision") and r.get("device")})
    ran_as = f" ({', '.join(where)})" if where else ""
    lines = [
        f"Experiment `{exp.name}` (`{Path(exp.source).name}`), run with `vsr experiment {exp.source}`."
        + (f" {exp.description.strip()}" if exp.description else ""),
        "",
        f"Identical budget for every model: {_what(exp, cfg, scale)}"
        f"batch {d.batch_size}, LR patch {d.lr_patch} (HR {d.lr_patch * scale}), "
        f"augmentation {'on' if d.augment else 'off'}, Adam lr {o.lr:g} (betas {o.betas[0]:g}, {o.betas[1]:g}), "
        f"warm-up {o.warmup}, {sched}, precision {t.precision}{ran_as}, "
        f"seeds {', '.join(map(str, exp.seeds))}. No validation during training; the final weights are compared"
        + (f" (snapshots every {t.snapshot_every} iterations are scored after training for the learning curves)."
           if t.snapshot_every else "."),
        "",
    ]
    if exp.varies:
        lines += [_varied(exp, stages), ""]
    span = _training_span([records[st.name] for st in stages if st.name in records])
    if span:
        lines += [span, ""]
    for m in _present(exp, stages):
        st = next(s for s in stages if s.label == m.label)
        srcs = ", ".join(
            f"{s.kind} `{Path(s.path).name}`"
            + (f" (every {s.frame_stride}th frame)" if s.kind in ("video_files", "reds") and s.frame_stride > 1 else "")
            + f" weight {s.weight:g}"
            for s in st.config.data.sources
        )
        runs = [records.get(s.name, {}) for s in stages if s.label == m.label]
        losses = ", ".join(f"{r['final_loss']:.3f}" for r in runs if r.get("final_loss") is not None)
        mins = ", ".join(f"{r['train_elapsed_s'] / 60:.1f}" for r in runs if r.get("train_elapsed_s") is not None)
        rates = ", ".join(f"{r['iterations'] / r['train_elapsed_s']:.2f}" for r in runs
                          if r.get("train_elapsed_s") and r.get("iterations"))
        seeds = ", ".join(str(r["seed"]) for r in runs if "seed" in r)
        lines.append(
            f"- **{m.label}** (seeds {seeds or 'n/a'}): `{Path(m.recipe).name}`: {srcs}. Final training L1 loss (last "
            f"logging window, per seed): {losses or 'n/a'}; wall-clock training time per seed: {mins or 'n/a'} min "
            f"({rates or 'n/a'} it/s)."
        )
    return "\n".join(lines)


def _what(exp: ExperimentConfig, cfg: Any, scale: int) -> str:
    """The start of the budget sentence: architecture, scale and iterations, unless the models differ in them."""
    arch = "" if {"model.arch", "model.scales"} & set(exp.varies) else f"{cfg.model.arch} "
    iters = "" if "train.iterations" in exp.varies else f"{cfg.train.iterations} iterations, "
    return f"{arch}x{scale}, {iters}"


def _present(exp: ExperimentConfig, stages: list[TrainingStage]) -> list[ModelEntry]:
    """The models of ``exp`` with a stage among ``stages`` (at one scale of a multi-scale experiment: those for it)."""
    labels = {st.label for st in stages}
    return [m for m in exp.models if m.label in labels]


def _varied(exp: ExperimentConfig, stages: list[TrainingStage]) -> str:
    """The sentence naming the settings the models differ in on purpose (``experiment.varies``), with each value."""
    parts = []
    for m in _present(exp, stages):
        flat = flatten(config_to_dict(next(s for s in stages if s.label == m.label).config))
        values = ", ".join(f"`{k}` = {_shown(flat.get(k))}" for k in exp.varies)
        parts.append(f"**{m.label}**: {values}")
    return (f"Besides their data sources, the models differ on purpose in {', '.join(f'`{k}`' for k in exp.varies)} "
            "(the question of this experiment): " + "; ".join(parts) + ".")


def _shown(value: Any) -> str:
    """A setting's value for the report: a path by its file name (the folders are the machine's), empty as 'none'."""
    if value in ("", None, [], ()):
        return "none"
    if isinstance(value, str) and os.sep in value:
        return f"`{Path(value).name}`"
    return f"`{value}`"


def _curve_sections(
    exp: ExperimentConfig, stages: list[TrainingStage], labels: dict[str, str], groups: dict[str, str],
    comparison: Comparison, root: Path, progress: bool, scale: int,
) -> list[tuple[str, str, list[tuple[str, str, bytes]], list[list[Any]], dict[str, Any]]]:
    """The learning-curve section of the report: every snapshot scored on ``compare.curve_sets``; with the rows of
    ``curves.csv`` and the settings of ``curves.json`` (:func:`vsr.compare._curves.write_curve_settings`)."""
    from vsr.compare._curves import bicubic_reference, curve_rows, curve_section, score_snapshots
    from vsr.compare._plots import arm_colours

    c = exp.compare
    if progress:
        say(f"vsr experiment: learning curves ({len(stages)} runs on {len(c.curve_sets)} sets)")
    runs = {labels[os.fspath(st.model_file)]: st.run_dir for st in stages}
    curves = score_snapshots(runs, c.curve_sets, scale=scale, device=c.device, precision=c.precision,
                             frame_stride=c.curve_frame_stride, cache=root / "curves_cache.json")
    bicubic = bicubic_reference(c.curve_sets, scale=scale, frame_stride=c.curve_frame_stride)
    settings = {"snapshot_every": stages[0].config.train.snapshot_every, "frame_stride": c.curve_frame_stride,
                "bicubic": bicubic, "levels": list(c.curve_levels)}
    heading, text, figures = curve_section(curves, precision=comparison.precision, groups=groups,
                                           colours=arm_colours(comparison), **settings)
    return [(heading, text, figures, curve_rows(curves), settings)]


def _compare_stage(
    exp: ExperimentConfig, stages: list[TrainingStage], scale: int, name: str, manifest: dict[str, Any],
    manifest_path: Path, report_dir: Path, recompare: bool, progress: bool,
) -> tuple[StageOutcome, Comparison | None]:
    """The comparison of ``stages``' models at ``scale`` and its report (skipped when it finished with the same models
    and settings); recorded as stage ``name``."""
    records: dict[str, Any] = manifest["stages"]
    root = manifest_path.parent
    multi_seed = len(exp.seeds) > 1
    labels = {os.fspath(st.model_file): f"{st.label} s{st.seed}" if multi_seed else st.label for st in stages}
    groups = {labels[os.fspath(st.model_file)]: st.label for st in stages} if multi_seed else {}
    c = exp.compare
    fingerprint = digest({
        "models": [(labels[os.fspath(st.model_file)], records[st.name]["sha256"]) for st in stages],
        "compare": dataclasses.asdict(c), "scale": scale, "groups": groups,
    })
    # Imported when needed: loading and planning an experiment need neither the evaluation nor the report code.
    from vsr.compare._compare import compare_models, format_comparison, write_comparison_report
    from vsr.compare._curves import write_curve_settings

    if not recompare and finished(records.get(name), fingerprint, name, manifest_path) and \
            (report_dir / "report.md").exists():
        if progress:
            say(f"vsr experiment: stage {name} finished earlier; skipped")
        return StageOutcome(name, "skipped", f"finished earlier -> {report_dir}"), None
    if progress:
        say(f"vsr experiment: stage {name} ({len(stages)} models at x{scale} on {len(c.image_sets) + len(c.video_sets)} test sets)")
    t0 = time.perf_counter()
    comparison = compare_models(
        [os.fspath(st.model_file) for st in stages], scale=scale, image_sets=c.image_sets, video_sets=c.video_sets,
        labels=labels, groups=groups, device=c.device, precision=c.precision, degradation=c.degradation,
        video_degradations=c.video_degradations, video_protocol=c.video_protocol, batch_size=c.batch_size,
        progress=progress,
    )
    sections = _curve_sections(exp, stages, labels, groups, comparison, root, progress, scale) if c.curve_sets else []
    if report_dir.exists():
        shutil.rmtree(report_dir)
    write_comparison_report(
        comparison, report_dir, title=f"{exp.name}: " + " vs ".join(m.label for m in _present(exp, stages)) + f", x{scale}",
        intro=_intro(exp, stages, records, scale), sections=[(h, t, f) for h, t, f, _, _ in sections],
    )
    for _, _, _, rows, settings in sections:
        # curves.csv and curves.json hold what `vsr compare --rerender` needs to draw the section again.
        write_csv(report_dir / "curves.csv", ["model", "set", "iteration", "psnr"], rows, durable=False)
        write_curve_settings(report_dir, **settings)
    records[name] = {"status": "done", "fingerprint": fingerprint, "report": os.fspath(report_dir),
                          "wall_s": round(time.perf_counter() - t0, 1), "finished": now()}
    write_record(manifest_path, manifest)
    if progress:
        say(format_comparison(comparison))
    return StageOutcome(name, "ran", f"-> {report_dir / 'report.md'}"), comparison
