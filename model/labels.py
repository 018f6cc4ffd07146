"""Label files in the ELEC 475 pet-noses format: one line per image, `name.jpg,"(x, y)"`.

x and y are in that image's pixels, integers or decimals. LF or CRLF line ends, blank lines and a
UTF-8 byte-order mark are accepted. A bad line never stops the file: it is reported with its line
number and skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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

    def describe(self, path: Path | str) -> str:
        return f"{path}:{self.line}: {self.reason}: {self.text!r}"


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
    x, y = float(match["x"]), float(match["y"])
    if x < 0 or y < 0:
        raise ValueError("negative coordinate")
    return name, x, y


def read_labels(path: Path) -> LabelFile:
    """All good labels of a file and a problem record for every bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
    labels: list[Label] = []
    problems: list[LabelProblem] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
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
