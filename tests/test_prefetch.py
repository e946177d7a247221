"""The producer/consumer contract of vsr._core._prefetch: order, bounded queues, errors carried over, threads joined."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from vsr._core._prefetch import Prefetcher, Sink


def _vsr_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vsr-") and t.is_alive()]


def _wait(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    ev = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        ev.wait(0.01)
    return bool(predicate())


class Boom(Exception):
    pass


# --------------------------------------------------------------------------- Prefetcher
def test_prefetcher_keeps_order_and_ends() -> None:
    with Prefetcher(lambda: range(1000), maxsize=3, name="vsr-test") as items:
        assert list(items) == list(range(1000))
    assert not _vsr_threads()


def test_prefetcher_passes_none_items_through() -> None:
    # The end marker is private, so None is an ordinary item.
    with Prefetcher(lambda: [None, 0, None], maxsize=1, name="vsr-test") as items:
        assert list(items) == [None, 0, None]


def test_producer_exception_is_raised_in_consumer_after_earlier_items() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise Boom("decoder broke at item 3")

    got = []
    with pytest.raises(Boom, match="decoder broke at item 3"):
        with Prefetcher(produce, maxsize=1, name="vsr-test") as items:
            for x in items:
                got.append(x)
    assert got == [1, 2]
    assert not _vsr_threads()


def test_exception_in_produce_factory_is_raised() -> None:
    def produce() -> list[int]:
        raise Boom("cannot open")

    with pytest.raises(Boom, match="cannot open"):
        with Prefetcher(produce, name="vsr-test") as items:
            list(items)


def test_queue_is_bounded() -> None:
    produced = []

    def produce() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    p = Prefetcher(produce, maxsize=2, name="vsr-test").start()
    try:
        assert _wait(lambda: len(produced) >= 3)
        threading.Event().wait(0.2)
        # two items in the queue and one waiting in the producer's hand, no more
        assert len(produced) == 3
    finally:
        p.close()
    assert not _vsr_threads()


def test_consumer_stopping_early_stops_and_joins_an_endless_producer() -> None:
    closed = threading.Event()

    def produce() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()  # the producer's own cleanup ran (in its thread)

    with Prefetcher(produce, maxsize=2, name="vsr-test") as items:
        for x in items:
            if x == 5:
                break
    assert closed.is_set()
    assert not _vsr_threads()


def test_consumer_exception_stops_producer() -> None:
    def produce() -> Iterator[int]:
        while True:
            yield 1

    with pytest.raises(Boom):
        with Prefetcher(produce, maxsize=2, name="vsr-test") as items:
            for _ in items:
                raise Boom
    assert not _vsr_threads()


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        Prefetcher(lambda: [], maxsize=0)
    with pytest.raises(ValueError, match="maxsize"):
        Sink(lambda items: None, maxsize=0)


# --------------------------------------------------------------------------- Sink
def test_sink_consumes_in_order_and_returns_result() -> None:
    def consume(items: Iterator[int]) -> list[int]:
        return list(items)

    with Sink(consume, maxsize=2, name="vsr-test") as sink:
        for i in range(500):
            sink.put(i)
        assert sink.finish() == list(range(500))
    assert not _vsr_threads()


def test_sink_consumer_exception_is_raised_by_put_or_finish() -> None:
    def consume(items: Iterator[int]) -> None:
        for i in items:
            if i == 3:
                raise Boom("encoder broke at item 3")

    with pytest.raises(Boom, match="encoder broke at item 3"):
        with Sink(consume, maxsize=1, name="vsr-test") as sink:
            for i in range(10_000):
                sink.put(i)
            sink.finish()
    assert not _vsr_threads()


def test_sink_cancel_unwinds_the_consumer() -> None:
    cleaned = threading.Event()
    seen = []

    def consume(items: Iterator[int]) -> None:
        try:
            for i in items:
                seen.append(i)
        finally:
            cleaned.set()

    with pytest.raises(Boom):
        with Sink(consume, maxsize=2, name="vsr-test") as sink:
            sink.put(1)
            sink.put(2)
            raise Boom  # the caller fails: the consumer must not finish normally
    assert cleaned.is_set()
    assert not _vsr_threads()


def test_sink_put_after_consumer_returned_early_raises() -> None:
    def consume(items: Iterator[int]) -> int:
        return next(items)

    with Sink(consume, maxsize=1, name="vsr-test") as sink:
        sink.put(7)
        assert _wait(lambda: not _vsr_threads())
        with pytest.raises(RuntimeError, match="no longer accepting"):
            sink.put(8)
