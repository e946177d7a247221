"""The one safe torch.load (vsr._core._files.load_torch_file) and atomic torch.save, and the training checkpoint on top of them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from vsr._core._files import atomic_torch_save, load_torch_file
from vsr.errors import CheckpointError, InputNotFoundError
from vsr.train import LATEST, load_checkpoint, save_checkpoint, stored_recipe


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "pwned"))


def test_atomic_torch_save_roundtrip_creates_the_folder(tmp_path: Path) -> None:
    obj = {"w": torch.arange(6.0).view(2, 3), "meta": {"iteration": 3, "name": "x"}}
    path = atomic_torch_save(obj, tmp_path / "a" / "b" / "c.pt")
    assert path == tmp_path / "a" / "b" / "c.pt"
    back = load_torch_file(path)
    assert torch.equal(back["w"], obj["w"]) and back["meta"] == obj["meta"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.pt"]  # no temporary file left beside it


def test_a_pickle_carrying_code_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    torch.save({"x": _Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused to load: the file contains Python objects"):
        load_torch_file(tmp_path / "evil.pt")
    (tmp_path / "raw.pkl").write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(CheckpointError, match=r"raw\.pkl"):
        load_torch_file(tmp_path / "raw.pkl")
    assert not marker.exists()


def test_unreadable_files_name_the_file_the_kind_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "photo.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(CheckpointError, match=r"photo\.pt: not a PyTorch checkpoint"):
        load_torch_file(tmp_path / "photo.pt")
    good = atomic_torch_save({"w": torch.zeros(64, 64)}, tmp_path / "good.pt")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt: unreadable or truncated checkpoint \(.*\); re-download or re-export it$"):
        load_torch_file(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match=r"cut\.pt: unreadable or truncated training checkpoint \([^)]*\)$"):
        load_torch_file(tmp_path / "cut.pt", what="training checkpoint", fix="")


def test_training_checkpoint_on_the_shared_loader(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert stored_recipe(run) is None  # no checkpoint yet
    save_checkpoint(run / LATEST, {"iteration": 5, "train_config": {"train": {"seed": 1}}})
    assert load_checkpoint(run / LATEST)["iteration"] == 5
    assert stored_recipe(run) == {"train": {"seed": 1}}
    atomic_torch_save({"format": "vsr-model"}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match=r"model\.pt: not a vsr training checkpoint"):
        load_checkpoint(tmp_path / "model.pt")
    with pytest.raises(InputNotFoundError, match=r"found in .*: latest\.pt"):
        load_checkpoint(run / "best.pt")
    (run / "cut.pt").write_bytes((run / LATEST).read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"cut\.pt: unreadable or truncated training checkpoint"):
        load_checkpoint(run / "cut.pt")
