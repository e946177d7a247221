"""CLI start-up: light commands import no heavy library; Ctrl-C at any point of start-up is one line and exit 130."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from vsr.cli import _options as options

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "av", "decord", "cv2")


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
        print("IMPORTED", sorted(m for m in ("torch", "av", "decord", "cv2") if m in sys.modules))
        """,
        *args,
    )
    assert r.returncode == 0, r.stderr
    imported = eval(r.stdout.rsplit("IMPORTED", 1)[1])  # noqa: S307 - our own print of a list of str
    assert set(imported) <= set(allowed), f"vsr {' '.join(args)} imported {imported}"


# Sends SIGINT to the process when the named module starts to import: Ctrl-C at exactly that point of start-up.
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


@pytest.mark.parametrize("module", ["click", "torch", "cv2", "av"])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(module: str, make_video: Callable[..., Path], tmp_path: Path) -> None:
    src = make_video(frames=3, size=(24, 16))
    out = tmp_path / "out.mp4"
    r = _python(_INTERRUPT_AT_IMPORT, module, "upscale", str(src), "-o", str(out), "--scale", "2", "--device", "cpu", "--quiet")
    assert r.returncode == 130, r.stderr
    assert r.stderr == "Interrupted.\n"
    assert list(tmp_path.iterdir()) == [src], "output or temporary file left behind"
