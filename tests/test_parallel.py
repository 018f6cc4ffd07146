"""The worker-pool building blocks: read_ahead (one source read in order by a thread)."""

import threading
import time

import pytest

from pettrack.pipelines.parallel import read_ahead


def test_read_ahead_yields_everything_in_order_and_stays_within_its_depth():
    made = []

    def source():
        for i in range(50):
            made.append(i)
            yield i

    seen = []
    for item in read_ahead(source(), depth=4):
        time.sleep(0.002)  # a slow consumer: the thread may only run `depth` (+1 in hand) ahead
        assert len(made) - len(seen) <= 4 + 2
        seen.append(item)
    assert seen == list(range(50))


def test_an_error_in_the_source_comes_after_every_item_before_it():
    def source():
        yield 1
        yield 2
        raise ValueError("frame 2 is damaged")

    seen = []
    with pytest.raises(ValueError, match="frame 2 is damaged"):
        for item in read_ahead(source(), depth=8):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            for i in range(10_000):
                yield i
        finally:
            closed.set()

    before = threading.active_count()
    reader = read_ahead(source(), depth=2)
    assert next(reader) == 0
    reader.close()
    assert closed.is_set()
    assert threading.active_count() == before
