"""Property-based fuzzing of the two parsers that read what users hand us: label files and image
files. Bounded examples, so CI stays fast; the properties are what the README promises: a bad
line or file is reported and skipped, never a crash, and nothing outside --images is named."""

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pettrack.model.images import ImageReadError, load_image
from pettrack.model.labels import parse_line, read_labels, stays_inside

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_are_a_label_file_with_problems_not_a_crash(tmp_path, data):
    path = tmp_path / "labels.txt"
    path.write_bytes(data)
    parsed = read_labels(path)
    for label in parsed.labels:
        assert stays_inside(label.name) and label.x >= 0 and label.y >= 0
    for problem in parsed.problems:
        assert problem.line >= 1 and len(problem.shown) < 200


@FUZZ
@given(st.text(max_size=300))
def test_a_line_parses_or_says_why(text):
    try:
        name, x, y = parse_line(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert name and stays_inside(name) and x >= 0 and y >= 0


@FUZZ
@given(name=st.sampled_from(["a.jpg", "cats/a.jpg", "../a.jpg", "/etc/hostname", "C:\\x.jpg", "a/../../b.jpg", "..\\x.jpg"]),
       x=st.integers(0, 5000), y=st.integers(0, 5000))
def test_names_that_leave_the_image_folder_are_refused(name, x, y):
    line = f'{name},"({x}, {y})"'
    inside = name in ("a.jpg", "cats/a.jpg")
    try:
        parsed = parse_line(line)
    except ValueError:
        assert not inside
    else:
        assert inside and parsed == (name, float(x), float(y))


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@FUZZ
@given(st.data())
def test_damaged_images_load_or_raise_image_read_error(tmp_path, data):
    """Any prefix, bit flip or garbage of a real image either decodes to a sane RGB array or is
    an ImageReadError (one line, skipped): never another exception."""
    original = _png(data.draw(st.integers(1, 64)), data.draw(st.integers(1, 64)))
    kind = data.draw(st.sampled_from(["prefix", "flip", "garbage"]))
    if kind == "prefix":
        blob = original[: data.draw(st.integers(0, len(original)))]
    elif kind == "flip":
        blob = bytearray(original)
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        blob = bytes(blob)
    else:
        blob = data.draw(st.binary(max_size=4000))
    path = tmp_path / "fuzzed.png"
    path.write_bytes(blob)
    try:
        image = load_image(path)
    except ImageReadError as exc:
        assert str(exc)
    else:
        assert image.rgb.ndim == 3 and image.rgb.shape[2] == 3 and image.rgb.dtype == np.uint8
