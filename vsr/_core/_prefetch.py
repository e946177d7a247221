"""The one module with threads: bounded hand-over queues between pipeline stages.

:class:`Prefetcher` runs a producer (e.g. the video decoder) in a background
thread; :class:`Sink` runs a consumer (e.g. the encoder) in a background thread.
The contract, for both:

* the queue is bounded, so a fast stage waits for a slow one instead of filling memory;
* the end of the stream is a private sentinel, never ``None``;
* an exception in the background thread is re-raised in the calling thread;
* :meth:`close` (also on leaving the ``with`` block, e.g. after an exception or
  Ctrl-C in the caller) stops the background thread and joins it;
* items keep their order.

Blocking calls wait in short slices so that a stop request, a failed partner
thread or Ctrl-C is noticed within a fraction of a second.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = ["Prefetcher", "Sink"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()
_POLL_S = 0.1
#: How long close() waits for a background thread stuck in native code before giving up on it.
_JOIN_TIMEOUT_S = 60.0


class _Failure:
    """An exception raised in the background thread, carried to the caller."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Cancelled(Exception):
    """Raised inside a :class:`Sink` consumer when the caller cancels it."""


def _join(thread: threading.Thread | None, timeout: float) -> None:
    if thread is None or thread is threading.current_thread():
        return
    thread.join(timeout)
    if thread.is_alive():
        log.warning("thread %s did not stop within %.0f s (blocked in native code); leaving it as a daemon", thread.name, timeout)


class Prefetcher(Generic[T]):
    """Produce items in a background thread; iterate over them in the calling thread.

    Args:
        produce: called in the background thread; returns the iterable to drain.
        maxsize: items produced ahead of the consumer (at least 1).
        name: the thread's name.

    Example::

        with Prefetcher(lambda: VideoReader(path), maxsize=2) as batches:
            for batch in batches:
                ...
    """

    def __init__(self, produce: Callable[[], Iterable[T]], *, maxsize: int = 2, name: str = "vsr-prefetch") -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._produce = produce
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name = name
        self._finished = False

    def start(self) -> Prefetcher[T]:
        """Start the producer thread (done by ``with`` and by the first iteration)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        return self

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        it: Iterator[T] | None = None
        try:
            it = iter(self._produce())
            for item in it:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as e:  # noqa: BLE001 - everything goes to the consumer
            self._put(_Failure(e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - the producer's own error, if any, is already queued
                    log.debug("closing the producer of %s failed", self._name, exc_info=True)

    def __iter__(self) -> Iterator[T]:
        self.start()
        while not self._finished:
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive() and self._queue.empty():
                    self._finished = True
                    raise RuntimeError(f"{self._name} stopped without finishing (it was closed)") from None
                continue
            if item is _DONE:
                self._finished = True
                return
            if isinstance(item, _Failure):
                self._finished = True
                raise item.exc
            yield item

    def close(self, timeout: float = _JOIN_TIMEOUT_S) -> None:
        """Stop the producer and wait for its thread to end."""
        self._stop.set()
        self._drain()
        _join(self._thread, timeout)
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def __enter__(self) -> Prefetcher[T]:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Sink(Generic[T, R]):
    """Consume items in a background thread; put them from the calling thread.

    ``consume`` receives an iterator over the items put and runs in the background
    thread; its return value is returned by :meth:`finish`. If the caller cancels
    (:meth:`close` before :meth:`finish`), the iterator raises inside ``consume`` so
    that its ``with`` blocks clean up.

    Example::

        def encode(batches):
            with VideoWriter(...) as w:
                for b in batches:
                    w.write(b.frames, b.pts)
            return w.frames_written

        with Sink(encode, maxsize=2) as sink:
            for b in upscaled:
                sink.put(b)
            n = sink.finish()
    """

    def __init__(self, consume: Callable[[Iterator[T]], R], *, maxsize: int = 2, name: str = "vsr-sink") -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._consume = consume
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name = name
        self._error: BaseException | None = None
        self._result: Any = None
        self._done = False

    def start(self) -> Sink[T, R]:
        """Start the consumer thread (done by ``with`` and by the first :meth:`put`)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        return self

    def _items(self) -> Iterator[T]:
        while True:
            if self._stop.is_set():
                raise _Cancelled
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            yield item

    def _run(self) -> None:
        try:
            self._result = self._consume(self._items())
        except _Cancelled:
            pass
        except BaseException as e:  # noqa: BLE001 - everything goes to the caller
            self._error = e
            self._stop.set()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            self._done = True
            raise err

    def put(self, item: T) -> None:
        """Hand an item to the consumer; waits while the queue is full.

        Raises the consumer's exception if it has failed.
        """
        self.start()
        while True:
            self._raise_if_failed()
            if self._done or self._stop.is_set() or (self._thread is not None and not self._thread.is_alive()):
                raise RuntimeError(f"{self._name} is no longer accepting items")
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def finish(self) -> R:
        """Signal the end of the items, wait for the consumer, and return its result.

        Raises the consumer's exception if it failed.
        """
        self.start()
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(_DONE, timeout=_POLL_S)
                break
            except queue.Full:
                if self._thread is not None and not self._thread.is_alive():
                    break
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(_POLL_S)
        self._done = True
        self._raise_if_failed()
        return self._result  # type: ignore[no-any-return]

    def close(self, timeout: float = _JOIN_TIMEOUT_S) -> None:
        """Cancel the consumer (unless :meth:`finish` completed) and wait for its thread to end."""
        if not self._done:
            self._stop.set()
        _join(self._thread, timeout)
        self._done = True

    def __enter__(self) -> Sink[T, R]:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
