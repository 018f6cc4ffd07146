"""`pettrack video`: tracks through videos, on this machine or on Ray; per input its CSV, annotated
video, run record, plot and exports, replaced together."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pettrack.model.files import OutputGroup
from pettrack.model.settings import LocalizerSettings

from ..console import describe_error, fail, out, progress, say, shown, warn
from ..exports import TrackExportError
from ..manifest import Manifest
from ..tables import RunRecord
from .common import (
    EXIT_FAILED, EXIT_INTERRUPTED, device_kind, export_formats, load_localizer, outputs_refused, plot_and_export,
    tracker_config, unique_inputs,
)

if TYPE_CHECKING:
    from pettrack.model.localizer import Localizer

    from ..ray_engine import JobSummary, VideoOutcome
    from ..video import VideoOptions, VideoOutputs


def run(
    *,
    inputs: Optional[list[Path]],
    out_dir: Optional[Path],
    no_video: bool,
    csv_file: Optional[Path],
    video_file: Optional[Path],
    settings: LocalizerSettings,
    batch_size: Optional[int],
    workers: Optional[int],
    raw: bool,
    heatmap: bool,
    start: Optional[float],
    end: Optional[float],
    causal: bool,
    decoder: str,
    tracker: Optional[Path],
    engine: str,
    address: Optional[str],
    actors: Optional[int],
    input_list: Optional[Path],
    overwrite: bool,
    plots: bool,
    export: Optional[str],
    report: bool,
) -> None:
    """Track the nose through videos: NAME.pettrack.csv, an annotated NAME.pettrack.mp4 and a
    plot."""
    from ..runner import device_defaults
    from ..video import VideoOptions, is_own_output, plan_outputs
    from ..video_io import VideoError

    if start is not None and end is not None and end <= start:
        raise typer.BadParameter(f"--end {end:g} must be after --start {start:g}", param_hint="--end")
    tracker_settings = tracker_config(tracker)
    formats = export_formats(export)
    sources = unique_inputs(list(inputs or []) + (_read_input_list(input_list) if input_list else []))
    own = [source for source in sources if is_own_output(source)]
    if own:
        shown_names = ", ".join(shown(p.name) for p in own[:3]) + (f" and {len(own) - 3} more" if len(own) > 3 else "")
        say(f"skipped {len(own)} of pettrack's own outputs (NAME.pettrack.*): {shown_names}")
        sources = [source for source in sources if not is_own_output(source)]
        if not sources:
            fail("nothing to track: every input is one of pettrack's own outputs")
            raise typer.Exit(2)
    if not sources:
        raise typer.BadParameter("name at least one video, or a --manifest file listing them", param_hint="INPUTS")
    with outputs_refused():
        planned = plan_outputs(sources, out_dir, csv_file, video_file, not no_video, plots, formats)
    # A Ray job loads its models in the workers; here only the device kind is needed, for defaults.
    localizer = None if engine == "ray" else load_localizer(settings)
    default_batch, default_workers = device_defaults(device_kind(localizer.device if localizer else settings.device))
    options = VideoOptions(batch_size or default_batch, workers or default_workers, raw, heatmap,
                           start, end, causal, decoder, tracker_settings)
    if localizer is None:
        done = _track_on_ray(sources, planned, options, settings, out_dir, address, actors, overwrite)
        for source, outputs in zip(sources, planned):
            if source in done:
                _finish_run(source, outputs, formats)
        if report:
            _write_report(planned, out_dir)
        return
    failed: list[str] = []
    for source, outputs in zip(sources, planned):
        try:
            # The input's CSV, video, record, plot and exports replace earlier ones together.
            with OutputGroup() as group:
                _track_one(localizer, source, outputs, options, group)
                _finish_run(source, outputs, formats, group)
                group.commit()
        except VideoError as exc:
            fail(str(exc))
            failed.append(str(exc))
        except OSError as exc:  # an output that could not be written (full disk, a folder gone)
            names = ", ".join(p.name for p in outputs.files)
            fail(f"{describe_error(exc)}; {source} not finished: none of its new results was kept ({names}); "
                 "earlier files there are untouched")
            failed.append(f"{source}: {describe_error(exc)}")
    if report and len(failed) < len(sources):
        _write_report(planned, out_dir)
    if failed:
        say(f"{len(sources) - len(failed)} of {len(sources)} videos done; {len(failed)} skipped:")
        for line in failed:
            say(f"  {line}")
    if len(failed) == len(sources):
        raise typer.Exit(EXIT_FAILED)


def _read_input_list(path: Path) -> list[Path]:
    """Inputs listed in a text file, one per line; blank lines and '#' comments skipped; relative
    paths are relative to the file's folder."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--manifest: {describe_error(exc) if isinstance(exc, OSError) else f'{path}: not UTF-8 text'}")
        raise typer.Exit(2) from exc
    entries = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return [path.parent / entry if not Path(entry).is_absolute() else Path(entry) for entry in entries]


def _finish_run(source: Path, outputs: VideoOutputs, formats: tuple[str, ...], group: Optional[OutputGroup] = None) -> None:
    """The plot and the exports of a finished run, made from its new CSV and record (still in
    `group`, not yet in place, when there is one: a Ray job's workers have put theirs in place).
    An export the data does not allow is a warning; a failed write (a full disk) fails the whole
    input. Ctrl-C here keeps the complete CSV, video and record."""
    readable = group.readable if group else Path
    record_file = readable(outputs.record)
    record = RunRecord.read(record_file) if record_file.is_file() else None
    try:
        for path in plot_and_export(source.name, outputs.csv, record, outputs.plot, formats,
                                     read_from=readable(outputs.csv)):
            say(f"  wrote {path}")
    except TrackExportError as exc:
        warn(str(source), f"no export: {exc}")
    except KeyboardInterrupt:
        done = group.commit() if group else [p for p in (outputs.csv, outputs.video, outputs.record) if p and p.is_file()]
        kept = ", ".join(str(p) for p in done if p.suffix != ".png")
        say(f"interrupted while making the plot and exports of {source}; its results are complete and kept: {kept} "
            f"(pettrack convert {outputs.csv} --to FORMATS --plot makes the rest)")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _write_report(planned: list[VideoOutputs], out_dir: Optional[Path]) -> None:
    from ..report import write_report

    folder = out_dir or Path(os.path.commonpath([str(o.csv.resolve().parent) for o in planned]))
    path, rows = write_report(folder, on_skip=lambda csv, reason: warn(str(csv), f"not in the report: {reason}"))
    say(f"report: {path} ({rows} run(s))")


def _track_on_ray(sources: list[Path], planned: list[VideoOutputs], options: VideoOptions,
                  settings: LocalizerSettings, out_dir: Optional[Path], address: Optional[str],
                  actors: Optional[int], overwrite: bool) -> set[Path]:
    """The video job on Ray: a bar for the job, a table at the end, the job record beside the
    outputs. Returns the inputs done in this run."""
    from ..ray_engine import EngineUnavailable, manifest_path, run_video_job

    manifest = Manifest(manifest_path(sources, out_dir))
    if not overwrite and all(manifest.complete(source) for source in sources):
        say(f"all {len(sources)} input(s) already complete (job record: {manifest.path}); nothing to do "
            "(--overwrite does them again)")
        return set()
    with progress("videos") as bar:
        task = bar.add_task("videos", total=len(sources), rate="")
        started, frames = time.perf_counter(), 0

        def on_outcome(outcome: VideoOutcome, remaining: int) -> None:
            nonlocal frames
            frames += outcome.frames
            rate = frames / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=len(sources) - remaining, rate=f"{frames} frames, {rate:.1f} fps")

        try:
            summary = run_video_job(sources, planned, options, settings, manifest, address, actors, overwrite,
                                    on_outcome=on_outcome, on_note=lambda text: warn("ray", text))
        except EngineUnavailable as exc:
            fail(str(exc))
            raise typer.Exit(2) from exc
    if summary.done or summary.failed:
        out.print(_job_table(summary))
    say(f"{len(summary.done)} done, {len(summary.skipped)} already complete, {len(summary.failed)} failed, "
        f"{summary.retries} retried; {summary.frames} frames in {summary.seconds:.1f} s "
        f"({summary.frames / max(summary.seconds, 1e-9):.1f} frames/s) on {summary.actors} Ray actor(s); "
        f"job record: {manifest.path}")
    for outcome in summary.failed:
        say(f"  failed: {outcome.error}")
    if summary.interrupted:
        say("interrupted; rerun the same command to do the inputs left")
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.failed and not summary.done and not summary.skipped:
        raise typer.Exit(EXIT_FAILED)
    return {outcome.source for outcome in summary.done}


def _job_table(summary: JobSummary) -> Table:
    table = Table(title="Ray job", title_justify="left")
    for name, justify in (("video", "left"), ("frames", "right"), ("nose tracked", "right"), ("tracks", "right"),
                          ("cuts", "right"), ("frames/s", "right"), ("status", "left")):
        table.add_column(name, justify=justify)
    for o in summary.done + summary.failed:
        status = "failed" if o.failed else ("done" if not o.error else "done, ended early")
        table.add_row(Text(shown(o.source.name)), str(o.frames), f"{o.tracked_fraction:.1%}", str(o.tracks),
                      str(o.cuts), f"{o.frames / o.seconds:.1f}" if o.seconds else "", status)
    return table


def _track_one(localizer: Localizer, source: Path, outputs: VideoOutputs, options: VideoOptions,
               group: OutputGroup) -> None:
    from ..video import run_video
    from ..video_io import VideoError, frame_range, probe

    info = probe(source)
    count = (f"{info.frame_count} frames" if info.frame_count else
             f"about {info.estimated_frames} frames (no count in the container)" if info.estimated_frames else
             "no frame count in the container")
    say(f"{source}: {info.width}x{info.height}, {count} at {float(info.rate):.3f} fps"
        f" ({info.rate}){f', rotated {info.rotation} degrees' if info.rotation else ''}")
    with progress("frames") as bar:
        first, last = frame_range(info, options.start_s, options.end_s)
        # Without a count in the container: progress against the duration's estimate, else a counter.
        total = last - first if last is not None else max(info.estimated_frames - first, 0) or None
        task = bar.add_task(escape(shown(source.name)), total=total, rate="")
        started = time.perf_counter()

        def advance(n: int) -> None:
            done = bar.tasks[task].completed + n
            bar.update(task, advance=n, rate=f"{done / max(time.perf_counter() - started, 1e-9):.1f} fps")

        summary = run_video(localizer, info, outputs, options, advance, on_note=lambda text: warn(str(source), text))
    if summary.interrupted:
        group.commit()  # what was done is valid: keep it
        say(f"interrupted; {summary.frames} frames kept in {outputs.csv}" + (f" and {outputs.video}" if outputs.video else ""))
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.frames == 0:
        raise VideoError(summary.error or f"{source}: no frame could be decoded")
    if summary.error:
        warn(summary.error, f"the {summary.frames} frames before it are kept")
    say(
        f"{source.name}: {summary.frames} frames, a nose tracked on {summary.tracked_fraction:.1%}, "
        f"{len(summary.tracks)} track(s), {summary.cuts} scene cut(s), {summary.fps:.1f} frames/s"
    )
    say(f"  CSV: {outputs.csv}")
    if outputs.video:
        say(f"  video: {outputs.video} [{summary.codec}]")
    peak_memory = localizer.backend.peak_memory_mib()
    if peak_memory is not None:
        say(f"  peak GPU memory: {peak_memory:.0f} MiB")
