"""`pettrack camera`: live nose tracking from a webcam, a stream URL or a file played in real time.

Latency first: a grabber thread reads frames as fast as the source sends them and keeps only the
newest (older ones are counted as dropped, never queued). The main thread runs the model on the
newest frame, then the causal Kalman filter, whose time-based prediction bridges both the dropped
frames and frames without a detection. A stream that drops is reopened with backoff.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from pettrack.model.files import check_outputs
from pettrack.model.localizer import Localizer
from pettrack.tracker import TrackBuilder, TrackerConfig, image_pixels_per_unit

from .cuts import SceneCuts
from .draw import TrackOverlay
from .runner import FrameInput, FrameResult, RunSummary, StopRun, drive, localize
from .sinks import append_csv, check_appendable
from .video import CSV_COLUMNS, csv_row, observations
from .video_io import VideoWriter

BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 5.0


class SourceError(Exception):
    """The source could not be opened at all."""


def parse_source(source: str) -> int | str:
    """A device index ('0'), a stream URL, or a file path."""
    return int(source) if source.isdigit() else source


def _is_file(source: int | str) -> bool:
    return isinstance(source, str) and "://" not in source and Path(source).exists()


@dataclass
class Grabbed:
    index: int  # frames received from the source so far, counting from 0
    captured: float  # time.monotonic() when it arrived
    rgb: np.ndarray


class LatestFrameGrabber:
    """Reads the source in a thread; `latest()` returns the newest unseen frame."""

    def __init__(self, source: int | str, on_note: Callable[[str], None], reconnect_limit_s: float = 60.0):
        self.source = source
        self.is_file = _is_file(source)
        self._note = on_note
        self._reconnect_limit_s = reconnect_limit_s
        self._capture = self._open()
        if self._capture is None:
            raise SourceError(f"cannot open source {source!r}")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 240 else 30.0
        self._cond = threading.Condition()
        self._latest: Grabbed | None = None
        self.received = 0
        self.ended = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pettrack-grabber", daemon=True)
        self._thread.start()

    def _open(self) -> cv2.VideoCapture | None:
        capture = cv2.VideoCapture(self.source)
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def _run(self) -> None:
        started = time.monotonic()
        frame_period = 1.0 / self.fps
        try:
            while not self._stop.is_set():
                ok, bgr = self._capture.read()
                if not ok:
                    if self.is_file or not self._reconnect():
                        return
                    continue
                now = time.monotonic()
                if self.is_file:  # play at the file's own rate, as a camera would deliver it
                    due = started + self.received * frame_period
                    if due > now:
                        time.sleep(due - now)
                        now = time.monotonic()
                with self._cond:
                    self._latest = Grabbed(self.received, now, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                    self.received += 1
                    self._cond.notify_all()
        finally:
            self._capture.release()
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _reconnect(self) -> bool:
        """Reopen with exponential backoff; False after reconnect_limit_s or on stop."""
        self._capture.release()
        delay, gave_up_at = BACKOFF_START_S, time.monotonic() + self._reconnect_limit_s
        self._note("stream dropped; reconnecting")
        while not self._stop.is_set() and time.monotonic() < gave_up_at:
            if self._stop.wait(delay):
                return False
            capture = self._open()
            if capture is not None:
                self._capture = capture
                self._note("reconnected")
                return True
            self._note(f"still unavailable; next try in {min(delay * 2, BACKOFF_MAX_S):.1f}s")
            delay = min(delay * 2, BACKOFF_MAX_S)
        self._note(f"did not come back within {self._reconnect_limit_s:.0f}s; stopping")
        return False

    def latest(self, after: int, timeout: float = 0.5) -> Grabbed | None:
        """The newest frame with index > after, waiting up to `timeout`; None if none came."""
        with self._cond:
            self._cond.wait_for(lambda: self.ended or (self._latest is not None and self._latest.index > after), timeout)
            if self._latest is not None and self._latest.index > after:
                return self._latest
            return None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class CameraOptions:
    show: bool = False
    csv: Path | None = None
    video: Path | None = None
    duration_s: float | None = None
    max_frames: int | None = None
    reconnect_limit_s: float = 60.0
    tracker: TrackerConfig = field(default_factory=TrackerConfig)

    def check(self, source: int | str) -> None:
        """Before any work: the outputs are not the source file or each other, are writable, and
        the CSV appended to is a track CSV (raises OutputError)."""
        check_outputs([self.csv, self.video], [Path(source)] if _is_file(source) else [])
        if self.csv is not None:
            check_appendable(self.csv, CSV_COLUMNS)


@dataclass
class CameraSummary(RunSummary):
    received: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return max(0, self.received - self.frames)

    def latency(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_ms, percentile)) if self.latencies_ms else float("nan")


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def camera_frames(localizer: Localizer, grabber: LatestFrameGrabber, options: CameraOptions,
                  summary: CameraSummary) -> Iterator[FrameInput]:
    """The live source: always the newest frame, until the stream ends or a limit is reached.
    time_s counts from the start of the session; the payload keeps the pixels and the capture time."""
    started = time.monotonic()
    last = -1
    while True:
        if options.duration_s is not None and time.monotonic() - started >= options.duration_s:
            return
        if options.max_frames is not None and summary.frames >= options.max_frames:
            return
        grabbed = grabber.latest(after=last)
        if grabbed is None:
            if grabber.ended:
                return
            continue
        last = grabbed.index
        yield FrameInput(grabbed.index, grabbed.captured - started, localizer.prepare(grabbed.rgb), payload=grabbed)


def run_camera(localizer: Localizer, source: int | str, options: CameraOptions,
               on_note: Callable[[str], None], on_frame: Callable[[int], None] = lambda n: None) -> CameraSummary:
    """Track a live source frame by frame (batches of one: latency first) with the causal filter.
    Ctrl-C or the window's q key ends it; the CSV and the recording keep every frame so far."""
    options.check(source)
    grabber = LatestFrameGrabber(source, on_note, options.reconnect_limit_s)
    summary = CameraSummary()
    csv_handle, csv_sink = append_csv(options.csv, CSV_COLUMNS) if options.csv else (None, None)
    writer: VideoWriter | None = None
    builder: TrackBuilder | None = None
    overlay = TrackOverlay()  # the same drawing as the annotated video file
    cuts = SceneCuts(options.tracker.cut_threshold)

    def consume(result: FrameResult) -> None:
        nonlocal builder, writer
        frame, grabbed = result.frame, result.frame.payload
        if builder is None:  # the stream's frame size is known from its first frame
            height, width = grabbed.rgb.shape[:2]
            builder = TrackBuilder(options.tracker, image_pixels_per_unit(width, height), causal=True,
                                   max_tracks=localizer.max_pets)
        (rows,) = builder.push(frame.index, frame.time_s, observations(result), result.found.peak.confidence,
                               cut=cuts(frame.prepared))
        summary.latencies_ms.append((time.monotonic() - grabbed.captured) * 1000.0)
        if csv_sink:
            for point in rows.points:
                csv_sink.write(csv_row(point))
            csv_sink.flush()
        if options.video or options.show:
            image = overlay.draw(grabbed.rgb.copy(), rows)
            if options.video:
                if writer is None:
                    writer = VideoWriter(options.video, image.shape[1], image.shape[0], rate=None)
                writer.write(image, pts=round(frame.time_s * 1000))  # live mode: milliseconds
            if options.show:
                cv2.imshow("pettrack", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                    raise StopRun
        on_frame(1)

    try:
        drive(localize(localizer, camera_frames(localizer, grabber, options, summary), batch_size=1, lookahead=0), consume, summary)
    finally:
        grabber.stop()
        summary.received = grabber.received
        if csv_handle:
            csv_handle.close()
        if writer:
            writer.close()
        if options.show:
            cv2.destroyAllWindows()
    return summary
