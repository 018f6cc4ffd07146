"""Atomic file writes: readers only ever see a complete file, or none.

Content goes to a hidden temp file beside the target and is renamed over it when done. A partial
result (Ctrl-C, a failed input) is still renamed into place by callers that want to keep it; the
rename is what makes it a valid file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Callable, Iterator


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name one file (links and relative paths resolved; also for a file
    that does not exist yet)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def partial_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path, keep_on_error: bool = False, keep: Callable[[], bool] = lambda: True) -> Iterator[Path]:
    """A temp path beside `path` for a writer of any kind; it becomes `path` when the block ends,
    if keep() says there is something worth keeping (otherwise an earlier file at `path` stays).

    keep_on_error: on an exception (KeyboardInterrupt included) still move what was written into
    place, so partial results survive; otherwise the temp file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
    except BaseException:
        commit(tmp, path, keep_on_error and tmp.exists() and keep())
        raise
    commit(tmp, path, keep())


def commit(tmp: Path, path: Path, keep: bool) -> None:
    """End a write through a temp file: rename it over `path`, or remove it (path untouched)."""
    if keep:
        os.replace(tmp, path)
    else:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_text(path: Path, keep_on_error: bool = False, keep: Callable[[], bool] = lambda: True) -> Iterator[IO[str]]:
    """A text file for writing that appears at `path` only when closed (see atomic_path)."""
    with atomic_path(path, keep_on_error, keep) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        yield handle


def atomic_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
