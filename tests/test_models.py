"""EDSR/MDSR architectures: every preset and scale, official key layout, reference numerics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from vsr.models import EDSR, MDSR, MODELS, PRESET_PARAMETERS, build_model, count_parameters, get_model
from vsr.errors import UnsupportedError

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"{REFERENCE} (shared reference files) not present")

CASES = [(name, s) for name in MODELS for s in ((2, 3, 4) if name.startswith("mdsr") else (2, 3, 4, 8))]


# The paper-size EDSR (over 40M parameters) takes seconds per scale even on 8 x 6 pixels.
@pytest.mark.parametrize(("name", "scale"), [pytest.param(*c, marks=pytest.mark.slow) if c[0] == "edsr" else c for c in CASES])
def test_every_preset_and_scale_upscales_tiny_input(name: str, scale: int) -> None:
    torch.manual_seed(0)
    model = get_model(name, scale=None if name.startswith("mdsr") else scale).eval()
    x = torch.rand(2, 3, 8, 6) * 255
    with torch.no_grad():
        y = model(x, scale)
    assert y.shape == (2, 3, 8 * scale, 6 * scale)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_config_rebuilds_the_same_architecture(name: str, scale: int) -> None:
    model = get_model(name, scale=None if name.startswith("mdsr") else scale, n_resblocks=2, n_feats=8)
    again = build_model(model.config)
    assert type(again) is type(model)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_preset_parameter_table_matches_the_built_presets(name: str) -> None:
    # `vsr models` prints these literal counts instead of building the presets (EDSR is 40.7M parameters).
    assert set(PRESET_PARAMETERS) == set(MODELS)
    assert sorted(PRESET_PARAMETERS[name]) == [2, 3, 4]
    if name.startswith("mdsr"):  # one model holds every branch
        built = dict.fromkeys((2, 3, 4), count_parameters(get_model(name)))
    else:
        built = {s: count_parameters(get_model(name, scale=s)) for s in (2, 3, 4)}
    assert PRESET_PARAMETERS[name] == built


def test_unsupported_scales_are_refused_with_the_allowed_list() -> None:
    with pytest.raises(UnsupportedError, match="supported scales: 2, 3, 4, 8"):
        get_model("edsr_baseline", scale=5)
    with pytest.raises(UnsupportedError, match="x2, x3, x4"):
        get_model("mdsr", scale=8)
    with pytest.raises(UnsupportedError, match="Available: edsr_fast, edsr_medium, edsr_baseline, edsr, mdsr_baseline, mdsr"):
        get_model("edsr_x")
    mdsr = get_model("mdsr_baseline", n_resblocks=1, n_feats=8)
    with pytest.raises(UnsupportedError, match="cannot upscale x8"):
        mdsr(torch.zeros(1, 3, 4, 4), 8)
    with pytest.raises(UnsupportedError, match="needs a scale"):
        mdsr(torch.zeros(1, 3, 4, 4))
    edsr = get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8)
    with pytest.raises(UnsupportedError, match="cannot upscale x3"):
        edsr(torch.zeros(1, 3, 4, 4), 3)


def _official_configs() -> list[tuple[str, dict[str, object], list[tuple[str, tuple[int, ...]]], int]]:
    text = (REFERENCE / "edsr_state_dict_keys.txt").read_text()
    configs = []
    for block in text.split("\n### ")[1:]:
        header, *lines = block.strip().splitlines()
        args = dict(re.findall(r"(\w+)=(\[[^\]]*\]|\S+)", header.split("|")[1]))
        n_params = int(re.search(r"numel\(requires_grad params\)=(\d+)", header).group(1))
        keys = []
        for line in lines:
            parts = line.split("\t")
            if len(parts) == 3 and not line.startswith("#"):
                keys.append((parts[0], tuple(int(d) for d in re.findall(r"\d+", parts[1]))))
            elif keys:
                break
        configs.append((header.split("|")[0].strip(), args, keys, n_params))
    return configs


@needs_reference
def test_state_dict_keys_and_shapes_equal_all_eight_official_configurations() -> None:
    configs = _official_configs()
    assert len({c[0] for c in configs}) == 8
    for title, args, keys, n_params in configs:
        scales = [int(s) for s in re.findall(r"\d+", str(args["scale"]))]
        nb, nf = int(args["n_resblocks"]), int(args["n_feats"])
        if title.startswith("MDSR"):
            model: torch.nn.Module = MDSR(n_resblocks=nb, n_feats=nf, scales=tuple(scales))
        else:
            model = EDSR(scale=scales[0], n_resblocks=nb, n_feats=nf, res_scale=float(args["res_scale"]))
        ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
        assert sorted(ours) == sorted(keys), title
        assert count_parameters(model) == n_params, title


@needs_reference
def test_reproduces_the_official_reference_outputs() -> None:
    ref = torch.load(REFERENCE / "reference_edsr_baseline_x2.pt", weights_only=True)
    model = get_model("edsr_baseline", scale=2).eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    with torch.no_grad():
        y = model(ref["input"])
    torch.testing.assert_close(y, ref["output"], atol=1e-3, rtol=0)
    q = y.clamp(0, 255).round()
    assert (q - ref["output_quantized"]).abs().max() <= 1
