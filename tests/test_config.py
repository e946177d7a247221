"""Recipes: every pipelines/*.toml loads; unknown keys, bad values and overrides are reported precisely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vsr.errors import ConfigError
from vsr.models import bundled_weights
from vsr.train import Config, apply_overrides, config_from_dict, config_to_dict, load_config

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
TRAIN_RECIPES = sorted(p for p in PIPELINES.glob("*.toml") if "[train]" in p.read_text(encoding="utf-8"))


def test_there_are_training_recipes() -> None:
    names = {p.name for p in TRAIN_RECIPES}
    assert {"edsr_baseline_x2_div2k.toml", "edsr_baseline_x2_t91_bsd200.toml", "mdsr_baseline_div2k.toml"} <= names


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=lambda p: p.name)
def test_every_training_recipe_loads(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.data.sources, f"{path.name} has no [[data.sources]]"
    assert cfg.recipe_name == path.stem
    for s in cfg.data.sources:
        assert os.path.isabs(s.path)
    # The stored form reads back to the same recipe.
    assert config_from_dict(config_to_dict(cfg), source=cfg.source) == cfg


def test_pipelines_hold_only_text() -> None:
    # Recipes, not checkpoints: a stage starts from its predecessor's export under runs/ (see the model card).
    assert sorted({p.suffix for p in PIPELINES.rglob("*") if p.is_file()}) == [".toml"]


STAGES = Path(__file__).resolve().parents[1] / "runs" / "stages"


@pytest.mark.parametrize("path", [p for p in TRAIN_RECIPES if load_config(p).model.init_from], ids=lambda p: p.name)
def test_a_chained_recipe_names_its_predecessor_and_the_chain(path: Path) -> None:
    """``init_from`` is the export of another recipe of pipelines/, and the header shows the commands that make it;
    or it is a bundled weights file, whose manifest entry names the recipe that made it."""
    cfg = load_config(path)
    init = Path(cfg.model.init_from)
    bundled = {w.path: w for w in bundled_weights().values()}
    if init in bundled:
        recipe = PIPELINES.parent / bundled[init].recipe
        assert recipe.is_file(), f"{path.name}: the bundled {init.name} names recipe {bundled[init].recipe}, which is missing"
        text = path.read_text(encoding="utf-8")
        assert f"vsr train -c pipelines/{path.stem}.toml --set train.name={path.stem}" in text
        return
    assert init.parent == STAGES and init.suffix == ".pt", cfg.model.init_from
    predecessor = PIPELINES / f"{init.stem}.toml"
    assert predecessor.is_file(), f"{path.name}: init_from {init} is not the export of a recipe in pipelines/"
    text = path.read_text(encoding="utf-8")
    for stem in (init.stem, path.stem):
        assert f"vsr train -c pipelines/{stem}.toml --set train.name={stem}" in text
        assert f"vsr export runs/{stem} -o runs/stages/{stem}.pt --half" in text
    assert text.index(f"pipelines/{init.stem}.toml --set") < text.index(f"pipelines/{path.stem}.toml --set")


def _write(tmp_path: Path, text: str, name: str = "r.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


MINIMAL = """
[model]
arch = "edsr_baseline"
scales = [2]

[[data.sources]]
kind = "image_folder"
path = "images"

[validation]
dataset = "../Set5"
"""


def test_paths_resolve_relative_to_the_toml_file(tmp_path: Path) -> None:
    sub = tmp_path / "pipes"
    sub.mkdir()
    cfg = load_config(_write(sub, MINIMAL))
    assert cfg.data.sources[0].path == str(sub / "images")
    assert cfg.validation.dataset == str(tmp_path / "Set5")


def test_set_paths_resolve_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(_write(tmp_path / "", MINIMAL), ["data.sources.0.path=elsewhere", "validation.dataset=S14"])
    assert cfg.data.sources[0].path == str(tmp_path / "elsewhere")
    assert cfg.validation.dataset == str(tmp_path / "S14")


def test_unknown_key_names_file_key_and_allowed(tmp_path: Path) -> None:
    p = _write(tmp_path, MINIMAL + "\n[optim]\nlrr = 1e-4\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert str(p) in msg and "'optim.lrr'" in msg and "allowed keys in [optim]: lr, betas" in msg


def test_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown section \[trian\]; allowed sections: model, data"):
        load_config(_write(tmp_path, MINIMAL + "\n[trian]\niterations = 5\n"))


def test_source_key_not_used_by_its_kind(tmp_path: Path) -> None:
    text = MINIMAL.replace('path = "images"', 'path = "images"\nframe_stride = 2')
    with pytest.raises(ConfigError, match=r"'data.sources.0.frame_stride' for kind = 'image_folder'; allowed keys .*: kind, path"):
        load_config(_write(tmp_path, text))


def test_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train.iterations must be an integer, got '10'"):
        load_config(_write(tmp_path, MINIMAL + '\n[train]\niterations = "10"\n'))
    with pytest.raises(ConfigError, match=r"optim.schedule = 'poly' is not allowed; allowed values: 'step', 'cosine'"):
        load_config(_write(tmp_path, MINIMAL + '\n[optim]\nschedule = "poly"\n'))
    with pytest.raises(ConfigError, match=r"data.sources.0.kind = 'folder' is not allowed"):
        load_config(_write(tmp_path, MINIMAL.replace('"image_folder"', '"folder"')))
    with pytest.raises(ConfigError, match=r"an EDSR model has one scale"):
        load_config(_write(tmp_path, MINIMAL.replace("scales = [2]", "scales = [2, 3]")))
    with pytest.raises(ConfigError, match=r"optim.betas must be a list of 2 values"):
        load_config(_write(tmp_path, MINIMAL + "\n[optim]\nbetas = [0.9]\n"))
    with pytest.raises(ConfigError, match=r"needs 'path'"):
        load_config(_write(tmp_path, MINIMAL.replace('path = "images"', "")))
    with pytest.raises(ConfigError, match=r"recipe file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match=r"invalid TOML"):
        load_config(_write(tmp_path, "[model\n"))


def test_overrides_parse_toml_values_and_bare_strings(tmp_path: Path) -> None:
    cfg = load_config(
        _write(tmp_path, MINIMAL),
        ["optim.lr=2e-4", "train.device=cpu", "train.channels_last=false", "optim.milestones=[10, 20]",
         "data.sources.0.weight=3"],
    )
    assert cfg.optim.lr == 2e-4 and cfg.train.device == "cpu" and cfg.train.channels_last is False
    assert cfg.optim.milestones == (10, 20) and cfg.data.sources[0].weight == 3.0


def test_override_errors(tmp_path: Path) -> None:
    p = _write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError, match=r"expected section.key=value"):
        load_config(p, ["optim.lr"])
    with pytest.raises(ConfigError, match=r"unknown key 'train.iters'"):
        load_config(p, ["train.iters=5"])
    with pytest.raises(ConfigError, match=r"index '3' is out of range"):
        load_config(p, ["data.sources.3.weight=1"])
    with pytest.raises(ConfigError, match=r"a section in model, data"):
        load_config(p, ["foo.bar=1"])


def test_apply_overrides_does_not_mutate_input() -> None:
    raw = {"optim": {"lr": 1e-4}}
    out = apply_overrides(raw, ["optim.lr=1e-3"])
    assert raw["optim"]["lr"] == 1e-4 and out["optim"]["lr"] == 1e-3


def test_config_is_frozen() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.train = None  # type: ignore[misc]
