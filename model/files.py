"""The output policy: where pettrack may write, and atomic writes there.

`check_outputs` runs before any work: an output is never an input of the same run, never a
folder, FIFO or device, never the same file as another output, and its folder is writable.
Writes then go to a hidden temp file beside the target that is renamed over it when done, so
readers only ever see a complete file, or none. A partial result (Ctrl-C, a failed input) is still
renamed into place by callers that want to keep it; the rename is what makes it a valid file. An
output that is a symbolic link is written through: the file it points to is replaced, the link stays.

The outputs of one input (a video's CSV, annotated video, record, plot and exports) replace
earlier ones together or not at all: inside `with OutputGroup() as group:` every finished write
waits as its temp file, `group.commit()` renames them all, and leaving the block without it (a
full disk halfway) removes them, so the folder never mixes two runs.
"""

from __future__ import annotations

import contextlib
import os
import stat
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator


class OutputError(ValueError):
    """An output that must not or cannot be written, found before any work started."""


def undecodable_as_escapes(name: str) -> str:
    """A file name as UTF-8 text: the bytes of a name that are not UTF-8 (which Python keeps as
    surrogates) written as \\xNN, so the name can go into a UTF-8 file or onto a terminal."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def os_reason(exc: OSError) -> str:
    """An OS error in words, without errno numbers: 'No space left on device'."""
    return exc.strerror or str(exc)


def output_target(path: Path) -> Path:
    """The file a write to `path` creates or replaces: a symbolic link's target (the link stays)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def check_outputs(outputs: Iterable[Path | None], inputs: Iterable[Path] = ()) -> None:
    """Refuse, before any work, outputs that would overwrite an input of the run or each other, or
    that cannot be written: a folder, a FIFO or device, a path under a regular file, an unwritable
    folder. Missing folders are fine (they are created); raises OutputError naming the output."""
    input_ids = {i for i in map(_file_id, inputs) if i is not None}
    seen: dict[tuple[int, int] | Path, Path] = {}
    for given in (Path(o) for o in outputs if o is not None):
        target = output_target(given)
        try:
            info = os.stat(target)
        except OSError:
            info = None  # not there yet
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise OutputError(f"{given}: is a folder; give a file name")
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise OutputError(f"{given}: not a regular file (a FIFO, socket or device); refusing to write to it")
        identity = (info.st_dev, info.st_ino) if info is not None else None
        if identity is not None and identity in input_ids:
            raise OutputError(f"{given}: is an input of this run; refusing to overwrite it")
        key = identity or target.resolve()
        if key in seen:
            raise OutputError(f"{given}: the same file as another output of this run ({seen[key]})")
        seen[key] = given
        folder = target.resolve().parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir():
            raise OutputError(f"{given}: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"{given}: the folder {folder} is not writable")


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


def final_path(path: Path | str) -> Path:
    """The output a temp path stands for (the inverse of partial_path), for messages."""
    path = Path(path)
    name = path.name
    if name.startswith(".") and f".partial{path.suffix}" in name:
        return path.with_name(name[1:].rsplit(".partial", 1)[0])
    return path


@contextlib.contextmanager
def atomic_path(path: Path, keep_on_error: bool = False, keep: Callable[[], bool] = lambda: True) -> Iterator[Path]:
    """A temp path beside `path` for a writer of any kind; it becomes `path` when the block ends,
    if keep() says there is something worth keeping (otherwise an earlier file at `path` stays).

    keep_on_error: on an exception (KeyboardInterrupt included, an OSError excluded) still move
    what was written into place, so partial results survive; otherwise the temp file is removed
    and `path` is untouched.
    """
    path = output_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
    except BaseException as exc:
        # A failed write (a full disk) may have left half a row: only an interruption or a
        # failed input keeps what was written, never an I/O error.
        kept = keep_on_error and not isinstance(exc, OSError) and tmp.exists() and keep()
        commit(tmp, path, kept)
        raise
    commit(tmp, path, keep())


def commit(tmp: Path, path: Path, keep: bool) -> None:
    """End a write through a temp file: rename it over `path`, or remove it (path untouched).
    Inside an OutputGroup a kept file waits for the group's commit."""
    group = _GROUP.get()
    if keep and group is not None:
        group.stage(Path(tmp), Path(path))
    elif keep:
        os.replace(tmp, path)
    else:
        Path(tmp).unlink(missing_ok=True)


class OutputGroup:
    """Outputs that replace earlier files together (see the module docstring). The group applies
    to the writes made in this thread (and its context) while the `with` block runs."""

    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}  # output -> its finished temp file
        self._token = None

    def __enter__(self) -> "OutputGroup":
        self._token = _GROUP.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _GROUP.reset(self._token)
        self.discard()

    def stage(self, tmp: Path, path: Path) -> None:
        self._staged[path] = tmp

    def readable(self, path: Path) -> Path:
        """Where the new content of `path` is now: its finished temp file, else `path` itself."""
        return self._staged.get(Path(path), Path(path))

    def commit(self) -> list[Path]:
        """Move every finished output into place; returns them."""
        done = []
        for path, tmp in list(self._staged.items()):
            os.replace(tmp, path)
            del self._staged[path]
            done.append(path)
        return done

    def discard(self) -> None:
        """Remove the outputs not committed; the files at their paths stay as they were."""
        for tmp in self._staged.values():
            tmp.unlink(missing_ok=True)
        self._staged.clear()


_GROUP: ContextVar[OutputGroup | None] = ContextVar("pettrack_output_group", default=None)


@contextlib.contextmanager
def atomic_text(path: Path, keep_on_error: bool = False, keep: Callable[[], bool] = lambda: True) -> Iterator[IO[str]]:
    """A text file for writing that appears at `path` only when closed (see atomic_path)."""
    with atomic_path(path, keep_on_error, keep) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        yield handle


def atomic_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
