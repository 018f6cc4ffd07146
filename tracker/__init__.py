"""pettrack.tracker: turns per-frame detections into smooth tracks (numpy + filterpy, no torch)."""

from .kalman import LOST, PREDICTED, REFERENCE_SIDE, TRACKED, NoseKalman, TrackerConfig, image_pixels_per_unit
from .smooth import TrackBuilder, TrackPoint, rts_smooth, track

__all__ = [
    "LOST", "PREDICTED", "REFERENCE_SIDE", "TRACKED", "NoseKalman", "TrackBuilder", "TrackPoint", "TrackerConfig",
    "image_pixels_per_unit", "rts_smooth", "track",
]
