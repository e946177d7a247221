"""Upscaler: reference numerics, quantization, tiling, self-ensemble, batching, precision, input checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vsr._core._device import resolve_precision
from vsr.errors import InvalidInputError, OutOfMemoryError, UnsupportedError, VSRError
from vsr.inference._upscaler import Upscaler, quantize, receptive_margin
from vsr.models import get_model

from _models import make_tiny_model

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "reference_edsr_baseline_x2.pt"
needs_reference = pytest.mark.skipif(not REFERENCE.exists(), reason=f"{REFERENCE} (shared reference file) not present")


def _tiny(name: str = "edsr_baseline", scale: int = 2, nb: int = 2) -> torch.nn.Module:
    return make_tiny_model(name, scale=scale, seed=1, n_resblocks=nb)


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    return torch.load(REFERENCE, weights_only=True)


@pytest.mark.slow
@needs_reference
def test_reference_plain_quantized_and_x8(reference: dict[str, torch.Tensor]) -> None:
    model = get_model("edsr_baseline", scale=2)
    model.load_state_dict(reference["state_dict"])
    up = Upscaler(model, scale=2, precision="fp32")
    y = up.upscale_tensor(reference["input"])
    torch.testing.assert_close(y, reference["output"], atol=1e-3, rtol=0)
    assert (quantize(y).float() - reference["output_quantized"]).abs().max() <= 1
    frames = reference["input"][0].permute(1, 2, 0).to(torch.uint8).numpy()
    assert np.abs(up(frames).astype(int) - reference["output_quantized"][0].permute(1, 2, 0).numpy()).max() <= 1
    ens = Upscaler(model, scale=2, precision="fp32", self_ensemble=True).upscale_tensor(reference["input"])
    torch.testing.assert_close(ens, reference["output_x8"], atol=1e-3, rtol=0)


@pytest.mark.slow
@needs_reference
def test_tiling_matches_untiled_where_the_official_chop_does_not(reference: dict[str, torch.Tensor]) -> None:
    model = get_model("edsr_baseline", scale=2)
    model.load_state_dict(reference["state_dict"])
    tiled = Upscaler(model, scale=2, precision="fp32", tile=16).upscale_tensor(reference["input"])
    torch.testing.assert_close(tiled, reference["output"], atol=1e-3, rtol=0)
    # The official chop (10-pixel margin < receptive field) drifts from the untiled output.
    assert (reference["output_chop"] - reference["output"]).abs().max() > 1e-2


@pytest.mark.parametrize(("name", "scale", "h", "w"), [("edsr_baseline", 3, 37, 29), ("edsr_baseline", 4, 33, 40), ("mdsr_baseline", 3, 31, 35), ("edsr_baseline", 2, 17, 64)])
def test_tiled_equals_untiled_on_odd_sizes_and_batches(name: str, scale: int, h: int, w: int) -> None:
    model = _tiny(name, scale)
    frames = np.random.default_rng(0).integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    whole = Upscaler(model, scale=scale, precision="fp32")(frames)
    tiled = Upscaler(model, scale=scale, precision="fp32", tile=16, batch_size=2)(frames)
    assert tiled.shape == (2, h * scale, w * scale, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_margin_counts_the_conv_path_of_one_branch() -> None:
    assert receptive_margin(get_model("edsr_baseline", scale=2), 2) == 36
    # MDSR: head 1 + two 5x5 blocks 8 + 16 blocks 32 + body conv 1 + upsampler 1 + tail 1
    assert receptive_margin(get_model("mdsr_baseline"), 2) == 44


def test_self_ensemble_on_a_batch_equals_per_item() -> None:
    model = _tiny()
    up = Upscaler(model, scale=2, precision="fp32", self_ensemble=True, batch_size=3)
    frames = np.random.default_rng(1).integers(0, 256, (3, 9, 11, 3), dtype=np.uint8)
    batched = up(frames)
    for i in range(3):
        assert np.array_equal(batched[i], up(frames[i]))
    plain = Upscaler(model, scale=2, precision="fp32")(frames)
    assert not np.array_equal(plain, batched)


def test_batch_size_does_not_change_results_and_torch_in_torch_out() -> None:
    model = _tiny()
    frames = torch.randint(0, 256, (5, 8, 10, 3), dtype=torch.uint8)
    a = Upscaler(model, scale=2, precision="fp32", batch_size=1)(frames)
    b = Upscaler(model, scale=2, precision="fp32", batch_size=4)(frames)
    assert isinstance(a, torch.Tensor) and a.dtype == torch.uint8 and a.shape == (5, 16, 20, 3)
    assert torch.equal(a, b)


def test_bf16_stays_close_to_fp32() -> None:
    model = _tiny(nb=4)
    frames = np.random.default_rng(2).integers(0, 256, (1, 24, 24, 3), dtype=np.uint8)
    fp32 = Upscaler(model, scale=2, precision="fp32")(frames).astype(float)
    bf16 = Upscaler(model, scale=2, precision="bf16")(frames).astype(float)
    assert np.sqrt(((fp32 - bf16) ** 2).mean()) < 2.0


def test_out_of_memory_halves_the_tile_and_retries_the_same_frame() -> None:
    model = _tiny()
    frames = np.random.default_rng(3).integers(0, 256, (1, 40, 40, 3), dtype=np.uint8)
    expected = Upscaler(model, scale=2, precision="fp32")(frames)

    class FlakyOOM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model
            self.scales = (2,)

        def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
            if x.shape[-1] > 30:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.inner(x, scale)

    up = Upscaler(FlakyOOM(), scale=2, precision="fp32", tile_overlap=receptive_margin(model, 2))
    got = up(frames)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_out_of_memory_fallback_holds_for_that_call_only() -> None:
    """A smaller tile after an OOM is not sticky: the next call starts at the configured tile again."""
    model = _tiny()
    frames = np.random.default_rng(5).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    widths: list[int] = []
    fail = {"on": True}

    class OOMOnce(torch.nn.Module):
        """Runs out of memory on inputs wider than 40 LR pixels while ``fail["on"]``."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = model
            self.scales = (2,)

        def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
            widths.append(x.shape[-1])
            if fail["on"] and x.shape[-1] > 40:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.inner(x, scale)

    up = Upscaler(OOMOnce(), scale=2, precision="fp32", tile=64, tile_overlap=0)
    up(frames)
    assert widths[0] == 64 and max(widths[1:]) <= 32  # the first call fell back to 32-pixel tiles
    assert up.tile == 64
    fail["on"] = False
    widths.clear()
    up(frames)
    assert widths == [64]  # the second call starts at the configured tile, whole frame in one piece


def test_out_of_memory_at_the_smallest_tile_is_an_out_of_memory_error() -> None:
    class AlwaysOOM(torch.nn.Module):
        scales = (2,)

        def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    up = Upscaler(AlwaysOOM(), scale=2, precision="fp32", tile_overlap=0)
    with pytest.raises(OutOfMemoryError, match="out of memory even with 16-pixel tiles on cpu") as caught:
        up(np.zeros((1, 32, 32, 3), np.uint8))
    assert isinstance(caught.value, MemoryError) and isinstance(caught.value, VSRError)


def test_bad_inputs_and_options_are_refused() -> None:
    up = Upscaler(_tiny(), scale=2, precision="fp32")
    with pytest.raises(InvalidInputError, match="uint8"):
        up(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="H x W x 3"):
        up(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(UnsupportedError, match="x3 was requested"):
        Upscaler(_tiny(), scale=3)
    with pytest.raises(UnsupportedError, match="allowed: auto, fp32, bf16, fp16, int8"):
        Upscaler(_tiny(), scale=2, precision="int4")
    with pytest.raises(UnsupportedError, match="fp16 is not supported on the CPU"):
        Upscaler(_tiny(), scale=2, device="cpu", precision="fp16")
    with pytest.raises(UnsupportedError, match="unknown device"):
        Upscaler(_tiny(), scale=2, device="tpu9")


def test_auto_precision_policy_on_cpu() -> None:
    from vsr._core._device import cpu_has_native_bf16

    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


@pytest.mark.needs_cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu() -> None:
    model = _tiny()
    frames = np.random.default_rng(4).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    cpu = Upscaler(model, scale=2, device="cpu", precision="fp32")(frames).astype(int)
    gpu = Upscaler(model, scale=2, device="cuda", precision="fp32")(frames).astype(int)
    assert np.abs(cpu - gpu).max() <= 1
