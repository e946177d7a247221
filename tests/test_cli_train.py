"""`vsr train` and `vsr export` from the command line, including `torchrun -m vsr train`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vsr.cli import cli
from vsr.models import load_model

REPO = Path(__file__).resolve().parents[1]

RECIPE = """
[model]
arch = "edsr_baseline"
scales = [2]
n_resblocks = 1
n_feats = 8

[[data.sources]]
kind = "image_folder"
path = "imgs"

[data]
lr_patch = 8
batch_size = 2

[optim]
lr = 1e-3
schedule = "cosine"

[train]
iterations = 4
device = "cpu"
precision = "fp32"
log_every = 1
checkpoint_every = 2
out_dir = "{out}"
name = "cli"
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), cv2.resize(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8), (32, 32)))
    p = tmp_path / "tiny.toml"
    p.write_text(RECIPE.format(out=(tmp_path / "runs").as_posix()), encoding="utf-8")
    return p


def test_train_resume_export(tmp_path: Path, recipe: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["train", "--config", str(recipe), "--set", "train.iterations=4", "--no-progress"])
    assert r.exit_code == 0, r.output
    run_dir = tmp_path / "runs" / "cli"
    assert f"{run_dir}: 4 iterations" in r.output
    # Extend the finished run by resuming with more iterations.
    r = runner.invoke(cli, ["train", "--resume", str(run_dir), "--set", "train.iterations=6", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "6 iterations" in r.output
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [x["event"] for x in rows if x["event"] in ("start", "resume")] == ["start", "resume"]
    r = runner.invoke(cli, ["export", str(run_dir), "-o", str(tmp_path / "m.pt"), "--which", "latest"])
    assert r.exit_code == 0, r.output
    assert load_model(tmp_path / "m.pt").config["n_feats"] == 8
    r = runner.invoke(cli, ["export", str(run_dir), "-o", str(tmp_path / "o.pt"), "--which", "latest", "--official"])
    assert r.exit_code == 0, r.output
    assert "head.0.weight" in torch.load(tmp_path / "o.pt", weights_only=True)


def test_train_errors_are_one_line(tmp_path: Path, recipe: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["train", "--config", str(recipe), "--set", "optim.lrr=1"])
    assert r.exit_code == 1 and "unknown key 'optim.lrr'" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["train"])
    assert r.exit_code == 2 and "either --config" in r.output
    r = runner.invoke(cli, ["export", str(tmp_path), "-o", str(tmp_path / "m.pt")])
    assert r.exit_code == 1 and "best.pt" in r.output


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path, recipe: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "vsr", "train", "--config", str(recipe), "--no-progress"]
    # Own process group, so a hang kills torchrun's workers too.
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail("torchrun did not finish in 120 s")
    assert p.returncode == 0, out
    start = json.loads((tmp_path / "runs" / "cli" / "log.jsonl").read_text().splitlines()[0])
    assert start["world_size"] == 2 and start["effective_batch"] == 4
    assert torch.load(tmp_path / "runs" / "cli" / "latest.pt", weights_only=True)["iteration"] == 4
