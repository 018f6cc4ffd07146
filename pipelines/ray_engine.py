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
from typing import Callable, Iterator

from pettrack.model.localizer import LocalizerSettings

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
    pid: int = 0

    @property
    def failed(self) -> bool:
        return self.frames == 0


class VideoWorker:
    """A Ray actor's state: one loaded model, used for every video the actor is given."""

    def __init__(self, settings: LocalizerSettings):
        self.localizer = settings.load()

    def pid(self) -> int:
        return os.getpid()

    def track(self, source: Path, outputs: VideoOutputs, options: VideoOptions) -> VideoOutcome:
        try:
            summary = run_video(self.localizer, probe(source), outputs, options)
        except (VideoError, OSError) as exc:
            return VideoOutcome(source, error=str(exc), pid=os.getpid())
        error = summary.error if summary.frames else (summary.error or f"{source}: no frame could be decoded")
        return VideoOutcome(source, summary.frames, summary.seconds, error, summary.tracked_fraction,
                            len(summary.tracks), summary.cuts, os.getpid())


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
    queue: deque[tuple[Path, VideoOutputs, int]] = deque()
    for source, outputs in zip(sources, planned):
        if not overwrite and manifest.complete(source):
            summary.skipped.append(source)
        else:
            queue.append((source, outputs, 1))
    if not queue:
        return summary
    with _ray_session(ray, address, summary):
        count, resources = _actor_resources(ray, actors)
        count = min(count, len(queue))
        summary.actors = count
        worker_class = ray.remote(**resources)(VideoWorker)
        idle = [worker_class.remote(settings) for _ in range(count)]
        running: dict = {}  # object ref -> (actor, source, outputs, attempt)
        while queue or running:
            while queue and idle:
                actor = idle.pop()
                source, outputs, attempt = queue.popleft()
                running[actor.track.remote(source, outputs, options)] = (actor, source, outputs, attempt)
            (ready,), _ = ray.wait(list(running), num_returns=1)
            actor, source, outputs, attempt = running.pop(ready)
            try:
                outcome = ray.get(ready)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                # The worker died under this input (killed, out of memory, node lost): a fresh
                # worker takes its place and the input is done again, a bounded number of times.
                ray.kill(actor, no_restart=True)
                idle.append(worker_class.remote(settings))
                reason = f"worker died: {type(exc).__name__}"
                if attempt < max_attempts:
                    summary.retries += 1
                    manifest.record(source, RETRY, attempt, error=reason)
                    on_note(f"{source}: {reason}; trying again ({attempt + 1} of {max_attempts})")
                    queue.appendleft((source, outputs, attempt + 1))
                    continue
                outcome = VideoOutcome(source, error=f"{source}: {reason}, {max_attempts} times")
            except ray.exceptions.RayTaskError as exc:  # a bug in a worker: that input fails, the job goes on
                idle.append(actor)
                outcome = VideoOutcome(source, error=f"{source}: {exc}")
            else:
                idle.append(actor)
            if outcome.failed:
                manifest.record(source, FAILED, attempt, error=outcome.error)
                summary.failed.append(outcome)
            else:
                manifest.record(source, DONE, attempt, [outputs.csv, outputs.video], outcome.frames, outcome.error)
                summary.done.append(outcome)
            on_outcome(outcome, len(queue) + len(running))
    return summary


# --- Folders: chunks of images ---

class FolderWorker:
    """A Ray actor's state for folder jobs: one loaded model for every chunk it is given."""

    def __init__(self, settings: LocalizerSettings):
        self.localizer = settings.load()

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
        idle = [worker_class.remote(settings) for _ in range(min(count, len(chunks)))]
        waiting = deque((index, 1) for index in range(len(chunks)))
        running: dict = {}
        finished: dict[int, tuple[list, list]] = {}
        next_out = 0
        while waiting or running:
            while waiting and idle:
                actor = idle.pop()
                index, attempt = waiting.popleft()
                running[actor.locate.remote(root, chunks[index], options)] = (actor, index, attempt)
            (ready,), _ = ray.wait(list(running), num_returns=1)
            actor, index, attempt = running.pop(ready)
            try:
                finished[index] = ray.get(ready)
                idle.append(actor)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                ray.kill(actor, no_restart=True)
                idle.append(worker_class.remote(settings))
                if attempt >= max_attempts:
                    reason = f"worker died {max_attempts} times on this chunk ({type(exc).__name__})"
                    finished[index] = ([ImageFailure(csv_name(p.relative_to(root)), reason) for p in chunks[index]], [])
                else:
                    waiting.appendleft((index, attempt + 1))
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
