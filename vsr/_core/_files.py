"""File primitives: atomic writes, temporary names, destination locks, hashing, and the safe ``torch.load``.

Atomic file writes: a file appears at its destination complete, or not at all.

Every output vsr writes (videos, segment files, images, manifests, checkpoints)
goes through :class:`AtomicFile`:

* On Linux the data go to an unnamed file in the destination's folder
  (``O_TMPFILE``), which is linked in under its name only when complete. A
  process killed at any point (SIGKILL, OOM, power loss) leaves nothing behind.
* Where the file system has no ``O_TMPFILE`` (NFS, some FUSE mounts) or the OS
  is not Linux, the data go to a hidden ``.<stem>.<hex>.partial<suffix>`` beside
  the destination, held under an exclusive ``flock`` while its writer lives.
  The next write to the same destination deletes such files whose lock is free
  (their writer is gone) with a one-line warning, and never one that a live
  process is still writing.

Files written by ``torch.save`` (model files, training checkpoints) are written
with :func:`atomic_torch_save` and read with :func:`load_torch_file`, which never
runs code from the file. torch is imported inside those two functions only, so
the rest of this module stays cheap to import.

This module sits at the bottom of the layering: it imports nothing from vsr
except :mod:`vsr.errors`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import hashlib
import logging
import os
import pickle
import re
import secrets
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from vsr.errors import CheckpointError, EncodeError, InvalidInputError, OutputExistsError

__all__ = [
    "AtomicFile",
    "atomic_open",
    "atomic_torch_save",
    "load_torch_file",
    "destination_lock",
    "write_bytes",
    "write_text",
    "write_csv",
    "remove_stale_partials",
    "partial_name",
    "sha256_file",
]

log = logging.getLogger(__name__)

# errnos with which open(O_TMPFILE) says "not here": the file system (EOPNOTSUPP), or an old kernel that reads
# the flag as O_DIRECTORY (EISDIR, ENOTDIR), or a sandbox that refuses it (EINVAL, EPERM, EACCES on /proc).
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.ENOTDIR, errno.EINVAL, errno.EPERM}
_O_TMPFILE: int = getattr(os, "O_TMPFILE", 0)
# The Linux way to give an unnamed file a name: linkat(AT_SYMLINK_FOLLOW) on its /proc magic link. CPython
# calls plain link() (which does not follow the link and fails with EXDEV) unless a dir_fd is given, so the
# destination folder is always passed as an open fd.
_LINK_WITH_DIR_FD = os.link in os.supports_dir_fd


def partial_name(dst: str | os.PathLike[str]) -> Path:
    """A fresh hidden name for a partial file of ``dst``: ``.<stem>.<8 hex>.partial<suffix>`` in its folder."""
    d = Path(dst)
    return d.with_name(f".{d.stem}.{secrets.token_hex(4)}.partial{d.suffix}")


def _partial_pattern(dst: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f".{dst.stem}.") + r"[0-9a-f]{8}\.partial" + re.escape(dst.suffix) + r"\Z")


def remove_stale_partials(dst: str | os.PathLike[str]) -> list[Path]:
    """Delete the partial files of ``dst`` left by writers that are gone; returns what was deleted.

    A partial file is stale when nobody holds its lock: the process that wrote it
    ended without finishing (killed, or its machine lost power). One that a live
    process holds is left alone.
    """
    d = Path(dst)
    pattern = _partial_pattern(d)
    try:
        names = [n for n in os.listdir(d.parent) if pattern.match(n)]
    except OSError:
        return []
    removed = []
    for name in names:
        p = d.with_name(name)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.debug("%s: in use by a running process; left alone", p)
                continue
            st = os.fstat(fd)
            # The name may have been reused between open and lock: delete only the file that was checked.
            if os.stat(p, follow_symlinks=False).st_ino != st.st_ino:
                continue
            os.unlink(p)
        except OSError:
            continue
        finally:
            os.close(fd)
        log.warning("%s: removed a stale partial file (%s) left by an earlier run that did not finish", p, _size(st.st_size))
        removed.append(p)
    return removed


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


class AtomicFile:
    """A file being written for ``dst``: it appears at ``dst`` only by :meth:`commit`.

    Write through :attr:`fd`, or let another library open :attr:`path` (FFmpeg,
    for instance). :meth:`abort` (or leaving a ``with`` block on an exception)
    throws the data away; so does the death of the process.

    Args:
        dst: the destination. Its folder must exist.
        overwrite: whether :meth:`commit` may replace an existing ``dst``. Without
            it, commit refuses when ``dst`` appeared meanwhile (another process
            finished first), so two writers never clobber each other.
        named: use a locked hidden partial file even where an unnamed one is possible.
    """

    def __init__(self, dst: str | os.PathLike[str], *, overwrite: bool = True, named: bool = False) -> None:
        self.dst = Path(dst)
        self.overwrite = overwrite
        self._done = False
        self._partial: Path | None = None
        remove_stale_partials(self.dst)
        try:
            self._dir_fd = os.open(self.dst.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise EncodeError(f"{self.dst}: cannot write in {self.dst.parent} ({e.strerror})") from None
        try:
            fd = None if named else self._open_unnamed()
            self.fd = fd if fd is not None else self._open_named()
        except BaseException:
            os.close(self._dir_fd)
            raise

    @property
    def unnamed(self) -> bool:
        """True when the data are in an unnamed (``O_TMPFILE``) file."""
        return self._partial is None

    @property
    def path(self) -> str:
        """A path that opens the file being written (``/proc/self/fd/N`` for an unnamed one)."""
        return f"/proc/self/fd/{self.fd}" if self._partial is None else os.fspath(self._partial)

    def _open_unnamed(self) -> int | None:
        if not _O_TMPFILE or not _LINK_WITH_DIR_FD or not os.path.isdir("/proc/self/fd"):
            return None
        try:
            fd = os.open(self.dst.parent, _O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)
        except OSError as e:
            if e.errno in _NO_TMPFILE:
                return None
            raise EncodeError(f"{self.dst}: cannot create a file in {self.dst.parent} ({e.strerror})") from None
        # Locked like a named partial, so that the name it gets for a moment in commit() is never taken for stale.
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _open_named(self) -> int:
        for _ in range(100):
            p = partial_name(self.dst)
            try:
                fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC, 0o666)
            except FileExistsError:
                continue
            except OSError as e:
                raise EncodeError(f"{self.dst}: cannot create a file in {self.dst.parent} ({e.strerror})") from None
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Another run's remove_stale_partials may have deleted the file between its creation and the lock.
            try:
                same = os.stat(p, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._partial = p
                return fd
            os.close(fd)
        raise EncodeError(f"{self.dst}: cannot create a temporary file in {self.dst.parent}")

    def commit(self, *, durable: bool = True) -> Path:
        """Give the finished file its name ``dst``; returns ``dst``.

        ``durable`` flushes the data and the folder entry to disk first, so that
        after a power loss ``dst`` is the old file or the new one, never empty.
        """
        if self._done:
            raise EncodeError(f"{self.dst}: file already committed or aborted")
        try:
            if durable:
                os.fsync(self.fd)
            self._keep_mode()
            if self._partial is None:
                self._link_unnamed()
            elif self.overwrite:
                os.replace(self._partial, self.dst)
            else:
                self._link_no_clobber(self._partial)
                os.unlink(self._partial)
            if durable:
                os.fsync(self._dir_fd)
        except FileExistsError:
            self.abort()
            raise OutputExistsError(f"{self.dst}: another run wrote this output first; pass --overwrite to replace it") from None
        except OSError as e:
            self.abort()
            raise EncodeError(f"{self.dst}: cannot move the finished file into place ({e.strerror})") from None
        self._close()
        return self.dst

    def _keep_mode(self) -> None:
        """A replaced file keeps its permissions (a new one has the umask's)."""
        try:
            mode = os.stat(self.dst).st_mode
        except OSError:
            return
        os.fchmod(self.fd, mode & 0o7777)

    def _link_unnamed(self) -> None:
        proc = f"/proc/self/fd/{self.fd}"
        if not self.overwrite:
            os.link(proc, self.dst.name, dst_dir_fd=self._dir_fd, follow_symlinks=True)
            return
        # linkat cannot replace a file, so the data get a hidden name first (still locked) and are renamed over dst.
        for _ in range(100):
            tmp = partial_name(self.dst)
            try:
                os.link(proc, tmp.name, dst_dir_fd=self._dir_fd, follow_symlinks=True)
            except FileExistsError:
                continue
            self._partial = tmp
            os.replace(tmp.name, self.dst.name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
            return
        raise OSError(errno.EEXIST, "no free temporary name")

    def _link_no_clobber(self, src: Path) -> None:
        os.link(src, self.dst, follow_symlinks=False)

    def abort(self) -> None:
        """Throw the data away; ``dst`` is left as it was."""
        if self._done:
            return
        if self._partial is not None:
            with contextlib.suppress(OSError):
                # Only the file this object holds: the name may already be dst's (replace done, fsync failed).
                if os.stat(self._partial, follow_symlinks=False).st_ino == os.fstat(self.fd).st_ino:
                    os.unlink(self._partial)
        self._close()

    def _close(self) -> None:
        self._done = True
        for fd in (self.fd, self._dir_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None and not self._done:
            self.commit()
        else:
            self.abort()

    def __repr__(self) -> str:
        kind = "unnamed" if self._partial is None else str(self._partial.name)
        return f"AtomicFile({str(self.dst)!r}, {kind}, done={self._done})"


@contextlib.contextmanager
def atomic_open(
    dst: str | os.PathLike[str], mode: str = "wb", *, overwrite: bool = True, durable: bool = True, encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Open a file object whose data appear at ``dst`` when the ``with`` block ends without an exception."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    af = AtomicFile(dst, overwrite=overwrite)
    try:
        # A duplicate fd: closing the file object must not close the one commit() links in.
        with os.fdopen(os.dup(af.fd), mode, encoding=encoding if mode == "w" else None) as f:
            yield f
        af.commit(durable=durable)
    except BaseException:
        af.abort()
        raise


def write_bytes(dst: str | os.PathLike[str], data: bytes, *, overwrite: bool = True, durable: bool = True) -> Path:
    """Write ``data`` to ``dst`` atomically; returns ``dst``."""
    with atomic_open(dst, "wb", overwrite=overwrite, durable=durable) as f:
        f.write(data)
    return Path(dst)


def write_text(dst: str | os.PathLike[str], text: str, *, overwrite: bool = True, durable: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``dst`` atomically; returns ``dst``."""
    return write_bytes(dst, text.encode("utf-8"), overwrite=overwrite, durable=durable)


# --------------------------------------------------------------------------- torch files


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to ``path`` atomically and durably (its folder is created): a crash leaves the previous file."""
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(p, "wb") as f:
        torch.save(obj, f)
    return p


def load_torch_file(path: str | os.PathLike[str], *, what: str = "checkpoint", fix: str = "re-download or re-export it") -> Any:
    """Read a file written by ``torch.save`` onto the CPU, with ``weights_only=True``.

    A pickle that carries code is refused before anything in it runs. Every
    failure is a :class:`~vsr.errors.CheckpointError` that names the file;
    ``what`` names the kind of file in the message for a truncated or unreadable
    one (``training checkpoint``) and ``fix`` says what to do about it (empty: nothing).
    Whether the file exists is the caller's to check first, with its own advice.
    """
    import torch

    p = Path(path)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols before refusing them; our error says what matters.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):
            raise CheckpointError(
                f"{p}: refused to load: the file contains Python objects other than tensors, which could run "
                "code when unpickled; vsr only reads plain state_dicts (re-save it with "
                "torch.save(model.state_dict(), ...) from a trusted environment)"
            ) from None
        raise CheckpointError(f"{p}: not a PyTorch checkpoint; expected a file written by torch.save") from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        advice = f"; {fix}" if fix else ""
        raise CheckpointError(f"{p}: unreadable or truncated {what} ({first}){advice}") from None


@contextlib.contextmanager
def destination_lock(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``.<name>.lock`` beside ``dst`` for a whole run, so that a second run for the same output refuses at once.

    The lock is an exclusive ``flock``, released by the kernel when its holder dies;
    the file carries the holder's pid for the message and is deleted on exit. A
    file left by a killed run is unlocked, so the next run takes it over.

    Raises:
        OutputExistsError: another live process holds the lock.
    """
    d = Path(dst)
    if not d.parent.is_dir():
        raise InvalidInputError(f"{d}: the folder {d.parent} does not exist")
    lock = d.with_name(f".{d.name}.lock")
    for _ in range(100):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise EncodeError(f"{d}: cannot create {lock.name} in {d.parent} ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise OutputExistsError(
                f"{d}: another vsr run{who} is writing this output right now; wait for it, or choose another output"
            ) from None
        # The holder before us may have deleted the file between our open and our lock: lock the current one.
        try:
            same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:
        raise EncodeError(f"{d}: cannot lock {lock}")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # still locked: nobody else can have taken it over
        os.close(fd)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_csv(
    dst: str | os.PathLike[str],
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    overwrite: bool = True,
    durable: bool = True,
) -> Path:
    """Write a CSV table (UTF-8, ``csv`` module defaults) to ``dst`` atomically; returns ``dst``.

    Cells are written as given, except floats (six decimals, ``inf`` as ``inf``)
    and None (an empty cell).
    """
    with atomic_open(dst, "w", overwrite=overwrite, durable=durable, encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([["" if v is None else (f"{v:.6f}" if isinstance(v, float) else v) for v in r] for r in rows])
    return Path(dst)
