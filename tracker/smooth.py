"""From per-frame detections to the rows users read: one per (frame, track), causal or smoothed.

Causal (live mode, `--causal`): each frame's points are the forward filters' estimates, released
at once; a track on probation is not shown until it is confirmed.

Offline (files): a Rauch-Tung-Striebel pass (filterpy's `rts_smoother`) over each track, so every
point also uses the frames after it. Frames are released once `lag` newer frames have been seen,
each track smoothed over the held window; the influence of a measurement decays within a few
frames, so a lag of a second gives the whole-file result (tests check it to 0.01 px) while at most
2 x lag - 1 frames are held however long the video is. The window also decides probation: frames
of a track that is confirmed within the window are written with its id, those of a blip that
never was are not. Smoothing never crosses a cut or a gap, because a track id never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from filterpy.kalman import KalmanFilter

from .kalman import LOST, PREDICTED, FilterStep, TrackerConfig
from .multi import FrameTracks, MultiTracker, Observation


@dataclass(frozen=True)
class TrackPoint:
    """One row of a track CSV: a track on a frame, or (track None, state lost) a frame without one."""

    frame: int
    time_s: float
    track: int | None
    x: float | None  # track, image pixels; None while lost
    y: float | None
    x_raw: float | None  # the detection the track took on this frame (or, on a lost row, the best one left)
    y_raw: float | None
    confidence: float | None
    state: str  # tracked, predicted or lost


@dataclass(frozen=True)
class FramePoints:
    """Every row of one frame, tracks in id order; `cut` when a scene cut came before it."""

    frame: int
    time_s: float
    points: tuple[TrackPoint, ...]
    cut: bool = False


def rts_smooth(steps: list[FilterStep]) -> np.ndarray:
    """Smoothed (x, y) for consecutive steps of one track."""
    xs = np.array([s.x for s in steps])
    if len(steps) < 2:
        return xs[:, :2]
    Ps = np.array([s.P for s in steps])
    # rts_smoother reads Fs[k]/Qs[k] as the transition into step k; the first is never used.
    Fs = [steps[1].F] + [s.F for s in steps[1:]]
    Qs = [steps[1].Q] + [s.Q for s in steps[1:]]
    smoothed, _, _, _ = KalmanFilter(dim_x=4, dim_z=2).rts_smoother(xs, Ps, Fs, Qs)
    return smoothed[:, :2]


def smooth_track(steps: list[FilterStep]) -> list[np.ndarray]:
    """RTS over one track's steps up to its last detection; a coasted tail is extrapolation the
    smoother cannot improve, so it keeps its forward prediction."""
    measured = [i for i, s in enumerate(steps) if s.state != PREDICTED]
    if not measured:
        return [s.x[:2] for s in steps]
    last = measured[-1]
    return list(rts_smooth(steps[: last + 1])) + [s.x[:2] for s in steps[last + 1:]]


def _lost_row(frame: FrameTracks) -> TrackPoint:
    """The row of a frame without a track: the strongest detection nobody tracks, if any."""
    best = max(frame.unclaimed, key=lambda d: d.confidence, default=None)
    return TrackPoint(frame.frame, frame.time_s, None, None, None, best.x if best else None, best.y if best else None,
                      frame.peak_confidence, LOST)


def _rows(frame: FrameTracks, shown: set[int], smoothed: dict[int, np.ndarray]) -> FramePoints:
    points = []
    for item in frame.tracks:
        if item.track not in shown or not item.shown:
            continue
        xy = smoothed.get(item.track, item.step.x[:2])
        seen = item.observation
        points.append(TrackPoint(frame.frame, frame.time_s, item.track, float(xy[0]), float(xy[1]),
                                 seen.x if seen else None, seen.y if seen else None,
                                 seen.confidence if seen else None, item.step.state))
    return FramePoints(frame.frame, frame.time_s, tuple(points) or (_lost_row(frame),), frame.cut)


class TrackBuilder:
    """Feed each frame's detections with `push`; collect released frames from it and from `finish`."""

    def __init__(self, config: TrackerConfig = TrackerConfig(), pixels_per_unit: float = 1.0,
                 causal: bool = False, lag: int | None = None, max_tracks: int = 16):
        if causal and lag is not None:
            raise ValueError("a causal track releases every point at once; lag applies only to smoothing")
        if lag is not None and lag < 1:
            raise ValueError(f"lag must be at least 1 frame, got {lag}")
        self.tracker = MultiTracker(config, pixels_per_unit, max_tracks)
        self.causal = causal
        self.lag = lag  # None: hold everything until finish (exact whole-file RTS)
        self._window: list[FrameTracks] = []
        self._confirmed: set[int] = set()

    def push(self, frame: int, time_s: float, detections: Sequence[Observation], peak_confidence: float = 0.0,
             cut: bool = False) -> list[FramePoints]:
        result = self.tracker.step(frame, time_s, detections, peak_confidence, cut)
        if self.causal:
            return [_rows(result, {t.track for t in result.tracks if t.confirmed}, {})]
        self._confirmed.update(t.track for t in result.tracks if t.confirmed)
        self._window.append(result)
        # Release in chunks of `lag` frames so the smoothing pass runs once per chunk, not per frame.
        if self.lag is not None and len(self._window) >= 2 * self.lag:
            return self._release(keep=self.lag)
        return []

    def finish(self) -> list[FramePoints]:
        return [] if self.causal else self._release()

    def _release(self, keep: int = 0) -> list[FramePoints]:
        """Smooth each confirmed track over the held window; release all but the newest `keep` frames."""
        window, count = self._window, len(self._window) - keep
        steps: dict[int, list[tuple[int, FilterStep]]] = {}
        for position, frame in enumerate(window):
            for item in frame.tracks:
                if item.track in self._confirmed:
                    steps.setdefault(item.track, []).append((position, item.step))
        smoothed: list[dict[int, np.ndarray]] = [{} for _ in window]
        for track, held in steps.items():
            for (position, _), xy in zip(held, smooth_track([s for _, s in held])):
                smoothed[position][track] = xy
        self._window = window[count:]
        live = {t.track for frame in self._window for t in frame.tracks}
        released = [_rows(frame, self._confirmed, smoothed[i]) for i, frame in enumerate(window[:count])]
        # A confirmed track that is no longer in the window will never be written again.
        self._confirmed &= live | set(self.tracker.live())
        return released


def track(frames: Iterable[tuple[int, float, Sequence[tuple[float, float, float]]]],
          config: TrackerConfig = TrackerConfig(), pixels_per_unit: float = 1.0, causal: bool = False,
          lag: int | None = None, max_tracks: int = 16, cuts: Iterable[int] = ()) -> list[FramePoints]:
    """Whole-sequence convenience: frames is an iterable of (frame, time_s, [(x, y, confidence), ...]);
    `cuts` lists the frames that start a new scene."""
    builder = TrackBuilder(config, pixels_per_unit, causal, lag, max_tracks)
    cut_frames = set(cuts)
    released: list[FramePoints] = []
    for frame, time_s, found in frames:
        observations = [Observation(*d) for d in found]
        peak = max((o.confidence for o in observations), default=0.0)
        released += builder.push(frame, time_s, observations, peak, cut=frame in cut_frames)
    return released + builder.finish()
