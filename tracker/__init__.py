"""pettrack.tracker: turns per-frame detections into smooth tracks (numpy + filterpy, no torch)."""

from .kalman import LOST, PREDICTED, TRACKED, NoseKalman, TrackerConfig
from .smooth import TrackBuilder, TrackPoint, rts_smooth, track

__all__ = ["LOST", "PREDICTED", "TRACKED", "NoseKalman", "TrackBuilder", "TrackPoint", "TrackerConfig", "rts_smooth", "track"]
