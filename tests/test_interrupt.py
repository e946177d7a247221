"""vsr._core._interrupt: Ctrl-C raised at once in plain Python code, after the outermost import or exec'd code otherwise."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from vsr._core._interrupt import safe_interrupts


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_plain_code_is_interrupted_at_once() -> None:
    ran = []
    with pytest.raises(KeyboardInterrupt), safe_interrupts():
        _ctrl_c()
        for i in range(10**7):  # interrupted long before the end
            ran.append(i)
    assert len(ran) < 10**7
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_import_finishes_before_the_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The module interrupts its own import and then goes on; native code between importlib's frames (torch's C
    # extension importing numpy) can be anywhere in such an import.
    (tmp_path / "interrupted_import.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nsteps = [n for n in range(100000)]\nfinished = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "interrupted_import", raising=False)
    with pytest.raises(KeyboardInterrupt), safe_interrupts():
        import interrupted_import  # noqa: F401
    assert sys.modules["interrupted_import"].finished
    assert sys.getprofile() is None and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_exec_d_code_finishes_before_the_interrupt() -> None:
    # What dataclasses and namedtuple run: an interrupt that ended the exec'd string made `python -m` exit with SIGINT.
    ns: dict[str, object] = {}
    with pytest.raises(KeyboardInterrupt), safe_interrupts():
        exec("import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nsteps = [n for n in range(100000)]\nfinished = True", ns)
    assert ns["finished"]


def test_a_second_ctrl_c_while_the_first_waits_is_raised_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "twice_interrupted.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nos.kill(os.getpid(), signal.SIGINT)\nfinished = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KeyboardInterrupt), safe_interrupts():
        import twice_interrupted  # noqa: F401
    assert "twice_interrupted" not in sys.modules  # the import itself was stopped
    assert sys.getprofile() is None


def test_outside_the_main_thread_or_under_another_handler_nothing_changes() -> None:
    seen = []

    def worker() -> None:
        with safe_interrupts():
            seen.append(signal.getsignal(signal.SIGINT))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [signal.default_int_handler]

    def mine(signum: int, frame: object) -> None:
        seen.append("mine")

    previous = signal.signal(signal.SIGINT, mine)
    try:
        with safe_interrupts():
            assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, previous)
