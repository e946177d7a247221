"""CPU execution plans side by side: eager layouts and batches, compiled, OpenVINO, ONNX Runtime, bf16, int8, the conv ceiling, end to end.

    python benchmarks/bench_cpu.py [--rounds 5] [--frames 4] [--size 320x180] [--e2e-frames 24] [--startup]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_cpu.py   # an AVX2-only CPU's kernels

Bundled EDSR-baseline x2 weights (int8 is calibrated for them). Model-only
variants run interleaved over ``--rounds`` rounds in one process (best round
counts; the machine is shared), then a single 3x3 64->64 conv gives the
practical ceiling in GFLOP/s, then the whole ``upscale_video`` runs against the
official-style whole loop (cv2 decode -> fp32 NCHW batch 1 -> cv2 encode). The
official loop runs in a fresh process with glibc's malloc defaults, as that demo
does; the vsr variants run with freed memory kept, as the ``vsr`` command does
(``vsr._core._malloc``; ``bench_malloc.py`` measures what that setting is worth).
Prints the CPU flags, the ISA limits set by environment and the load average.

int8 runs on both of vsr's runtimes (OpenVINO, torchao) with the same recipe.
When onnxruntime is installed, the same ONNX graphs that vsr gives OpenVINO
(fp32, and int8 as QuantizeLinear/DequantizeLinear) also run on ONNX Runtime,
for comparison only: vsr does not ship that runtime. ONNX Runtime's own kernels
(MLAS) choose their instruction set from cpuid and ignore ONEDNN_MAX_CPU_ISA,
so under the AVX2 emulation its figures are still the host CPU's.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import conv_gflop, machine  # noqa: E402
from bench_upscale import make_clip, official_demo  # noqa: E402

from vsr import Upscaler  # noqa: E402
from vsr._core._device import cpu_has_native_bf16, emulated_slowdown  # noqa: E402
from vsr._core._malloc import TUNABLES, keep_freed_memory  # noqa: E402
from vsr import upscale_video  # noqa: E402
from vsr.inference._openvino import openvino_status  # noqa: E402
from vsr.inference._plans import ExecutionPlan  # noqa: E402
from vsr.models import default_model_name, load_model  # noqa: E402


def cpu_flags() -> str:
    """The kernel-relevant flags ``lscpu`` reports."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "lscpu unavailable"
    flags = next((line.split(":", 1)[1].split() for line in out.splitlines() if line.startswith("Flags")), [])
    keep = [f for f in flags if f.startswith(("avx", "amx", "fma", "sse4_2")) or "vnni" in f]
    name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")
    return f"{name}; {' '.join(keep)}"


def conv_ceiling(h: int, w: int, dtype: torch.dtype | None, repeats: int = 3) -> float:
    """GFLOP/s of one 3x3 64->64 conv (channels_last) on an ``h x w`` map, best of ``repeats``."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, h, w).contiguous(memory_format=torch.channels_last)
    best = float("inf")
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        conv(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - t0)
    return 2 * 9 * 64 * 64 * h * w / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--frames", type=int, default=4, help="frames per variant per round")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--e2e-frames", type=int, default=24, help="clip length for the end-to-end part (0: skip it)")
    ap.add_argument("--no-int8", action="store_true", help="skip int8 (its set-up takes minutes) in both parts")
    ap.add_argument("--e2e-only", action="store_true", help="skip the model-only part")
    ap.add_argument("--e2e-rounds", type=int, default=2, help="alternating rounds of the end-to-end part (best and median shown)")
    ap.add_argument("--e2e-variants", default="default,mpeg4,compile,torchao,openvino,openvino-bf16,int8",
                    help="end-to-end variants to run besides the official loop (comma-separated)")
    ap.add_argument("--startup", action="store_true", help="also time import and import-to-first-frame in fresh processes")
    ap.add_argument("--official-child", nargs=3, metavar=("SRC", "DST", "SCALE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.official_child:
        src, dst, scale_arg = args.official_child
        official_child(Path(src), Path(dst), int(scale_arg))
        return
    w, h = map(int, args.size.split("x"))
    scale = 2
    isa = " ".join(f"{k}={os.environ[k]}" for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if k in os.environ)
    print(f"# {machine()}")
    print(f"# lscpu: {cpu_flags()}")
    print(f"# ISA limits by environment: {isa or 'none'}; torch CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"native bf16 (flags and oneDNN): {cpu_has_native_bf16()}")
    print(f"# load average at start: {os.getloadavg()}")
    model = load_model(default_model_name(scale)).eval()
    if args.e2e_only:
        end_to_end(model, scale, w, h, args.e2e_frames, int8=not args.no_int8, rounds=args.e2e_rounds,
                   only=set(args.e2e_variants.split(",")))
        return
    official = copy.deepcopy(model)
    gflop = conv_gflop(official, torch.rand(1, 3, h, w) * 255, scale)
    frames = np.random.default_rng(0).integers(0, 256, (args.frames, h, w, 3), dtype=np.uint8)

    def official_loop() -> None:
        with torch.inference_mode():
            for f in frames:
                official(torch.from_numpy(f).permute(2, 0, 1)[None].float(), scale).clamp(0, 255).round()

    def planned(precision: str, plan: ExecutionPlan) -> Callable[[], object]:
        up = Upscaler(copy.deepcopy(model), scale=scale, device="cpu", precision=precision)
        up.apply_plan(plan)
        return lambda: up(frames)

    auto = Upscaler(copy.deepcopy(model), scale=scale, device="cpu")
    variants: dict[str, Callable[[], object]] = {
        "official: fp32 NCHW batch 1": official_loop,
        f"vsr default before measuring ({auto.precision}, {auto.plan.describe()})": lambda: auto(frames),
        "fp32 channels_last batch 1": planned("fp32", ExecutionPlan(batch_size=1)),
        "fp32 channels_last batch 4": planned("fp32", ExecutionPlan(batch_size=4)),
        "fp32 NCHW batch 4": planned("fp32", ExecutionPlan(batch_size=4, channels_last=False)),
        "fp32 compiled (inductor, freezing) batch 1": planned("fp32", ExecutionPlan(batch_size=1, runtime="compiled")),
    }
    if openvino_status()[0]:
        for b in (1, 2):
            variants[f"fp32 OpenVINO batch {b}"] = planned("fp32", ExecutionPlan(batch_size=b, runtime="openvino"))
    else:
        print(f"# OpenVINO not run: {openvino_status()[1]}")
    if cpu_has_native_bf16():
        variants["bf16 channels_last batch 1"] = planned("bf16", ExecutionPlan(batch_size=1))
        variants["bf16 channels_last batch 4"] = planned("bf16", ExecutionPlan(batch_size=4))
        if openvino_status()[0]:
            for b in (1, 2):
                variants[f"bf16 OpenVINO batch {b}"] = planned("bf16", ExecutionPlan(batch_size=b, runtime="openvino"))
    else:
        print(f"# bf16 is emulated here: a conv measured {emulated_slowdown():.1f}x slower than fp32 (not run)")
    if not args.no_int8:
        runtimes = [("torchao PT2E, compiled", "compiled")] + ([("OpenVINO", "openvino")] if openvino_status()[0] else [])
        for label, runtime in runtimes:
            for b in (1, 2):
                up8 = Upscaler(copy.deepcopy(model), scale=scale, device="cpu", precision="int8", batch_size=b, runtime=runtime)
                variants[f"int8 ({label}) batch {b}"] = lambda up8=up8: up8(frames)
    variants.update(onnxruntime_variants(model, scale, frames, int8=not args.no_int8))
    # Warm-up: compiles (timed) and first oneDNN primitive creation, outside the rounds.
    for name, fn in variants.items():
        t0 = time.perf_counter()
        fn()
        print(f"# warm-up {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    best = {name: float("inf") for name in variants}
    ceiling32, ceiling16 = 0.0, 0.0
    for r in range(args.rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / args.frames)
        # The ceiling is measured in every round too, so that it sees the same machine load as the model.
        ceiling32 = max(ceiling32, conv_ceiling(h, w, None))
        if cpu_has_native_bf16():
            ceiling16 = max(ceiling16, conv_ceiling(h, w, torch.bfloat16))
        print(f"# round {r + 1}/{args.rounds} done, load {os.getloadavg()[0]:.2f}", flush=True)
    base = best["official: fp32 NCHW batch 1"]
    eager_cl = best["fp32 channels_last batch 1"]
    print(f"\nModel only: EDSR-baseline x{scale}, {w}x{h}, {gflop:.1f} GFLOP/frame; best of {args.rounds} rounds of {args.frames} frames")
    print(f"{'variant':<62} {'fps':>6} {'GFLOP/s':>8} {'vs official':>11} {'vs fp32 CL b1':>13}")
    for name, t in sorted(best.items(), key=lambda kv: kv[1]):
        print(f"{name:<62} {1 / t:6.2f} {gflop / t:8.1f} {base / t:10.2f}x {eager_cl / t:12.2f}x")
    print(f"single 3x3 64->64 conv ceiling: fp32 channels_last {ceiling32:.0f} GFLOP/s"
          + (f", bf16 {ceiling16:.0f} GFLOP/s" if ceiling16 else ""))
    lossless = {n: t for n, t in best.items() if "int8" not in n and not n.startswith("official") and "ONNX" not in n}
    top = min(lossless, key=lossless.__getitem__)
    ceiling = ceiling16 if ceiling16 and "bf16" in top else ceiling32
    print(f"fastest lossless variant: {top}: {gflop / lossless[top] / ceiling:.0%} of the matching conv ceiling")
    print(f"# load average after the model part: {os.getloadavg()}")
    if args.e2e_frames:
        end_to_end(model, scale, w, h, args.e2e_frames, int8=not args.no_int8, rounds=args.e2e_rounds,
                   only=set(args.e2e_variants.split(",")))
    if args.startup:
        startup(w, h)


def onnxruntime_variants(model: torch.nn.Module, scale: int, frames: np.ndarray,
                         int8: bool) -> dict[str, Callable[[], object]]:
    """ONNX Runtime (CPU provider) on the ONNX graphs vsr exports for OpenVINO, batch 1; empty without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        print("# ONNX Runtime not run: pip install onnxruntime to compare it")
        return {}
    from vsr.inference._compiled import ScaleBound
    from vsr.inference._int8 import fake_quantized
    from vsr.inference._openvino import export_onnx

    graphs = {"fp32": ScaleBound(copy.deepcopy(model).eval(), scale)}
    if int8:
        graphs["int8 (vsr recipe as QDQ)"] = fake_quantized(model, scale)
    out: dict[str, Callable[[], object]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="vsr_bench_ort_"))
    for label, module in graphs.items():
        path = tmp / f"{len(out)}.onnx"
        export_onnx(module, path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        batches = [np.ascontiguousarray(f.transpose(2, 0, 1)[None], dtype=np.float32) for f in frames]
        out[f"{label} ONNX Runtime {ort.__version__} batch 1 (comparison only)"] = (
            lambda sess=sess, batches=batches: [sess.run(None, {"x": b}) for b in batches])
    return out


_STARTUP = """
import time
t0 = time.perf_counter()
import numpy as np
from vsr import Upscaler
t1 = time.perf_counter()
up = Upscaler("edsr_baseline_x2_t91_bsd200", scale=2, device="cpu", precision="{precision}")
up(np.zeros(({h}, {w}, 3), np.uint8))
print(t1 - t0, time.perf_counter() - t0)
"""


def startup(w: int, h: int) -> None:
    """Import time and import-to-first-frame time in fresh processes (median of 3), default and int8."""
    print("\nStart-up in a fresh process (median of 3): import vsr / import to the first upscaled frame")
    for precision in ("auto", "int8"):
        runs = []
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", _STARTUP.format(precision=precision, w=w, h=h)], check=True,
                                 capture_output=True, text=True).stdout.split()
            runs.append((float(out[-2]), float(out[-1])))
        imp, first = (sorted(v)[1] for v in zip(*runs))
        print(f"precision {precision:<5} import {imp:.2f} s, first frame after {first:.2f} s")


OFFICIAL = "official whole loop (cv2 -> fp32 NCHW b1 -> cv2)"
OFFICIAL_KEPT = "official whole loop, freed memory kept"


def official_child(src: Path, dst: Path, scale: int) -> None:
    """Run in a fresh process: the official-style whole loop on ``src``; prints its frames/s (model load excluded)."""
    model = load_model(default_model_name(scale)).eval()
    t0 = time.perf_counter()
    k = official_demo(src, dst, model, scale)
    print(f"{k / (time.perf_counter() - t0):.4f}")


def end_to_end(model: torch.nn.Module, scale: int, w: int, h: int, n: int, int8: bool = True, rounds: int = 2,
               only: set[str] | None = None) -> None:
    """Official-style whole loop vs ``upscale_video`` (default, compiled, int8, OpenVINO), one clip, alternating rounds."""
    tmp = Path(tempfile.mkdtemp(prefix="vsr_bench_cpu_"))
    src = make_clip(tmp / "clip.mp4", n, w, h)
    variants: list[tuple[str, str, str, dict[str, object]]] = [
        ("default", "vsr upscale (default)", "auto", {}),
        # The official demo writes with OpenCV's mp4v, i.e. FFmpeg's MPEG-4 part 2 encoder: far cheaper than x264 (and
        # a far larger or worse file); the default with that encoder shows what x264 costs on these cores.
        ("mpeg4", "vsr upscale --codec mpeg4 (the official's encoder)", "auto", {"codec": "mpeg4"}),
        ("compile", "vsr upscale --compile", "auto", {"compile": True})]
    if int8:
        variants.append(("torchao", "vsr upscale --precision int8 --runtime compiled (torchao)", "int8", {"runtime": "compiled"}))
    if openvino_status()[0]:
        for b in (1, 2):  # the first run converts the model (IR cached for the second); --batch-size as a measured plan would
            variants.append(("openvino", f"vsr upscale --runtime openvino --precision fp32 --batch-size {b}", "fp32",
                             {"runtime": "openvino", "batch_size": b}))
        if cpu_has_native_bf16():  # what a long video's measured plan may pick with native bf16
            variants.append(("openvino-bf16", "vsr upscale --runtime openvino (bf16)", "bf16", {"runtime": "openvino"}))
        if int8:
            variants.append(("int8", "vsr upscale --precision int8 (OpenVINO, the default int8 runtime)", "int8", {"runtime": "openvino"}))
    variants = [v for v in variants if only is None or v[0] in only]
    officials = {OFFICIAL: "", OFFICIAL_KEPT: TUNABLES}
    runs: dict[str, list[float]] = {**{name: [] for name in officials}, **{v[1]: [] for v in variants}}
    steady: dict[str, list[float]] = {name: [] for name in runs}
    # As the vsr command does, for the vsr variants in this process. The official loop runs in a fresh process, once
    # with glibc's defaults, as that demo runs, and once with freed memory kept as vsr keeps it, which spares it
    # the page faults that otherwise cost it up to half its speed (RESULTS.md): the fair baseline for vsr's own gains.
    keep_freed_memory()
    for _ in range(rounds):
        for name, tunables in officials.items():
            env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
            if tunables:
                env["GLIBC_TUNABLES"] = tunables
            out = subprocess.run([sys.executable, __file__, "--official-child", str(src), str(tmp / "official.mp4"),
                                  str(scale)], check=True, capture_output=True, text=True, env=env)
            runs[name].append(float(out.stdout.split()[-1]))
        for _key, name, precision, extra in variants:
            marks: list[tuple[float, int]] = []
            stats = upscale_video(src, tmp / "out.mp4", scale=scale, model=copy.deepcopy(model), precision=precision,
                                  overwrite=True, progress=lambda f, m=marks: m.append((time.perf_counter(), f)), **extra)
            runs[name].append(stats.fps)
            # Steady state: frames encoded after the first batch, over the time they took (set-up and compile excluded).
            if len(marks) > 1:
                steady[name].append(sum(f for _, f in marks[1:]) / (marks[-1][0] - marks[0][0]))
    print(f"\nEnd to end: {n} frames {w}x{h} -> x{scale}, libx264 unless said; {rounds} alternating rounds. 'whole': set-up included "
          "(model load, int8 quantization and compilation); 'steady': after the first encoded batch. Against each official "
          "baseline: best of the rounds vs its best, and 'paired', the median of each round's ratio to that round's run")
    for name, fps in runs.items():
        cols = []
        for i, (base_name, label) in enumerate(((OFFICIAL, "official"), (OFFICIAL_KEPT, "official kept"))):
            base, paired = max(runs[base_name]), statistics.median(f / o for f, o in zip(fps, runs[base_name]))
            st = f", steady {max(steady[name]) / base:4.2f}x" if steady[name] and i == 0 else ""
            cols.append(f"vs {label}: {max(fps) / base:4.2f}x, paired {paired:4.2f}x{st}")
        print(f"{name:<52} whole {max(fps):6.2f} fps | {' | '.join(cols)}  (runs: {', '.join(f'{v:.2f}' for v in fps)})")
    print(f"# load average after end to end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
