"""CLI start-up: light commands import no heavy library; Ctrl-C at any point of start-up is one line and exit 130."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vsr.cli import _options as options

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "av", "decord", "cv2", "matplotlib")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VSR_DEBUG"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env, text=True, capture_output=True, timeout=300)


def test_choices_repeated_in_the_cli_match_the_library() -> None:
    from vsr._core._device import PRECISIONS
    from vsr.io import BACKENDS
    from vsr.metrics import PROTOCOLS

    assert options.VIDEO_DECODERS == tuple(BACKENDS)
    assert options.PRECISIONS == tuple(PRECISIONS)
    assert options.PROTOCOLS == tuple(PROTOCOLS)


@pytest.mark.parametrize(
    ("args", "allowed"),
    [(["--help"], ()), (["--version"], ()), (["upscale", "--help"], ()), (["eval", "--help"], ()), (["models"], ())],
    ids=["help", "version", "upscale-help", "eval-help", "models"],
)
def test_light_commands_do_not_import_heavy_libraries(args: list[str], allowed: tuple[str, ...]) -> None:
    r = _python(
        """
        import sys
        from vsr.cli import main
        try:
            main(sys.argv[1:])
        except SystemExit as e:
            assert not e.code, e.code
        print("IMPORTED", sorted(m for m in ("torch", "av", "decord", "cv2", "matplotlib") if m in sys.modules))
        """,
        *args,
    )
    assert r.returncode == 0, r.stderr
    imported = eval(r.stdout.rsplit("IMPORTED", 1)[1])  # noqa: S307 - our own print of a list of str
    assert set(imported) <= set(allowed), f"vsr {' '.join(args)} imported {imported}"


# Sends SIGINT to the process when the named module starts to import: Ctrl-C at exactly that point of start-up.
# numpy: its first import happens inside torch's C extension, which took the interrupt for "numpy is missing" and
# went on (the run ended with exit 0 and an output).
_INTERRUPT_AT_IMPORT = """
    import importlib.abc, os, signal, sys
    target = sys.argv[1]

    class Interrupt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target_module=None):
            if name == target:
                sys.meta_path.remove(self)
                os.kill(os.getpid(), signal.SIGINT)
            return None

    sys.meta_path.insert(0, Interrupt())
    from vsr.cli import main
    main(sys.argv[2:])
"""


@pytest.mark.parametrize("module", ["click", "torch", "numpy", "cv2", "av"])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(module: str, make_video: Callable[..., Path], tmp_path: Path) -> None:
    src = make_video(frames=3, size=(24, 16))
    out = tmp_path / "out.mp4"
    r = _python(_INTERRUPT_AT_IMPORT, module, "upscale", str(src), "-o", str(out), "--scale", "2", "--device", "cpu", "--quiet")
    assert r.returncode == 130, r.stderr
    assert r.stderr == "Interrupted.\n"
    assert list(tmp_path.iterdir()) == [src], "output or temporary file left behind"


# `python -m ctrl_c_at K ARGS`: `vsr ARGS` with SIGINT sent at the K-th Python call or return (the K-th profile
# event of the main thread), i.e. at a point of the run counted in Python's own steps, the same on every machine.
# K = 0 sends nothing and prints the number of events. Run as a module, as `python -m vsr` is: on Python 3.11
# an interrupt that ended an exec'd string (a dataclass's generated method) made that exit with SIGINT (-2).
_CTRL_C_AT = """
import atexit, os, signal, sys

target, seen = int(sys.argv[1]), 0


def count(frame, event, arg):
    global seen
    seen += 1
    if seen == target:
        sys.setprofile(None)
        os.kill(os.getpid(), signal.SIGINT)


atexit.register(lambda: seen < target and print(f"NOT SENT: {seen} events", file=sys.stderr))
atexit.register(lambda: target == 0 and print(f"EVENTS {seen}"))
sys.setprofile(count)
sys.argv = ["vsr", *sys.argv[2:]]
from vsr.cli import main

main()
"""

#: Enough to catch a failure that one Ctrl-C in 10 meets, 99 times in 100 (0.9 ** 44 < 0.01).
SWEEP_TRIALS = 44


def test_ctrl_c_anywhere_in_start_up_is_one_line_and_exit_130(make_video: Callable[..., Path], tmp_path: Path) -> None:
    """SIGINT at 44 points spread evenly over a whole short run (almost all of it start-up: imports of click, torch,
    numpy, PyAV, decord and OpenCV, the model, the plan cache): always exit 130, "Interrupted." and no output."""
    import torch

    from vsr.models import get_model, save_model

    torch.manual_seed(0)
    model = save_model(get_model("edsr_baseline", scale=2, n_resblocks=1, n_feats=8), tmp_path / "tiny.pt")
    src = make_video(frames=3, size=(24, 16))
    (tmp_path / "ctrl_c_at.py").write_text(_CTRL_C_AT)
    env = {k: v for k, v in os.environ.items() if k != "VSR_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])

    def run(k: int, out: Path) -> subprocess.CompletedProcess[str]:
        args = ["upscale", str(src), "-o", str(out), "--scale", "2", "--model", str(model), "--device", "cpu", "--quiet"]
        cmd = [sys.executable, "-m", "ctrl_c_at", str(k), *args]
        try:
            return subprocess.run(cmd, env=env, cwd=tmp_path, text=True, capture_output=True, timeout=300)
        except subprocess.TimeoutExpired:  # reported with the others
            return subprocess.CompletedProcess(cmd, -9, "", "still running after 300 s: killed")

    counted = run(0, tmp_path / "counted.mp4")
    assert counted.returncode == 0, counted.stderr
    events = int(counted.stdout.rsplit("EVENTS", 1)[1])
    points = [max(1, events * (2 * i + 1) // (2 * SWEEP_TRIALS)) for i in range(SWEEP_TRIALS)]
    outs = [tmp_path / f"out{i}" / "out.mp4" for i in range(SWEEP_TRIALS)]
    for out in outs:
        out.parent.mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:  # the CI runner's two cores
        results = list(pool.map(run, points, outs))
    failures = []
    for k, out, r in zip(points, outs, results):
        if "NOT SENT" in r.stderr:  # this run took fewer steps than the counted one (thread timing): nothing to check
            continue
        left = sorted(p.name for p in out.parent.iterdir())
        if r.returncode != 130 or r.stderr != "Interrupted.\n" or left:
            failures.append(f"SIGINT at event {k} of {events}: exit {r.returncode}, left {left}, stderr {r.stderr[-300:]!r}")
    assert not failures, "\n".join(failures)
