"""Damaged and odd inputs through ``vsr upscale``, ``vsr psnr`` and ``vsr eval``: a seeded corpus made here,
each run classified.

    python benchmarks/fuzz.py [--seed 0] [--limit N] [--commands upscale,psnr,eval] [--subprocess]
                              [--timeout 120] [--keep DIR] [--tree DIR]

The corpus (written to a temporary folder): clean clips; truncations at several offsets; bytes flipped in the
header, the middle and the ``moov`` index; garbage; a zero-length file; a wrong extension; a text file and a
folder named ``.mp4``; an audio-only file; 1x1, 16-bit, grey and RGBA images; a PNG header claiming
100000x100000; PNGs and JPEGs cut short. Each file goes through each command, in this process (``CliRunner``, fast) or, with
``--subprocess``, as ``python -m vsr`` (what a user runs: start-up, exit codes and stderr exactly):
  upscale  ``vsr upscale CASE -o out.* -s 2`` with a tiny random model; the output is checked (frame count)
  psnr     ``vsr psnr CASE REF -o report --html --common-prefix --crop-to-common``; REF is the clean clip the
           video cases were made from (an image case is scored against itself)
  eval     ``vsr eval -d CASE -s 2 -m tiny -o report --html``
For psnr and eval the "output" is the report folder: complete (a CSV and a JSON that parse) after exit 0,
absent or empty after a failure.

Classes printed at the end (one per run):
  success               exit 0 from a clean input, output frame count = PyAV's decode of the input
  damaged-but-decoded   the same from a damaged input
  clean failure         exit 1 (or 2 for usage) with exactly one line on stderr (click's usage text aside), no output
  noisy failure         the same with more than one stderr line: anything printed besides vsr's one line (a
                        library's own log line, e.g. OpenCV's "[ WARN:0@0.168] ... PNG input buffer is incomplete")
  silent failure        the same with nothing on stderr
  traceback             a Python traceback or "internal error" on stderr, or an exception escaped
  hang                  still running after --timeout seconds
  partial output        an output at the destination after a failure, or exit 0 with a wrong/unreadable output
  stray file            anything else left in the folder (hidden partials, locks, segment folders)
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: The vsr checkout under test (``--tree`` changes it, e.g. to an older commit unpacked with ``git archive``).
ROOT = Path(__file__).resolve().parents[1]


COMMANDS = ("upscale", "psnr", "eval")

#: Image cases: upscaled to an image, scored by ``vsr psnr`` against themselves.
_IMAGES = (".png", ".jpg")

#: The clean clip kept beside the corpus, the reference of ``vsr psnr`` runs.
REFERENCE = "reference.mp4"


@dataclass(frozen=True)
class Case:
    """One input: its file, whether it is damaged on purpose, and a short description."""

    path: Path
    damaged: bool
    what: str


def _clip(path: Path, frames: int = 12, size: tuple[int, int] = (32, 24), audio: bool = False, faststart: bool = False) -> Path:
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        v = out.add_stream("libx264", rate=Fraction(10))
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        a = out.add_stream("aac", rate=16000) if audio else None
        rng = np.random.default_rng(frames)
        for i in range(frames):
            img = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        if a is not None:
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024 * 12), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, 0
            for p in a.encode(frame):
                out.mux(p)
            for p in a.encode(None):
                out.mux(p)
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for p in [*a.encode(frame), *a.encode(None)]:
            out.mux(p)
    return path


def _png_header(path: Path, w: int, h: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b""))
    return path


def make_corpus(folder: Path, seed: int) -> list[Case]:
    """Write the corpus into ``folder`` (one sub-folder per case, so strays are attributable)."""
    import cv2

    rng = np.random.default_rng(seed)
    src = folder / "_sources"
    src.mkdir()
    plain = _clip(src / "plain.mp4")
    fast = _clip(src / "fast.mp4", faststart=True)
    mkv = _clip(src / "audio.mkv", audio=True)
    cases: list[tuple[str, bool, str, bytes | None]] = []

    def add(name: str, damaged: bool, what: str, data: bytes | None) -> None:
        cases.append((name, damaged, what, data))

    for p in (plain, fast, mkv):
        b = p.read_bytes()
        add(p.name, False, f"clean {p.suffix}", b)
        for frac in sorted(rng.uniform(0.05, 0.95, 3)):
            add(f"trunc{int(frac * 100):02d}_{p.name}", True, f"{p.name} truncated at {frac:.0%}", b[: int(len(b) * frac)])
        for region, lo, hi in (("header", 0, 64), ("middle", len(b) // 3, 2 * len(b) // 3)):
            d = bytearray(b)
            for i in rng.integers(lo, hi, 8):
                d[i] ^= int(rng.integers(1, 256))
            add(f"flip_{region}_{p.name}", True, f"{p.name}, 8 bytes flipped in the {region}", bytes(d))
    b = plain.read_bytes()
    moov = b.find(b"moov")
    if moov > 0:
        d = bytearray(b)
        for i in rng.integers(moov, min(len(b), moov + 400), 8):
            d[i] ^= int(rng.integers(1, 256))
        add("flip_moov.mp4", True, "plain.mp4, 8 bytes flipped in moov", bytes(d))
    add("garbage.mp4", True, "random bytes", rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    add("empty.mp4", True, "zero-length file", b"")
    add("wrong_ext.mkv", False, "an MP4 named .mkv", b)
    add("text.mp4", True, "a text file named .mp4", b"hello, not a video\n" * 20)
    add("huge.png", True, "PNG header claiming 100000x100000", _png_header(src / "h.png", 100000, 100000).read_bytes())
    for name, img in {
        "one.png": np.zeros((1, 1, 3), np.uint8),
        "grey.png": rng.integers(0, 255, (9, 11), dtype=np.uint8),
        "rgba.png": rng.integers(0, 255, (9, 11, 4), dtype=np.uint8),
        "deep.png": rng.integers(0, 65535, (9, 11, 3), dtype=np.uint16),
    }.items():
        ok, buf = cv2.imencode(".png", img)
        assert ok
        add(name, False, f"{name[:-4]} image", buf.tobytes())
    add("audio_only.m4a", True, "audio only", _audio_only(src / "a.m4a").read_bytes())
    picture = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    for ext in (".png", ".jpg"):
        ok, buf = cv2.imencode(ext, picture)
        assert ok
        for frac in (0.1, 0.5, 0.9):
            add(f"trunc{int(frac * 100):02d}{ext}", True, f"{ext[1:].upper()} cut at {frac:.0%}", buf.tobytes()[: int(len(buf) * frac)])

    (folder / REFERENCE).write_bytes(plain.read_bytes())  # what every video case was made from (same pixels)
    out: list[Case] = []
    for k, (name, damaged, what, data) in enumerate(cases):
        d = folder / f"{k:03d}"
        d.mkdir()
        if data is not None:
            (d / name).write_bytes(data)
        out.append(Case(d / name, damaged, what))
    d = folder / f"{len(cases):03d}"
    d.mkdir()
    (d / "folder.mp4").mkdir()
    out.append(Case(d / "folder.mp4", True, "a folder named .mp4"))
    shutil.rmtree(src)
    return out


def _decoded_frames(path: Path) -> int | None:
    """Frames PyAV decodes from ``path`` (errors skipped, as ffmpeg does), or None if it opens no video."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return None
            n = 0
            for packet in c.demux(c.streams.video[0]):
                try:
                    n += len(packet.decode())
                except av.error.FFmpegError:
                    continue
            return n
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def _args(command: str, case: Case, model: Path, out: Path) -> list[str]:
    if command == "upscale":
        return ["upscale", str(case.path), "-o", str(out), "-s", "2", "-m", str(model), "--device", "cpu", "--precision", "fp32", "-q"]
    if command == "psnr":
        ref = case.path if case.path.suffix in _IMAGES else case.path.parent.parent / REFERENCE
        return ["psnr", str(case.path), str(ref), "-o", str(out), "--html", "--common-prefix", "--crop-to-common"]
    if command == "eval":
        return ["eval", "-d", str(case.path), "-s", "2", "-m", str(model), "--device", "cpu", "-o", str(out), "--html"]
    raise ValueError(f"unknown command {command!r}; choose from {COMMANDS}")


def _run(args: list[str], timeout: int, in_subprocess: bool) -> tuple[int | None, str]:
    if in_subprocess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        try:
            # cwd: the tree under test, which `python -m` puts first on the path
            r = subprocess.run([sys.executable, "-m", "vsr", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, ""
        return r.returncode, r.stderr
    from click.testing import CliRunner

    from vsr.cli import cli

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout)
    # FFmpeg (decord's copy, OpenCV) writes to file descriptor 2 itself, past CliRunner: capture the descriptor too.
    saved = os.dup(2)
    with tempfile.TemporaryFile() as raw:
        os.dup2(raw.fileno(), 2)
        try:
            r = CliRunner().invoke(cli, args)
        except TimeoutError:
            return None, ""
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        raw.seek(0)
        err = raw.read().decode(errors="replace") + r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        err += f"\nTraceback (escaped): {type(r.exception).__name__}: {r.exception}"
    return r.exit_code, err


def _report_state(out: Path) -> tuple[bool, str]:
    """(whether the report folder holds anything, a problem with it or "")."""
    files = sorted(out.iterdir()) if out.is_dir() else []
    hidden = [p.name for p in files if p.name.startswith(".")]
    if hidden:
        return True, f"hidden files in the report folder: {hidden}"
    try:
        csvs = [p for p in files if p.suffix == ".csv"]
        jsons = [p for p in files if p.suffix == ".json"]
        for p in csvs:
            with p.open(newline="", encoding="utf-8") as f:
                list(csv.reader(f))
        for p in jsons:
            json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return bool(files), f"unreadable report file: {e}"
    return bool(files), "" if (csvs and jsons) or not files else f"incomplete report: {[p.name for p in files]}"


def classify(case: Case, model: Path, timeout: int, in_subprocess: bool, command: str = "upscale") -> tuple[str, str]:
    """Run one case through ``command``; returns its class and a one-line detail."""
    folder = case.path.parent
    is_image = case.path.suffix in _IMAGES
    if command == "upscale":
        out = folder / (f"out{case.path.suffix}" if is_image else "out.mp4")
    else:
        out = folder / f"report_{command}"
    before = set(folder.iterdir())
    code, err = _run(_args(command, case, model, out), timeout, in_subprocess)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    new = set(folder.iterdir()) - before - {out}
    first = lines[0][:150] if lines else ""
    try:
        return _judge(case, command, out, code, err, lines, new, first, is_image)
    finally:
        if out.is_dir():
            shutil.rmtree(out)  # the next command's run must start from the same folder


def _message_lines(lines: list[str], code: int | None) -> list[str]:
    """stderr's lines without click's usage text (``Usage: ...``, ``Try '... -h' for help.``) of a usage error."""
    if code != 2:
        return lines
    return [ln for ln in lines if not (ln.startswith("Usage: ") or (ln.startswith("Try '") and ln.endswith("for help.")))]


def _failure(lines: list[str], code: int | None) -> str:
    n = len(_message_lines(lines, code))
    return "clean failure" if n == 1 else "noisy failure" if n > 1 else "silent failure"


def _judge(case: Case, command: str, out: Path, code: int | None, err: str, lines: list[str], new: set[Path],
           first: str, is_image: bool) -> tuple[str, str]:
    if code is None:
        return "hang", case.what
    if "Traceback" in err or "internal error" in err:
        return "traceback", f"{case.what}: {first}"
    if new:
        return "stray file", f"{case.what}: {sorted(p.name for p in new)}"
    if command != "upscale":
        present, problem = _report_state(out)
        if code != 0:
            if present:
                return "partial output", f"{case.what}: exit {code} but the report folder holds files"
            return _failure(lines, code), f"{case.what}: exit {code}: {first}"
        if problem or not present:
            return "partial output", f"{case.what}: exit 0 but {problem or 'no report'}"
    elif code != 0:
        if out.exists():
            return "partial output", f"{case.what}: exit {code} but {out.name} exists"
        return _failure(lines, code), f"{case.what}: exit {code}: {first}"
    elif not out.exists():
        return "partial output", f"{case.what}: exit 0 without an output"
    if command == "upscale" and not is_image:
        want, got = _decoded_frames(case.path), _decoded_frames(out)
        if got is None or got != want:
            return "partial output", f"{case.what}: exit 0, output frames {got} vs PyAV's {want} from the input"
    # psnr and eval print their table on stdout; stderr should stay empty on success.
    noise = f" (despite -q, {len(lines)} stderr lines: {first})" if lines else ""
    return ("damaged-but-decoded" if case.damaged else "success"), case.what + noise


def main() -> None:
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="run only the first N cases")
    ap.add_argument("--subprocess", action="store_true", help="run `python -m vsr` per case (slower, exact)")
    ap.add_argument("--timeout", type=int, default=120, help="seconds before a run counts as a hang")
    ap.add_argument("--keep", type=Path, default=None, help="write the corpus here and keep it")
    ap.add_argument("--tree", type=Path, default=ROOT, help="root of the vsr checkout to test (default: this one)")
    ap.add_argument("--commands", default="upscale", help=f"comma-separated, from {','.join(COMMANDS)} (default: upscale)")
    a = ap.parse_args()
    ROOT = a.tree.resolve()
    sys.path.insert(0, str(ROOT))

    import torch

    from vsr.models import get_model, save_model

    folder = a.keep or Path(tempfile.mkdtemp(prefix="vsr-fuzz-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        torch.manual_seed(a.seed)
        model = save_model(get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8), folder / "tiny.pt")
        cases = make_corpus(folder, a.seed)[: a.limit]
        commands = [c.strip() for c in a.commands.split(",") if c.strip()]
        if not set(commands) <= set(COMMANDS):
            raise SystemExit(f"--commands: choose from {','.join(COMMANDS)}, got {a.commands!r}")
        counts: dict[str, collections.Counter[str]] = {c: collections.Counter() for c in commands}
        noisy = collections.Counter[str]()
        for case in cases:
            for command in commands:
                cls, detail = classify(case, model, a.timeout, a.subprocess, command)
                counts[command][cls] += 1
                noisy[command] += "despite -q" in detail
                print(f"{command:<8} {cls:<20} {detail}", flush=True)
        print(f"\n{len(cases)} cases x {len(commands)} commands (seed {a.seed}, {'subprocess' if a.subprocess else 'in-process'}):")
        print(f"  {'class':<40} " + " ".join(f"{c:>8}" for c in commands))
        print(f"  {'(successes with stderr lines)':<40} " + " ".join(f"{noisy[c]:>8}" for c in commands))
        for cls in ("success", "damaged-but-decoded", "clean failure", "noisy failure", "silent failure", "traceback", "hang",
                    "partial output", "stray file"):
            print(f"  {cls:<40} " + " ".join(f"{counts[c][cls]:>8}" for c in commands))
    finally:
        if a.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
