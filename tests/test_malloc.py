"""vsr._core._malloc: the command keeps freed memory mapped, and leaves malloc alone when the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

import vsr.cli as cli_module
from vsr.cli import _group
from vsr._core import _malloc

GLIBC = sys.platform.startswith("linux") and _malloc._glibc()


class _FakeLibc:
    """Records mallopt calls; refuses mmap thresholds above ``accept_up_to``."""

    def __init__(self, accept_up_to: int) -> None:
        self.calls: list[tuple[int, int]] = []
        self.accept_up_to = accept_up_to

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return int(param != _malloc._M_MMAP_THRESHOLD or value <= self.accept_up_to)


@pytest.fixture()
def fake_libc(monkeypatch: pytest.MonkeyPatch) -> _FakeLibc:
    for name in ("VSR_MALLOC", "GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                 "LD_PRELOAD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_malloc.sys, "platform", "linux")
    monkeypatch.setattr(_malloc, "_glibc", lambda: True)
    libc = _FakeLibc(accept_up_to=1 << 40)
    monkeypatch.setattr(_malloc.ctypes, "CDLL", lambda _name: libc)
    return libc


def test_sets_the_mmap_threshold_before_the_trim_threshold(fake_libc: _FakeLibc) -> None:
    assert _malloc.keep_freed_memory() is True
    assert fake_libc.calls == [(_malloc._M_MMAP_THRESHOLD, _malloc.MMAP_THRESHOLD),
                               (_malloc._M_TRIM_THRESHOLD, _malloc.TRIM_THRESHOLD)]


def test_an_old_glibc_gets_the_largest_mmap_threshold_it_accepts(fake_libc: _FakeLibc) -> None:
    fake_libc.accept_up_to = 32 << 20
    assert _malloc.keep_freed_memory() is True
    assert fake_libc.calls[-2:] == [(_malloc._M_MMAP_THRESHOLD, 32 << 20), (_malloc._M_TRIM_THRESHOLD, _malloc.TRIM_THRESHOLD)]


def test_no_trim_threshold_when_no_mmap_threshold_is_accepted(fake_libc: _FakeLibc) -> None:
    # A trim threshold alone would switch glibc's adaptive mmap threshold off at 128 KiB: far worse than nothing.
    fake_libc.accept_up_to = 0
    assert _malloc.keep_freed_memory() is False
    assert all(param == _malloc._M_MMAP_THRESHOLD for param, _ in fake_libc.calls)


@pytest.mark.parametrize(("name", "value"), [
    ("VSR_MALLOC", "system"), ("GLIBC_TUNABLES", "glibc.malloc.arena_max=2"), ("MALLOC_TRIM_THRESHOLD_", "0"),
    ("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
])
def test_the_users_choice_leaves_malloc_alone(fake_libc: _FakeLibc, monkeypatch: pytest.MonkeyPatch,
                                              name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    assert _malloc.keep_freed_memory() is False
    assert fake_libc.calls == []


def test_off_glibc_nothing_is_called(fake_libc: _FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_malloc, "_glibc", lambda: False)
    assert _malloc.keep_freed_memory() is False
    monkeypatch.setattr(_malloc.sys, "platform", "darwin")
    assert _malloc.keep_freed_memory() is False
    assert fake_libc.calls == []


def test_every_command_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[bool] = []
    monkeypatch.setattr(_group, "keep_freed_memory", lambda: called.append(True) or True)
    r = CliRunner().invoke(cli_module.cli, ["models"])
    assert r.exit_code == 0, r.output
    assert called == [True]


_FAULTS = textwrap.dedent("""
    import ctypes, resource, sys
    from vsr._core._malloc import keep_freed_memory
    if sys.argv[1] == "kept":
        assert keep_freed_memory()
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64 << 20  # a frame's activations; written in full, as a tensor is (numpy would ask for huge pages)
    def cycle():
        p = libc.malloc(size); ctypes.memset(p, 1, size); libc.free(p)
    cycle()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(8):
        cycle()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_reused_blocks_fault_no_pages_in_again() -> None:
    """The mechanism itself, on the real allocator: allocating and freeing the same 64 MiB block, 8 times."""
    def faults(mode: str) -> int:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES", "LD_PRELOAD"))}
        env["VSR_MALLOC"] = mode
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True, env=env)
        return int(out.stdout.strip())

    system, kept = faults("system"), faults("kept")
    # glibc's defaults map (and fault in) all 16,384 pages of the block each time: about 131,000 faults.
    assert system > 8 * 16_000
    assert kept < system / 20
