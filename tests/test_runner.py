"""The one runner (pipelines/runner.py) that folder, video and camera share."""

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES
from pettrack.model.localizer import Localizer
from pettrack.pipelines.runner import FrameInput, RunSummary, StopRun, drive, localize


@pytest.fixture(scope="module")
def localizer() -> Localizer:
    return Localizer.load("fast", device="cpu", precision="fp32")


def _photos() -> list[np.ndarray]:
    return [np.asarray(Image.open(path).convert("RGB")) for path in sorted((SAMPLES / "images").glob("*.jpg"))[:5]]


@pytest.mark.parametrize("lookahead", [0, 1, 3])
def test_results_keep_source_order_with_unreadable_frames_and_each_frames_own_letterbox(localizer, lookahead):
    """Also with batches launched ahead of the one collected (what CUDA does by default)."""
    photos = _photos()
    frames = []
    for i, rgb in enumerate(photos):
        frames.append(FrameInput(2 * i, None, localizer.prepare(rgb)))
        frames.append(FrameInput(2 * i + 1, None, None, error=f"broken {i}"))
    results = list(localize(localizer, iter(frames), batch_size=2, lookahead=lookahead))
    assert [r.frame.index for r in results] == list(range(2 * len(photos)))
    assert [r.found is None for r in results] == [i % 2 == 1 for i in range(2 * len(photos))]
    # Batching, and the photos' different sizes, change nothing: each point is the one the photo
    # gets alone, in its own pixels.
    for result, rgb in zip(results[::2], photos):
        alone = localizer.locate([rgb])[0]
        assert result.found.peak.x == pytest.approx(alone.peak.x, abs=0.05)
        assert result.found.peak.y == pytest.approx(alone.peak.y, abs=0.05)
        assert 0 <= result.found.peak.x <= rgb.shape[1] and 0 <= result.found.peak.y <= rgb.shape[0]


def test_the_presence_threshold_decides_between_a_nose_and_none(localizer):
    rgb = _photos()[0]
    frame = FrameInput(0, None, localizer.prepare(rgb))
    (found,) = localize(localizer, [frame], 1)
    peak = found.found.peak.confidence
    localizer.min_confidence = min(1.0, peak + 0.01)
    try:
        (below,) = localize(localizer, [frame], 1)
    finally:
        localizer.min_confidence = localizer.info.presence_threshold
    localizer_low = Localizer(localizer.backend, localizer.info, min_confidence=max(0.0, peak - 0.01))
    (above,) = localize(localizer_low, [frame], 1)
    assert below.found.noses == () and below.found.peak.confidence == pytest.approx(peak)
    assert above.found.noses[0] == above.found.peak


class _Source:
    """An endless source that records whether it was closed."""

    def __init__(self, localizer, rgb):
        self.closed = False
        self._input = localizer.prepare(rgb)
        self._index = 0

    def __iter__(self):
        return self

    def __next__(self):
        self._index += 1
        return FrameInput(self._index, None, self._input)

    def close(self):
        self.closed = True


@pytest.mark.parametrize("stop", [KeyboardInterrupt, StopRun, ValueError])
def test_drive_ends_cleanly_keeps_the_count_and_closes_the_source(localizer, stop):
    source = _Source(localizer, _photos()[0])
    seen = []

    def consume(result):
        seen.append(result.frame.index)
        if len(seen) == 3:
            raise stop("corrupt stretch") if stop is ValueError else stop()

    summary = drive(localize(localizer, source, batch_size=2), consume, RunSummary(), stop_on=(ValueError,))
    assert source.closed
    assert seen == [1, 2, 3] and summary.frames == 2  # the third was not finished
    assert summary.interrupted == (stop is KeyboardInterrupt)
    assert summary.error == ("corrupt stretch" if stop is ValueError else None)


def test_an_error_drive_was_not_told_about_propagates(localizer):
    source = _Source(localizer, _photos()[0])

    def consume(result):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        drive(localize(localizer, source, batch_size=1), consume, RunSummary())
    assert source.closed
