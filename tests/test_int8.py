"""``--precision int8``: the recipe keeps quality where torchao's default saturates, and refuses cleanly without its tools."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest
import torch

from vsr.inference import _int8
from vsr.inference._compiled import compiler_status
from vsr._core._device import resolve_precision
from vsr.errors import UnsupportedError
from vsr.models import get_model

from _models import make_tiny_model

needs_int8 = pytest.mark.skipif(not _int8.int8_status()[0], reason=_int8.int8_status()[1])

# Runs in a fresh process: ONEDNN_MAX_CPU_ISA only takes effect before oneDNN starts, and AVX2 is the
# instruction set of the CPUs without VNNI, whose int8 kernels add u8 x s8 pairs into a saturating int16.
_SATURATION_PROBE = textwrap.dedent("""
    import json, warnings
    warnings.filterwarnings("ignore")
    import numpy as np, torch
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    from vsr.inference._int8 import Int8Forward, calibration_patches
    from vsr.models import default_model_name, get_model, load_model
    # The bundled x2 weights, cut to 4 residual blocks (+ the body's last conv) to keep compilation short: trained
    # activation and weight magnitudes are what make the int16 pair sums overflow, not the depth.
    full = load_model(default_model_name(2)).state_dict()
    model = get_model("edsr_baseline", scale=2, n_resblocks=4).eval()
    model.load_state_dict({**{k: v for k, v in full.items() if not k.startswith("body.") or int(k.split(".")[1]) < 4},
                           **{k.replace("body.16.", "body.4."): v for k, v in full.items() if k.startswith("body.16.")}})
    # Generated test images (another seed than calibration): two dead-leaves images, odd-sized 47x45.
    x = torch.cat(calibration_patches(count=2, size=47, seed=1234))[:, :, :45].contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref = model(x, 2).clamp(0, 255).round()
    default = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    out = {}
    for name, q in (("vsr", None), ("torchao_default", default)):
        y = Int8Forward(model, 2, quantizer=q)(x).clamp(0, 255).round()
        out[name] = float(10 * np.log10(255**2 / ((y - ref) ** 2).mean().item()))
    print(json.dumps(out))
""")  # noqa: E501


@pytest.mark.slow
@needs_int8
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN x86 int8 kernels only")
def test_int8_does_not_saturate_on_cpus_without_vnni() -> None:
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    res = subprocess.run([sys.executable, "-c", _SATURATION_PROBE], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    psnr = json.loads(res.stdout.strip().splitlines()[-1])
    # vsr's recipe (7-bit weights, edge convs in fp32) stays close to fp32 on AVX2 kernels ...
    assert psnr["vsr"] >= 45.0, psnr  # measured 54.9 dB
    # ... where torchao's default 8-bit weights overflow the int16 pair sums: this test would catch that recipe.
    assert psnr["torchao_default"] <= psnr["vsr"] - 10.0, psnr  # measured 30.3 dB


def test_auto_never_picks_int8_and_gpus_refuse_it() -> None:
    assert resolve_precision("auto", torch.device("cpu")) in ("fp32", "bf16")
    assert resolve_precision("int8", torch.device("cpu")) == "int8"
    with pytest.raises(UnsupportedError, match="CPU only"):
        resolve_precision("int8", torch.device("cuda"))


def test_int8_without_openvino_or_torchao_is_a_one_line_error_naming_the_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsr.inference import _openvino

    monkeypatch.setitem(sys.modules, "torchao", None)  # import torchao -> ImportError
    monkeypatch.setattr(_openvino, "openvino_status", lambda: (False, "openvino is not installed"))
    ok, why = _int8.int8_status()
    assert not ok and "vsr[cpu-int8]" in why and "vsr[cpu-openvino]" in why and "\n" not in why
    from vsr import Upscaler

    up = Upscaler(make_tiny_model(), scale=2, device="cpu", precision="int8")
    with pytest.raises(UnsupportedError, match="needs OpenVINO .* or torchao"):
        up(torch.zeros(8, 8, 3, dtype=torch.uint8))


def test_int8_without_a_compiler_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torchao")
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    ok, why = _int8.int8_status()
    assert not ok and "C++ compiler" in why and "/nonexistent/c++" in why


def test_calibration_patches_are_deterministic_and_natural_looking() -> None:
    a, b = _int8.calibration_patches(count=2, size=32), _int8.calibration_patches(count=2, size=32)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    x = a[0]
    assert x.shape == (1, 3, 32, 32) and 0 <= x.min() and x.max() <= 255
    # edges and flat areas both present: neither constant nor white noise
    grad = (x[..., 1:] - x[..., :-1]).abs()
    assert x.std() > 20 and (grad < 4).float().mean() > 0.3 and (grad > 30).float().mean() > 0.005


def test_edge_layers_of_edsr_and_mdsr() -> None:
    assert sorted(_int8.edge_layers(get_model("edsr_baseline", scale=2, n_resblocks=2, n_feats=8))) == ["body.2", "head", "tail"]
    mdsr = get_model("mdsr_baseline", n_resblocks=2, n_feats=8)
    assert sorted(_int8.edge_layers(mdsr)) == ["body.2", "head", "tail", "upsample"]
    # OpenVINO's recipe quantizes the sub-pixel convolutions and the last body conv: EDSR keeps only its head and
    # the conv after its Upsampler
    edsr4 = get_model("edsr_baseline", scale=4, n_resblocks=2, n_feats=8)
    assert sorted(_int8.edge_layers(edsr4, outputs_rounded=False)) == ["head", "tail.1"]
    assert sorted(_int8.edge_layers(mdsr, outputs_rounded=False)) == ["head", "tail"]


def test_compiler_status_names_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", sys.executable)  # any existing program passes the look-up
    assert compiler_status() == (True, f"{sys.executable} at {sys.executable}")


_MANY_SHAPES = textwrap.dedent("""
    import sys
    import torch
    from vsr.inference import _compiled, _int8
    from vsr.models import get_model
    torch.manual_seed(0)
    model = get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=4).eval()
    if sys.argv[1] == "int8":
        fwd = _int8.Int8Forward(model, 2)
        reference = fwd.quantized
    else:
        fwd = _compiled.CompiledForward(model, 2)
        reference = lambda x: model(x, 2)
    for side in range(9, 20):  # 11 shapes
        x = torch.rand(1, 3, side, side + 2) * 255
        with torch.no_grad():
            assert (fwd(x) - reference(x)).abs().mean() < 1.0
    assert getattr(fwd, "fallback_reason", None) is None
    print("ok")
""")


@pytest.mark.slow
@pytest.mark.parametrize("path", [pytest.param("int8", marks=needs_int8), pytest.param("compiled", marks=pytest.mark.skipif(
    not compiler_status()[0], reason="no C++ compiler"))])
def test_compiled_paths_take_many_shapes_quietly(path: str) -> None:
    """Tiles, transposes (self-ensemble), short last batches and a folder of sizes each compile a graph of their own:
    more than dynamo's default limit of 8, past which it warned on stderr and ran the slow uncompiled graph (int8:
    torchao's reference graph; fp32 --compile: eager). In a subprocess: torch's log handler writes to the stderr it
    found at import, which capfd does not see."""
    res = subprocess.run([sys.executable, "-c", _MANY_SHAPES, path], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]
    assert "recompil" not in res.stderr, res.stderr[-2000:]
