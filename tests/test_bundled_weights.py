"""The shipped default weights: present, untampered, loadable, and as good as their model card says.

The Set5 scores are computed here from the staged data, not read from a file;
they must reproduce the numbers in the manifest (which the card quotes), beat
bicubic clearly and reach the targets of issue 6.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from vsr.evaluation._evaluate import evaluate
from vsr.inference._upscaler import Upscaler
from vsr._core._files import sha256_file
from vsr.models import bundled_weights, count_parameters, default_model_name, load_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WEIGHTS = Path(__file__).resolve().parents[1] / "vsr" / "weights"
needs_data = pytest.mark.skipif(not (DATA / "Set5").is_dir(), reason=f"{DATA}/Set5 (shared benchmark data) not present")


def test_every_scale_has_a_bundled_default() -> None:
    for scale in (2, 3, 4):
        name = default_model_name(scale)
        assert scale in bundled_weights()[name].config["scales"]


@pytest.mark.parametrize("name", sorted(bundled_weights()))
def test_bundled_file_matches_its_hash_and_loads(name: str) -> None:
    entry = bundled_weights()[name]
    assert entry.path.is_file(), f"{entry.path} missing from the package"
    assert sha256_file(entry.path) == entry.sha256
    model = load_model(name)
    assert model.config == entry.config
    assert entry.params == count_parameters(model)  # what `vsr models` prints without building the model
    assert entry.recipe and (Path(__file__).resolve().parents[1] / entry.recipe).is_file()


def test_model_card_quotes_the_manifest_hashes() -> None:
    card = (WEIGHTS / "MODEL_CARD.md").read_text(encoding="utf-8")
    for entry in bundled_weights().values():
        assert entry.sha256 in card, f"MODEL_CARD.md does not list the SHA-256 of {entry.file}"
    assert json.loads((WEIGHTS / "manifest.json").read_text())


#: Issue 6's Set5 thresholds (EDSR benchmark protocol), between FSRCNN and VDSR.
SET5_TARGETS = {2: 37.0, 3: 33.2, 4: 31.0}


@cache
def _set5(scale: int) -> tuple[float, float]:
    """(PSNR, bicubic PSNR) of the bundled default model on Set5 at fp32, computed from the staged data."""
    up = Upscaler(load_model(default_model_name(scale)), scale=scale, device="cpu", precision="fp32")
    result = evaluate(DATA / "Set5", scale, up)
    assert result.mean.psnr is not None
    return result.mean.psnr, result.mean.bicubic_psnr


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_default_model_reproduces_its_card_score_on_set5(scale: int) -> None:
    claimed = bundled_weights()[default_model_name(scale)].metrics["Set5"][str(scale)]
    psnr, bicubic = _set5(scale)
    assert abs(psnr - claimed["psnr"]) < 0.02, (psnr, claimed)
    assert psnr - bicubic > 1.5


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_default_model_meets_its_set5_target(scale: int) -> None:
    psnr, _ = _set5(scale)
    assert psnr >= SET5_TARGETS[scale], f"x{scale}: Set5 {psnr:.3f} dB < target {SET5_TARGETS[scale]}"


def test_eval_and_upscale_use_the_bundled_default_without_model(tmp_path: Path) -> None:
    import cv2
    import numpy as np
    from click.testing import CliRunner

    from vsr.cli import cli

    # A smooth synthetic 48x48 image: a colour gradient, which any trained model upscales better than noise.
    yy, xx = np.mgrid[0:48, 0:48]
    img = np.stack([xx * 5, yy * 5, (xx + yy) * 2], axis=2).astype(np.uint8)
    (tmp_path / "set").mkdir()
    cv2.imwrite(str(tmp_path / "set" / "grad.png"), img)
    r = CliRunner().invoke(cli, ["eval", "--dataset", str(tmp_path / "set"), "--scale", "2"])
    assert r.exit_code == 0, r.output
    assert default_model_name(2) in r.output
    r = CliRunner().invoke(cli, ["upscale", str(tmp_path / "set" / "grad.png"), "--scale", "2", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "set" / "grad_x2.png")).shape == (96, 96, 3)
