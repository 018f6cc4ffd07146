"""The job manifest: what a batch job has done, so a rerun of the same command does only the rest.

One JSON object per line in `pettrack-job.jsonl` beside the outputs, appended (and flushed to disk)
as each input ends, never rewritten, so a job killed at any moment leaves every finished record.
A record names the input, what happened (`done`, `failed`, or `retry` when a worker died under
it), the attempt, the outputs with their SHA-256 and the frame count, or the error. An input is
complete when its last record is `done` and every output it lists still has that checksum: a
file changed or removed since is done again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST_NAME = "pettrack-job.jsonl"
DONE, FAILED, RETRY = "done", "failed", "retry"


@dataclass(frozen=True)
class InputRecord:
    input: str
    status: str  # DONE, FAILED or RETRY
    attempt: int = 1
    outputs: dict[str, str] = field(default_factory=dict)  # path -> sha256
    frames: int = 0
    error: str | None = None
    at: str = ""  # UTC time of the record, ISO 8601


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key(path: Path | str) -> str:
    return str(Path(path).resolve())


class Manifest:
    """The records of one job folder. Lines that are not records (a line cut by a crash) are
    skipped on reading: the inputs they named are simply done again."""

    def __init__(self, path: Path):
        self.path = path
        self.last: dict[str, InputRecord] = {}
        if path.is_file():
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    record = _parse(line)
                    if record is not None:
                        self.last[record.input] = record

    def complete(self, source: Path) -> bool:
        """True when the input's last record is `done` and its outputs are as that record left them."""
        record = self.last.get(_key(source))
        if record is None or record.status != DONE:
            return False
        for output, checksum in record.outputs.items():
            try:
                if sha256_of(Path(output)) != checksum:
                    return False
            except OSError:
                return False
        return True

    def record(self, source: Path, status: str, attempt: int, outputs: list[Path] = (), frames: int = 0,
               error: str | None = None) -> InputRecord:
        """Append a record, durably (flushed and fsynced before returning)."""
        record = InputRecord(_key(source), status, attempt, {_key(p): sha256_of(p) for p in outputs if p is not None},
                             frames, error, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.last[record.input] = record
        return record


def _parse(line: str) -> InputRecord | None:
    try:
        values = json.loads(line)
        record = InputRecord(**values)
    except (ValueError, TypeError):
        return None
    if not isinstance(record.input, str) or record.status not in (DONE, FAILED, RETRY) \
            or not isinstance(record.outputs, dict):
        return None
    return record
