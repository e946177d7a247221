"""vsr._core._files: outputs appear whole or not at all; a killed writer leaves nothing, or a partial the next run removes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vsr._core._files import AtomicFile, atomic_open, partial_name, remove_stale_partials, sha256_file, write_bytes, write_text
from vsr.errors import OutputExistsError

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, *args: str, **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, text=True, stdout=subprocess.PIPE, **kw)  # type: ignore[call-overload]


@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
def test_commit_writes_the_file_and_nothing_else(tmp_path: Path, named: bool) -> None:
    dst = tmp_path / "out.bin"
    af = AtomicFile(dst, named=named)
    os.write(af.fd, b"abc")
    assert not dst.exists()
    assert af.unnamed is not named
    assert len(list(tmp_path.iterdir())) == (1 if named else 0)
    assert af.commit() == dst
    assert dst.read_bytes() == b"abc"
    assert list(tmp_path.iterdir()) == [dst]


@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
def test_abort_leaves_the_old_file(tmp_path: Path, named: bool) -> None:
    dst = tmp_path / "out.bin"
    dst.write_bytes(b"old")
    with pytest.raises(RuntimeError), AtomicFile(dst, named=named) as af:
        os.write(af.fd, b"new")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [dst]
    assert dst.read_bytes() == b"old"


@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
def test_replace_keeps_permissions_and_new_files_get_the_umask(tmp_path: Path, named: bool) -> None:
    old = tmp_path / "old.bin"
    old.write_bytes(b"x")
    old.chmod(0o640)
    with AtomicFile(old, named=named) as af:
        os.write(af.fd, b"y")
    assert old.stat().st_mode & 0o777 == 0o640
    mask = os.umask(0o022)
    os.umask(mask)
    new = write_bytes(tmp_path / "new.bin", b"z")
    assert new.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
def test_without_overwrite_the_first_writer_wins(tmp_path: Path, named: bool) -> None:
    dst = tmp_path / "out.bin"
    first, second = AtomicFile(dst, overwrite=False, named=named), AtomicFile(dst, overwrite=False, named=named)
    os.write(first.fd, b"first")
    os.write(second.fd, b"second")
    first.commit()
    with pytest.raises(OutputExistsError, match="another run wrote this output first"):
        second.commit()
    assert dst.read_bytes() == b"first"
    assert list(tmp_path.iterdir()) == [dst]


def test_atomic_open_text_and_bytes(tmp_path: Path) -> None:
    with atomic_open(tmp_path / "a.txt", "w", encoding="utf-8") as f:
        f.write("héllo\n")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    write_text(tmp_path / "b.txt", "ü")
    assert (tmp_path / "b.txt").read_bytes() == "ü".encode()
    with pytest.raises(ZeroDivisionError), atomic_open(tmp_path / "c.bin") as f:
        f.write(b"part")
        1 / 0  # noqa: B018
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_path_opens_the_file_being_written(tmp_path: Path) -> None:
    dst = tmp_path / "out.bin"
    for named in (False, True):
        with AtomicFile(dst, named=named) as af:
            with open(af.path, "wb") as f:  # what FFmpeg does with the name it is given
                f.write(b"via path" + bytes([named]))
        assert dst.read_bytes() == b"via path" + bytes([named])


_KILLED_WRITER = """
    import os, signal, sys
    from vsr._core._files import AtomicFile
    af = AtomicFile(sys.argv[1], named=sys.argv[2] == "named")
    os.write(af.fd, b"x" * 1000)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigkill_leaves_nothing_with_an_unnamed_file(tmp_path: Path) -> None:
    p = _run(_KILLED_WRITER, str(tmp_path / "out.mp4"), "unnamed")
    assert p.wait() == -signal.SIGKILL
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_of_a_killed_writer_is_removed_by_the_next_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dst = tmp_path / "out.mp4"
    p = _run(_KILLED_WRITER, str(dst), "named")
    assert p.wait() == -signal.SIGKILL
    (stale,) = tmp_path.iterdir()
    assert stale.name.startswith(".out.") and stale.name.endswith(".partial.mp4")
    (tmp_path / ".other.0123abcd.partial.mp4").write_bytes(b"")  # another destination's: not ours to touch
    with caplog.at_level(logging.WARNING, logger="vsr._core._files"):
        write_bytes(dst, b"done")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.0123abcd.partial.mp4", "out.mp4"]
    (msg,) = [r.getMessage() for r in caplog.records]
    assert stale.name in msg and "stale partial file" in msg and "1000 bytes" in msg


def test_partial_of_a_live_writer_is_left_alone(tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    live = _run(
        """
        import os, sys
        from vsr._core._files import AtomicFile
        af = AtomicFile(sys.argv[1], named=True)
        print(af.path, flush=True)
        sys.stdin.read()
        """,
        str(dst),
        stdin=subprocess.PIPE,
    )
    try:
        held = Path(live.stdout.readline().strip())  # type: ignore[union-attr]
        assert held.exists()
        assert remove_stale_partials(dst) == []
        write_bytes(dst, b"mine")
        assert held.exists()
    finally:
        live.communicate("")
    assert live.returncode == 0


def test_partial_name_pattern(tmp_path: Path) -> None:
    n = partial_name(tmp_path / "movie.final.mkv").name
    assert n.startswith(".movie.final.") and n.endswith(".partial.mkv") and len(n) == len(".movie.final.") + 8 + len(".partial.mkv")


def test_sha256_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
