"""Scene cuts: a frame whose colours differ too much from the frame before it starts a new scene.

The measure is the Bhattacharyya distance (0: same, 1: disjoint) between the hue-saturation-value
histograms of consecutive frames, taken on the small letterboxed model input (the picture only,
not its padding), so it costs well under a millisecond a frame. A pet moving, the camera panning
or the light changing keeps the colours; a cut to another scene does not. The threshold
(`TrackerConfig.cut_threshold`) was measured on the shared clips and generated cuts:
benchmarks/scene_cuts.py, docs/tracker.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from pettrack.model.localizer import Prepared

# Hue, saturation and value bins: coarse enough that noise and small motion do not move mass
# between bins, fine enough that two rooms with different furniture differ.
BINS = (16, 8, 8)


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """Normalized HSV histogram of an RGB uint8 image, float32."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    histogram = cv2.calcHist([hsv], [0, 1, 2], None, list(BINS), [0, 180, 0, 256, 0, 256])
    return (histogram / max(float(histogram.sum()), 1.0)).astype(np.float32)


def picture(prepared: Prepared) -> np.ndarray:
    """The model input without its letterbox padding."""
    (off_x, off_y), (width, height) = prepared.box.offset, prepared.box.resized_size
    return prepared.input[off_y:off_y + height, off_x:off_x + width]


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


class SceneCuts:
    """Call with each frame in order; True when that frame starts a new scene (never the first)."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def __call__(self, prepared: Prepared) -> bool:
        histogram = colour_histogram(picture(prepared))
        previous, self._previous = self._previous, histogram
        if previous is None:
            return False
        return histogram_distance(previous, histogram) > self.threshold
