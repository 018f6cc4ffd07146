"""`--engine ray`: the same per-video job, spread over a Ray cluster (or a local Ray on this machine).

Nothing here imports Ray until a Ray job starts, so the local engine never needs it.

    driver (this process)                         Ray actors (one per CPU or GPU)
    inputs not complete in the manifest ──task──▶ VideoWorker: its own Localizer, loaded once;
    ◀── outcome (frames, error) ──────────────── run_video(...) exactly as the local engine:
    manifest record (outputs + SHA-256)           decode, infer, track, write CSV + video

A folder is split into chunks of images, one task each; the driver writes the rows in file order.
A video is one task, so its frames are tracked in order by one process and the outputs are those
of the local engine. Outputs go to the same paths (an --out-dir on a shared filesystem for a real
cluster). A worker that dies (killed, out of memory, node lost) has its input recorded as `retry`
and done again by a fresh worker, up to `max_attempts`; an input that fails by itself (a corrupt
file) is recorded as `failed` and the rest go on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from pettrack.model.localizer import Localizer
from pettrack.model.settings import LocalizerSettings

from .folder import FolderOptions, FolderSummary, ImageFailure, ImageResult, csv_name, run_folder
from .manifest import DONE, FAILED, MANIFEST_NAME, RETRY, Manifest
from .video import VideoOptions, VideoOutputs, run_video
from .video_io import VideoError, probe

INSTALL_HINT = 'pip install "pettrack[ray]"'


class EngineUnavailable(Exception):
    """Ray is not installed (or the cluster cannot be reached)."""


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise EngineUnavailable(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


@dataclass(frozen=True)
class VideoOutcome:
    """What a worker reports for one input."""

    source: Path
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None  # with frames > 0: the frames before it are kept
    tracked_fraction: float = 0.0
    tracks: int = 0
    cuts: int = 0

    @property
    def failed(self) -> bool:
        return self.frames == 0


class VideoWorker:
    """A Ray actor's state: one loaded model, used for every video the actor is given."""

    def __init__(self, settings: LocalizerSettings):
        self.localizer = Localizer.from_settings(settings)

    def track(self, source: Path, outputs: VideoOutputs, options: VideoOptions) -> VideoOutcome:
        try:
            summary = run_video(self.localizer, probe(source), outputs, options)
        except (VideoError, OSError) as exc:
            return VideoOutcome(source, error=str(exc))
        error = summary.error if summary.frames else (summary.error or f"{source}: no frame could be decoded")
        return VideoOutcome(source, summary.frames, summary.seconds, error, summary.tracked_fraction,
                            len(summary.tracks), summary.cuts)


@dataclass
class JobSummary:
    done: list[VideoOutcome] = field(default_factory=list)
    failed: list[VideoOutcome] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # complete in the manifest: not done again
    retries: int = 0
    seconds: float = 0.0
    actors: int = 0
    interrupted: bool = False

    @property
    def frames(self) -> int:
        return sum(o.frames for o in self.done)


def manifest_path(sources: list[Path], out_dir: Path | None) -> Path:
    """Beside the outputs: in --out-dir, else in the inputs' common folder."""
    folder = out_dir or Path(os.path.commonpath([str(s.resolve().parent) for s in sources]))
    return folder / MANIFEST_NAME


@contextlib.contextmanager
def _ray_session(ray, address: str | None, summary: JobSummary | FolderSummary) -> Iterator[None]:
    """Ray started here (or the cluster at `address` joined) for one job and shut down after it;
    Ctrl-C inside ends the job with `interrupted` set, the time spent goes into the summary."""
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise EngineUnavailable(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from exc
    started = time.perf_counter()
    try:
        yield
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.seconds = time.perf_counter() - started
        ray.shutdown()


def _actor_resources(ray, actors: int | None) -> tuple[int, dict]:
    """How many actors and what each asks for: a GPU each where the cluster has GPUs; otherwise
    the CPUs shared out (Ray gives an actor as many math-library threads as CPUs it holds, so one
    actor on a 2-core machine still uses both cores)."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if gpus:
        return actors or gpus, {"num_gpus": 1, "num_cpus": 1}
    count = actors or cpus
    return count, {"num_cpus": max(1, cpus // count)}


@dataclass(frozen=True)
class _Settled:
    """How one item's task ended: its result, or why there is none."""

    item: Any
    attempt: int
    result: Any = None
    error: str | None = None  # set when there is no result
    remaining: int = 0  # items not settled yet


def _actor_pool(ray, worker_class, settings: LocalizerSettings, count: int, items: list, call: Callable,
                max_attempts: int, on_retry: Callable[[Any, int, str], None]) -> Iterator[_Settled]:
    """Every item through `call(actor, item)` (an actor method's .remote) on `count` actors, one
    task per actor at a time, settled items yielded as they finish. A worker that dies under an
    item (killed, out of memory, node lost) is replaced by a fresh one and the item tried again,
    reported through on_retry, up to max_attempts; a bug inside a task settles its item with the
    error, and the job goes on."""
    idle = [worker_class.remote(settings) for _ in range(count)]
    waiting = deque((item, 1) for item in items)
    running: dict = {}  # object ref -> (actor, item, attempt)
    while waiting or running:
        while waiting and idle:
            actor = idle.pop()
            item, attempt = waiting.popleft()
            running[call(actor, item)] = (actor, item, attempt)
        (ready,), _ = ray.wait(list(running), num_returns=1)
        actor, item, attempt = running.pop(ready)
        try:
            result = ray.get(ready)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
            ray.kill(actor, no_restart=True)
            idle.append(worker_class.remote(settings))
            reason = f"worker died: {type(exc).__name__}"
            if attempt < max_attempts:
                on_retry(item, attempt, reason)
                waiting.appendleft((item, attempt + 1))
                continue
            yield _Settled(item, attempt, error=f"{reason}, {max_attempts} times",
                           remaining=len(waiting) + len(running))
            continue
        except ray.exceptions.RayTaskError as exc:
            idle.append(actor)
            yield _Settled(item, attempt, error=str(exc), remaining=len(waiting) + len(running))
            continue
        idle.append(actor)
        yield _Settled(item, attempt, result, remaining=len(waiting) + len(running))


def run_video_job(
    sources: list[Path],
    planned: list[VideoOutputs],
    options: VideoOptions,
    settings: LocalizerSettings,
    manifest: Manifest,
    address: str | None = None,
    actors: int | None = None,
    overwrite: bool = False,
    max_attempts: int = 3,
    on_outcome: Callable[[VideoOutcome, int], None] = lambda outcome, remaining: None,
    on_note: Callable[[str], None] = lambda text: None,
) -> JobSummary:
    """Track every input on Ray actors; each finished input is recorded in the manifest at once.
    Ctrl-C stops the job: the summary says `interrupted`, finished inputs stay recorded."""
    ray = import_ray()
    summary = JobSummary()
    todo: list[tuple[Path, VideoOutputs]] = []
    for source, outputs in zip(sources, planned):
        if not overwrite and manifest.complete(source):
            summary.skipped.append(source)
        else:
            todo.append((source, outputs))
    if not todo:
        return summary

    def retry(item: tuple[Path, VideoOutputs], attempt: int, reason: str) -> None:
        summary.retries += 1
        manifest.record(item[0], RETRY, attempt, error=reason)
        on_note(f"{item[0]}: {reason}; trying again ({attempt + 1} of {max_attempts})")

    with _ray_session(ray, address, summary):
        count, resources = _actor_resources(ray, actors)
        summary.actors = min(count, len(todo))
        worker_class = ray.remote(**resources)(VideoWorker)
        for settled in _actor_pool(ray, worker_class, settings, summary.actors, todo,
                                   lambda actor, item: actor.track.remote(*item, options), max_attempts, retry):
            source, outputs = settled.item
            outcome = settled.result or VideoOutcome(source, error=f"{source}: {settled.error}")
            if outcome.failed:
                manifest.record(source, FAILED, settled.attempt, error=outcome.error)
                summary.failed.append(outcome)
            else:
                manifest.record(source, DONE, settled.attempt, [outputs.csv, outputs.video], outcome.frames,
                                outcome.error)
                summary.done.append(outcome)
            on_outcome(outcome, settled.remaining)
    return summary


# --- Folders: chunks of images ---

class FolderWorker:
    """A Ray actor's state for folder jobs: one loaded model for every chunk it is given."""

    def __init__(self, settings: LocalizerSettings):
        self.localizer = Localizer.from_settings(settings)

    def locate(self, root: Path, paths: list[Path], options: FolderOptions) -> tuple[list, list[ImageFailure]]:
        """Results and failures in file order, and the annotated copies that could not be written."""
        found: list[ImageResult | ImageFailure] = []
        unwritten: list[ImageFailure] = []
        run_folder(self.localizer, root, paths, options, found.append, found.append, unwritten.append)
        return found, unwritten


def run_folder_job(
    root: Path,
    paths: list[Path],
    options: FolderOptions,
    settings: LocalizerSettings,
    on_result: Callable[[ImageResult], None],
    on_failure: Callable[[ImageFailure], None],
    on_unwritten: Callable[[ImageFailure], None] = lambda failure: None,
    address: str | None = None,
    actors: int | None = None,
    chunk: int = 64,
    max_attempts: int = 3,
) -> FolderSummary:
    """The folder job on Ray actors, chunk by chunk; callbacks fire in file order, as run_folder's."""
    ray = import_ray()
    summary = FolderSummary()
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    with _ray_session(ray, address, summary):
        count, resources = _actor_resources(ray, actors)
        worker_class = ray.remote(**resources)(FolderWorker)
        finished: dict[int, tuple[list, list]] = {}
        next_out = 0
        for settled in _actor_pool(ray, worker_class, settings, min(count, len(chunks)), list(range(len(chunks))),
                                   lambda actor, index: actor.locate.remote(root, chunks[index], options),
                                   max_attempts, lambda item, attempt, reason: None):
            finished[settled.item] = settled.result or (
                [ImageFailure(csv_name(p.relative_to(root)), settled.error) for p in chunks[settled.item]], [])
            while next_out in finished:  # rows leave in file order
                found, unwritten = finished.pop(next_out)
                for item in found:
                    summary.frames += 1
                    if isinstance(item, ImageFailure):
                        summary.failures.append(item)
                        on_failure(item)
                    else:
                        on_result(item)
                for failure in unwritten:
                    summary.unwritten.append(failure)
                    on_unwritten(failure)
                next_out += 1
    return summary
