"""Distributed training: 2 CPU processes with gloo, as torchrun starts them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

_WORKER = textwrap.dedent(
    """
    import os, sys, torch
    from vsr.train import config_from_dict, train
    images, out = sys.argv[1], sys.argv[2]
    raw = {
        "model": {"arch": ARCH, "scales": SCALES, "n_resblocks": 1, "n_feats": 8},
        "data": {"sources": [{"kind": "image_folder", "path": images}], "lr_patch": 8, "batch_size": 2},
        "optim": {"lr": 1e-3, "schedule": "constant"},
        "train": {"iterations": 4, "device": "cpu", "precision": "fp32", "log_every": 1, "checkpoint_every": 2,
                  "out_dir": out, "name": "ddp"},
    }
    result = train(config_from_dict(raw, source="ddp.toml"), progress=False)
    torch.save(result.model.state_dict(), f"{out}/rank{os.environ['RANK']}.pt")
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _images(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(4):
        img = cv2.resize(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8), (32, 32))
        (tmp_path / "imgs").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), img)
    return tmp_path / "imgs"


def _run_two_ranks(tmp_path: Path, arch: str, scales: list[int]) -> list[dict[str, torch.Tensor]]:
    images = _images(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
        code = _WORKER.replace("ARCH", repr(arch)).replace("SCALES", repr(scales))
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(images), str(out)], env=env, cwd=tmp_path,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for p in procs:
        try:
            text, _ = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("DDP workers did not finish in 120 s")
        outputs.append(text)
        assert p.returncode == 0, text
    rows = [json.loads(x) for x in (out / "ddp" / "log.jsonl").read_text().splitlines()]
    start = rows[0]
    assert start["world_size"] == 2 and start["effective_batch"] == 4 and start["batch_per_process"] == 2
    assert [r["iteration"] for r in rows if r["event"] == "train"] == [1, 2, 3, 4]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


@pytest.mark.slow
def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path) -> None:
    a, b = _run_two_ranks(tmp_path, "edsr_baseline", [2])
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ckpt = torch.load(tmp_path / "out" / "ddp" / "latest.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and torch.equal(ckpt["model"]["head.0.weight"], a["head.0.weight"])


@pytest.mark.slow
def test_two_gloo_processes_mdsr(tmp_path: Path) -> None:
    a, b = _run_two_ranks(tmp_path, "mdsr_baseline", [2, 3])
    for k in a:
        assert torch.equal(a[k], b[k]), k
