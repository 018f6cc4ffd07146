"""Ctrl-C for long loops (training, fine-tuning): a request that cannot get lost.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be. If that is
inside a finalizer (an object's __del__ or a weakref callback, run by the garbage collector at any
moment), Python prints "Exception ignored in ..." and carries on: the Ctrl-C is gone and the run
goes on to its end. So the handler here also records the request, and the loops check the record
at their safe points (after each step, after each epoch's checkpoint).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def ctrl_c_requests() -> Iterator[Callable[[], bool]]:
    """While active, Ctrl-C raises KeyboardInterrupt as usual and is remembered; yields a function
    that says whether Ctrl-C was pressed. A SIGINT that was ignored when the run started (a job
    started in the background by a shell) stays ignored."""
    requests: list[int] = []

    def handler(signum, frame):
        requests.append(signum)
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        yield lambda: False
        return
    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(requests)
    finally:
        signal.signal(signal.SIGINT, previous)
