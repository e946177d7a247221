"""`vsr experiment`: recipes load and enforce one budget; a tiny experiment runs end to end, skips and resumes stages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.data import imresize
from vsr.errors import ConfigError
from vsr.compare._experiment import run_experiment
from vsr.compare._output import rerender_report
from vsr.compare._recipe import load_experiment, plan_training
from vsr.train import load_checkpoint, train

from _images import smooth_noise, write_rgb

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
EXPERIMENTS = sorted(PIPELINES.glob("compare_*.toml"))


def test_there_is_the_image_vs_video_recipe_and_a_larger_variant() -> None:
    names = {p.name for p in EXPERIMENTS}
    assert {"compare_image_vs_video.toml", "compare_div2k_vs_reds_vs_vimeo90k.toml"} <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_recipe_loads_with_one_budget(path: Path, tmp_path: Path) -> None:
    exp = load_experiment(path)
    stages = plan_training(exp, tmp_path)
    assert len(stages) == sum(len(m.seeds or exp.seeds) for m in exp.models)
    for s in stages:
        # The budget's iterations, unless the model sets its own (a declared difference, e.g. MDSR vs three EDSRs).
        own = [o for m in exp.models if m.label == s.label for o in m.overrides if o.startswith("train.iterations=")]
        assert s.config.train.iterations == (int(own[0].split("=")[1]) if own else exp.budget.iterations)
        assert not own or "train.iterations" in exp.varies
    assert {s.config.validation.dataset for s in stages} == {""}
    for s in stages:
        assert s.config.train.seed == s.seed
        # Test sets are never trained on: Vid4, and every clip scored as a video set.
        held_out = ["vid4", *(Path(v).name.lower() for v in exp.compare.video_sets if Path(v).suffix)]
        assert all(h not in src.path.lower() for src in s.config.data.sources for h in held_out), s.name


def test_the_image_vs_video_recipe_trains_on_images_and_on_video_frames(tmp_path: Path) -> None:
    exp = load_experiment(PIPELINES / "compare_image_vs_video.toml")
    stages = {s.label: s for s in plan_training(exp, tmp_path) if s.seed == exp.seeds[0]}
    image_sources = {Path(s.path).name for s in stages["image-trained"].config.data.sources}
    video_kinds = {s.kind for s in stages["video-trained"].config.data.sources}
    assert image_sources == {"T91", "BSD200"}
    assert video_kinds == {"vimeo90k", "video_files"}
    mixed = stages["mixed"].config.data.sources
    assert {Path(s.path).name for s in mixed} == image_sources | {
        Path(s.path).name for s in stages["video-trained"].config.data.sources}
    # Half the patches from images, half from video frames; within a half, each item equally likely.
    image_w = sum(s.weight for s in mixed if s.kind == "image_folder")
    assert image_w == pytest.approx(sum(s.weight for s in mixed) / 2, rel=1e-3)
    assert [Path(p).name for p in exp.compare.image_sets] == ["Set5", "Set14"]
    assert [Path(p).name for p in exp.compare.video_sets] == ["Vid4", "carphone_pristine.mp4"]
    assert exp.compare.video_degradations == ("bi+x264:crf=23", "bi+x264:crf=28")
    assert exp.budget.snapshot_every and [Path(p).name for p in exp.compare.curve_sets] == ["Set5", "Vid4"]


def _write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


_MODEL = """
[model]
arch = "edsr_baseline"
scales = [2]
n_resblocks = 1
n_feats = {feats}

[[data.sources]]
kind = "{kind}"
path = "{path}"
{extra}

[data]
lr_patch = 8
batch_size = 2

[optim]
lr = 1e-3

[train]
iterations = 1000
"""


@pytest.fixture
def tiny_experiment(tmp_path: Path, make_video: Callable[..., Path]) -> Path:
    """Two tiny recipes (a folder of images; a video file) and an experiment over them, with tiny test sets."""
    for i in range(3):
        write_rgb(tmp_path / "imgs" / f"{i}.png", smooth_noise(40, 48, i))
    video = make_video("train.mp4", frames=6, size=(48, 40), content=lambda i: smooth_noise(40, 48, 10 + i))
    bench = tmp_path / "Bench"
    for i in range(2):
        hr = smooth_noise(24, 28, 20 + i)
        write_rgb(bench / "HR" / f"b{i}.png", hr)
        write_rgb(bench / "LR_bicubic" / "X2" / f"b{i}x2.png", imresize(hr, 0.5))
    for clip, n in (("one", 3), ("two", 2)):
        for i in range(n):
            write_rgb(tmp_path / "Vid" / clip / f"Frame {i + 1:03d}.png", smooth_noise(20, 24, 30 + 10 * n + i))
    _write_toml(tmp_path / "img.toml", _MODEL.format(feats=8, kind="image_folder", path="imgs", extra=""))
    _write_toml(tmp_path / "vid.toml", _MODEL.format(feats=8, kind="video_files", path=video.name, extra="frame_stride = 1"))
    return _write_toml(tmp_path / "exp.toml", f"""
[experiment]
out_dir = "{(tmp_path / 'exp').as_posix()}"
seeds = [0]

[budget]
iterations = 4
batch_size = 2
lr_patch = 8
lr = 1e-3
schedule = "cosine"
warmup = 1
precision = "fp32"
device = "cpu"
log_every = 1
checkpoint_every = 2

[[models]]
label = "images"
recipe = "img.toml"

[[models]]
label = "frames"
recipe = "vid.toml"

[compare]
image_sets = ["Bench"]
video_sets = ["Vid"]
device = "cpu"
""")


@pytest.mark.slow
def test_tiny_experiment_runs_end_to_end_then_skips_finished_stages(tiny_experiment: Path, tmp_path: Path) -> None:
    first = run_experiment(tiny_experiment, progress=False)
    assert [(s.name, s.status) for s in first.stages] == [
        ("train-images-seed0", "ran"), ("train-frames-seed0", "ran"), ("compare", "ran"),
    ]
    assert first.comparison is not None and first.comparison.labels == ("images", "frames")
    report = first.report_dir / "report.md"
    md = report.read_text(encoding="utf-8")
    assert "| images |" in md and "| frames |" in md and "Δ frames − images" in md
    assert "4 iterations, batch 2, LR patch 8" in md
    for name in ("train-images-seed0", "train-frames-seed0"):
        ckpt = load_checkpoint(first.out_dir / "train" / name / "latest.pt")
        assert ckpt["iteration"] == 4 and ckpt["train_config"]["train"]["seed"] == 0
    record = json.loads((first.out_dir / "stages.json").read_text(encoding="utf-8"))
    assert set(record["stages"]) == {"train-images-seed0", "train-frames-seed0", "compare"}

    stamp = report.stat().st_mtime_ns
    again = run_experiment(tiny_experiment, progress=False)
    assert [s.status for s in again.stages] == ["skipped", "skipped", "skipped"]
    assert again.comparison is None and report.stat().st_mtime_ns == stamp
    redone = run_experiment(tiny_experiment, progress=False, recompare=True)
    assert [s.status for s in redone.stages] == ["skipped", "skipped", "ran"] and redone.comparison is not None

    # Through the CLI, with --force: everything is redone.
    r = CliRunner().invoke(cli, ["experiment", str(tiny_experiment), "--force", "--no-progress"])
    assert r.exit_code == 0, r.stderr
    assert "train-images-seed0: ran" in r.stdout and "compare: ran" in r.stdout

    # A changed budget does not silently mix with the finished stages.
    text = tiny_experiment.read_text(encoding="utf-8").replace("iterations = 4", "iterations = 5")
    tiny_experiment.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="stage 'train-images-seed0' was finished with a different recipe.*--force"):
        run_experiment(tiny_experiment, progress=False)


def test_interrupted_training_stage_resumes(tiny_experiment: Path) -> None:
    exp = load_experiment(tiny_experiment)
    stage = plan_training(exp)[0]
    train(stage.config, run_dir=stage.run_dir, progress=False, stop_at=2)  # as if killed after 2 iterations
    assert load_checkpoint(stage.run_dir / "latest.pt")["iteration"] == 2
    result = run_experiment(tiny_experiment, progress=False)
    assert result.stages[0].status == "resumed" and "4 iterations" in result.stages[0].detail
    assert load_checkpoint(stage.run_dir / "latest.pt")["iteration"] == 4


def test_unknown_keys_name_the_file_and_the_allowed_keys(tiny_experiment: Path) -> None:
    text = tiny_experiment.read_text(encoding="utf-8")
    tiny_experiment.write_text(text.replace("batch_size = 2", "batch = 2"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"exp\.toml: unknown key 'budget\.batch'; allowed keys in \[budget\]: .*batch_size"):
        load_experiment(tiny_experiment)
    tiny_experiment.write_text(text + "\n[extra]\nx = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown section \[extra\]; allowed sections: experiment, budget, models, compare"):
        load_experiment(tiny_experiment)
    tiny_experiment.write_text(text.replace('recipe = "vid.toml"', 'recipe = "vid.toml"\nseed = 3'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'models\.1\.seed'; allowed keys in \[models\.1\]: label, recipe, seeds"):
        load_experiment(tiny_experiment)


def test_recipes_that_differ_beyond_their_data_are_refused(tiny_experiment: Path) -> None:
    vid = tiny_experiment.parent / "vid.toml"
    vid.write_text(vid.read_text(encoding="utf-8").replace("n_feats = 8", "n_feats = 16"), encoding="utf-8")
    msg = r"budgets differ: model\.n_feats is 8 in img\.toml but 16 in vid\.toml; set it in \[budget\]"
    with pytest.raises(ConfigError, match=msg):
        plan_training(load_experiment(tiny_experiment))


@pytest.mark.slow
def test_snapshots_give_learning_curves_in_the_report_and_arms_may_have_fewer_seeds(tiny_experiment: Path) -> None:
    text = tiny_experiment.read_text(encoding="utf-8")
    text = text.replace("seeds = [0]", "seeds = [0, 1]").replace("checkpoint_every = 2", "checkpoint_every = 2\nsnapshot_every = 2")
    text = text.replace('recipe = "vid.toml"', 'recipe = "vid.toml"\nseeds = [1]')
    # [compare] is the last table: its device line is the last one.
    head, _, tail = text.rpartition('device = "cpu"')
    text = head + ('device = "cpu"\nvideo_degradations = ["bi+x264:crf=30"]\ncurve_sets = ["Bench", "Vid"]\ncurve_frame_stride = 2'
                   '\ncurve_levels = [0.0, 99.0]') + tail
    tiny_experiment.write_text(text, encoding="utf-8")
    exp = load_experiment(tiny_experiment)
    assert [s.name for s in plan_training(exp)] == ["train-images-seed0", "train-images-seed1", "train-frames-seed1"]

    trained = run_experiment(tiny_experiment, progress=False, train_only=True, jobs=2)
    assert trained.comparison is None and not (trained.report_dir / "report.md").exists()
    assert sorted((s.name, s.status) for s in trained.stages) == [
        ("train-frames-seed1", "ran"), ("train-images-seed0", "ran"), ("train-images-seed1", "ran"),
    ]
    snaps = sorted(p.name for p in (trained.out_dir / "train" / "train-images-seed0" / "snapshots").iterdir())
    assert snaps == ["iter_0000002.pt", "iter_0000004.pt"]

    result = run_experiment(tiny_experiment, progress=False)
    assert [s.status for s in result.stages] == ["skipped", "skipped", "skipped", "ran"]
    md = (result.report_dir / "report.md").read_text(encoding="utf-8")
    assert "## Learning curves" in md and "(plots/curve_Bench.png)" in md and "(plots/curve_Vid.png)" in md
    assert "Vid [bi+x264:crf=30]" in md and "## Groups: temporal error" in md
    assert "| bicubic |" in md
    rows = (result.report_dir / "curves.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "model,set,iteration,psnr" and len(rows) == 1 + 3 * 2 * 2
    # The last snapshot is the exported model: its Bench curve point is the comparison's Bench score.
    final = {r.split(",")[0]: float(r.split(",")[3]) for r in rows[1:] if r.split(",")[1:3] == ["Bench", "4"]}
    bench = next(s for s in result.comparison.sets if s.test_set.name == "Bench")  # type: ignore[union-attr]
    for label, value in final.items():
        assert value == pytest.approx(bench.summary(label)[0], abs=1e-5)
    cache = json.loads((result.out_dir / "curves_cache.json").read_text(encoding="utf-8"))
    assert len(cache) == 3 * 2 * 2
    # curves.csv and curves.json hold the section: drawn again from them, the report is the same.
    settings = json.loads((result.report_dir / "curves.json").read_text(encoding="utf-8"))
    assert (settings["snapshot_every"], settings["frame_stride"], set(settings["bicubic"])) == (2, 2, {"Bench", "Vid"})
    assert settings["levels"] == [0.0, 99.0]
    # Every run is above 0 dB at its first snapshot and never reaches 99 dB; the images arm has two seeds.
    assert "| set | model | iterations to 0 dB | iterations to 99 dB | last snapshot (dB) |" in md
    assert "| Bench | images | 2 / 2 | >4 / >4 |" in md and "| Vid | frames | 2 | >4 |" in md
    rerender_report(result.report_dir)
    assert (result.report_dir / "report.md").read_text(encoding="utf-8") == md


def test_bad_model_seeds_and_curves_without_snapshots_are_refused(tiny_experiment: Path) -> None:
    text = tiny_experiment.read_text(encoding="utf-8")
    tiny_experiment.write_text(text.replace('recipe = "vid.toml"', 'recipe = "vid.toml"\nseeds = [7]'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model 'frames': seeds \[7\] must be distinct and among experiment.seeds \[0\]"):
        load_experiment(tiny_experiment)
    head, _, tail = text.rpartition('device = "cpu"')
    tiny_experiment.write_text(head + 'device = "cpu"\ncurve_sets = ["Bench"]' + tail, encoding="utf-8")
    with pytest.raises(ConfigError, match="curve_sets needs budget.snapshot_every"):
        load_experiment(tiny_experiment)
    tiny_experiment.write_text(head + 'device = "cpu"\nvideo_degradations = ["bi+av1"]' + tail, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[compare\] unknown codec 'av1'"):
        load_experiment(tiny_experiment)


def test_a_declared_setting_may_differ_and_the_report_names_it(tiny_experiment: Path) -> None:
    from vsr.compare._comparison_stage import _varied

    vid = tiny_experiment.parent / "vid.toml"
    vid.write_text(vid.read_text(encoding="utf-8").replace("n_feats = 8", "n_feats = 16"), encoding="utf-8")
    text = tiny_experiment.read_text(encoding="utf-8")
    tiny_experiment.write_text(text.replace("seeds = [0]", 'seeds = [0]\nvaries = ["model.n_feats"]'), encoding="utf-8")
    exp = load_experiment(tiny_experiment)
    stages = plan_training(exp)
    assert [s.config.model.n_feats for s in stages] == [8, 16]
    assert _varied(exp, stages).endswith("**images**: `model.n_feats` = `8`; **frames**: `model.n_feats` = `16`.")
    # Only what is declared may differ, and a declared key must be a setting.
    vid.write_text(vid.read_text(encoding="utf-8").replace("n_resblocks = 1", "n_resblocks = 2"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"budgets differ: model\.n_resblocks is 1 in img\.toml but 2 in vid\.toml"):
        plan_training(load_experiment(tiny_experiment))
    tiny_experiment.write_text(text.replace("seeds = [0]", 'seeds = [0]\nvaries = ["model.feats"]'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"experiment.varies names 'model.feats', which is not a training setting"):
        plan_training(load_experiment(tiny_experiment))


def test_the_x2_initialisation_experiment_differs_only_in_the_initial_weights(tmp_path: Path) -> None:
    exp = load_experiment(PIPELINES / "compare_x4_init_from_x2_vs_scratch.toml")
    assert exp.varies == ("model.init_from",) and exp.seeds == (0, 1)
    stages = {(s.label, s.seed): s.config for s in plan_training(exp, tmp_path)}
    assert set(stages) == {(a, s) for a in ("x2-init", "scratch") for s in (0, 1)}
    init = Path(stages["x2-init", 0].model.init_from)
    assert stages["scratch", 0].model.init_from == ""
    # x2-init starts from the export of a stage of the x2 chain that made the bundled x2 model.
    assert init.parent.name == "stages" and init.stem.startswith("edsr_baseline_x2_t91_bsd200"), init
    assert (PIPELINES / f"{init.stem}.toml").is_file(), "x2-init must start from the export of an x2 recipe"
    assert {c.model.scales[0] for c in stages.values()} == {4} and {c.train.snapshot_every for c in stages.values()} == {250}
    assert exp.compare.curve_levels and [Path(p).name for p in exp.compare.curve_sets] == ["Set5", "Set14"]


@pytest.mark.slow
def test_an_mdsr_is_compared_with_single_scale_models_at_each_of_its_scales(tmp_path: Path) -> None:
    for i in range(3):
        write_rgb(tmp_path / "imgs" / f"{i}.png", smooth_noise(48, 48, i))
    for i in range(2):
        write_rgb(tmp_path / "Bench" / f"b{i}.png", smooth_noise(36, 36, 20 + i))
    common = '[[data.sources]]\nkind = "image_folder"\npath = "imgs"\n\n[data]\nlr_patch = 8\nbatch_size = 2\n'
    _write_toml(tmp_path / "mdsr.toml", f'[model]\narch = "mdsr_baseline"\nscales = [2, 3]\nn_resblocks = 1\nn_feats = 8\n\n{common}')
    for s in (2, 3):
        _write_toml(tmp_path / f"edsr{s}.toml", f'[model]\narch = "edsr_baseline"\nscales = [{s}]\nn_resblocks = 1\nn_feats = 8\n\n{common}')
    exp = _write_toml(tmp_path / "exp.toml", f"""
[experiment]
out_dir = "{(tmp_path / 'exp').as_posix()}"
seeds = [0]
varies = ["model.arch", "model.scales", "train.iterations"]

[budget]
iterations = 4
lr = 1e-3
schedule = "constant"
precision = "fp32"
device = "cpu"
log_every = 1
checkpoint_every = 2
snapshot_every = 2

[[models]]
label = "mdsr"
recipe = "mdsr.toml"

[[models]]
label = "edsr x2"
recipe = "edsr2.toml"
overrides = ["train.iterations=2"]

[[models]]
label = "edsr x3"
recipe = "edsr3.toml"
overrides = ["train.iterations=2"]

[compare]
image_sets = ["Bench"]
curve_sets = ["Bench"]
device = "cpu"
""")
    result = run_experiment(exp, progress=False)
    assert [(s.name, s.status) for s in result.stages] == [
        ("train-mdsr-seed0", "ran"), ("train-edsr x2-seed0", "ran"), ("train-edsr x3-seed0", "ran"),
        ("compare-x2", "ran"), ("compare-x3", "ran"),
    ]
    assert result.comparison is None and [c.labels for c in result.comparisons] == [("mdsr", "edsr x2"), ("mdsr", "edsr x3")]
    assert result.reports == (result.report_dir / "x2" / "report.md", result.report_dir / "x3" / "report.md")
    md2, md3 = (p.read_text(encoding="utf-8") for p in result.reports)
    assert "mdsr vs edsr x2, x2" in md2 and "edsr x3" not in md2.split("## ")[0].split("\n")[0]
    assert "the models differ on purpose in `model.arch`, `model.scales`, `train.iterations`" in md2
    assert "**edsr x2**: `model.arch` = `edsr_baseline`, `model.scales` = `[2]`, `train.iterations` = `2`" in md2
    assert "**edsr x3**" not in md2 and "**edsr x3**" in md3
    # Each scale's learning curves: the MDSR's snapshots scored at that scale, next to the single-scale model's.
    rows = (result.report_dir / "x3" / "curves.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert sorted({(r.split(",")[0], r.split(",")[2]) for r in rows}) == [
        ("edsr x3", "2"), ("mdsr", "2"), ("mdsr", "4")]
    again = run_experiment(exp, progress=False)
    assert [s.status for s in again.stages] == ["skipped"] * 5
    r = CliRunner().invoke(cli, ["experiment", str(exp), "--no-progress"])
    assert r.exit_code == 0 and f"report: {result.report_dir / 'x3' / 'report.md'}" in r.stdout


def test_the_mdsr_experiment_gives_the_single_scale_models_the_same_total_iterations(tmp_path: Path) -> None:
    exp = load_experiment(PIPELINES / "compare_mdsr_vs_three_edsr.toml")
    for seed in exp.seeds:
        stages = [s for s in plan_training(exp, tmp_path) if s.seed == seed]
        mdsr = [s.config for s in stages if s.config.model.arch == "mdsr_baseline"]
        edsr = [s.config for s in stages if s.config.model.arch == "edsr_baseline"]
        assert len(mdsr) == 1 and len(edsr) == 3
        assert sorted(c.model.scales[0] for c in edsr) == list(mdsr[0].model.scales) == [2, 3, 4]
        assert sum(c.train.iterations for c in edsr) == mdsr[0].train.iterations
        # A constant learning rate: every snapshot is a model trained for that many iterations (the same-wall-time
        # comparison reads the MDSR at a snapshot), and none starts from trained weights.
        assert {s.config.optim.schedule for s in stages} == {"constant"}
        assert {c.config.model.init_from for c in stages} == {""} and {c.config.train.snapshot_every for c in stages} == {500}
