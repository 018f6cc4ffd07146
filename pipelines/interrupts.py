"""Ctrl-C: a request that cannot get lost.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be. If that is
inside a finalizer (an object's __del__ or a weakref callback, run by the garbage collector at any
moment, or importlib's module-lock callback while a command imports its libraries), Python prints
"Exception ignored in ..." and carries on: the Ctrl-C is gone and the run goes on to its end. So
the handler here also records the request, and the loops check the record at their safe points:
the runner after each frame (`pressed`), training after each step and each epoch's checkpoint.
The command line keeps a handler installed for its whole run (pipelines/entry.py).
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
    _ACTIVE.append(requests)
    try:
        yield lambda: bool(requests)
    finally:
        _ACTIVE.remove(requests)
        signal.signal(signal.SIGINT, previous)


# The requests of every ctrl_c_requests() now active (nested: the command line's, training's).
_ACTIVE: list[list[int]] = []


def pressed() -> bool:
    """Whether Ctrl-C was pressed while a ctrl_c_requests() is active, even if its
    KeyboardInterrupt was swallowed."""
    return any(_ACTIVE)
