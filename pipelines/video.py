"""`pettrack video`: decode in a worker pool -> batched inference -> Kalman track -> CSV + video.

The video is a source for the one runner (`runner.localize`/`drive`); this module adds the
tracker and the sinks.

    decoder threads ──letterboxed frames──▶ batches ──▶ localizer ──▶ TrackBuilder ──rows──▶ CSV
    (keyframe chunks,  (bounded, in order)      (noses   (scene cuts,   (several noses,  └──▶ writer thread
     parallel)                                   per      SceneCuts)     RTS over a            (own decode,
                                                 frame)                  sliding window)        draw, encode)

The writer thread decodes the video a second time, sequentially, and draws each frame once its
smoothed point is known. That way no full-size frame waits in memory for the smoother's look-ahead:
memory is flat however long the video is.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pettrack.model.files import OutputError, check_outputs, same_file
from pettrack.model.geometry import Letterbox
from pettrack.model.localizer import Localizer
from pettrack.tracker import (
    TRACKED, FramePoints, Observation, TrackBuilder, TrackerConfig, TrackPoint, image_pixels_per_unit,
)

from .cuts import SceneCuts
from .draw import TrackOverlay, overlay_heatmap
from .runner import CPU_BATCH, CPU_WORKERS, FrameInput, FrameResult, RunSummary, drive, localize
from .exports import export_path
from .sinks import open_csv
from .tables import RunRecord, plot_path, record_path
from .video_io import (
    DecodeError, Frame, SourceFrame, SourceReplay, VideoError, VideoInfo, VideoWriter, frame_range, parallel_frames,
)

# One row per (frame, track); a frame without a track has one row with an empty track and state lost.
CSV_COLUMNS = ("frame", "time_s", "track", "x", "y", "x_raw", "y_raw", "confidence", "state")
# Frames of look-ahead for the smoother: one second at 30 fps equals a whole-file RTS pass.
SMOOTHING_LAG = 30
CSV_FLUSH_ROWS = 64


@dataclass(frozen=True)
class VideoOptions:
    batch_size: int = CPU_BATCH
    workers: int = CPU_WORKERS
    draw_raw: bool = False
    heatmap: bool = False
    start_s: float | None = None
    end_s: float | None = None
    causal: bool = False
    decoder: str = "auto"
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


@dataclass(frozen=True)
class VideoOutputs:
    csv: Path
    video: Path | None
    plot: Path | None = None  # NAME.pettrack.png (pipelines/track_plot.py)
    exports: tuple[Path, ...] = ()  # NAME.pettrack.slp / .nwb / .dlc.csv (pipelines/exports.py)

    @classmethod
    def beside(cls, source: Path, out_dir: Path | None, csv: Path | None, video: Path | None,
               write_video: bool, plot: bool = False, exports: tuple[str, ...] = ()) -> "VideoOutputs":
        """NAME.pettrack.csv, NAME.pettrack.mp4 (and the plot and exports) beside the input (or in out_dir)."""
        folder = out_dir or source.parent
        stem = source.stem
        csv = csv or folder / f"{stem}.pettrack.csv"
        return cls(csv, (video or folder / f"{stem}.pettrack.mp4") if write_video else None,
                   plot_path(csv) if plot else None,
                   tuple(export_path(csv, fmt) for fmt in exports))

    @property
    def record(self) -> Path:
        """The run record beside the CSV (pipelines/tables.py)."""
        return record_path(self.csv)

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.csv, self.video, self.record, self.plot, *self.exports) if p is not None]

    def check(self, source: Path) -> None:
        """Refuse, before any work, outputs that would overwrite the input or each other, or that
        cannot be written (see model.files.check_outputs)."""
        check_outputs(self.files, [source])


OUTPUT_MARK = ".pettrack."  # every output of a run is NAME.pettrack.SUFFIX


def is_own_output(path: Path) -> bool:
    """A file pettrack writes (NAME.pettrack.mp4, .csv, ...): a rerun of `pettrack video *.mp4` in
    a folder with earlier results names them too, and they are skipped, not tracked."""
    return OUTPUT_MARK in Path(path).name


def plan_outputs(sources: list[Path], out_dir: Path | None, csv: Path | None, video: Path | None,
                 write_video: bool, plot: bool = False, exports: tuple[str, ...] = ()) -> list[VideoOutputs]:
    """Each input's outputs, checked together before any work: no output replaces an input of
    the run, and two inputs with the same name (a/clip.mp4 and b/clip.mp4 into one --out-dir,
    or clip.mp4 and clip.mov) are refused instead of one overwriting the other's results."""
    if len(sources) > 1 and (csv or video):
        raise OutputError("--csv and --video name the outputs of a single input; use --out-dir for several")
    planned = [VideoOutputs.beside(source, out_dir, csv, video, write_video, plot, exports) for source in sources]
    owners: dict[Path, Path] = {}
    for source, outputs in zip(sources, planned):
        key = outputs.csv.resolve()
        if key in owners and not same_file(owners[key], source):
            raise OutputError(f"{owners[key]} and {source} would both write {outputs.csv}; "
                              "rename one, or run them with different --out-dir")
        owners[key] = source
    check_outputs([t for o in planned for t in o.files], sources)
    return planned


@dataclass
class VideoSummary(RunSummary):
    frames_with_track: int = 0  # frames with at least one nose tracked or coasting
    tracks: set[int] = field(default_factory=set)
    cut_times: list[float] = field(default_factory=list)
    codec: str | None = None
    confidences: float = 0.0  # the sum of the heights of the detections the tracks took
    detections: int = 0
    first_time_s: float | None = None
    last_time_s: float = 0.0

    @property
    def cuts(self) -> int:
        return len(self.cut_times)

    @property
    def tracked_fraction(self) -> float:
        return self.frames_with_track / self.frames if self.frames else 0.0

    @property
    def mean_confidence(self) -> float:
        return self.confidences / self.detections if self.detections else float("nan")

    def count(self, rows: FramePoints) -> None:
        ids = {p.track for p in rows.points if p.track is not None}
        self.tracks |= ids
        self.frames_with_track += bool(ids)
        if rows.cut:
            self.cut_times.append(rows.time_s)
        taken = [p.confidence for p in rows.points if p.state == TRACKED and p.confidence is not None]
        self.confidences += sum(taken)
        self.detections += len(taken)
        if self.first_time_s is None:
            self.first_time_s = rows.time_s
        self.last_time_s = rows.time_s

    def record(self, info: VideoInfo, threshold: float, model: str) -> RunRecord:
        fps = info.fps
        duration_s = 0.0
        if self.first_time_s is not None:  # first to last frame, and the last frame's own length
            duration_s = self.last_time_s - self.first_time_s + (1 / fps if fps else 0.0)
        return RunRecord(
            source=str(Path(info.path).resolve()), width=info.width, height=info.height, fps=fps, frames=self.frames,
            duration_s=duration_s,
            presence_threshold=threshold, model=model, cuts_s=self.cut_times, tracks=len(self.tracks),
            tracked_fraction=self.tracked_fraction, mean_confidence=self.mean_confidence,
            complete=not (self.interrupted or self.error),
        )


def _cell(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def csv_row(point: TrackPoint) -> list[str]:
    return [str(point.frame), f"{point.time_s:.4f}", "" if point.track is None else str(point.track), _cell(point.x),
            _cell(point.y), _cell(point.x_raw), _cell(point.y_raw), _cell(point.confidence, 4), point.state]


def observations(result: FrameResult) -> list[Observation]:
    """The frame's noses as the tracker takes them."""
    return [Observation(n.x, n.y, n.confidence) for n in result.found.noses]


class AnnotationMismatch(VideoError):
    """The annotated video could not be kept in step with the CSV."""


class AnnotationWriter:
    """Draws the track onto the frames and encodes them, in its own thread.

    It decodes the video itself (SourceReplay), in step with the rows it is given, so the
    pipeline never holds full-size frames. Each frame keeps its source timestamp and the source's
    audio is copied, so the output is the source, annotated. A frame that does not match the
    point it is drawn with (index or time) is an error, never a silent stop: close() raises it.
    """

    def __init__(self, info: VideoInfo, path: Path, start: int, options: VideoOptions):
        self._options = options
        self._replay = SourceReplay(info)
        self._writer = VideoWriter(path, info.width, info.height, info.rate, time_base=self._replay.time_base,
                                   audio=self._replay.audio)
        self.codec = self._writer.codec
        self._start = start
        self._first: SourceFrame | None = None
        self._frames = self._replay.frames(start, self._copy_audio)
        self._queue: queue.Queue = queue.Queue(maxsize=4 * SMOOTHING_LAG)
        self._heatmaps: dict[int, tuple[np.ndarray, Letterbox]] = {}
        self._overlay = TrackOverlay(options.draw_raw)
        self._half_frame_s = 0.5 / float(info.rate) if info.rate else 0.02
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="pettrack-writer", daemon=True)
        self._thread.start()

    def add_heatmap(self, frame: int, heatmap: np.ndarray, box: Letterbox) -> None:
        """The frame's heat-map (model space) and the letterbox that maps it onto that frame."""
        self._heatmaps[frame] = (np.clip(heatmap, 0, 1) * 255).astype(np.uint8), box

    def submit(self, rows: FramePoints | None) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(rows, timeout=0.2)
                return
            except queue.Full:
                continue

    def _copy_audio(self, packet) -> None:
        # Audio before the first drawn frame is cut with it; the rest keeps its place in time.
        if self._first is not None:
            self._writer.mux_audio(packet, offset_s=self._first.time_s)
        elif self._start == 0:
            self._writer.mux_audio(packet)

    def _run(self) -> None:
        try:
            first_rows: FramePoints | None = None
            while (rows := self._queue.get()) is not None:
                frame = next(self._frames, None)
                if frame is None or frame.index != rows.frame:
                    raise AnnotationMismatch(
                        f"{self._replay.info.path}: the annotated video lost step with the CSV at frame {rows.frame}: "
                        + ("the second decode ended there" if frame is None else f"it decoded frame {frame.index}")
                    )
                if self._first is None:
                    self._first, first_rows = frame, rows
                # Times are compared from the first frame: readers differ on where zero is.
                drift = (frame.time_s - self._first.time_s) - (rows.time_s - first_rows.time_s)
                if abs(drift) > self._half_frame_s:
                    raise AnnotationMismatch(
                        f"{self._replay.info.path}: frame {rows.frame} is at {frame.time_s:.3f} s in the second decode "
                        f"but {rows.time_s:.3f} s in the CSV"
                    )
                self._writer.write(self._draw(frame.rgb, rows), pts=frame.pts - self._first.pts)
        except Exception as exc:  # noqa: BLE001 - reported by close()
            self.error = exc

    def _draw(self, image: np.ndarray, rows: FramePoints) -> np.ndarray:
        heat = self._heatmaps.pop(rows.frame, None)
        if heat is not None:
            image = overlay_heatmap(image, heat[1].heatmap_to_image(heat[0].astype(np.float32) / 255.0))
        return self._overlay.draw(image, rows)

    def __enter__(self) -> "AnnotationWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish the queued frames and leave a playable file (also after Ctrl-C)."""
        self.submit(None)
        self._thread.join()
        self._writer.close()
        self._replay.close()
        if self.error is not None:
            raise self.error


def video_frames(localizer: Localizer, info: VideoInfo, start: int, stop: int, options: VideoOptions,
                 on_note: Callable[[str], None]) -> Iterator[FrameInput]:
    """The video as a source: frames decoded by the exact parallel pool, each letterboxed on its way."""

    def prepare(frame: Frame) -> FrameInput:
        # Each frame its own letterbox: a stream may change size, and a point is only ever mapped
        # back with the box of the frame it came from. The full-size pixels are dropped here: only
        # the small model input waits in the decode chunks, so memory stays low.
        return FrameInput(frame.index, frame.time_s, localizer.prepare(frame.rgb))

    return parallel_frames(info, start, stop, options.workers, prepare, options.decoder, on_note)


def run_video(
    localizer: Localizer,
    info: VideoInfo,
    outputs: VideoOutputs,
    options: VideoOptions,
    on_progress: Callable[[int], None] = lambda n: None,
    on_note: Callable[[str], None] = lambda text: None,
) -> VideoSummary:
    """Track one video into its outputs. Ctrl-C ends the run early: the summary says
    `interrupted`, and the outputs hold every frame done so far (valid CSV, playable video)."""
    outputs.check(info.path)
    start, stop = frame_range(info, options.start_s, options.end_s)
    if info.frame_count and start >= info.frame_count:
        raise VideoError(f"{info.path}: --start {options.start_s:g} s is past the end of the video "
                         f"({info.frame_count / info.fps:.2f} s)")
    builder = TrackBuilder(options.tracker, image_pixels_per_unit(info.width, info.height), causal=options.causal,
                           lag=None if options.causal else SMOOTHING_LAG, max_tracks=localizer.max_pets)
    cuts = SceneCuts(options.tracker.cut_threshold)
    summary = VideoSummary()
    writer = AnnotationWriter(info, outputs.video, start, options) if outputs.video else None
    summary.codec = writer.codec if writer else None
    with writer or contextlib.nullcontext(), open_csv(outputs.csv, CSV_COLUMNS) as sink:

        def emit(released: list[FramePoints]) -> None:
            before = sink.rows
            for rows in released:
                for point in rows.points:
                    sink.write(csv_row(point))
                summary.count(rows)
                if writer:
                    writer.submit(rows)
            if sink.rows // CSV_FLUSH_ROWS > before // CSV_FLUSH_ROWS:
                sink.flush()

        def consume(result: FrameResult) -> None:
            frame = result.frame
            if writer and result.found.heatmap is not None:
                writer.add_heatmap(frame.index, result.found.heatmap, frame.prepared.box)
            emit(builder.push(frame.index, frame.time_s, observations(result), result.found.peak.confidence,
                              cut=cuts(frame.prepared)))
            on_progress(1)

        frames = video_frames(localizer, info, start, stop, options, on_note)
        drive(localize(localizer, frames, options.batch_size, options.heatmap), consume, summary,
              stop_on=(DecodeError,))
        emit(builder.finish())
    if summary.frames:
        summary.record(info, localizer.min_confidence, localizer.weights_name).save(outputs.record)
    return summary
