"""Coverage-guided fuzzing of the label parser and the image loader with atheris (optional:
`pip install atheris`). Not part of CI; run it for a few minutes after changing either parser:

    python benchmarks/fuzz_atheris.py labels -max_total_time=120
    python benchmarks/fuzz_atheris.py images -max_total_time=120

Any exception other than the documented ones (a label problem, ImageReadError) is a finding:
atheris stops and writes the input that caused it as crash-*.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from pettrack.model.images import ImageReadError, load_image
    from pettrack.model.labels import read_labels, stays_inside

WORK = Path(tempfile.mkdtemp(prefix="pettrack-fuzz-"))


def fuzz_labels(data: bytes) -> None:
    path = WORK / "labels.txt"
    path.write_bytes(data)
    parsed = read_labels(path)
    for label in parsed.labels:
        assert stays_inside(label.name), label
        assert label.x >= 0 and label.y >= 0, label


def fuzz_images(data: bytes) -> None:
    path = WORK / "image.bin"
    path.write_bytes(data)
    try:
        image = load_image(path)
    except ImageReadError:
        return
    assert image.rgb.ndim == 3 and image.rgb.shape[2] == 3


if __name__ == "__main__":
    target = {"labels": fuzz_labels, "images": fuzz_images}[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
