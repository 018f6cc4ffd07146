"""From per-frame detections to track points, causal or smoothed.

Causal (live mode, `--causal`): each frame's point is the forward filter's estimate, available at
once. Offline (files): a Rauch-Tung-Striebel pass (filterpy's `rts_smoother`) over each
continuous stretch of track, so every point also uses the frames after it.

With `lag` set, points are released once `lag` newer frames have been seen, smoothed by an RTS
pass over the held window. The influence of a measurement on an estimate decays within a few
frames, so a lag of a second gives the whole-file result (tests check it to 0.01 px), while the
video pipeline holds at most 2 x lag - 1 frames' detections (points are released in chunks of
`lag`) however long the video is. `lag` only applies to smoothing, so it cannot be combined with
`causal`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from filterpy.kalman import KalmanFilter

from .kalman import LOST, PREDICTED, FilterStep, NoseKalman, TrackerConfig


@dataclass(frozen=True)
class TrackPoint:
    frame: int
    time_s: float
    x: float | None  # track, image pixels; None while lost
    y: float | None
    x_raw: float | None  # the detector's output for this frame
    y_raw: float | None
    confidence: float | None
    state: str  # tracked, predicted or lost


def rts_smooth(steps: list[FilterStep]) -> np.ndarray:
    """Smoothed (x, y) for one continuous stretch (first step starts the track)."""
    xs = np.array([s.x for s in steps])
    if len(steps) < 2:
        return xs[:, :2]
    Ps = np.array([s.P for s in steps])
    # rts_smoother reads Fs[k]/Qs[k] as the transition into step k; the first is never used.
    Fs = [steps[1].F] + [s.F for s in steps[1:]]
    Qs = [steps[1].Q] + [s.Q for s in steps[1:]]
    smoothed, _, _, _ = KalmanFilter(dim_x=4, dim_z=2).rts_smoother(xs, Ps, Fs, Qs)
    return smoothed[:, :2]


@dataclass
class _Pending:
    frame: int
    time_s: float
    raw: tuple[float | None, float | None, float | None]
    step: FilterStep


class TrackBuilder:
    """Feed detections frame by frame with `push`; collect finished points from it and `finish`."""

    def __init__(self, config: TrackerConfig = TrackerConfig(), pixels_per_unit: float = 1.0,
                 causal: bool = False, lag: int | None = None):
        if causal and lag is not None:
            raise ValueError("a causal track releases every point at once; lag applies only to smoothing")
        if lag is not None and lag < 1:
            raise ValueError(f"lag must be at least 1 frame, got {lag}")
        self.filter = NoseKalman(config, pixels_per_unit)
        self.causal = causal
        self.lag = lag  # None: hold a whole stretch (exact whole-file RTS)
        self._stretch: list[_Pending] = []

    def push(self, frame: int, time_s: float, x_raw: float | None, y_raw: float | None,
             confidence: float | None) -> list[TrackPoint]:
        step = self.filter.step(time_s, x_raw, y_raw, confidence or 0.0)
        pending = _Pending(frame, time_s, (x_raw, y_raw, confidence), step)
        if self.causal:
            return [self._point(pending, step.x)]
        released: list[TrackPoint] = []
        if step.started or step.state == LOST:
            released = self._release()
        if step.state == LOST:
            released.append(self._point(pending, None))
        else:
            self._stretch.append(pending)
        # Release in chunks of `lag` frames so the smoothing pass runs once per chunk, not per frame.
        if self.lag is not None and len(self._stretch) >= 2 * self.lag:
            released += self._release(keep=self.lag)
        return released

    def finish(self) -> list[TrackPoint]:
        return [] if self.causal else self._release()

    def _release(self, keep: int = 0) -> list[TrackPoint]:
        """Smooth the held stretch and release all but its newest `keep` points."""
        stretch = self._stretch
        if not stretch:
            return []
        # Trailing coasted frames are extrapolation the smoother cannot improve: smoothing runs
        # up to the last real measurement, the coasted tail keeps its forward prediction.
        last_measured = max(i for i, p in enumerate(stretch) if p.step.state != PREDICTED)
        smoothed = list(rts_smooth([p.step for p in stretch[: last_measured + 1]]))
        smoothed += [p.step.x for p in stretch[last_measured + 1:]]
        count = len(stretch) - keep
        self._stretch = stretch[count:]
        return [self._point(p, xy) for p, xy in zip(stretch[:count], smoothed[:count])]

    @staticmethod
    def _point(pending: _Pending, xy: np.ndarray | None) -> TrackPoint:
        x_raw, y_raw, confidence = pending.raw
        x = float(xy[0]) if xy is not None else None
        y = float(xy[1]) if xy is not None else None
        return TrackPoint(pending.frame, pending.time_s, x, y, x_raw, y_raw, confidence, pending.step.state)


def track(detections, config: TrackerConfig = TrackerConfig(), pixels_per_unit: float = 1.0,
          causal: bool = False, lag: int | None = None) -> list[TrackPoint]:
    """Whole-sequence convenience: detections is an iterable of (frame, time_s, x, y, confidence)."""
    builder = TrackBuilder(config, pixels_per_unit, causal, lag)
    points: list[TrackPoint] = []
    for frame, time_s, x, y, confidence in detections:
        points += builder.push(frame, time_s, x, y, confidence)
    return points + builder.finish()
