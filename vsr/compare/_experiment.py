"""Train several models under one budget, then compare them: the library behind ``vsr experiment``.

An experiment recipe (``pipelines/compare_*.toml``, read by
:mod:`vsr.compare._recipe`) names training recipes (one per model, e.g.
images vs video frames), a ``[budget]`` applied identically to all of them
(iterations, batch, patch, optimizer, schedule, precision), the seeds to train
each model with, and the test sets of ``[compare]``::

    [experiment]
    out_dir = "runs/experiment"      # relative to the current directory
    seeds = [0, 1]

    [budget]
    iterations = 2000
    batch_size = 16
    lr_patch = 48

    [[models]]
    label = "image-trained"
    recipe = "edsr_baseline_x2_t91_bsd200.toml"   # relative to this file

    [compare]
    image_sets = ["../../shared/data/Set5"]
    video_sets = ["../../shared/data/Vid4"]

:func:`run_experiment` runs one stage per model and seed (train, then export the
final weights) and a last ``compare`` stage (:mod:`vsr.compare._compare`). Every finished
stage is recorded in ``<out_dir>/stages.json`` with a fingerprint of what it
did; a re-run skips finished stages, resumes an interrupted training from its
``latest.pt``, and refuses (naming the stage) to mix results of a changed recipe
unless ``force`` is given. Validation during training is switched off: the
benchmark sets are test sets here, and the final weights (not the best on a test
set) are compared.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vsr._core import flatten
from vsr.compare._recipe import ExperimentConfig, TrainingStage, load_experiment, plan_training
from vsr._core import sha256_file, write_csv, write_text
from vsr.errors import ConfigError
from vsr.train import config_to_dict, export, stored_recipe, train

if TYPE_CHECKING:
    from vsr.compare._results import Comparison

__all__ = ["ExperimentResult", "StageOutcome", "run_experiment"]

_MANIFEST = "stages.json"


# --------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class StageOutcome:
    """What a run did with one stage: ``ran``, ``resumed`` or ``skipped`` (finished earlier)."""

    name: str
    status: Literal["ran", "resumed", "skipped"]
    detail: str = ""


@dataclass(frozen=True)
class ExperimentResult:
    """Result of :func:`run_experiment`: where things are, what each stage did, and the comparison (None if skipped)."""

    out_dir: Path
    report_dir: Path
    stages: tuple[StageOutcome, ...]
    comparison: Comparison | None


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"stages": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: unreadable stage record ({e}); delete it or rerun with --force") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise ConfigError(f"{path}: not a vsr experiment stage record; delete it or rerun with --force")
    return data


def _write_manifest(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _done(record: dict[str, Any] | None, fingerprint: str, name: str, manifest: Path) -> bool:
    """True when ``record`` is a finished stage with this fingerprint; a finished stage of another recipe is an error."""
    if not record or record.get("status") != "done":
        return False
    if record.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"{manifest}: stage {name!r} was finished with a different recipe; rerun with --force to redo the "
            "experiment, or choose another experiment.out_dir (--out-dir) to keep both"
        )
    return True


def _start_event(run_dir: Path) -> dict[str, Any]:
    """The first ``start`` event of a run's ``log.jsonl`` (device, precision, sources), or {}."""
    log = run_dir / "log.jsonl"
    if not log.exists():
        return {}
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("event") == "start":
                return dict(row)
    return {}


def _last_train_row(run_dir: Path) -> dict[str, str]:
    log = run_dir / "log.csv"
    if not log.exists():
        return {}
    with log.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("event") == "train"]
    return rows[-1] if rows else {}


def _run_training(st: TrainingStage, record: dict[str, Any] | None, fingerprint: str, manifest: Path,
                  progress: bool) -> tuple[StageOutcome, dict[str, Any]] | None:
    """Train (or resume) one stage and export its final weights; None when it was finished before."""
    if _done(record, fingerprint, st.name, manifest) and st.model_file.exists() and record and \
            sha256_file(st.model_file) == record.get("sha256"):
        return None
    want = config_to_dict(st.config)
    stored = stored_recipe(st.run_dir)
    resumed = stored is not None
    if resumed:
        if json.loads(json.dumps(stored)) != json.loads(json.dumps(want)):
            old, new = flatten(stored), flatten(want)
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise ConfigError(
                f"{st.run_dir}: stage {st.name!r} was started with another recipe (differs in {', '.join(diff[:5])}); "
                "rerun with --force to restart it"
            )
    t0 = time.perf_counter()
    result = train(st.config, run_dir=st.run_dir, resume=resumed, progress=progress)
    st.model_file.parent.mkdir(parents=True, exist_ok=True)
    export(st.run_dir, st.model_file, which="latest")
    last = _last_train_row(st.run_dir)
    start = _start_event(st.run_dir)
    rec = {
        "status": "done",
        "fingerprint": fingerprint,
        "label": st.label,
        "seed": st.seed,
        "recipe": st.config.source,
        "run_dir": os.fspath(st.run_dir),
        "model": os.fspath(st.model_file),
        "sha256": sha256_file(st.model_file),
        "iterations": result.iteration,
        "device": start.get("device"),
        "precision": start.get("precision"),
        "sources": start.get("sources"),
        "final_loss": float(last["loss"]) if last.get("loss") else None,
        "train_elapsed_s": float(last["elapsed_s"]) if last.get("elapsed_s") else None,
        "stage_wall_s": round(time.perf_counter() - t0, 1),
        "finished": _now(),
    }
    detail = f"{result.iteration} iterations -> {st.model_file}"
    return StageOutcome(st.name, "resumed" if resumed else "ran", detail), rec


def _stage_worker(
    st: TrainingStage, record: dict[str, Any] | None, fingerprint: str, manifest: Path, threads: int
) -> tuple[StageOutcome, dict[str, Any]] | None:
    """One training stage in a worker process (``jobs`` > 1), with its share of the CPU threads."""
    import torch

    torch.set_num_threads(threads)
    return _run_training(st, record, fingerprint, manifest, progress=False)


def _train_parallel(
    stages: list[TrainingStage], records: dict[str, Any], manifest: Path, jobs: int, progress: bool,
    finished: Any,
) -> None:
    """Run the training stages ``jobs`` at a time in spawned processes; ``finished(stage, result)`` in this process."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    threads = max(1, (os.cpu_count() or 1) // jobs)
    pending: dict[Future[Any], TrainingStage] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for st in stages:
            if progress:
                _say(f"vsr experiment: stage {st.name} ({Path(st.config.source).name}, seed {st.seed}) queued, "
                     f"{threads} thread(s); log: {st.run_dir / 'log.csv'}")
            fp = _digest(config_to_dict(st.config))
            pending[pool.submit(_stage_worker, st, records.get(st.name), fp, manifest, threads)] = st
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    finished(pending.pop(fut), fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


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


def _intro(exp: ExperimentConfig, stages: list[TrainingStage], records: dict[str, Any]) -> str:
    """Markdown describing how the compared models were trained (recipes, budget, data, seeds, time)."""
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
        f"Identical budget for every model: {cfg.model.arch} x{cfg.model.scales[0]}, {t.iterations} iterations, "
        f"batch {d.batch_size}, LR patch {d.lr_patch} (HR {d.lr_patch * cfg.model.scales[0]}), "
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
    for m in exp.models:
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


def _varied(exp: ExperimentConfig, stages: list[TrainingStage]) -> str:
    """The sentence naming the settings the models differ in on purpose (``experiment.varies``), with each value."""
    parts = []
    for m in exp.models:
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
    comparison: Comparison, root: Path, progress: bool,
) -> list[tuple[str, str, list[tuple[str, str, bytes]], list[list[Any]], dict[str, Any]]]:
    """The learning-curve section of the report: every snapshot scored on ``compare.curve_sets``; with the rows of
    ``curves.csv`` and the settings of ``curves.json`` (:func:`vsr.compare._curves.write_curve_settings`)."""
    from vsr.compare._curves import bicubic_reference, curve_rows, curve_section, score_snapshots
    from vsr.compare._plots import arm_colours

    c = exp.compare
    if progress:
        _say(f"vsr experiment: learning curves ({len(stages)} runs on {len(c.curve_sets)} sets)")
    runs = {labels[os.fspath(st.model_file)]: st.run_dir for st in stages}
    scale = stages[0].config.model.scales[0]
    curves = score_snapshots(runs, c.curve_sets, scale=scale, device=c.device, precision=c.precision,
                             frame_stride=c.curve_frame_stride, cache=root / "curves_cache.json")
    bicubic = bicubic_reference(c.curve_sets, scale=scale, frame_stride=c.curve_frame_stride)
    settings = {"snapshot_every": stages[0].config.train.snapshot_every, "frame_stride": c.curve_frame_stride,
                "bicubic": bicubic, "levels": list(c.curve_levels)}
    heading, text, figures = curve_section(curves, precision=comparison.precision, groups=groups,
                                           colours=arm_colours(comparison), **settings)
    return [(heading, text, figures, curve_rows(curves), settings)]


def run_experiment(
    recipe_path: str | os.PathLike[str],
    *,
    force: bool = False,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    train_only: bool = False,
    jobs: int = 1,
    recompare: bool = False,
) -> ExperimentResult:
    """Run (or continue) the experiment of ``recipe_path``: train every model and seed, then compare.

    Args:
        recipe_path: an experiment recipe (see the module docstring).
        force: redo every stage from scratch (deletes the experiment's run
            folders, exported models and report first).
        out_dir: overrides ``experiment.out_dir``.
        progress: stage messages and training/evaluation progress on stderr.
        train_only: stop after the training stages (compare later with a plain re-run).
        recompare: redo the comparison even when it finished with the same models
            and settings (e.g. after the evaluation code changed); training stays.
        jobs: training stages run at once, each in its own process with
            ``cpu_count // jobs`` threads. On a CPU shared with other work, two
            one-thread processes keep both cores busy where one two-thread process
            stalls whenever a core is taken (its threads wait for each other).

    Returns:
        The experiment folder, the report folder, and what each stage did.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs = {jobs!r} must be a positive integer")
    exp = load_experiment(recipe_path)
    root = Path(out_dir if out_dir is not None else exp.out_dir)
    stages = plan_training(exp, root)
    report_dir = root / "report"
    manifest_path = root / _MANIFEST
    if force:
        for d in (root / "train", root / "models", report_dir):
            if d.exists():
                shutil.rmtree(d)
        manifest_path.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exp.source, root / "recipe.toml")
    manifest = _read_manifest(manifest_path)
    manifest["recipe"] = exp.source
    outcomes = _train_stages(stages, manifest, manifest_path, jobs, progress)
    if train_only:
        return ExperimentResult(root, report_dir, tuple(outcomes), None)
    outcome, comparison = _compare_stage(exp, stages, manifest, manifest_path, report_dir, recompare, progress)
    return ExperimentResult(root, report_dir, (*outcomes, outcome), comparison)


def _train_stages(
    stages: list[TrainingStage], manifest: dict[str, Any], manifest_path: Path, jobs: int, progress: bool
) -> list[StageOutcome]:
    """Every training stage (skipping finished ones), ``jobs`` at a time; the record is written after each."""
    records: dict[str, Any] = manifest["stages"]
    outcomes: list[StageOutcome] = []

    def finished(st: TrainingStage, ran: tuple[StageOutcome, dict[str, Any]] | None) -> None:
        if ran is None:
            outcomes.append(StageOutcome(st.name, "skipped", f"finished earlier -> {st.model_file}"))
            if progress:
                _say(f"vsr experiment: stage {st.name} finished earlier; skipped")
            return
        outcome, rec = ran
        records[st.name] = rec
        _write_manifest(manifest_path, manifest)  # only this process writes the record, whatever jobs is
        outcomes.append(outcome)
        if progress and jobs > 1:
            _say(f"vsr experiment: stage {st.name} {outcome.status}: {outcome.detail}")

    if jobs == 1:
        for st in stages:
            if progress:
                _say(f"vsr experiment: stage {st.name} ({Path(st.config.source).name}, seed {st.seed})")
            finished(st, _run_training(st, records.get(st.name), _digest(config_to_dict(st.config)), manifest_path,
                                       progress))
    else:
        _train_parallel(stages, records, manifest_path, jobs, progress, finished)
    return outcomes


def _compare_stage(
    exp: ExperimentConfig, stages: list[TrainingStage], manifest: dict[str, Any], manifest_path: Path,
    report_dir: Path, recompare: bool, progress: bool,
) -> tuple[StageOutcome, Comparison | None]:
    """The comparison of the trained models and its report (skipped when it finished with the same models and settings)."""
    records: dict[str, Any] = manifest["stages"]
    root = manifest_path.parent
    multi_seed = len(exp.seeds) > 1
    labels = {os.fspath(st.model_file): f"{st.label} s{st.seed}" if multi_seed else st.label for st in stages}
    groups = {labels[os.fspath(st.model_file)]: st.label for st in stages} if multi_seed else {}
    c = exp.compare
    scale = stages[0].config.model.scales[0]
    fingerprint = _digest({
        "models": [(labels[os.fspath(st.model_file)], records[st.name]["sha256"]) for st in stages],
        "compare": dataclasses.asdict(c), "scale": scale, "groups": groups,
    })
    # Imported when needed: loading and planning an experiment need neither the evaluation nor the report code.
    from vsr.compare._compare import compare_models, format_comparison, write_comparison_report
    from vsr.compare._curves import write_curve_settings

    if not recompare and _done(records.get("compare"), fingerprint, "compare", manifest_path) and \
            (report_dir / "report.md").exists():
        if progress:
            _say("vsr experiment: stage compare finished earlier; skipped")
        return StageOutcome("compare", "skipped", f"finished earlier -> {report_dir}"), None
    if progress:
        _say(f"vsr experiment: stage compare ({len(stages)} models on {len(c.image_sets) + len(c.video_sets)} test sets)")
    t0 = time.perf_counter()
    comparison = compare_models(
        [os.fspath(st.model_file) for st in stages], scale=scale, image_sets=c.image_sets, video_sets=c.video_sets,
        labels=labels, groups=groups, device=c.device, precision=c.precision, degradation=c.degradation,
        video_degradations=c.video_degradations, video_protocol=c.video_protocol, batch_size=c.batch_size,
        progress=progress,
    )
    sections = _curve_sections(exp, stages, labels, groups, comparison, root, progress) if c.curve_sets else []
    if report_dir.exists():
        shutil.rmtree(report_dir)
    write_comparison_report(
        comparison, report_dir, title=f"{exp.name}: " + " vs ".join(m.label for m in exp.models) + f", x{scale}",
        intro=_intro(exp, stages, records), sections=[(h, t, f) for h, t, f, _, _ in sections],
    )
    for _, _, _, rows, settings in sections:
        # curves.csv and curves.json hold what `vsr compare --rerender` needs to draw the section again.
        write_csv(report_dir / "curves.csv", ["model", "set", "iteration", "psnr"], rows, durable=False)
        write_curve_settings(report_dir, **settings)
    records["compare"] = {"status": "done", "fingerprint": fingerprint, "report": os.fspath(report_dir),
                          "wall_s": round(time.perf_counter() - t0, 1), "finished": _now()}
    _write_manifest(manifest_path, manifest)
    if progress:
        _say(format_comparison(comparison))
    return StageOutcome("compare", "ran", f"-> {report_dir / 'report.md'}"), comparison
