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
final weights) and the comparison stages (:mod:`vsr.compare._comparison_stage`: one, or one per scale when the
models were trained for different scales, e.g. an MDSR against single-scale EDSRs). Every finished
stage is recorded in ``<out_dir>/stages.json`` (:mod:`vsr.compare._stage_record`) with a fingerprint of what it
did; a re-run skips finished stages, resumes an interrupted training from its
``latest.pt``, and refuses (naming the stage) to mix results of a changed recipe
unless ``force`` is given. Validation during training is switched off: the
benchmark sets are test sets here, and the final weights (not the best on a test
set) are compared.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsr._core import flatten, sha256_file
from vsr.compare._comparison_stage import compare_stages, report_dirs
from vsr.compare._recipe import TrainingStage, load_experiment, plan_training
from vsr.compare._stage_record import (
    RECORD, StageOutcome, digest, finished, now, read_record, say, write_record,
)
from vsr.errors import ConfigError
from vsr.train import config_to_dict, export, stored_recipe, train

if TYPE_CHECKING:
    from vsr.compare._results import Comparison

__all__ = ["ExperimentResult", "StageOutcome", "run_experiment"]



# --------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class ExperimentResult:
    """Result of :func:`run_experiment`: where things are, what each stage did, and the comparisons.

    ``comparison`` is the comparison of a single-scale experiment (None when it was skipped or for several scales);
    ``comparisons`` holds every comparison that ran, in scale order, and ``reports`` every report's ``report.md``.
    """

    out_dir: Path
    report_dir: Path
    stages: tuple[StageOutcome, ...]
    comparison: Comparison | None
    comparisons: tuple[Comparison, ...] = ()
    reports: tuple[Path, ...] = ()


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
    if finished(record, fingerprint, st.name, manifest) and st.model_file.exists() and record and \
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
        "finished": now(),
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
                say(f"vsr experiment: stage {st.name} ({Path(st.config.source).name}, seed {st.seed}) queued, "
                     f"{threads} thread(s); log: {st.run_dir / 'log.csv'}")
            fp = digest(config_to_dict(st.config))
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
    manifest_path = root / RECORD
    if force:
        for d in (root / "train", root / "models", report_dir):
            if d.exists():
                shutil.rmtree(d)
        manifest_path.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exp.source, root / "recipe.toml")
    manifest = read_record(manifest_path)
    manifest["recipe"] = exp.source
    outcomes = _train_stages(stages, manifest, manifest_path, jobs, progress)
    if train_only:
        return ExperimentResult(root, report_dir, tuple(outcomes), None)
    compared = compare_stages(exp, stages, manifest, manifest_path, report_dir, recompare, progress)
    comparisons = tuple(c for _, c in compared if c is not None)
    reports = tuple(d / "report.md" for _, d in report_dirs(stages, report_dir))
    single = compared[0][1] if len(compared) == 1 else None
    return ExperimentResult(root, report_dir, (*outcomes, *(o for o, _ in compared)), single, comparisons, reports)


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
                say(f"vsr experiment: stage {st.name} finished earlier; skipped")
            return
        outcome, rec = ran
        records[st.name] = rec
        write_record(manifest_path, manifest)  # only this process writes the record, whatever jobs is
        outcomes.append(outcome)
        if progress and jobs > 1:
            say(f"vsr experiment: stage {st.name} {outcome.status}: {outcome.detail}")

    if jobs == 1:
        for st in stages:
            if progress:
                say(f"vsr experiment: stage {st.name} ({Path(st.config.source).name}, seed {st.seed})")
            finished(st, _run_training(st, records.get(st.name), digest(config_to_dict(st.config)), manifest_path,
                                       progress))
    else:
        _train_parallel(stages, records, manifest_path, jobs, progress, finished)
    return outcomes
