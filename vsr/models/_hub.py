"""Download-on-first-use cache for published weights (the torch hub convention).

A file is fetched once into the cache folder through vsr's atomic writer
(:func:`vsr._core._files.atomic_open`: an unnamed file, or a locked hidden partial),
its SHA-256 is checked against the hash prefix in its name
(``name-<8 hex>.pt``), and only then does it appear under that name, so the
cache never holds a partial or corrupt file, even after the process is killed.
A lock file serialises processes fetching the same file: one downloads, the
others wait and reuse its result.

Cache folder: ``$VSR_HOME/checkpoints`` when ``VSR_HOME`` is set, else torch
hub's ``$TORCH_HOME/hub/checkpoints``. ``VSR_OFFLINE=1`` (or ``offline=True``)
forbids any network access. Only the standard library talks to the network.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vsr._core import atomic_open, sha256_file
from vsr.errors import DownloadError, EncodeError

__all__ = ["cache_dir", "cached_path", "download", "hash_prefix", "is_offline", "OFFLINE_ENV", "HOME_ENV"]

log = logging.getLogger(__name__)

#: Environment variable that forbids network access when set to a non-empty value other than 0.
OFFLINE_ENV = "VSR_OFFLINE"
#: Environment variable naming vsr's own cache root (its ``checkpoints/`` folder holds the weights).
HOME_ENV = "VSR_HOME"

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")
_CHUNK = 1 << 16
#: Seconds without a byte from the server before a download is abandoned.
DEFAULT_TIMEOUT = 30.0


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` when given, else whether ``VSR_OFFLINE`` is set (to anything but ``0``)."""
    if offline is not None:
        return offline
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def cache_dir() -> Path:
    """The folder holding downloaded weights: ``$VSR_HOME/checkpoints`` or torch hub's ``checkpoints``."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "checkpoints"
    if "torch" in sys.modules:  # honours torch.hub.set_dir() in a program that imported torch
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints"
    # torch.hub's default, worked out without importing torch (`vsr models` stays light).
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def hash_prefix(filename: str) -> str:
    """The SHA-256 prefix in a torch-hub style file name (``edsr_x2-0edfb8a3.pt`` -> ``0edfb8a3``)."""
    m = _HASH_IN_NAME.search(filename)
    if m is None:
        raise ValueError(f"{filename!r} has no '-<hex hash>.' part; torch hub names look like name-0123abcd.pt")
    return m.group(1)


def cached_path(filename: str) -> Path:
    """Where ``filename`` lives in the cache (whether or not it is there)."""
    return cache_dir() / filename


def _by_hand(url: str, dst: Path) -> str:
    """The fix for when fetching fails: where the file comes from and where it must go."""
    return f"download {url} by hand (browser, curl -fLo, wget) and save it as {dst}"


def _it_by_hand(dst: Path) -> str:
    """The same, for messages that already name the URL."""
    return f"download it by hand and save it as {dst}"


def download(
    url: str,
    dst: str | os.PathLike[str],
    *,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    offline: bool | None = None,
) -> Path:
    """Return ``dst``, downloading ``url`` into it first when it is not there yet.

    ``dst``'s name must carry the SHA-256 prefix of the file (torch hub
    convention); the download is checked against it before it appears at
    ``dst``. Concurrent callers for the same ``dst`` (threads or processes) wait
    for each other; exactly one downloads.

    Raises:
        DownloadError: offline, no network, DNS failure, HTTP error, timeout,
            truncated body, wrong hash, or a full disk. The message is one line
            naming the URL and where to put the file by hand.
    """
    dst = Path(dst)
    if dst.is_file():
        return _checked(dst, url)
    if is_offline(offline):
        raise DownloadError(
            f"{dst.name} is not in the cache {dst.parent} and offline mode (--offline or {OFFLINE_ENV}=1) forbids "
            f"downloading it; {_by_hand(url, dst)}"
        )
    expected = hash_prefix(dst.name)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create the cache folder {dst.parent} ({e.strerror or e}) for {url}; "
                            f"set {HOME_ENV} to a writable folder or {_by_hand(url, dst)}") from None
    with _locked(dst, url):
        if dst.is_file():  # another process finished it while we waited
            return dst
        _fetch_verified(url, dst, expected, progress=progress, timeout=timeout)
    return dst


def _checked(path: Path, url: str) -> Path:
    """``path`` if its SHA-256 matches its name (a file placed by hand may not)."""
    digest = sha256_file(path)
    if not digest.startswith(hash_prefix(path.name)):
        raise DownloadError(
            f"{path}: SHA-256 {digest[:12]}... does not match the {hash_prefix(path.name)} in its name (corrupt or a "
            f"different file); delete it to download it again, or {_by_hand(url, path)}"
        )
    return path


def _fetch_verified(url: str, dst: Path, expected: str, *, progress: bool, timeout: float) -> None:
    fix = _it_by_hand(dst)
    try:
        # The file appears at dst only when this block ends without an error, so after both checks.
        with atomic_open(dst, "wb") as f:
            digest, got, total = _stream(url, f, timeout=timeout, progress=progress, label=dst.name)
            if total is not None and got < total:
                raise DownloadError(f"download of {url} was cut short ({got} of {total} bytes); try again, or {fix}")
            if not digest.startswith(expected):
                raise DownloadError(
                    f"{url} does not match its name: SHA-256 {digest[:12]}..., expected {expected}... "
                    f"(the download was deleted); try again, or {fix}"
                )
    except DownloadError:
        raise
    except EncodeError as e:  # the atomic writer could not create the file or link it in
        raise DownloadError(f"{e} while fetching {url}; {fix}") from None
    except urllib.error.HTTPError as e:
        raise DownloadError(f"HTTP error {e.code} {e.reason} fetching {url}; {fix}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"{_network_reason(e.reason)} fetching {url}; check the connection or proxy, or {fix}") from None
    except (TimeoutError, socket.timeout):
        raise DownloadError(f"timed out after {timeout:g} s without data from the server fetching {url}; try again, or {fix}") from None
    except http.client.HTTPException as e:
        raise DownloadError(f"broken HTTP response ({type(e).__name__}) fetching {url}; try again, or {fix}") from None
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DownloadError(f"disk full writing {dst.parent} while fetching {url}; free space, set {HOME_ENV} to "
                                f"another disk, or {fix}") from None
        if e.errno == errno.ECONNRESET or isinstance(e, ConnectionError):
            raise DownloadError(f"connection lost fetching {url}; try again, or {fix}") from None
        raise DownloadError(f"cannot write in {dst.parent} ({e.strerror or e}) while fetching {url}; {fix}") from None


def _network_reason(reason: object) -> str:
    if isinstance(reason, socket.gaierror):
        return "cannot resolve the host name (no network or DNS failure)"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out connecting"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "no network (host unreachable)"
    return f"network error ({reason})"


def _stream(url: str, f: object, *, timeout: float, progress: bool, label: str) -> tuple[str, int, int | None]:
    """Copy ``url`` into the open file ``f``; return (hex SHA-256, bytes received, announced length)."""
    h = hashlib.sha256()
    got = 0
    req = urllib.request.Request(url, headers={"User-Agent": "vsr"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = _bar(total, label) if progress else None
        try:
            # read() returns b"" at an early EOF instead of raising, so the byte count is checked by the caller.
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                h.update(chunk)
                f.write(chunk)  # type: ignore[attr-defined]
                got += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            # Synced here, so that a full disk is reported as such (ENOSPC) rather than as a failed commit.
            f.flush()  # type: ignore[attr-defined]
            os.fsync(f.fileno())  # type: ignore[attr-defined]
        finally:
            if bar is not None:
                bar.close()
    return h.hexdigest(), got, total


def _bar(total: int | None, label: str) -> object:
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr, dynamic_ncols=True)


@contextmanager
def _locked(dst: Path, url: str) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` beside ``dst`` (blocking; released if the process dies)."""
    lock_path = dst.with_name(f".{dst.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise DownloadError(f"cannot create the lock file {lock_path} ({e.strerror or e}) for {url}; "
                            f"set {HOME_ENV} to a writable folder or {_by_hand(url, dst)}") from None
    lock, unlock = _lock_functions()
    try:
        if not lock(fd, False):
            log.warning("%s: another process is downloading it; waiting for it to finish", dst.name)
            lock(fd, True)
        try:
            yield
        finally:
            unlock(fd)
    finally:
        os.close(fd)


def _lock_functions() -> tuple[Callable[[int, bool], bool], Callable[[int], None]]:
    """(lock(fd, blocking) -> acquired, unlock(fd)) for this platform."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        def lock_win(fd: int, blocking: bool) -> bool:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
                return True
            except OSError:
                if blocking:
                    raise
                return False

        return lock_win, lambda fd: msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]

    def lock_posix(fd: int, blocking: bool) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            return True
        except BlockingIOError:
            return False

    return lock_posix, lambda fd: fcntl.flock(fd, fcntl.LOCK_UN)
