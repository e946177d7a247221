"""Quality cost of ``--precision int8``: Set5/Set14 PSNR (EDSR benchmark protocol) fp32 vs int8, and drift on noisy video.

    python benchmarks/bench_int8.py [--runtime openvino compiled] [--scales 2 3 4] [--sets Set5 Set14] [--json out.json]
    python benchmarks/bench_int8.py --ablation [--scales 2 3 4]   # which convolutions OpenVINO's recipe keeps in fp32

For each bundled model and int8 runtime: the mean Y-PSNR of fp32 and int8 (the
kernels that ship: OpenVINO's int8 plugin, or torchao's graph compiled by
inductor into oneDNN kernels, one compilation per image size) and the change. Then, on the
first frames of the real clips in ../shared/data/videos and on random noise,
how far int8 output drifts from fp32 output (mean and max absolute difference in
grey levels, PSNR of int8 against fp32). Run it with ``ONEDNN_MAX_CPU_ISA=AVX2
ATEN_CPU_CAPABILITY=avx2`` to get the kernels of a CPU without VNNI.

``--ablation`` compares, on OpenVINO, the shipped recipe (only the head and the
final conv in fp32) with the same recipe keeping the last body conv in fp32 as
well, and also the upsampler: Set PSNR change against fp32 at each scale, and
model-only speed at 320x180, batch 2, interleaved over ``--rounds`` rounds (best round).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from vsr.evaluation._evaluate import evaluate  # noqa: E402
from vsr import Upscaler  # noqa: E402
from vsr.io import VideoReader  # noqa: E402
from vsr.models import default_model_name, load_model  # noqa: E402

DATA = Path(os.environ.get("VSR_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def drift(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean/max absolute difference and PSNR of ``a`` against ``b`` (uint8 arrays)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = float((d**2).mean())
    return {"mean_abs": float(np.abs(d).mean()), "max_abs": float(np.abs(d).max()),
            "psnr_vs_fp32": 10 * np.log10(255**2 / mse) if mse else float("inf")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", nargs="+", default=["openvino", "compiled"], choices=["openvino", "compiled"],
                    help="int8 runtimes: openvino (the default one when installed), compiled (torchao)")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--sets", nargs="*", default=["Set5", "Set14"], help="image sets to score (none: speed only, --ablation)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds of --ablation")
    ap.add_argument("--frames", type=int, default=8, help="frames of each clip for the drift check")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--ablation", action="store_true", help="compare which convolutions OpenVINO's recipe keeps in fp32")
    args = ap.parse_args()
    print(f"# {machine()}")
    isa = {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if k in os.environ}
    print(f"# ISA limits: {isa or 'none'}")
    if args.ablation:
        ablation(args.scales, args.sets, args.rounds)
        return
    # One compilation per image size: allow one per Set14 image instead of falling back to the slow reference graph.
    torch._dynamo.config.recompile_limit = 256
    torch._dynamo.config.accumulated_recompile_limit = 4096
    out: dict[str, dict[str, object]] = {}
    for runtime in args.runtime:
        out[runtime] = {"machine": machine(), "isa_env": isa, "sets": {}, "drift": {}}
        measure(runtime, args, out[runtime])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


def measure(runtime: str, args: argparse.Namespace, out: dict[str, object]) -> None:
    """Set PSNR with fp32 and int8 on ``runtime`` for every scale, then drift on clips and noise at the first scale."""
    for scale in args.scales:
        name = default_model_name(scale)
        model = load_model(name)
        fp32 = Upscaler(model, scale=scale, device="cpu", precision="fp32")
        int8 = Upscaler(model, scale=scale, device="cpu", precision="int8", runtime=runtime)
        for s in args.sets:
            a = evaluate(DATA / s, scale, fp32, model_name=name).mean.psnr
            b = evaluate(DATA / s, scale, int8, model_name=name).mean.psnr
            assert a is not None and b is not None
            out["sets"].setdefault(s, {})[str(scale)] = {"fp32": round(a, 3), "int8": round(b, 3), "delta": round(b - a, 3)}  # type: ignore[attr-defined]
            print(f"[{runtime}] {name} x{scale} {s:<6} fp32 {a:.3f} dB  int8 {b:.3f} dB  ({b - a:+.3f})", flush=True)
        if scale != args.scales[0]:
            continue
        clips = sorted((DATA / "videos").glob("*.mp4"))
        rng = np.random.default_rng(0)
        inputs = {"random noise 96x96": rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)}
        for clip in clips:
            with VideoReader(clip, batch_size=args.frames) as r:
                inputs[clip.stem] = next(iter(r)).frames[: args.frames]
        for label, frames in inputs.items():
            h, w = frames.shape[1:3]
            if h * w > 400 * 300:  # keep the 720p clip affordable: its centre
                frames = np.ascontiguousarray(frames[:, h // 2 - 90 : h // 2 + 90, w // 2 - 160 : w // 2 + 160])
            d = drift(np.concatenate([int8(f[None]) for f in frames]), fp32(frames))
            out["drift"][label] = {k: round(v, 3) for k, v in d.items()}  # type: ignore[index]
            print(f"[{runtime}] x{scale} drift on {label} ({len(frames)} frames {frames.shape[2]}x{frames.shape[1]}): mean |int8-fp32| "
                  f"{d['mean_abs']:.2f}, max {d['max_abs']:.0f} levels, PSNR vs fp32 {d['psnr_vs_fp32']:.2f} dB", flush=True)


def uint8_callable(forward: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[np.ndarray], np.ndarray]:
    """``forward`` (float NCHW 0..255) behind the Upscaler's uint8 contract (HxWx3 or NxHxWx3 in and out)."""

    def run(frames: np.ndarray) -> np.ndarray:
        batch = frames[None] if frames.ndim == 3 else frames
        x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()
        with torch.inference_mode():
            y = forward(x).clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        return y[0] if frames.ndim == 3 else y

    return run


def ablation(scales: list[int], sets: list[str], rounds: int) -> None:
    """OpenVINO int8 with more convolutions kept in fp32 than the shipped recipe: PSNR change and model-only speed."""
    import vsr.inference._int8 as int8
    from vsr.inference._openvino import OpenVINOForward

    def shipped(model: torch.nn.Module) -> list[str]:
        return int8.edge_layers(model, outputs_rounded=False)

    def with_body_conv(model: torch.nn.Module) -> list[str]:
        return shipped(model) + [n for n in int8.edge_layers(model) if n.startswith("body.")]

    # The last: torchao's fp32 layers (head, last body conv, upsampler and tail).
    variants: dict[str, Callable[[torch.nn.Module], list[str]]] = {
        "shipped (head, final conv)": shipped, "+ last body conv": with_body_conv,
        "+ last body conv, upsampler": int8.edge_layers}
    x = torch.rand(2, 3, 180, 320) * 255
    for scale in scales:
        name = default_model_name(scale)
        model = load_model(name)
        fp32 = Upscaler(model, scale=scale, device="cpu", precision="fp32")
        ref = {s: evaluate(DATA / s, scale, fp32, model_name=name).mean.psnr for s in sets}
        forwards = {}
        for label, names in variants.items():
            # OpenVINO's int8 model quantized with this variant's fp32 layers (not cached), called whole-frame.
            forward = OpenVINOForward(model.eval(), scale, cache=None, precision="int8", keep=names(model))
            cells = []
            for s in sets:
                got = evaluate(DATA / s, scale, uint8_callable(forward), model_name=name).mean.psnr
                assert got is not None and ref[s] is not None
                cells.append(f"{s} {got - ref[s]:+.3f} dB")
            if cells:
                print(f"x{scale} {label:<28} {', '.join(cells)}  (fp32: {', '.join(names(model))})", flush=True)
            forwards[label] = forward
        best = {k: float("inf") for k in forwards}
        for f in forwards.values():
            f(x)
        for _ in range(rounds):
            for label, f in forwards.items():
                t0 = time.perf_counter()
                f(x)
                f(x)
                best[label] = min(best[label], (time.perf_counter() - t0) / 4)
        base = best[next(iter(best))]
        print(f"x{scale} model only, 320x180 batch 2: " + "; ".join(f"{k} {1 / v:.2f} fps ({base / v:.2f}x)" for k, v in best.items()), flush=True)


if __name__ == "__main__":
    main()
