"""Ordered, bounded parallel map: the worker-pool building block of every source."""

from __future__ import annotations

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
