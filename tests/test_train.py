"""The training loop on tiny models and images: learning, exact resume, atomic checkpoints, MDSR branches, export."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from vsr.data import imresize
from vsr.errors import CheckpointError, ConfigError, InputNotFoundError
from vsr.models import get_model, load_model, save_model
from vsr.train import (
    OptimConfig,
    config_from_dict,
    export,
    init_from_pretrained,
    load_checkpoint,
    load_run_config,
    lr_at,
    train,
)
from vsr.train._build import build_train_model

from _images import write_rgb


def _image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for i in range(3):
        write_rgb(tmp_path / "imgs" / f"{i}.png", _image(48, 56, i))
    return tmp_path / "imgs"


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    root = tmp_path / "Bench"
    for i, name in enumerate(("a", "b")):
        hr = _image(24, 32, 10 + i)
        write_rgb(root / "HR" / f"{name}.png", hr)
        for s in (2, 3, 4):
            h, w = hr.shape[0] // s * s, hr.shape[1] // s * s
            write_rgb(root / "LR_bicubic" / f"X{s}" / f"{name}x{s}.png", imresize(np.ascontiguousarray(hr[:h, :w]), 1 / s))
    return root


def _config(images: Path, out: Path, **sections: dict[str, Any]) -> Any:
    raw: dict[str, Any] = {
        "model": {"arch": "edsr_baseline", "scales": [2], "n_resblocks": 1, "n_feats": 8},
        "data": {"sources": [{"kind": "image_folder", "path": str(images)}], "lr_patch": 8, "batch_size": 2},
        "optim": {"lr": 1e-3, "schedule": "cosine", "warmup": 1},
        "train": {"iterations": 6, "device": "cpu", "precision": "fp32", "log_every": 1, "checkpoint_every": 2,
                  "out_dir": str(out), "name": "run"},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_from_dict(raw, source="test.toml")


def test_lr_schedules() -> None:
    step = OptimConfig(lr=1.0, schedule="step", milestones=(2, 4), gamma=0.5)
    assert [lr_at(step, i, 6) for i in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    cos = OptimConfig(lr=1.0, schedule="cosine", min_lr=0.1, warmup=2)
    assert lr_at(cos, 0, 12) == 0.5 and lr_at(cos, 1, 12) == 1.0
    assert lr_at(cos, 2, 12) == pytest.approx(1.0) and lr_at(cos, 12, 12) == pytest.approx(0.1)
    assert lr_at(cos, 7, 12) == pytest.approx(0.55)
    assert lr_at(OptimConfig(lr=0.3, schedule="constant"), 99, 100) == 0.3


def _log(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]


def test_five_iterations_lower_the_loss_on_a_fixed_batch(tmp_path: Path) -> None:
    write_rgb(tmp_path / "one" / "x.png", _image(16, 16, 0))  # exactly one 8x8 LR patch: every batch is the same
    cfg = _config(tmp_path / "one", tmp_path / "runs", data={"augment": False},
                  optim={"schedule": "constant", "warmup": 0, "lr": 2e-3}, train={"iterations": 5})
    result = train(cfg, progress=False)
    losses = [r["loss"] for r in _log(result.run_dir) if r["event"] == "train"]
    assert len(losses) == 5 and losses[-1] < losses[0]
    ckpt = load_checkpoint(result.run_dir / "latest.pt")
    assert ckpt["iteration"] == 5 and ckpt["config"]["arch"] == "edsr"


def test_resume_equals_uninterrupted_run(tmp_path: Path, images: Path) -> None:
    straight = train(_config(images, tmp_path / "a"), progress=False)
    cfg = _config(images, tmp_path / "b")
    first = train(cfg, progress=False, stop_at=3)
    assert first.iteration == 3
    resumed = train(load_run_config(first.run_dir), run_dir=first.run_dir, resume=True, progress=False)
    assert resumed.iteration == 6
    a, b = straight.model.state_dict(), resumed.model.state_dict()  # type: ignore[union-attr]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    oa = load_checkpoint(straight.run_dir / "latest.pt")["optimizer"]["state"]
    ob = load_checkpoint(resumed.run_dir / "latest.pt")["optimizer"]["state"]
    for i in oa:
        assert torch.equal(oa[i]["exp_avg_sq"], ob[i]["exp_avg_sq"])
    # The resumed log continues the numbering without duplicates.
    its = [r["iteration"] for r in _log(resumed.run_dir) if r["event"] == "train"]
    assert its == [1, 2, 3, 4, 5, 6]
    losses_a = [r["loss"] for r in _log(straight.run_dir) if r["event"] == "train"]
    losses_b = [r["loss"] for r in _log(resumed.run_dir) if r["event"] == "train"]
    assert losses_a == losses_b


def test_crash_during_checkpoint_save_keeps_previous(tmp_path: Path, images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(images, tmp_path / "runs")
    result = train(cfg, progress=False, stop_at=2)
    before = load_checkpoint(result.run_dir / "latest.pt")
    real_save = torch.save

    def crashing_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="simulated"):
        train(load_run_config(result.run_dir), run_dir=result.run_dir, resume=True, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    after = load_checkpoint(result.run_dir / "latest.pt")
    assert after["iteration"] == before["iteration"] == 2
    assert not list(result.run_dir.glob("*.tmp")) and not list(result.run_dir.glob(".*.tmp"))


def test_validation_writes_best_and_logs_psnr(tmp_path: Path, images: Path, bench: Path) -> None:
    cfg = _config(images, tmp_path / "runs", validation={"dataset": str(bench), "every": 3, "ssim": True})
    result = train(cfg, progress=False)
    vals = [r for r in _log(result.run_dir) if r["event"] == "val"]
    assert [v["iteration"] for v in vals] == [3, 6]
    assert all(math.isfinite(v["psnr"]) and 0 < v["ssim_x2"] <= 1 for v in vals)
    best = load_checkpoint(result.run_dir / "best.pt")
    assert best["best"]["psnr"] == max(v["psnr"] for v in vals)
    csv_text = (result.run_dir / "log.csv").read_text()
    assert csv_text.splitlines()[0] == "iteration,event,loss,lr,psnr,ssim,it_per_s,elapsed_s" and ",val," in csv_text


def test_mdsr_updates_only_the_chosen_branches(tmp_path: Path, images: Path) -> None:
    cfg = _config(images, tmp_path / "runs", model={"arch": "mdsr_baseline", "scales": [2, 4], "n_resblocks": 1, "n_feats": 8})
    torch.manual_seed(cfg.train.seed)
    initial = build_train_model(cfg.model).state_dict()
    result = train(cfg, progress=False)
    final = result.model.state_dict()  # type: ignore[union-attr]

    def changed(prefix: str) -> bool:
        return any(not torch.equal(initial[k], final[k]) for k in initial if k.startswith(prefix))

    assert changed("pre_process.0.") and changed("upsample.0.") and changed("pre_process.2.") and changed("upsample.2.")
    assert not changed("pre_process.1.") and not changed("upsample.1.")  # x3 was never trained
    assert changed("head.") and changed("body.")


def test_x3_initialised_from_x2_run_except_upsampler(tmp_path: Path, images: Path) -> None:
    x2 = train(_config(images, tmp_path / "runs", train={"iterations": 2}), progress=False)
    model = get_model("edsr_baseline", scale=3, n_resblocks=1, n_feats=8)
    kept = init_from_pretrained(model, x2.run_dir)
    assert kept == ["tail.0.0.weight", "tail.0.0.bias"]
    src = x2.model.state_dict()  # type: ignore[union-attr]
    assert torch.equal(model.state_dict()["body.0.body.0.weight"], src["body.0.body.0.weight"])
    with pytest.raises(CheckpointError, match=r"weights outside the upsampler do not fit the model \(e.g. head.0.weight\)"):
        init_from_pretrained(get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=16), x2.run_dir)


def test_same_scale_init_copies_every_weight_including_upsampler(tmp_path: Path, images: Path) -> None:
    # A second training stage from a same-scale model must not reset its upsampler.
    x2 = train(_config(images, tmp_path / "runs", train={"iterations": 2}), progress=False)
    model = get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8)
    assert init_from_pretrained(model, x2.run_dir) == []
    src = x2.model.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(v, src[k]) for k, v in model.state_dict().items())


def test_init_from_in_recipe(tmp_path: Path, images: Path) -> None:
    x2 = train(_config(images, tmp_path / "runs", train={"iterations": 2}), progress=False)
    cfg = _config(images, tmp_path / "runs", model={"scales": [3], "init_from": str(x2.run_dir)},
                  train={"iterations": 1, "name": "x3"})
    result = train(cfg, progress=False)
    start = load_checkpoint(result.run_dir / "latest.pt")
    assert start["config"]["scales"] == [3]
    assert _log(result.run_dir)[0]["kept_initial"] == ["tail.0.0.weight", "tail.0.0.bias"]


def test_bf16_autocast_path_runs(tmp_path: Path, images: Path) -> None:
    result = train(_config(images, tmp_path / "runs", train={"precision": "bf16", "iterations": 2}), progress=False)
    assert result.iteration == 2
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # type: ignore[union-attr]


def test_export_roundtrip_and_official_layout(tmp_path: Path, images: Path, bench: Path) -> None:
    cfg = _config(images, tmp_path / "runs", validation={"dataset": str(bench), "every": 3})
    result = train(cfg, progress=False)
    out = export(result.run_dir, tmp_path / "model.pt")
    model = load_model(out)
    best = load_checkpoint(result.run_dir / "best.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(v, best["model"][k])
    stored = torch.load(out, weights_only=True)
    config, meta = stored["config"], stored["meta"]
    assert config == best["config"] and meta["iteration"] == best["iteration"] and meta["trained_with"] == "vsr train"
    official = torch.load(export(result.run_dir, tmp_path / "official.pt", official=True), weights_only=True)
    assert set(official) == set(model.state_dict()) and "tail.1.weight" in official
    # The run's checkpoints are also directly loadable as models.
    assert load_model(result.run_dir / "latest.pt").config == model.config


def test_export_without_best_explains(tmp_path: Path, images: Path) -> None:
    result = train(_config(images, tmp_path / "runs", train={"iterations": 1}), progress=False)
    with pytest.raises(CheckpointError, match="no best checkpoint.*latest"):
        export(result.run_dir, tmp_path / "m.pt")
    assert load_model(export(result.run_dir, tmp_path / "m.pt", which="latest")).config["scales"] == [2]


def test_export_blends_the_run_with_another_model_weight_by_weight(tmp_path: Path, images: Path) -> None:
    result = train(_config(images, tmp_path / "runs", train={"iterations": 2}), progress=False)
    start = get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8)
    base = save_model(start, tmp_path / "start.pt")
    run = load_model(export(result.run_dir, tmp_path / "run.pt", which="latest")).state_dict()
    out = export(result.run_dir, tmp_path / "blend.pt", which="latest", blend=base, blend_weight=0.25)
    blended, theirs = load_model(out).state_dict(), start.state_dict()
    for k in run:
        assert torch.allclose(blended[k], 0.25 * run[k] + 0.75 * theirs[k], atol=1e-6)
    assert torch.load(out, weights_only=True)["meta"]["blend"] == {"with": str(base), "weight": 0.25}
    with pytest.raises(ConfigError, match="blend weight = 1.5 must be in 0..1"):
        export(result.run_dir, tmp_path / "x.pt", which="latest", blend=base, blend_weight=1.5)
    other = save_model(get_model("edsr_baseline", scale=2, n_resblocks=2, n_feats=8), tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="cannot blend"):
        export(result.run_dir, tmp_path / "x.pt", which="latest", blend=other)
    assert not (tmp_path / "x.pt").exists()


def test_export_onto_carries_the_fine_tunes_change_over_to_another_model(tmp_path: Path, images: Path) -> None:
    result = train(_config(images, tmp_path / "runs", train={"iterations": 2}), progress=False)
    start = save_model(get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8), tmp_path / "start.pt")
    newer_model = get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8)
    newer = save_model(newer_model, tmp_path / "newer.pt")
    run = load_model(export(result.run_dir, tmp_path / "run.pt", which="latest")).state_dict()
    out = export(result.run_dir, tmp_path / "moved.pt", which="latest", blend=start, blend_weight=0.5, onto=newer)
    moved, s0, s1 = load_model(out).state_dict(), load_model(start).state_dict(), newer_model.state_dict()
    for k in run:
        assert torch.allclose(moved[k], s1[k] + 0.5 * (run[k] - s0[k]), atol=1e-6)
    assert torch.load(out, weights_only=True)["meta"]["blend"] == {"with": str(start), "weight": 0.5, "onto": str(newer)}
    # Onto the model it started from, it is the plain blend.
    same = load_model(export(result.run_dir, tmp_path / "same.pt", which="latest", blend=start, onto=start)).state_dict()
    plain = load_model(export(result.run_dir, tmp_path / "plain.pt", which="latest", blend=start)).state_dict()
    assert all(torch.allclose(same[k], plain[k], atol=1e-6) for k in plain)
    with pytest.raises(ConfigError, match="onto needs blend"):
        export(result.run_dir, tmp_path / "x.pt", which="latest", onto=newer)
    other = save_model(get_model("edsr_baseline", scale=2, n_resblocks=2, n_feats=8), tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt: cannot blend"):
        export(result.run_dir, tmp_path / "x.pt", which="latest", blend=start, onto=other)
    assert not (tmp_path / "x.pt").exists()


def test_run_folder_errors(tmp_path: Path, images: Path) -> None:
    cfg = _config(images, tmp_path / "runs", train={"iterations": 1})
    train(cfg, progress=False)
    with pytest.raises(ConfigError, match="already exists; continue it with --resume"):
        train(cfg, progress=False)
    (tmp_path / "notarun").mkdir()
    with pytest.raises(InputNotFoundError, match=r"notarun/latest.pt: no training checkpoint"):
        load_run_config(tmp_path / "notarun")


def test_empty_source_never_trains(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cfg = _config(tmp_path / "empty", tmp_path / "runs")
    with pytest.raises(Exception, match=r"empty: no images found"):
        train(cfg, progress=False)


def test_plot_draws_loss_and_validation_curves(tmp_path: Path, images: Path) -> None:
    cfg = _config(images, tmp_path / "runs", train={"plot": True, "iterations": 2})
    result = train(cfg, progress=False)
    from vsr.train import plot_log

    png = plot_log(result.run_dir)
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] >= 400 and img.shape[1] > 0


def test_loader_workers_give_the_same_run(tmp_path: Path, images: Path) -> None:
    a = train(_config(images, tmp_path / "a", train={"iterations": 3}), progress=False)
    b = train(_config(images, tmp_path / "b", train={"iterations": 3}, data={"num_workers": 2}), progress=False)
    sa, sb = a.model.state_dict(), b.model.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_snapshots_keep_loadable_weights_at_every_multiple(tmp_path: Path, images: Path) -> None:
    from vsr.train import list_snapshots

    cfg = _config(images, tmp_path / "runs", train={"snapshot_every": 3})
    result = train(cfg, progress=False)
    snaps = list_snapshots(result.run_dir)
    assert [i for i, _ in snaps] == [3, 6]
    last = load_model(snaps[-1][1], device="cpu")
    final = load_checkpoint(result.run_dir / "latest.pt")["model"]
    assert all(torch.equal(last.state_dict()[k], v) for k, v in final.items())
    first = load_model(snaps[0][1], device="cpu")
    assert not all(torch.equal(first.state_dict()[k], v) for k, v in final.items())
    with pytest.raises(ConfigError, match="train.snapshot_every = -1 must be >= 0"):
        _config(images, tmp_path / "runs", train={"snapshot_every": -1})
