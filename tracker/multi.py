"""Several noses at once: which detection belongs to which track, and when tracks start and end.

Each frame (`MultiTracker.step`):

1. every live track predicts its nose at the frame's time (its own Kalman filter, kalman.py);
2. detections are assigned to tracks by the Hungarian method (scipy's `linear_sum_assignment`)
   on the negative log-likelihood (squared Mahalanobis distance + ln det of its covariance), pairs
   farther than `gate` standard deviations never being matched; confirmed tracks choose first,
   then tracks still on probation take what is left;
3. a matched track takes its detection; an unmatched confirmed track coasts (damped velocity):
   its point is shown for `max_coast_s`, then hidden, and the track ends when `keep_id_s` has
   passed since its last detection (as SORT-style trackers keep a lost track's id for a while);
   an unmatched track on probation ends at once;
4. each detection nobody took starts a track on probation, which is confirmed (gets an id that is
   written out) after `confirm_frames` detections in a row.

A scene cut (`step(..., cut=True)`) ends every track: no identity is carried across it. Track ids
count up from 0 and are never reused, so a track id names one continuous stretch of one nose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .kalman import FilterStep, NoseFilter, TrackerConfig

# Cost of a forbidden pairing: far above any gated squared distance, finite for scipy.
_FORBIDDEN = 1.0e9


def _within(seconds: float, limit: float) -> bool:
    """seconds <= limit, allowing for frame times that are sums of rounded steps (3 / 30 s is
    0.1 s, though its float is a hair above)."""
    return seconds <= limit + 1e-6


@dataclass(frozen=True)
class Observation:
    """A detection as the tracker sees it, in image pixels (the tracker's own type: tracker/ never
    imports the model, which would bring torch)."""

    x: float
    y: float
    confidence: float


@dataclass(frozen=True)
class TrackStep:
    """One track on one frame."""

    track: int
    confirmed: bool  # False while on probation: not (yet) a track anyone sees
    step: FilterStep
    observation: Observation | None  # the detection it took; None while coasting
    shown: bool = True  # False: coasting longer than max_coast_s, kept only to keep its id


@dataclass(frozen=True)
class FrameTracks:
    """Everything the tracker decided on one frame."""

    frame: int
    time_s: float
    tracks: tuple[TrackStep, ...]
    unclaimed: tuple[Observation, ...]  # detections no track took (too weak, or the tracks are full)
    peak_confidence: float  # the frame's highest heat-map peak, nose or not
    cut: bool = False


@dataclass
class _Track:
    id: int
    filter: NoseFilter
    hits: int = 1
    confirmed: bool = False


@dataclass
class MultiTracker:
    """Causal multi-nose tracker. max_tracks caps the live tracks (1: follow one nose at a time)."""

    config: TrackerConfig = field(default_factory=TrackerConfig)
    pixels_per_unit: float = 1.0
    max_tracks: int = 16
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 0

    def step(self, frame: int, time_s: float, detections: Sequence[Observation], peak_confidence: float = 0.0,
             cut: bool = False) -> FrameTracks:
        if cut:
            self._tracks = []
        usable = [d for d in detections if d.confidence >= self.config.min_confidence]
        for track in self._tracks:
            track.filter.predict(time_s)

        confirmed = [t for t in self._tracks if t.confirmed]
        probation = [t for t in self._tracks if not t.confirmed]
        taken: dict[int, int] = {}  # track id -> detection index
        free = list(range(len(usable)))
        for group in (confirmed, probation):
            pairs = self._assign(group, [usable[i] for i in free])
            taken.update({track.id: free[j] for track, j in pairs})
            claimed = {free[j] for _, j in pairs}
            free = [i for i in free if i not in claimed]

        steps: list[TrackStep] = []
        survivors: list[_Track] = []
        for track in self._tracks:
            if track.id in taken:
                seen = usable[taken[track.id]]
                step = track.filter.update(seen.x, seen.y, seen.confidence)
                track.hits += 1
                track.confirmed = track.confirmed or track.hits >= self.config.confirm_frames
                steps.append(TrackStep(track.id, track.confirmed, step, seen))
                survivors.append(track)
        # Coasting tracks are shown in the places the tracks that took a detection leave, so with
        # max_tracks 1 a hidden track that finds its nose again replaces the one now coasting.
        places = self.max_tracks - sum(step.confirmed for step in steps)
        for track in self._tracks:
            if track.id not in taken and track.confirmed and _within(track.filter.coasting_for(), self.config.keep_id_s):
                visible = _within(track.filter.coasting_for(), self.config.max_coast_s) and places > 0
                places -= visible
                steps.append(TrackStep(track.id, True, track.filter.coast(), None, visible))
                survivors.append(track)
        # The rest end: on probation and missed, or past keep_id_s. Oldest first, as they were made.
        self._tracks = sorted(survivors, key=lambda t: t.id)

        unclaimed: list[Observation] = []
        # A hidden track (coasting past max_coast_s, kept for its id) does not hold a place: with
        # max_tracks 1, a nose seen elsewhere starts the new track at once.
        shown = sum(_within(t.filter.coasting_for(), self.config.max_coast_s) for t in self._tracks)
        for i in free:  # strongest first: the localizer lists noses best first
            seen = usable[i]
            if shown >= self.max_tracks:
                unclaimed.append(seen)
                continue
            track = _Track(self._next_id, NoseFilter(self.config, self.pixels_per_unit, time_s, seen.x, seen.y,
                                                     seen.confidence))
            self._next_id += 1
            track.confirmed = self.config.confirm_frames <= 1
            self._tracks.append(track)
            shown += 1
            steps.append(TrackStep(track.id, track.confirmed, track.filter.first, seen))
        unclaimed += [d for d in detections if d.confidence < self.config.min_confidence]
        steps.sort(key=lambda s: s.track)
        return FrameTracks(frame, time_s, tuple(steps), tuple(unclaimed), peak_confidence, cut)

    def _assign(self, tracks: list[_Track], detections: list[Observation]) -> list[tuple[_Track, int]]:
        """Hungarian assignment on the negative log-likelihood, pairs beyond the gate forbidden."""
        if not tracks or not detections:
            return []
        pairs = [[t.filter.match_cost(d.x, d.y, d.confidence) for d in detections] for t in tracks]
        cost = np.array([[c if distance <= self.config.gate else _FORBIDDEN for distance, c in row] for row in pairs])
        rows, cols = linear_sum_assignment(cost)
        return [(tracks[r], int(c)) for r, c in zip(rows, cols) if cost[r, c] < _FORBIDDEN]

    def live(self) -> list[int]:
        """Ids of the confirmed tracks alive now."""
        return [t.id for t in self._tracks if t.confirmed]
