"""A finished video run read back: its track CSV as a table, and its run record.

`pettrack video` writes, beside NAME.pettrack.csv, a small run record NAME.pettrack.json: the
source video, its size and frame rate, the presence threshold, the scene cuts and the run's
figures. Plots, exports and the batch report are all made from these two files, so they can be
made again later (`pettrack convert`, `pettrack report`) without running the model.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pettrack.model.files import atomic_bytes

RECORD_SUFFIX = ".json"
TRACK_SUFFIX = ".pettrack.csv"


class TrackFileError(ValueError):
    """A file that is not a readable pettrack track CSV (or run record)."""


@dataclass
class RunRecord:
    """What a video run wrote, and about what."""

    source: str  # the input video, as given
    width: int
    height: int
    fps: float
    frames: int  # frames processed (rows of the CSV: one per frame without a track)
    duration_s: float
    presence_threshold: float
    model: str  # the weights used
    cuts_s: list[float] = field(default_factory=list)  # times of the scene cuts
    tracks: int = 0
    tracked_fraction: float = 0.0  # frames with a nose tracked or coasting
    mean_confidence: float = float("nan")  # over the detections the tracks took
    complete: bool = True  # False: interrupted, or the source ended early

    def save(self, path: Path) -> None:
        """Strict JSON (a browser's JSON.parse reads it): a figure that is not a number, such as the
        mean confidence of a run that tracked no nose, is written as null."""
        values = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}
        atomic_bytes(path, json.dumps(values, indent=1, allow_nan=False).encode())

    @classmethod
    def beside(cls, csv_path: Path) -> "RunRecord | None":
        """The run record of a track CSV, or None when there is none (a CSV from before records)."""
        path = record_path(csv_path)
        return cls.read(path) if path.is_file() else None

    @classmethod
    def read(cls, path: Path) -> "RunRecord":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
            floats = {name for name, f in cls.__dataclass_fields__.items() if f.type == "float"}
            return cls(**{k: (float("nan") if k in floats and values[k] is None else values[k])
                          for k in cls.__dataclass_fields__ if k in values})
        except (OSError, ValueError, TypeError) as exc:
            raise TrackFileError(f"{path}: not a readable pettrack run record ({exc})") from exc


def record_path(csv_path: Path) -> Path:
    """NAME.pettrack.csv -> NAME.pettrack.json."""
    return Path(csv_path).with_suffix(RECORD_SUFFIX)


def plot_path(csv_path: Path) -> Path:
    """NAME.pettrack.csv -> NAME.pettrack.png."""
    return Path(csv_path).with_suffix(".png")


def load_track(path: Path | str):
    """A pettrack track CSV as a pandas DataFrame, one row per (frame, track):

    frame (int), time_s (float), track (nullable int: <NA> on a frame without a track), x, y
    (the smoothed track), x_raw, y_raw, confidence (the detection the track took; NaN while it
    coasts), state (tracked / predicted / lost). Coordinates are the video's pixels.
    """
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"frame": "int64", "time_s": "float64", "track": "Int64", "x": "float64",
                                         "y": "float64", "x_raw": "float64", "y_raw": "float64",
                                         "confidence": "float64", "state": "string"})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise TrackFileError(f"{path}: not a readable pettrack track CSV ({str(exc).strip().splitlines()[0]})") from exc
    expected = ["frame", "time_s", "track", "x", "y", "x_raw", "y_raw", "confidence", "state"]
    if list(table.columns) != expected:
        raise TrackFileError(f"{path}: not a pettrack track CSV (columns {', '.join(map(str, table.columns))}; "
                             f"expected {', '.join(expected)})")
    return table


@dataclass(frozen=True)
class TrackArrays:
    """A track table as arrays over every frame of the run, one column per track (for exports)."""

    frames: np.ndarray  # (T,) frame indices, ascending, every frame of the CSV
    times: np.ndarray  # (T,) seconds
    tracks: list[int]  # track ids, ascending
    xy: np.ndarray  # (T, N, 2): the smoothed track; NaN where the track is not written
    confidence: np.ndarray  # (T, N): the detection's height; NaN while coasting or absent


def track_arrays(table) -> TrackArrays:
    frames_table = table.groupby("frame", sort=True)["time_s"].first()
    frames = frames_table.index.to_numpy()
    times = frames_table.to_numpy()
    rows = table[table["track"].notna()]
    tracks = sorted(int(t) for t in rows["track"].unique())
    position = {frame: i for i, frame in enumerate(frames)}
    xy = np.full((len(frames), len(tracks), 2), np.nan)
    confidence = np.full((len(frames), len(tracks)), np.nan)
    for j, track in enumerate(tracks):
        mine = rows[rows["track"] == track]
        at = np.array([position[f] for f in mine["frame"]], dtype=int)
        xy[at, j, 0] = mine["x"].to_numpy(dtype=float)
        xy[at, j, 1] = mine["y"].to_numpy(dtype=float)
        confidence[at, j] = mine["confidence"].to_numpy(dtype=float, na_value=np.nan)
    return TrackArrays(frames, times, tracks, xy, confidence)


def representative_frame(table, video: Path | str | None) -> np.ndarray | None:
    """The frame of `video` in the middle of the run's tracked stretch (RGB), or None when the
    video cannot be read (moved, deleted, unknown): what a plot is drawn over and a report shows."""
    import cv2

    if video is None:
        return None
    tracked = table.loc[table["state"] == "tracked", "frame"].to_numpy()
    frames = tracked if tracked.size else table["frame"].to_numpy()
    capture = cv2.VideoCapture(str(video))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(frames[len(frames) // 2]) if frames.size else 0)
        ok, bgr = capture.read()
    finally:
        capture.release()
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok and bgr is not None else None
