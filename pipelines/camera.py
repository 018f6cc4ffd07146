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
from typing import Callable

import cv2
import numpy as np

from pettrack.model.localizer import Localizer
from pettrack.tracker import TrackBuilder, TrackerConfig, image_pixels_per_unit

from .draw import TrackOverlay
from .sinks import append_csv
from .video import CSV_COLUMNS, csv_row
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


@dataclass
class CameraSummary:
    received: int = 0
    processed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    interrupted: bool = False  # ended by Ctrl-C (how a live session usually ends)

    @property
    def dropped(self) -> int:
        return max(0, self.received - self.processed)

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    def latency(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_ms, percentile)) if self.latencies_ms else float("nan")


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_camera(localizer: Localizer, source: int | str, options: CameraOptions,
               on_note: Callable[[str], None], on_frame: Callable[[int], None] = lambda n: None) -> CameraSummary:
    grabber = LatestFrameGrabber(source, on_note, options.reconnect_limit_s)
    summary = CameraSummary()
    csv_handle, csv_sink = append_csv(options.csv, CSV_COLUMNS) if options.csv else (None, None)
    writer = None
    builder: TrackBuilder | None = None
    overlay = TrackOverlay()  # the same drawing as the annotated video file
    started = time.monotonic()
    last = -1
    try:
        while True:
            elapsed = time.monotonic() - started
            if options.duration_s is not None and elapsed >= options.duration_s:
                break
            if options.max_frames is not None and summary.processed >= options.max_frames:
                break
            grabbed = grabber.latest(after=last)
            if grabbed is None:
                if grabber.ended:
                    break
                continue
            last = grabbed.index
            detection = localizer.locate([grabbed.rgb])[0]
            if builder is None:  # the stream's frame size is known from its first frame
                height, width = grabbed.rgb.shape[:2]
                builder = TrackBuilder(options.tracker, image_pixels_per_unit(width, height), causal=True)
            time_s = grabbed.captured - started
            x, y = (detection.x, detection.y) if detection.present else (None, None)
            (point,) = builder.push(grabbed.index, time_s, x, y, detection.confidence)
            summary.latencies_ms.append((time.monotonic() - grabbed.captured) * 1000.0)
            summary.processed += 1
            if csv_sink:
                csv_sink.write(csv_row(point))
                csv_sink.flush()
            if options.video or options.show:
                image = overlay.draw(grabbed.rgb.copy(), point)
                if options.video:
                    if writer is None:
                        writer = VideoWriter(options.video, image.shape[1], image.shape[0], rate=None)
                    writer.write(image, pts=round(time_s * 1000))  # live mode: milliseconds
                if options.show:
                    cv2.imshow("pettrack", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        break
            on_frame(1)
    except KeyboardInterrupt:
        summary.interrupted = True  # close everything below and summarise
    finally:
        summary.seconds = time.monotonic() - started
        grabber.stop()
        summary.received = grabber.received
        if csv_handle:
            csv_handle.close()
        if writer:
            writer.close()
        if options.show:
            cv2.destroyAllWindows()
    return summary
