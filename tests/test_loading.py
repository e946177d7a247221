"""load_model: official files, vsr checkpoints, wrappers, and every refusal."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

import vsr
from vsr.errors import CheckpointError, InputNotFoundError, VSRError
from vsr.models import get_model, load_model, save_model

from _models import make_tiny_model


def _tiny(name: str = "edsr_baseline", scale: int = 2, **kw: int) -> torch.nn.Module:
    return make_tiny_model(name, scale=scale, n_resblocks=kw.get("nb", 2), n_feats=kw.get("nf", 8))


def _same_output(a: torch.nn.Module, b: torch.nn.Module, scale: int) -> None:
    x = torch.rand(1, 3, 6, 7) * 255
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x, scale), b.eval()(x, scale))


@pytest.mark.parametrize(("name", "scale"), [("edsr_baseline", 2), ("edsr_baseline", 3), ("edsr_baseline", 4), ("mdsr_baseline", 3)])
def test_official_layout_file_loads_and_infers_architecture(tmp_path: Path, name: str, scale: int) -> None:
    model = _tiny(name, scale, nb=3)
    path = tmp_path / "official.pt"
    torch.save(model.state_dict(), path)  # what EDSR-PyTorch publishes: a bare state_dict
    loaded = load_model(path, scale=scale)
    assert loaded.config["n_resblocks"] == 3 and loaded.config["n_feats"] == 8
    assert loaded.config["scales"] == ([2, 3, 4] if name.startswith("mdsr") else [scale])
    _same_output(model, loaded, scale)


def test_vsr_checkpoint_round_trip_keeps_config_and_meta(tmp_path: Path) -> None:
    model = get_model("edsr_baseline", scale=2, n_resblocks=2, n_feats=8, res_scale=0.5)
    path = save_model(model, tmp_path / "m.pt", meta={"psnr": 12.5})
    loaded = load_model(path)
    assert loaded.config == model.config  # res_scale 0.5 survives, though it cannot be inferred from weights
    _same_output(model, loaded, 2)
    assert not list(tmp_path.glob("*.tmp"))


def test_half_precision_storage_loads_as_float32(tmp_path: Path) -> None:
    model = _tiny()
    loaded = load_model(save_model(model, tmp_path / "h.pt", half=True))
    assert all(p.dtype == torch.float32 for p in loaded.parameters())


@pytest.mark.parametrize("wrap", ["module", "state_dict", "model", "nested"])
def test_wrapped_and_prefixed_state_dicts_load(tmp_path: Path, wrap: str) -> None:
    model = _tiny()
    sd = model.state_dict()
    obj = {
        "module": {f"module.{k}": v for k, v in sd.items()},
        "state_dict": {"state_dict": sd, "epoch": 3},
        "model": {"model": sd, "optimizer": {"lr": 1e-4}},
        "nested": {"model": {"state_dict": {f"module.{k}": v for k, v in sd.items()}}},
    }[wrap]
    torch.save(obj, tmp_path / "w.pt")
    _same_output(model, load_model(tmp_path / "w.pt"), 2)


def test_paper_res_scale_is_inferred_for_256_features_and_overridable(tmp_path: Path) -> None:
    model = get_model("edsr", scale=2, n_resblocks=1)
    torch.save(model.state_dict(), tmp_path / "paper.pt")
    assert load_model(tmp_path / "paper.pt").config["res_scale"] == 0.1
    assert load_model(tmp_path / "paper.pt", res_scale=1.0).config["res_scale"] == 1.0


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "pwned"))


def test_pickle_carrying_code_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": _Evil(marker)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused to load") as info:
        load_model(path)
    assert not marker.exists()
    assert isinstance(info.value, ValueError)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(CheckpointError, match="raw.pkl"):
        load_model(raw)
    assert not marker.exists()


def test_load_errors_name_the_file_and_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="missing.pt: no such checkpoint"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pt: file is empty"):
        load_model(tmp_path / "empty.pt")
    (tmp_path / "photo.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(CheckpointError, match="photo.pt: not a PyTorch checkpoint"):
        load_model(tmp_path / "photo.pt")
    good = tmp_path / "good.pt"
    torch.save(_tiny().state_dict(), good)
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pt: unreadable or truncated"):
        load_model(tmp_path / "cut.pt")
    torch.save({"weights": [1, 2, 3]}, tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="list.pt: no tensors found; expected an EDSR/MDSR state_dict"):
        load_model(tmp_path / "list.pt")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "resnet.pt")
    with pytest.raises(CheckpointError, match="resnet.pt: not an EDSR/MDSR state_dict"):
        load_model(tmp_path / "resnet.pt")


def test_scale_and_architecture_mismatches_are_explained(tmp_path: Path) -> None:
    torch.save(_tiny("mdsr_baseline").state_dict(), tmp_path / "mdsr.pt")
    with pytest.raises(CheckpointError, match=r"mdsr.pt: checkpoint holds MDSR x2/x3/x4.*cannot upscale x8"):
        load_model(tmp_path / "mdsr.pt", scale=8)
    torch.save(get_model("edsr", scale=2, n_resblocks=32).state_dict(), tmp_path / "paper.pt")
    with pytest.raises(CheckpointError, match=r"checkpoint has EDSR x2, 32 blocks x 256 features \(EDSR paper model\); you asked for edsr_baseline"):
        load_model(tmp_path / "paper.pt", arch="edsr_baseline")
    sd = _tiny().state_dict()
    sd["body.0.body.0.weight"] = torch.zeros(8, 8, 5, 5)
    torch.save(sd, tmp_path / "bad_shape.pt")
    with pytest.raises(CheckpointError, match=r"bad_shape.pt: weights do not fit the model: 1 shape mismatches"):
        load_model(tmp_path / "bad_shape.pt")
    with pytest.raises(VSRError, match="edsr_baseline needs a scale of 2, 3 or 4"):
        load_model("edsr_baseline")


def test_public_api_reexports() -> None:
    assert vsr.load_model is load_model
    assert issubclass(vsr.CheckpointError, vsr.VSRError)
    assert "edsr_baseline" in vsr.list_models()
