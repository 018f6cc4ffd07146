"""Ordered, bounded parallel map and read-ahead: the worker-pool building blocks of every source."""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None) -> Iterator[tuple[T, R]]:
    """Yield (item, fn(item)) in input order while `workers` threads compute ahead.

    At most `window` results are in flight or waiting, so memory stays bounded however many
    items there are. An exception raised by fn is re-raised here, at that item's turn. Threads
    fit because the heavy work (image decoding, resizing) releases the GIL.
    """
    workers = max(1, workers)
    window = max(workers, window or 2 * workers)
    pending: deque[tuple[T, Future[R]]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pettrack-worker")
    try:
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= window:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()
    finally:
        # On Ctrl-C or an early stop, drop queued work instead of finishing it.
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()


def read_ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """Yield what `items` yields while one thread runs it up to `depth` items ahead.

    For a source that can only be read in order (one decoder through a whole video): its
    decoding overlaps the caller's work, and memory stays bounded however long it is. An
    exception raised by `items` is re-raised here, after every item before it. Closing this
    generator (an early stop, Ctrl-C) stops the thread, which closes `items` itself.
    """
    ready: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, in order
            put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="pettrack-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
