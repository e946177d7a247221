"""Video upscaling end to end: the official demo's way vs vsr's pipeline, in one run.

    python benchmarks/bench_upscale.py [--frames 24] [--size 320x180] [--rss-frames 100,2000]
    python benchmarks/bench_upscale.py --rss-only [--rss-repeat 3] [--rss-profile]
    python benchmarks/bench_upscale.py --ahead-only [--ahead-clips 2000x320x180,600x1280x720]

Same synthetic clip and model (EDSR-baseline x2, random weights: speed does not
depend on them) for every variant:

a) the official EDSR-PyTorch demo's way: cv2.VideoCapture -> fp32 NCHW batch-1
   forward -> cv2.VideoWriter, all sequential in one thread;
b) decode only (vsr.io.VideoReader, default backend, and PyAV);
c) model only, vsr's default policy (Upscaler: bf16/fp32 autocast, channels_last, batch 4);
d) end to end: vsr.upscale_video (decode thread, model, encode thread, libx264 crf 18).

Prints frames/s for each and the ratios d/a (pipeline vs official) and d/c (how
much of the model's speed survives decoding and encoding). All of it runs in
this one process, with glibc's malloc defaults for both (a) and (d): a quick
breakdown by stage. The CPU speed targets are measured by ``bench_cpu.py``,
which runs the official loop in a fresh process with and without the allocator
settings of the ``vsr`` command, over more frames and alternating rounds. Then peak RSS of
upscale_video on a short and a long clip, each in a fresh subprocess, with a
tiny model so the long clip finishes quickly (the queues, not the model, decide
whether memory grows with length). Each length runs ``--rss-repeat`` times
(median reported), with a private, empty plan cache (``VSR_CACHE_DIR``) so the
result depends neither on nor changes the user's cache; once with the default
plan for both lengths, and once letting the long clip measure its plans (as a
first run on a machine does; the short one is too short to).
``--rss-profile`` prints each child's resident memory every 0.5 s (frames done, VmRSS).

Read-ahead (``--ahead-only``, and after the memory check): how much a reader holds
beyond what it was asked for. Each decoder, in a fresh process, reads the first
batch of 4 frames of a clip and waits 3 s, as a reader does while the model works;
the RSS it gained is printed in MiB and in RGB frames. decord's grows with the
file (its read-ahead is unbounded); PyAV's does not.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from vsr._core._malloc import keep_freed_memory  # noqa: E402
from vsr.inference._upscaler import Upscaler  # noqa: E402
from vsr.io import VideoReader, VideoWriter  # noqa: E402
from vsr.models import get_model  # noqa: E402
from vsr import upscale_video  # noqa: E402


def make_clip(path: Path, frames: int, width: int, height: int) -> Path:
    """A synthetic moving clip (gradients, a grid, a moving disc), libx264 crf 18, 25 fps."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, (height, width, 1), dtype=np.int16)
    with VideoWriter(path, width=width, height=height, fps=25, overwrite=True) as w:
        for i in range(frames):
            img = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, (i * 7) % 256)], -1).astype(np.int16)
            img = img + np.roll(texture, i, axis=1)
            img[((x + 2 * i) % 24 == 0) | ((y + i) % 24 == 0)] = 230
            img = np.clip(img, 0, 255).astype(np.uint8)
            cv2.circle(img, (int((i * 5) % width), height // 2), height // 6, (240, 80, 40), -1)
            w.write(img)
    return path


def official_demo(src: Path, dst: Path, model: torch.nn.Module, scale: int) -> int:
    """EDSR-PyTorch's video demo: read with OpenCV, one fp32 frame at a time, write with OpenCV."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w * scale, h * scale))
    n = 0
    with torch.inference_mode():
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            x = torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1])).permute(2, 0, 1)[None].float()
            y = model(x, scale).clamp(0, 255).round().byte()[0].permute(1, 2, 0).numpy()
            out.write(np.ascontiguousarray(y[:, :, ::-1]))
            n += 1
    cap.release()
    out.release()
    return n


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def rss_child(src: str, dst: str, decoder: str = "auto") -> None:
    """Run in a subprocess: upscale with a tiny model and print frames, peak RSS (MiB) and the RSS profile as JSON."""
    keep_freed_memory()  # as the vsr command does: its peak RSS is the one users see
    torch.manual_seed(0)
    model = get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8)
    done, profile, stop = [0], [], threading.Event()

    def count(n: int) -> None:
        done[0] += n

    def sample() -> None:
        while not stop.wait(0.5):
            profile.append((done[0], status_mib("VmRSS")))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stats = upscale_video(src, dst, scale=2, model=model, overwrite=True, progress=count, decoder=decoder)
    stop.set()
    sampler.join()
    print(json.dumps({"frames": stats.frames, "peak_rss_mib": peak_rss_mib(), "fps": stats.fps, "profile": profile}))


def ahead_child(src: str, decoder: str) -> None:
    """Run in a subprocess: read the first 4 frames, wait 3 s; print the backend and the RSS gained (MiB) as JSON."""
    reader = VideoReader(src, backend=decoder, batch_size=4)  # type: ignore[arg-type]
    before = status_mib("VmRSS")
    next(iter(reader))
    time.sleep(3)
    print(json.dumps({"backend": reader.backend, "gained_mib": status_mib("VmRSS") - before}))


def ahead_check(args: argparse.Namespace, tmp: Path) -> None:
    """RSS gained by reading 4 frames and waiting, per clip and decoder, each in a fresh process."""
    for spec in args.ahead_clips.split(","):
        n, w, h = (int(v) for v in spec.split("x"))
        clip = make_clip(tmp / f"ahead_{spec}.mp4", n, w, h)
        frame_mib = w * h * 3 / 2**20
        for decoder in ("decord", "pyav", "auto"):
            out = subprocess.run([sys.executable, __file__, "--ahead-child", str(clip), decoder],
                                 check=True, capture_output=True, text=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"read-ahead, {n} frames {w}x{h}, {decoder:6s} (= {res['backend']:6s}): +{res['gained_mib']:7.1f} MiB "
                  f"after 4 frames and 3 s = {res['gained_mib'] / frame_mib:5.0f} RGB frames")


def status_mib(field: str) -> float:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB; 0 where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM).

    Not ``getrusage().ru_maxrss``: Linux carries the parent's peak over ``exec``,
    so a child started from a big parent reports the parent's figure.
    """
    return status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", default="320x180", help="input WxH")
    ap.add_argument("--rss-frames", default="100,2000", help="short,long clip lengths for the memory check")
    ap.add_argument("--rss-child", nargs=3, metavar=("SRC", "DST", "DECODER"), help=argparse.SUPPRESS)
    ap.add_argument("--rss-decoders", default="auto,pyav",
                    help="decoders for the memory check (auto picks decord when it decodes the file correctly)")
    ap.add_argument("--rss-repeat", type=int, default=1, help="runs per clip length for the memory check (median)")
    ap.add_argument("--rss-profile", action="store_true", help="print each memory run's RSS over time")
    ap.add_argument("--rss-only", action="store_true", help="only the memory check, no speed measurements")
    ap.add_argument("--ahead-clips", default="2000x320x180,600x1280x720", help="FRAMESxWxH,... for the read-ahead check")
    ap.add_argument("--ahead-child", nargs=2, metavar=("SRC", "DECODER"), help=argparse.SUPPRESS)
    ap.add_argument("--ahead-only", action="store_true", help="only the read-ahead check")
    args = ap.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    if args.ahead_child:
        ahead_child(*args.ahead_child)
        return
    w, h = map(int, args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="vsr_bench_"))
    if args.ahead_only:
        print(f"# {machine()}")
        ahead_check(args, tmp)
        return
    if args.rss_only:
        print(f"# {machine()}")
        rss_check(args, tmp, w, h)
        return
    scale = 2
    src = make_clip(tmp / "clip.mp4", args.frames, w, h)
    torch.manual_seed(0)
    model = get_model("edsr_baseline", scale=scale).eval()
    # Upscaler converts the module it is given to channels_last in place: the official way gets its own copy,
    # left in the default NCHW layout as the official code runs it.
    official_model = copy.deepcopy(model)
    up = Upscaler(model, scale=scale, device="cpu")
    print(f"# {machine()}")
    print(f"# edsr_baseline x{scale}, {w}x{h} -> {w * scale}x{h * scale}, {args.frames} frames, default policy: {up.precision}, batch {up.batch_size}")

    # warm-up: first forwards pay for oneDNN kernel selection
    with torch.inference_mode():
        model(torch.rand(1, 3, h, w) * 255, scale)
    up(np.zeros((up.batch_size, h, w, 3), np.uint8))

    fps: dict[str, float] = {}
    t, n = timed(lambda: official_demo(src, tmp / "official.mp4", official_model, scale))
    fps["a"] = n / t  # type: ignore[operator]
    print(f"a) official demo (cv2 -> fp32 batch 1 -> cv2), sequential  {fps['a']:8.2f} frames/s")

    for backend in ("auto", "pyav"):
        with VideoReader(src, backend=backend) as r:  # type: ignore[arg-type]
            t, frames = timed(lambda r=r: np.concatenate([b.frames for b in r]))
            name = r.backend
        fps[f"b-{name}"] = len(frames) / t  # type: ignore[arg-type]
        print(f"b) decode only ({name})                                      {fps[f'b-{name}']:8.1f} frames/s")

    t, _ = timed(lambda: up(frames))
    fps["c"] = len(frames) / t  # type: ignore[arg-type]
    print(f"c) model only, default policy                               {fps['c']:8.2f} frames/s")

    stats = upscale_video(src, tmp / "ours.mp4", scale=scale, model=model, overwrite=True, progress=False)
    fps["d"] = stats.fps
    print(f"d) upscale_video end to end ({stats.decoder} -> model -> libx264)    {fps['d']:8.2f} frames/s")
    print(f"d/a = {fps['d'] / fps['a']:.2f}x   (same process, glibc malloc defaults; the targets: bench_cpu.py --e2e-only)")
    print(f"d/c = {fps['d'] / fps['c']:.2f}    (target >= 0.85)")

    rss_check(args, tmp, w, h)


def rss_check(args: argparse.Namespace, tmp: Path, w: int, h: int) -> None:
    """Peak RSS of upscale_video on the short and the long clip, each run in a fresh process; print the ratios.

    Settings. "same plan": both lengths run the default plan (``VSR_TUNE=0``),
    so the ratio shows what length alone costs: the target's number; once per
    decoder of ``--rss-decoders`` (decord's reader holds more memory the more
    frames the file has, PyAV's does not). "measured":
    each run starts with an empty plan cache, so the long clip measures plans on
    its first frames and runs the winner (a larger batch for the tiny model),
    which a first run on a new machine does; the short clip is too short to.
    """
    short, long_ = (int(v) for v in args.rss_frames.split(","))
    clips = {n: make_clip(tmp / f"rss_{n}.mp4", n, w, h) for n in (short, long_)}
    settings = [(f"{dec}, same plan (VSR_TUNE=0)", dec, "0") for dec in args.rss_decoders.split(",")]
    settings.append(("auto, plans measured on a first run", "auto", None))
    for label, decoder, tune in settings:
        peaks: dict[int, list[float]] = {short: [], long_: []}
        for rep in range(args.rss_repeat):
            for n in (short, long_):
                env = {**os.environ, "VSR_CACHE_DIR": tempfile.mkdtemp(prefix="cache_", dir=tmp)}
                env.pop("VSR_TUNE", None)
                if tune is not None:
                    env["VSR_TUNE"] = tune
                out = subprocess.run(
                    [sys.executable, __file__, "--rss-child", str(clips[n]), str(tmp / f"rss_{n}_x2.mp4"), decoder],
                    check=True, capture_output=True, text=True, env=env,
                )
                res = json.loads(out.stdout.strip().splitlines()[-1])
                peaks[n].append(res["peak_rss_mib"])
                print(f"[{label}] peak RSS, {res['frames']:5d} frames, run {rep + 1} (tiny model, {res['fps']:.0f} "
                      f"frames/s): {res['peak_rss_mib']:7.1f} MiB")
                if args.rss_profile:
                    print("  frames:MiB " + " ".join(f"{f}:{m:.0f}" for f, m in res["profile"]))
        med = {n: statistics.median(v) for n, v in peaks.items()}
        print(f"[{label}] median peak RSS: {short} frames {med[short]:.1f} MiB, {long_} frames {med[long_]:.1f} MiB: "
              f"{long_}/{short} = {med[long_] / med[short]:.2f}x" + ("   (target <= 1.5)" if tune else ""))


if __name__ == "__main__":
    main()
