"""The one runner: any source's frames -> batches -> Localizer -> FrameResults -> a consumer.

    source ──FrameInput──▶ localize (one batcher, one forward pass per batch) ──FrameResult──▶ consume
    (folder files,         (each frame mapped back with its own letterbox)                    (tracker and
     video frames,                                                                              sinks: CSV,
     camera frames)                                                                             video, images)

`folder`, `video` and `camera` differ only in their source and their consumer; `drive` runs the
two together and is the one place that turns Ctrl-C and a mid-stream decode error into the
summary's `interrupted` and `error`, so every command ends the same way.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

from pettrack.model.localizer import Detections, Launched, Localizer, Prepared, batched

from .interrupts import pressed

R = TypeVar("R")


# Frames per forward pass and decoding threads, by device: a GPU wants big batches and many
# decoders to stay busy; on a CPU the model is the slow part, and one decoding thread keeps ahead
# of it. One thread reads a video in one pass (PyAV, video_io.parallel_frames): on 2 cores as many
# frames/s as two decord workers (5% fewer at 1080p with --no-video), in 18-52% less memory (720p
# to 4K; docs/benchmarks.md).
CPU_BATCH, CPU_WORKERS = 16, 1
CUDA_BATCH, CUDA_MAX_WORKERS = 64, 8


def device_defaults(device_type: str) -> tuple[int, int]:
    """(batch size, decode workers) for `folder` and `video` on this kind of device."""
    if device_type == "cuda":
        return CUDA_BATCH, max(2, min(CUDA_MAX_WORKERS, os.cpu_count() or 2))
    return CPU_BATCH, CPU_WORKERS


@dataclass(frozen=True)
class FrameInput:
    """One frame (or still image) from a source, ready for the model."""

    index: int  # its place in the source: the frame number, or the file's number in a folder
    time_s: float | None  # the frame's time in the source; None for still images
    prepared: Prepared | None  # model input and *its own* letterbox; None: the frame could not be read
    error: str | None = None  # why it could not be read
    payload: Any = None  # what a consumer needs besides the result (a file name, the decoded image)


@dataclass(frozen=True)
class FrameResult:
    """A frame and what the model found in it, in that frame's pixels."""

    frame: FrameInput
    found: Detections | None  # None when the frame could not be read (frame.error says why)


def localize(localizer: Localizer, frames: Iterable[FrameInput], batch_size: int,
             heatmaps: bool = False, lookahead: int | None = None) -> Iterator[FrameResult]:
    """Results in source order, one forward pass per `batch_size` readable frames (the first
    pass takes one); unreadable frames ride along in their batch so their results stay in order
    with the others.

    lookahead: batches launched before the oldest is collected. None: 1 where the localizer is
    asynchronous (CUDA: the GPU runs batch k+1 while the host maps back and consumes batch k),
    else 0. Live sources pass 0: each result as soon as it exists."""
    stopped: list[Exception] = []
    if lookahead is None:
        lookahead = 1 if localizer.asynchronous else 0

    def until_error() -> Iterator[FrameInput]:
        # A source that fails mid-way (a damaged video) still has its last, unfilled batch
        # processed: the error is raised after every frame before it has a result.
        try:
            yield from frames
        except Exception as exc:  # noqa: BLE001 - re-raised below, in order
            stopped.append(exc)

    def results(batch: list[FrameInput], launched: Launched | None) -> Iterator[FrameResult]:
        found = iter(localizer.collect(launched) if launched is not None else [])
        for frame in batch:
            yield FrameResult(frame, next(found) if frame.prepared is not None else None)

    in_flight: deque[tuple[list[FrameInput], Launched | None]] = deque()
    try:
        # A first batch of one frame: the first result (and the progress a user sees) comes after
        # one frame's decoding and forward pass, not a whole batch's; the rest are full batches.
        for batch in batched(until_error(), batch_size, counts=lambda frame: frame.prepared is not None, first=1):
            readable = [frame.prepared for frame in batch if frame.prepared is not None]
            in_flight.append((batch, localizer.launch(readable, heatmaps) if readable else None))
            while len(in_flight) > lookahead:
                yield from results(*in_flight.popleft())
        while in_flight:
            yield from results(*in_flight.popleft())
        if stopped:
            raise stopped[0]
    finally:
        _close(frames)  # stops a source's decode workers now, not when garbage-collected


def _close(source: object) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()


@dataclass
class RunSummary:
    """What every run reports; each command's summary adds its own counts."""

    frames: int = 0  # results delivered to the consumer
    seconds: float = 0.0
    error: str | None = None  # a mid-stream error that ended the source; results before it are kept
    interrupted: bool = False  # Ctrl-C: the results so far were all delivered

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


S = TypeVar("S", bound=RunSummary)


class StopRun(Exception):
    """Raised by a consumer to end a run early and cleanly (a live window's q key)."""


def drive(results: Iterator[R], consume: Callable[[R], None], summary: S,
          stop_on: tuple[type[Exception], ...] = ()) -> S:
    """Feed every result to `consume` and count it. Ctrl-C sets `summary.interrupted`; an error
    of a `stop_on` type (a corrupt stretch of video) is recorded in `summary.error`. Either way
    the source is closed at once (its workers stopped) and the caller's sinks close normally."""
    began = time.perf_counter()
    try:
        for result in results:
            consume(result)
            summary.frames += 1
            if pressed():  # a Ctrl-C whose KeyboardInterrupt was swallowed (pipelines/interrupts.py)
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        summary.interrupted = True
    except StopRun:
        pass
    except stop_on as exc:
        summary.error = str(exc)
    finally:
        _close(results)
        summary.seconds = time.perf_counter() - began
    return summary

