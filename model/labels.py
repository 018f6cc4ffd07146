"""Label files in the ELEC 475 pet-noses format: one line per image, `name.jpg,"(x, y)"`.

x and y are in that image's pixels, integers or decimals. LF or CRLF line ends, blank lines and a
UTF-8 byte-order mark are accepted. A bad line (not UTF-8, not in the format, a name that is not a
relative path inside the image folder) never stops the file: it is reported with its line number
and skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LINE = re.compile(
    rf"""^\s*(?P<name>"[^"]+"|[^,"]+?)\s*,\s*"?\(\s*(?P<x>{_NUMBER})\s*,\s*(?P<y>{_NUMBER})\s*\)"?\s*$"""
)


@dataclass(frozen=True)
class Label:
    name: str
    x: float
    y: float
    line: int  # 1-based line number in the label file


@dataclass(frozen=True)
class LabelProblem:
    line: int
    text: str
    reason: str

    @property
    def shown(self) -> str:
        """The line as messages show it: quoted, escaped, and cut short if long."""
        return shorten(self.text)

    def describe(self, path: Path | str) -> str:
        return f"{path}:{self.line}: {self.reason}: {self.shown}"


def shorten(text: str, limit: int = 80) -> str:
    """repr() of text (control characters escaped), at most about `limit` characters."""
    if len(text) > limit:
        return repr(text[:limit]) + f" ... ({len(text):,} characters)"
    return repr(text)


@dataclass
class LabelFile:
    path: Path
    labels: list[Label]
    problems: list[LabelProblem]


def parse_line(text: str) -> tuple[str, float, float]:
    """Parse one label line; raises ValueError saying what is wrong."""
    match = _LINE.match(text)
    if not match:
        raise ValueError('expected name,"(x, y)"')
    name = match["name"].strip('"').strip()
    if "\x00" in name:
        raise ValueError("the image name contains a NUL byte")
    x, y = float(match["x"]), float(match["y"])
    if x < 0 or y < 0:
        raise ValueError("negative coordinate")
    if not stays_inside(name):
        raise ValueError("the image name must be a relative path inside the image folder")
    return name, x, y


def stays_inside(name: str) -> bool:
    """A label may name `photo.jpg` or `cats/photo.jpg`, never `/etc/x`, `C:\\x` or `../x`."""
    for flavour in (PurePosixPath, PureWindowsPath):
        path = flavour(name)
        if path.is_absolute() or path.drive or ".." in path.parts:
            return False
    return True


def read_labels(path: Path) -> LabelFile:
    """All good labels of a file and a problem record for every bad line."""
    path = Path(path)
    data = path.read_bytes()
    labels: list[Label] = []
    problems: list[LabelProblem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").splitlines(), start=1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", errors="backslashreplace").strip()
            problems.append(LabelProblem(number, text, f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
            continue
        if not line:
            continue
        try:
            name, x, y = parse_line(line)
        except ValueError as exc:
            problems.append(LabelProblem(number, line, str(exc)))
            continue
        if name in seen:
            problems.append(LabelProblem(number, line, f"duplicate of line {seen[name]}, ignored"))
            continue
        seen[name] = number
        labels.append(Label(name, x, y, number))
    return LabelFile(path, labels, problems)
