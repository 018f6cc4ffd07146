"""Atomic file writes: readers only ever see a complete file, or none.

Content goes to a hidden temp file beside the target and is renamed over it when done. A partial
result (Ctrl-C, a failed input) is still renamed into place by callers that want to keep it; the
rename is what makes it a valid file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Iterator


def partial_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_text(path: Path, keep_on_error: bool = False) -> Iterator[IO[str]]:
    """Open a text file for writing that appears at `path` only when closed.

    keep_on_error: on an exception (KeyboardInterrupt included) still move what was written into
    place, so partial results survive; otherwise the temp file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    handle = open(tmp, "w", newline="", encoding="utf-8")
    try:
        yield handle
    except BaseException:
        handle.close()
        if keep_on_error:
            os.replace(tmp, path)
        else:
            tmp.unlink(missing_ok=True)
        raise
    handle.close()
    os.replace(tmp, path)


def atomic_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)
