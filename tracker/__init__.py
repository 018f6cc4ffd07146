"""pettrack.tracker: turns per-frame detections into smooth tracks of several noses (numpy + filterpy + scipy, no torch)."""

from .kalman import LOST, PREDICTED, REFERENCE_SIDE, TRACKED, NoseFilter, TrackerConfig, image_pixels_per_unit
from .multi import FrameTracks, MultiTracker, Observation, TrackStep
from .smooth import FramePoints, TrackBuilder, TrackPoint, rts_smooth, track

__all__ = [
    "LOST", "PREDICTED", "REFERENCE_SIDE", "TRACKED", "FramePoints", "FrameTracks", "MultiTracker", "NoseFilter",
    "Observation", "TrackBuilder", "TrackPoint", "TrackStep", "TrackerConfig", "image_pixels_per_unit", "rts_smooth",
    "track",
]
