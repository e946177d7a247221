"""One job in several processes under ``torchrun``: environment, process group, shared counters, progress.

``torchrun --nproc-per-node N -m vsr upscale ...`` (or a multi-node rendezvous)
starts N copies of the command and describes each in ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. A plain
run has none of them: world size 1, no process group, the same code path.

Ranks that upscale exchange no tensors, only small messages: the plan (broadcast
from rank 0), who takes which piece of work (an atomic counter in the
rendezvous key-value store), frames done (counters in the store, read by rank 0
for the progress bar), and success or failure at the end. The process group is
therefore gloo on every device: NCCL would carry nothing here, and it refuses two
ranks on one GPU, which ``cuda:<local rank modulo the GPU count>`` allows.
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

import torch
import torch.distributed as dist

from vsr.errors import RankFailedError, UnsupportedError

__all__ = [
    "DistEnv",
    "Group",
    "Progress",
    "Terminated",
    "dist_env",
    "rank_device",
    "sigterm_as_interrupt",
]

#: How long a collective may wait. Ranks wait for the slowest one's last piece of work and for rank 0's
#: final step, which can take long; a rank that dies is noticed at once by the transport, not by this.
_TIMEOUT = datetime.timedelta(hours=12)
#: How long a rank waits to reach the rendezvous store; torchrun starts the ranks together.
_CONNECT_TIMEOUT = datetime.timedelta(minutes=5)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (torchrun stops the other ranks this way when one fails)."""


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun job: ``rank`` of ``world_size``, ``local_rank`` of ``local_world_size`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        """True with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that plans, reports progress and writes the result."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise UnsupportedError(f"environment variable {name}={value!r} must be an integer; launch with torchrun --nproc-per-node N") from None


def dist_env() -> DistEnv:
    """This process's place in the job, from torchrun's environment variables (defaults: a single process)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    if world < 1 or not 0 <= rank < world or not 0 <= local < max(local_world, 1):
        raise UnsupportedError(
            f"invalid torchrun environment: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}, LOCAL_WORLD_SIZE={local_world}; "
            "launch with torchrun --nproc-per-node N"
        )
    return DistEnv(rank=rank, world_size=world, local_rank=local, local_world_size=local_world)


def rank_device(device: str | torch.device | None, env: DistEnv) -> str | torch.device | None:
    """The device this rank uses: with several ranks, ``auto``/``cuda`` becomes ``cuda:<local rank modulo the GPU count>``.

    An explicit ``cuda:N``, ``cpu`` or ``mps`` is kept.
    """
    if not env.distributed:
        return device
    name = str(device) if device is not None else "auto"
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{env.local_rank % torch.cuda.device_count()}"
    return device


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` (a ``KeyboardInterrupt``) inside the block, so cleanup runs.

    torchrun stops the surviving ranks with SIGTERM when one fails; Python's
    default would end the process without deleting its partial files. Only the
    main thread can install handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _reason(e: BaseException) -> str:
    """The gist of a c10d/gloo error: its first sentence, without the C++ source location."""
    lines = str(e).strip().splitlines()
    text = re.sub(r"^\[[^\]]*\]\s*", "", lines[0]) if lines else ""
    return text.split(". ")[0][:200] or type(e).__name__


class _LocalStore:
    """The part of :class:`torch.distributed.Store` a one-process :class:`Group` needs, without torch.distributed."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def add(self, key: str, n: int) -> int:
        with self._lock:
            value = int(self._data.get(key, b"0")) + n
            self._data[key] = str(value).encode()
            return value

    def set(self, key: str, value: str | bytes) -> None:
        with self._lock:
            self._data[key] = value.encode() if isinstance(value, str) else bytes(value)

    def check(self, keys: list[str]) -> bool:
        with self._lock:
            return all(k in self._data for k in keys)

    def get(self, key: str) -> bytes:
        with self._lock:
            return self._data[key]


class Group:
    """The processes of one job: a shared key-value store and the few collectives a job needs.

    With one process (``env.world_size == 1``) there is no process group: the
    store is in-process and the collectives return at once, so callers need no
    second code path. With several, entering joins the process group torchrun
    describes (gloo; see the module notes) and leaving tears it down.

    Example::

        with Group(dist_env()) as group:
            plan = group.broadcast(make_plan() if group.env.is_main else None)
            while (i := group.next_index("work")) < len(plan):
                ...
    """

    def __init__(self, env: DistEnv) -> None:
        self.env = env
        self.store: Any = _LocalStore()
        self._owns_group = False

    def __enter__(self) -> Group:
        if not self.env.distributed:
            return self
        if not dist.is_available():
            raise UnsupportedError("this PyTorch build has no torch.distributed; run without torchrun (one process)")
        if dist.is_initialized():
            raise UnsupportedError(
                "a torch.distributed process group already exists in this process; vsr starts its own under torchrun, "
                "so call it before init_process_group (or run it as `torchrun ... -m vsr upscale`)"
            )
        if os.environ.get("MASTER_PORT") == "0":
            raise UnsupportedError(
                "MASTER_PORT=0: torchrun does not pass the port it picks for --master-port 0 on to the processes; "
                "use torchrun --standalone (one machine) or --rdzv-backend c10d --rdzv-endpoint HOST:PORT"
            )
        try:
            store, _, _ = next(dist.rendezvous("env://", self.env.rank, self.env.world_size, timeout=_CONNECT_TIMEOUT))
            dist.init_process_group("gloo", store=store, rank=self.env.rank, world_size=self.env.world_size, timeout=_TIMEOUT)
        except (RuntimeError, ValueError) as e:
            raise RankFailedError(f"cannot join the torchrun job as rank {self.env.rank} of {self.env.world_size} ({_reason(e)})") from None
        self._owns_group = True
        try:
            # The rendezvous store outlives the job under torchrun (and restarts of it): keep this job's keys apart.
            token = self.broadcast(secrets.token_hex(8) if self.env.is_main else None)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.store = dist.PrefixStore(f"vsr/{token}/", store)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._owns_group and dist.is_initialized():
            self._owns_group = False
            dist.destroy_process_group()

    # ------------------------------------------------------------------ collectives
    def _collective(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except RuntimeError as e:
            raise RankFailedError(f"lost contact with another rank during {what} ({_reason(e)}); it crashed or was killed") from None

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (picklable objects)."""
        if not self.env.distributed:
            return obj
        box = [obj]
        self._collective("broadcast", lambda: dist.broadcast_object_list(box, src=0))
        return box[0]

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        if not self.env.distributed:
            return [obj]
        out: list[Any] = [None] * self.env.world_size
        self._collective("all_gather", lambda: dist.all_gather_object(out, obj))
        return out

    def wait_all(self, poll: Callable[[], None] | None = None, interval: float = 0.5) -> None:
        """Wait until every rank gets here, calling ``poll`` every ``interval`` seconds meanwhile (e.g. to show progress)."""
        if not self.env.distributed:
            return
        work = self._collective("barrier", lambda: dist.barrier(async_op=True))
        while not work.is_completed():
            if poll is not None:
                poll()
            time.sleep(interval)
        self._collective("barrier", work.wait)

    # ------------------------------------------------------------------ store
    def next_index(self, name: str) -> int:
        """0, 1, 2, ... across all ranks: each call on any rank gets the next number of counter ``name``."""
        return int(self.store.add(name, 1)) - 1

    def add(self, name: str, n: int) -> int:
        """Add ``n`` to counter ``name`` (shared by all ranks) and return the new total."""
        return int(self.store.add(name, n))

    def set_flag(self, name: str, value: str) -> None:
        """Set ``name`` to ``value`` for every rank to see."""
        self.store.set(name, value)

    def flag(self, name: str) -> str | None:
        """The value of ``name`` if some rank set it, else ``None`` (does not wait)."""
        if not self.store.check([name]):
            return None
        return bytes(self.store.get(name)).decode("utf-8", "replace")


class Progress:
    """Frames done on every rank of a :class:`Group`; rank 0 shows the total, the aggregate fps and the ETA.

    Args:
        group: the job's group.
        total: frames of the whole job.
        done: frames already done before this run (e.g. reused segments).
        desc: the bar's label.
        show: draw a tqdm bar on rank 0, or a callable receiving this rank's
            frame count after each batch (any rank).
        interval: seconds between pushes of this rank's count to the store.

    :meth:`add` may be called from any thread (the encoder's); :meth:`publish`
    only from the thread that owns the group (the store client is not shared).
    """

    def __init__(
        self,
        group: Group,
        *,
        total: int,
        done: int = 0,
        desc: str = "",
        show: bool | Callable[[int], None] = True,
        interval: float = 0.5,
    ) -> None:
        self.group = group
        self.total = total
        self.interval = interval
        self._callback = show if callable(show) else None
        self._lock = threading.Lock()
        self._local = 0
        self._pushed = 0
        self._shown = done
        self._last = 0.0
        self._bar: Any = None
        if show is True and group.env.is_main:
            from tqdm import tqdm

            procs = f" ({group.env.world_size} processes)" if group.env.distributed else ""
            self._bar = tqdm(total=total, initial=done, unit="frame", desc=f"{desc}{procs}", dynamic_ncols=True)
        self._base = done

    def add(self, n: int) -> None:
        """Count ``n`` more frames done by this rank."""
        with self._lock:
            self._local += n
        if self._callback is not None:
            self._callback(n)

    def publish(self, force: bool = False) -> None:
        """Push this rank's new frames to the store and, on rank 0, redraw the bar (at most every ``interval`` s)."""
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        with self._lock:
            delta, self._pushed = self._local - self._pushed, self._local
        total = self.group.add("frames_done", delta)
        if self._bar is not None:
            done = self._base + total
            if done > self._shown:
                self._bar.update(done - self._shown)
                self._shown = done

    def close(self) -> None:
        """Push the last count and close the bar (best effort: the store may be gone after a failure)."""
        try:
            self.publish(force=True)
        except RuntimeError:
            pass
        if self._bar is not None:
            self._bar.close()
            self._bar = None
