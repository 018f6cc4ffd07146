"""Where results go: CSV files (atomic, flushed as rows come) or standard output."""

from __future__ import annotations

import contextlib
import csv
import sys
from pathlib import Path
from typing import IO, Iterator, Sequence

from pettrack.model.files import OutputError, atomic_text


class CsvSink:
    """Rows to a CSV writer; `flush()` makes the rows so far durable in the (temp) file."""

    def __init__(self, handle, columns: Sequence[str], header: bool = True):
        self._handle = handle
        self._writer = csv.writer(handle, lineterminator="\n")
        if header:
            self._writer.writerow(columns)
        self.rows = 0

    def write(self, row: Sequence[object]) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def flush(self) -> None:
        self._handle.flush()


def check_appendable(path: Path, columns: Sequence[str]) -> None:
    """Appending is only for a CSV of the same columns: refuse any other file before any work."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb") as handle:
        first = handle.readline(4096).decode("utf-8", "replace").strip()
    if first != ",".join(columns):
        raise OutputError(f"{path}: exists and is not a pettrack track CSV (its first line is not "
                          f"{','.join(columns)}); refusing to append to it")


def append_csv(path: Path, columns: Sequence[str]) -> tuple[IO[str], CsvSink]:
    """A CSV opened for appending (live mode); the header only goes into a new or empty file.
    Call check_appendable first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a", newline="", encoding="utf-8")
    return handle, CsvSink(handle, columns, header=handle.tell() == 0)


@contextlib.contextmanager
def open_csv(path: Path | None, columns: Sequence[str]) -> Iterator[CsvSink]:
    """CSV to `path` (atomically; on Ctrl-C or an error the rows so far are kept as a valid
    file; a file without rows is never written) or, with path None, to standard output."""
    if path is None:
        sink = CsvSink(sys.stdout, columns)
        yield sink
        sink.flush()
        return
    sinks: list[CsvSink] = []
    # Only a file with rows replaces what is at `path`: an empty or failed rerun leaves the
    # earlier results as they were.
    with atomic_text(path, keep_on_error=True, keep=lambda: bool(sinks and sinks[0].rows)) as handle:
        sinks.append(CsvSink(handle, columns))
        yield sinks[0]
