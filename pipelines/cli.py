"""The `pettrack` command: thin typer commands over the library.

Exit codes: 0 the job was done (some inputs may have been skipped, and are listed);
1 the job failed (nothing usable came out); 2 bad usage; 130 interrupted (outputs so far kept).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Only light modules here: --help and usage errors answer before torch, OpenVINO, OpenCV, SciPy,
# matplotlib or Ray load (tests/test_startup.py keeps it so). Each command imports its work when
# it runs.
from pettrack.model.devices import device_type
from pettrack.model.files import OutputError, OutputGroup, check_outputs, same_file
from pettrack.model.labels import LabelFile, read_labels
from pettrack.model.settings import BACKENDS, MAX_PETS, PRECISION_NAMES, LocalizerSettings

from .console import describe_error, err, fail, out, progress, say, shown, summary_table, warn
from .exports import INSTALL_EXPORT, TrackExportError, export_path, export_track, exports_available, parse_formats
from .manifest import Manifest
from .report import REPORT_NAME, find_runs, write_report
from .tables import RunRecord, TrackFileError, load_track, plot_path, record_path

if TYPE_CHECKING:
    from pettrack.model.localizer import Localizer
    from pettrack.tracker import TrackerConfig

    from .folder import ImageFailure, ImageResult
    from .ray_engine import JobSummary
    from .video import VideoOptions, VideoOutputs

app = typer.Typer(
    name="pettrack",
    help="Find a pet's nose in every image of a folder and every frame of a video.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130

WeightsOption = typer.Option(None, "--weights", "-w", help="Weights file (.safetensors), or a shipped model: default (256 px, for footage), portrait (256 px, photos only) or fast (128 px, about twice the frames/s on a CPU, less precise).")


def _device_name(value: str) -> str:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise typer.BadParameter(f"{value!r}: use auto, cpu, cuda or cuda:N")
    return value


def one_of(*choices: str):
    """An option callback: the value must be one of `choices` (else a usage error, exit 2)."""
    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"{value!r}: use {', '.join(choices[:-1])} or {choices[-1]}")
        return value
    return check


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise typer.BadParameter(f"{value:g}: {name} must be above 0")
    return value


def _multiple_of_32(value: int) -> int:
    if value % 32:
        raise typer.BadParameter(f"{value} is not a multiple of 32")
    return value


DeviceOption = typer.Option("auto", "--device", callback=_device_name, help="auto (CUDA when present), cpu, cuda or cuda:N.")


BackendOption = typer.Option(
    "auto", "--backend", callback=one_of(*BACKENDS),
    help='Where the network runs: auto (OpenVINO on a CPU when installed, else PyTorch), torch or openvino '
         '(pip install "pettrack\\[openvino]").',  # \\[: a literal [ in rich markup
)


PrecisionOption = typer.Option(
    "auto", "--precision", callback=one_of(*PRECISION_NAMES),
    help="auto (bf16 on CUDA and on CPUs with native bf16, else fp32), fp32, bf16, fp16, or int8: the weights' "
         "quantized OpenVINO model (CPU; the shipped default has one; see docs/benchmarks.md for its accuracy).",
)


MinConfidenceOption = typer.Option(
    None, "--min-confidence", min=0.0, max=1.0,
    help="Heat-map peaks below this are 'no nose' (default: the model's presence threshold, stored in its weights).",
)
MaxPetsOption = typer.Option(
    MAX_PETS, "--max-pets", min=1, max=256,
    help="Most noses per image or frame, and most tracks at once (1: follow the single most confident nose).",
)


ExportOption = typer.Option(
    None, "--export", help='Also write the tracks for other tools, comma-separated: slp (SLEAP), nwb (NWB + ndx-pose), '
    'dlc (DeepLabCut-style CSV); needs pip install "pettrack\\[export]".',
)


EngineOption = typer.Option(
    "local", "--engine", callback=one_of("local", "ray"),
    help="local: this machine's worker pool; ray: a Ray cluster or a local Ray (pip install \"pettrack\\[ray]\"; see docs/scale.md).",
)
AddressOption = typer.Option(
    None, "--address", help="With --engine ray: join a running cluster (auto, or ray://HOST:PORT); default: start Ray here.",
)
ActorsOption = typer.Option(
    None, "--actors", min=1, help="With --engine ray: model workers (default: one per GPU of the cluster, else one per CPU).",
)
TrackerOption = typer.Option(
    None, "--tracker", help="Tracker settings, a TOML file of name = value lines (see docs/tracker.md); unset ones keep their defaults.",
)


def _tracker_config(path: Optional[Path]) -> TrackerConfig:
    from pettrack.tracker import TrackerConfig

    if path is None:
        return TrackerConfig()
    try:
        return TrackerConfig.from_toml(path)
    except ValueError as exc:
        fail(f"--tracker: {exc}")
        raise typer.Exit(2) from exc


@contextlib.contextmanager
def _outputs_refused(prefix: str = "") -> Iterator[None]:
    """An output the library's output policy refuses (model/files.py check_outputs) is bad
    usage: one line, exit 2, before any work."""
    try:
        yield
    except OutputError as exc:
        fail(f"{prefix}{exc}")
        raise typer.Exit(2) from exc


def _load_localizer(settings: LocalizerSettings) -> Localizer:
    from pettrack.model.backends import BackendError, QuantizeError
    from pettrack.model.weights import WeightsError

    try:
        return settings.load()
    except BackendError as exc:
        fail(f"--backend {settings.backend}: {exc}")
        raise typer.Exit(2) from exc
    except QuantizeError as exc:
        fail(f"--precision int8: {exc}")
        raise typer.Exit(2) from exc
    except (WeightsError, ValueError) as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc


@app.command()
def folder(
    directory: Path = typer.Argument(..., help="Folder of images (JPEG, PNG, WebP, BMP, TIFF)."),
    csv: bool = typer.Option(False, "--csv", help="Write CSV (file,nose,x,y,confidence,width,height: a row per nose) to stdout instead of a table."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the CSV to this file (atomically)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Include subfolders."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Write a copy of each image with the nose marked into this folder."),
    heatmap: bool = typer.Option(False, "--heatmap", help="With --annotate: overlay the heat-map too."),
    weights: Optional[Path] = WeightsOption,
    min_confidence: Optional[float] = MinConfidenceOption,
    max_pets: int = MaxPetsOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    precision: str = PrecisionOption,
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Images per forward pass (default: 16 on CPU, 64 on CUDA)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Decoding threads (default: 2 on CPU, up to 8 with CUDA)."),
    engine: str = EngineOption,
    address: Optional[str] = AddressOption,
    actors: Optional[int] = ActorsOption,
    chunk: int = typer.Option(64, "--chunk", min=1, help="With --engine ray: images per task."),
) -> None:
    """Locate the nose in every image of a folder: a table, or CSV with [bold]--csv[/]."""
    from .folder import CSV_COLUMNS, FolderOptions, ImageFailure, ImageResult, find_files, run_folder
    from .ray_engine import EngineUnavailable, run_folder_job
    from .runner import device_defaults
    from .sinks import open_csv

    if not directory.is_dir():
        fail(f"{directory}: not a folder")
        raise typer.Exit(EXIT_FAILED)
    listing = find_files(directory, recursive)
    for other in listing.others:
        warn(str(directory / other.file), f"skipped, {other.reason}")
    images = listing.images
    if not images:
        fail(f"{directory}: no images found (looked for .jpg .jpeg .png .webp .bmp .tif .tiff{'' if recursive else '; --recursive for subfolders'})")
        raise typer.Exit(EXIT_FAILED)
    with _outputs_refused():
        FolderOptions(annotate_dir=annotate).check(directory)
        check_outputs([out_file], images)
    settings = LocalizerSettings(weights, device, precision, min_confidence, backend, max_pets)
    localizer = None if engine == "ray" else _load_localizer(settings)
    default_batch, default_workers = device_defaults(device_type(localizer.device) if localizer else _device_type(device))
    options = FolderOptions(batch_size or default_batch, workers or default_workers, annotate, heatmap)
    results: list[ImageResult] = []
    csv_path = out_file
    to_stdout = csv and out_file is None

    csv_output = open_csv(csv_path, CSV_COLUMNS) if (csv or out_file) else contextlib.nullcontext(None)
    with _csv_write_failure(csv_path), progress() as bar, csv_output as sink:
        task = bar.add_task("images", total=len(images), rate="")

        def on_result(result: ImageResult) -> None:
            bar.advance(task)
            if sink is not None:
                for row in result.csv_rows():
                    sink.write(row)
                sink.flush()
            if not (to_stdout or out_file):
                results.append(result)

        def on_failure(failure: ImageFailure) -> None:
            bar.advance(task)
            warn(str(directory / failure.file), failure.reason)

        def on_unwritten(failure: ImageFailure) -> None:
            warn(str(directory / failure.file), failure.reason)

        if localizer is not None:
            summary = run_folder(localizer, directory, images, options, on_result, on_failure, on_unwritten)
        else:
            try:
                summary = run_folder_job(directory, images, options, settings, on_result, on_failure, on_unwritten,
                                         address, actors, chunk)
            except EngineUnavailable as exc:
                fail(str(exc))
                raise typer.Exit(2) from exc
    if summary.interrupted:
        say(f"interrupted; {summary.processed} results kept" + (f" in {csv_path}" if csv_path else ""))
        raise typer.Exit(EXIT_INTERRUPTED)

    if not (to_stdout or out_file):
        out.print(_results_table(results))
    _print_folder_summary(summary.processed, len(images), summary.failures + listing.others, csv_path, annotate)
    if summary.processed == 0:
        fail("no image could be processed")
        raise typer.Exit(EXIT_FAILED)
    if summary.unwritten:
        fail(f"{len(summary.unwritten)} annotated copies could not be written to {annotate} (the results are complete)")
        raise typer.Exit(EXIT_FAILED)


@contextlib.contextmanager
def _csv_write_failure(csv_path: Optional[Path]) -> Iterator[None]:
    """A CSV file that cannot be written (a full disk) is one line naming it; the file written
    through a temp file keeps its earlier contents."""
    try:
        yield
    except OSError as exc:
        if csv_path is None:
            raise
        fail(f"{csv_path}: cannot write it ({describe_error(exc)}); nothing was written there, its earlier contents are kept")
        raise typer.Exit(EXIT_FAILED) from exc


def _results_table(results: list[ImageResult]) -> Table:
    table = Table(title="Nose positions (original image pixels)", title_justify="left")
    for name, justify in (("file", "left"), ("nose", "right"), ("x", "right"), ("y", "right"), ("confidence", "right"),
                          ("size", "right")):
        table.add_column(name, justify=justify)
    for r in results:
        size = f"{r.width}x{r.height}"
        if not r.noses:
            table.add_row(Text(shown(r.file)), "", "no nose", "", f"{r.peak_confidence:.2f}", size)
        for i, nose in enumerate(r.noses):
            table.add_row(Text(shown(r.file)) if i == 0 else "", str(i), f"{nose.x:.1f}", f"{nose.y:.1f}",
                          f"{nose.confidence:.2f}", size if i == 0 else "")
    return table


def _print_folder_summary(processed: int, total: int, failures: list[ImageFailure], csv_path, annotate) -> None:
    # No result, no CSV: an earlier file at --out is left as it was, and the line says so.
    kept = " (its earlier contents are kept)" if csv_path and Path(csv_path).exists() else ""
    written = (f", CSV in {csv_path}" if processed else f", nothing written to {csv_path}{kept}") if csv_path else ""
    say(f"processed {processed} of {total} images" + written
        + (f", annotated copies in {annotate}" if annotate else ""))
    if failures:
        err.print(f"[yellow]{len(failures)} skipped:[/]")
        for failure in failures:
            say(f"  {failure.file}: {failure.reason}")


@app.command()
def video(
    inputs: Optional[list[Path]] = typer.Argument(None, help="One or more video files (or --manifest)."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Write outputs here instead of beside each input."),
    no_video: bool = typer.Option(False, "--no-video", help="CSV only, no annotated video."),
    csv_file: Optional[Path] = typer.Option(None, "--csv", help="CSV path (one input only)."),
    video_file: Optional[Path] = typer.Option(None, "--video", help="Annotated video path (one input only)."),
    weights: Optional[Path] = WeightsOption,
    min_confidence: Optional[float] = MinConfidenceOption,
    max_pets: int = MaxPetsOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    precision: str = PrecisionOption,
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Frames per forward pass (default: 16 on CPU, 64 on CUDA)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Decoding threads (default: 2 on CPU, up to 8 with CUDA)."),
    raw: bool = typer.Option(False, "--raw", help="Also draw the unsmoothed detections."),
    heatmap: bool = typer.Option(False, "--heatmap", help="Overlay the heat-maps on the video."),
    start: Optional[float] = typer.Option(None, "--start", min=0, help="Start at this time (seconds)."),
    end: Optional[float] = typer.Option(None, "--end", min=0, help="Stop at this time (seconds)."),
    causal: bool = typer.Option(False, "--causal", help="Forward filter only, no look-ahead (as live mode)."),
    decoder: str = typer.Option("auto", "--decoder", callback=one_of("auto", "decord", "opencv"),
                                help="auto, decord or opencv."),
    tracker: Optional[Path] = TrackerOption,
    engine: str = EngineOption,
    address: Optional[str] = AddressOption,
    actors: Optional[int] = ActorsOption,
    input_list: Optional[Path] = typer.Option(
        None, "--manifest", help="A text file listing input videos, one per line ('#' comments; relative to the file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --engine ray: redo inputs the job record says are complete."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw NAME.pettrack.png: the trajectory, x, y and confidence over time, the states and cuts."),
    export: Optional[str] = ExportOption,
    report: bool = typer.Option(False, "--report", help=f"Write {REPORT_NAME} (every run in the output folder) at the end."),
) -> None:
    """Track the nose through videos: [bold]NAME.pettrack.csv[/], an annotated [bold]NAME.pettrack.mp4[/] and a plot."""
    from .runner import device_defaults
    from .video import VideoOptions, is_own_output, plan_outputs
    from .video_io import VideoError

    if start is not None and end is not None and end <= start:
        raise typer.BadParameter(f"--end {end:g} must be after --start {start:g}", param_hint="--end")
    tracker_config = _tracker_config(tracker)
    formats = _export_formats(export)
    sources = _unique(list(inputs or []) + (_read_input_list(input_list) if input_list else []))
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
    with _outputs_refused():
        planned = plan_outputs(sources, out_dir, csv_file, video_file, not no_video, plots, formats)
    settings = LocalizerSettings(weights, device, precision, min_confidence, backend, max_pets)
    # A Ray job loads its models in the workers; here only the device kind is needed, for defaults.
    localizer = None if engine == "ray" else _load_localizer(settings)
    default_batch, default_workers = device_defaults(device_type(localizer.device) if localizer else _device_type(device))
    options = VideoOptions(batch_size or default_batch, workers or default_workers, raw, heatmap,
                           start, end, causal, decoder, tracker_config)
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


def _export_formats(text: Optional[str]) -> tuple[str, ...]:
    """--export's formats, refused (exit 2) when unknown or when the libraries are missing."""
    if text is None:
        return ()
    try:
        formats = parse_formats(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--export") from exc
    if not exports_available():
        fail(f"--export: {INSTALL_EXPORT}")
        raise typer.Exit(2)
    return formats


def _finish_run(source: Path, outputs: VideoOutputs, formats: tuple[str, ...], group: Optional[OutputGroup] = None) -> None:
    """The plot and the exports of a finished run, made from its new CSV and record (still in
    `group`, not yet in place, when there is one: a Ray job's workers have put theirs in place).
    An export the data does not allow is a warning; a failed write (a full disk) fails the whole
    input. Ctrl-C here keeps the complete CSV, video and record."""
    readable = group.readable if group else Path
    record_file = readable(outputs.record)
    record = RunRecord.read(record_file) if record_file.is_file() else None
    try:
        for path in _plot_and_export(source.name, outputs.csv, record, outputs.plot, formats,
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


def _plot_and_export(title: str, csv: Path, record: Optional[RunRecord], plot: Optional[Path],
                     formats: tuple[str, ...], read_from: Optional[Path] = None) -> list[Path]:
    """A run's plot (when `plot` names it) and exports, made from its CSV (read once, from
    `read_from` when its new content is not in place yet) and record."""
    from .track_plot import plot_track

    table = load_track(read_from or csv)
    made = [plot_track(table, record, plot, title)] if plot else []
    return made + (export_track(csv, table, record, formats) if formats else [])


def _write_report(planned: list[VideoOutputs], out_dir: Optional[Path]) -> None:
    folder = out_dir or Path(os.path.commonpath([str(o.csv.resolve().parent) for o in planned]))
    path, rows = write_report(folder, on_skip=lambda csv, reason: warn(str(csv), f"not in the report: {reason}"))
    say(f"report: {path} ({rows} run(s))")


def _device_type(device: str) -> str:
    """The kind of device a name stands for, without loading a model (for a Ray job's defaults)."""
    from pettrack.model.devices import resolve_device

    try:
        return device_type(resolve_device(device))
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc


def _track_on_ray(sources: list[Path], planned: list[VideoOutputs], options: VideoOptions,
                  settings: LocalizerSettings, out_dir: Optional[Path], address: Optional[str],
                  actors: Optional[int], overwrite: bool) -> set[Path]:
    """The video job on Ray: a bar for the job, a table at the end, the job record beside the
    outputs. Returns the inputs done in this run."""
    from .ray_engine import EngineUnavailable, manifest_path, run_video_job

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


def _unique(paths: list[Path]) -> list[Path]:
    """The inputs in order, each once (a file named twice is done once, and said so)."""
    kept: list[Path] = []
    for path in paths:
        if any(same_file(path, other) for other in kept):
            warn(str(path), "named more than once; done once")
            continue
        kept.append(path)
    return kept


def _track_one(localizer: Localizer, source: Path, outputs: VideoOutputs, options: VideoOptions,
               group: OutputGroup) -> None:
    from .video import run_video
    from .video_io import VideoError, frame_range, probe

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


@app.command()
def camera(
    source: str = typer.Argument("0", help="Webcam index, stream URL (rtsp://, http://...) or a video file played in real time."),
    show: bool = typer.Option(False, "--show", help="Show the annotated stream in a window (q or Esc to stop)."),
    csv_file: Optional[Path] = typer.Option(None, "--csv", help="Append rows here as they happen (flushed per row)."),
    video_file: Optional[Path] = typer.Option(None, "--video", help="Record the annotated stream (MP4)."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0, help="Stop after this many seconds."),
    frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Stop after processing this many frames."),
    reconnect_limit: float = typer.Option(60.0, "--reconnect-limit", help="Give up on a dropped stream after this many seconds."),
    weights: Optional[Path] = WeightsOption,
    min_confidence: Optional[float] = MinConfidenceOption,
    max_pets: int = MaxPetsOption,
    tracker: Optional[Path] = TrackerOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
    precision: str = PrecisionOption,
) -> None:
    """Live mode: track the nose on a camera or stream as it happens (Ctrl-C to stop)."""
    from .camera import CameraOptions, SourceError, display_available, parse_source, run_camera

    tracker_config = _tracker_config(tracker)
    if show and not display_available():
        warn("--show", "no display available (DISPLAY is not set); running without a window")
        show = False
    options = CameraOptions(show, csv_file, video_file, duration, frames, reconnect_limit, tracker_config)
    with _outputs_refused():
        options.check(parse_source(source))
    localizer = _load_localizer(LocalizerSettings(weights, device, precision, min_confidence, backend, max_pets))
    with progress("frames") as bar:
        task = bar.add_task(escape(f"live {shown(source)}"), total=frames, rate="")
        try:
            summary = run_camera(localizer, parse_source(source), options,
                                 on_note=lambda text: warn(str(source), text), on_frame=lambda n: bar.advance(task, n))
        except SourceError as exc:
            fail(f"{exc}: check the device index, the URL or the file")
            raise typer.Exit(EXIT_FAILED) from exc
    err.print(
        f"frames received {summary.received}, processed {summary.frames}, dropped {summary.dropped}; "
        f"processing {summary.fps:.1f} frames/s; latency capture->result p50 {summary.latency(50):.0f} ms, "
        f"p95 {summary.latency(95):.0f} ms",
        highlight=False,
    )
    if summary.frames == 0:
        fail(f"no frame was processed from {source!r}")
        raise typer.Exit(EXIT_FAILED)
    if summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def label(
    videos: list[Path] = typer.Argument(..., help="The clips to label frames of."),
    labels: Path = typer.Option(Path("labels.csv"), "--labels", "-l", help="The labels file answers are saved to (footage format; created when missing, continued when it exists)."),
    frames: int = typer.Option(40, "--frames", min=1, max=2000, help="Frames to propose, shared between the clips."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Only print the page's address."),
    weights: Optional[Path] = WeightsOption,
    device: str = DeviceOption,
    backend: str = BackendOption,
) -> None:
    """Label noses on frames of your own clips in a local page; every answer is saved at once.

    The page proposes frames where the model is unsure, plus evenly spaced ones. Stop with the page's Done button or Ctrl-C here: nothing is lost, and running it again goes on where you stopped (once every proposed frame is answered, it proposes new ones with --weights). Then: pettrack finetune --labels labels.csv --out mypet.safetensors
    """
    from .labeling import (
        LabelServer, LabelSession, LabelStore, LabelingError, browser_available, clip_name, encode_frames, picks_path,
        plan_picks,
    )
    from .video_io import VideoError

    videos = _unique(videos)
    missing = [v for v in videos if not v.is_file()]
    if missing:
        fail(f"{missing[0]}: no such video file")
        raise typer.Exit(2)
    with _outputs_refused("--labels: "):
        check_outputs([labels, picks_path(labels)], videos)
    with progress("frames") as bar:
        def on_clip(clip: Path, total: int):
            task = bar.add_task(escape(f"checking {shown(clip.name)}"), total=total or None, rate="")
            return lambda: bar.advance(task)

        try:
            store = LabelStore(labels)
            picks, threshold, new = plan_picks(
                videos, labels, frames, lambda: _load_localizer(LocalizerSettings(weights, device, "auto", None, backend)),
                answered=lambda pick: store.answer(pick.key) is not None, on_clip=on_clip)
            images = encode_frames(picks, {clip_name(v, labels): v for v in videos})
        except (LabelingError, VideoError) as exc:
            fail(str(exc))
            raise typer.Exit(EXIT_FAILED) from exc
    session = LabelSession(picks, images, store, threshold)
    try:
        server = LabelServer(session, port)
    except OSError as exc:
        fail(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror or exc})")
        raise typer.Exit(2) from exc
    answered = sum(1 for p in picks if store.answer(p.key))
    say(f"{len(picks)} frames to label ({answered} already answered, {new} newly proposed"
        f"{f' by {weights}' if new and weights else ''}); answers are saved to {labels} as you go")
    out.print(f"open {server.url}", highlight=False)
    say("stop with the page's Done button or Ctrl-C here")
    if not no_browser and browser_available():
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.run_until_done()
    except KeyboardInterrupt:
        pass
    yes, no = session.counts()
    say(f"{yes} frames with a nose and {no} with none answered, in {labels}; "
        f"next: pettrack finetune --labels {labels} --out mypet.safetensors")


@app.command()
def finetune(
    labels: Path = typer.Option(..., "--labels", "-l", help="Your labelled frames (pettrack label writes them; footage format)."),
    out_file: Path = typer.Option(..., "--out", "-o", help="Where to write the fine-tuned weights (.safetensors)."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="The model to start from (default: the shipped default)."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="Folder of the clips the labels name, when they are not beside the labels file."),
    steps: int = typer.Option(240, "--steps", min=1, max=100000, help="Training steps (a batch of 16 views each; about 1 s a step on a 2-core CPU)."),
    lr: float = typer.Option(1e-4, "--lr", max=1.0, callback=lambda value: _positive("--lr", value), help="Peak learning rate."),
    anchor: float = typer.Option(0.0, "--anchor", min=0.0, max=100.0, help="Pull towards the starting weights (0: none), to keep more of what it knew on other footage at a cost on yours (docs/finetune.md)."),
    distill: float = typer.Option(0.0, "--distill", min=0.0, max=100.0, help="Also learn the starting model's heat-maps on unlabelled frames of your clips, with this weight (0: off)."),
    held_out_every: int = typer.Option(4, "--held-out-every", min=2, max=100, help="In each clip, every Nth labelled frame (in time) is held out to judge the result."),
    force: bool = typer.Option(False, "--force", help="Write the result even when it is worse than the starting model on the held-out frames."),
    seed: int = typer.Option(0, min=0),
    device: str = DeviceOption,
    precision: str = typer.Option("auto", callback=one_of("auto", "fp32", "bf16"), help="auto, fp32 or bf16."),
) -> None:
    """Teach the model your own pet: fine-tune it on frames you labelled with pettrack label.

    Prints the starting model and the fine-tune on held-out frames, and writes OUT only when it is at least as good there (or with --force). Ctrl-C stops and keeps the best step so far. Use the result with --weights OUT on every command.
    """
    from pettrack.model.finetune import FinetuneConfig, FinetuneError, finetune as run_finetune

    from .console import RichFinetuneReporter, held_out_line

    with _outputs_refused():
        check_outputs([out_file], [labels])
    config = FinetuneConfig(labels=labels, out=out_file, weights=weights, videos=videos, steps=steps, lr=lr, anchor=anchor,
                            distill=distill, held_out_every=held_out_every, seed=seed, device=device, precision=precision, force=force)
    interrupted = False
    try:
        with RichFinetuneReporter() as reporter:
            result = run_finetune(config, reporter)
    except FinetuneError as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    except KeyboardInterrupt:
        say("interrupted before the first judgement; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED)
    for problem in result.problems:
        warn(f"{labels}:{problem.line}", problem.reason)
    for skipped in result.skipped:
        warn(f"{labels}:{skipped.line}", f"{skipped.name}: {skipped.reason}")
    say(f"held out ({result.held_out_frames} frames): before {held_out_line(result.before)}")
    say(f"held out ({result.held_out_frames} frames): after  {held_out_line(result.after)} (step {result.after.step})")
    if result.interrupted:
        say(f"interrupted after {result.steps_done} steps; the best step so far is used")
    if result.worse:
        message = f"the fine-tune is worse than {weights or 'default'} on the held-out frames"
        if result.written:
            warn(str(out_file), f"{message}; written anyway (--force)")
        else:
            fail(f"{message}; {out_file} not written (label more frames, or --force to write it anyway)")
            raise typer.Exit(EXIT_FAILED)
    say(f"weights in {out_file} ({result.seconds:.0f} s); use them with --weights {out_file} on these clips "
        f"(on other footage {weights or 'default'} may be better: docs/finetune.md)")
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def export(
    fmt: str = typer.Option(..., "--format", "-f", callback=one_of("onnx", "torchscript", "openvino"),
                            help="onnx, torchscript or openvino (NAME.xml, with NAME.bin beside it)."),
    out_file: Path = typer.Option(..., "--out", "-o", help="File to write."),
    weights: Optional[Path] = WeightsOption,
    int8: bool = typer.Option(
        False, "--int8", help="With --format openvino: quantize to int8 (NNCF), calibrated on 300 views of --labels: "
        "labelled photos in --images (the training side of train's split), or your labelled video frames (the "
        "file pettrack label writes). Save it as WEIGHTS-NAME.int8.xml beside the weights for --precision int8."),
    images: Optional[Path] = typer.Option(None, "--images", help="With --int8 and a photo label file: the folder of the photos."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="With --int8: a label file of photos (pet-noses format) or of video frames (footage format)."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="With --int8 and video frames: the folder of their clips, when not beside the labels."),
) -> None:
    """Export the model. onnx/torchscript: letterboxed, normalised NCHW float in; openvino: letterboxed uint8 NHWC RGB
    in (normalisation inside). Out: the heat-map."""
    from pettrack.model.export import ExportError, export_model
    from pettrack.model.weights import WeightsError, read_info, weights_file

    if int8 and fmt != "openvino":
        raise typer.BadParameter("int8 quantization is for --format openvino", param_hint="--int8")
    frame_labels = int8 and labels is not None and _is_frame_labels(labels)
    if int8 and (labels is None or (images is None and not frame_labels)):
        raise typer.BadParameter("--int8 calibrates on labelled images: give --images and --labels, or --labels with "
                                 "your labelled video frames", param_hint="--int8")
    outputs = [out_file, out_file.with_suffix(".bin")] if fmt == "openvino" else [out_file]
    try:
        source = weights_file(weights)
        with _outputs_refused():
            check_outputs(outputs, [source])
        size = read_info(source).net.input_size
    except WeightsError as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    calibration = None
    if frame_labels:
        calibration = _frame_calibration_views(labels, videos, size)
    elif int8:
        calibration = _calibration_views(images, labels, size)
    try:
        export_model(source, fmt, out_file, calibration)
    except (ExportError, WeightsError) as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    shape = f"1..N x {size} x {size} x 3 uint8" if fmt == "openvino" else f"1..N x 3 x {size} x {size}"
    err.print(f"wrote {out_file} ({fmt}{', int8' if int8 else ''}, input {shape})", highlight=False)


def _read_label_file(labels: Path) -> LabelFile:
    """A label file, each bad line warned about (file:line) and skipped; unreadable: exit 1."""
    try:
        label_file = read_labels(labels)
    except OSError as exc:
        fail(f"{labels}: cannot read it: {describe_error(exc)}")
        raise typer.Exit(EXIT_FAILED) from exc
    for problem in label_file.problems:
        warn(f"{labels}:{problem.line}", f"{problem.reason}: {problem.shown}")
    return label_file


def _calibration_views(images: Path, labels: Path, size: int) -> list:
    """The int8 calibration inputs: from the training side of train's deterministic split, so the
    validation images that measure the int8 model's accuracy are never seen by it."""
    from pettrack.model.data import load_samples, split_names
    from pettrack.model.quantize import calibration_views

    label_file = _read_label_file(labels)
    train_side, _ = split_names([label.name for label in label_file.labels], 0.1)
    chosen = [label for label in label_file.labels if label.name in train_side]
    samples, skipped = load_samples(images, chosen, max_side=2 * size)
    for sample in skipped:
        warn(f"{labels}:{sample.line}", f"{sample.name}: {sample.reason}")
    if not samples:
        fail(f"{images}: no labelled image could be read for calibration")
        raise typer.Exit(EXIT_FAILED)
    return calibration_views(samples, size)


def _is_frame_labels(labels: Path) -> bool:
    """Whether a label file is in the footage format (a CSV header starting file,clip,frame)."""
    try:
        with labels.open("rb") as handle:
            return handle.readline().removeprefix(b"\xef\xbb\xbf").startswith(b"file,clip,frame")
    except OSError:
        return False


def _frame_calibration_views(labels: Path, videos: Optional[Path], size: int) -> list:
    """The int8 calibration inputs from labelled video frames (a user's own, from pettrack label)."""
    from pettrack.model.frames import FrameLabelsError, load_frames, read_frame_labels
    from pettrack.model.quantize import frame_calibration_views

    try:
        label_file = read_frame_labels(labels)
    except FrameLabelsError as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    for problem in label_file.problems:
        warn(f"{labels}:{problem.line}", problem.reason)
    frames, skipped = load_frames(label_file, videos, keep_disputed=True)
    for frame in skipped:
        warn(f"{labels}:{frame.line}", f"{frame.name}: {frame.reason}")
    if not frames:
        fail(f"{labels}: no labelled frame could be read for calibration")
        raise typer.Exit(EXIT_FAILED)
    return frame_calibration_views(frames, size)


@app.command()
def convert(
    tracks: list[Path] = typer.Argument(..., help="Track files from pettrack video: NAME.pettrack.csv."),
    to: str = typer.Option(..., "--to", help="slp, nwb, dlc, or several: slp,nwb,dlc."),
    plot: bool = typer.Option(False, "--plot", help="Also draw NAME.pettrack.png."),
) -> None:
    """Write existing runs' tracks for SLEAP, NWB or DeepLabCut (beside each CSV), without running the model."""
    formats = _export_formats(to)
    failed = 0
    for csv in tracks:
        try:
            record = RunRecord.beside(csv)
            if record is None:
                warn(str(csv), f"no run record ({record_path(csv).name}): times come from the CSV, the source video is unknown")
            with _outputs_refused():
                check_outputs([export_path(csv, f) for f in formats] + ([plot_path(csv)] if plot else []), [csv])
            for path in _plot_and_export(csv.name, csv, record, plot_path(csv) if plot else None, formats):
                say(f"{csv}: wrote {path}")
        except (TrackFileError, TrackExportError) as exc:
            fail(str(exc))
            failed += 1
        except OSError as exc:
            fail(f"{csv}: {describe_error(exc)}")
            failed += 1
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command(name="report")
def report_command(
    directory: Path = typer.Argument(..., help="A folder with pettrack video results (searched with its subfolders)."),
) -> None:
    """A page for a batch: DIR/pettrack-report.html, a row per video (thumbnail, share tracked, confidence, tracks, timeline, links)."""
    if not directory.is_dir():
        fail(f"{directory}: not a folder")
        raise typer.Exit(EXIT_FAILED)
    if not find_runs(directory):
        fail(f"{directory}: no pettrack results (*.pettrack.csv) found; nothing written")
        raise typer.Exit(EXIT_FAILED)
    try:
        path, rows = write_report(directory, on_skip=lambda csv, reason: warn(str(csv), f"not in the report: {reason}"))
    except OSError as exc:
        fail(f"{directory / REPORT_NAME}: {describe_error(exc)}")
        raise typer.Exit(EXIT_FAILED) from exc
    say(f"report: {path} ({rows} run(s))")
    if rows == 0:
        fail(f"{directory}: none of its track files could be read")
        raise typer.Exit(EXIT_FAILED)


@app.command(name="train")
def train_command(
    images: Path = typer.Option(..., "--images", help="Folder with the labelled images."),
    labels: Path = typer.Option(..., "--labels", help='Label file, one line per image: name.jpg,"(x, y)".'),
    out_file: Path = typer.Option(..., "--out", "-o", help="Where to write the best weights (.safetensors)."),
    epochs: int = typer.Option(150, min=1),
    batch_size: int = typer.Option(32, "--batch-size", min=2),
    lr: float = typer.Option(1e-3, max=1.0, callback=lambda value: _positive("--lr", value), help="Peak learning rate (one-cycle schedule, AdamW)."),
    weight_decay: float = typer.Option(1e-4, "--weight-decay", min=0.0, max=1.0),
    sigma: float = typer.Option(7.0, min=0.5, max=64.0, help="Heat-map Gaussian sigma in model pixels."),
    input_size: int = typer.Option(256, "--input-size", min=32, max=1024, callback=_multiple_of_32,
                                   help="Model input side, a multiple of 32."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.01, max=0.9, help="Deterministic validation split."),
    seed: int = typer.Option(0, min=0, help="Seed for initial weights, shuffling and augmentation."),
    patience: int = typer.Option(25, min=1, help="Stop after this many epochs without a better validation error."),
    ema_decay: float = typer.Option(0.999, "--ema-decay", min=0.0, max=0.99999),
    fg_weight: float = typer.Option(0.0, "--fg-weight", min=0.0, max=1000.0, help="Extra loss weight near the nose (0: plain MSE)."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Train on the plain images."),
    footage: bool = typer.Option(
        False, "--footage", help="Train for real footage too: small pets on video-aspect canvases, several pets, "
        "views with no nose, blur/compression/noise/low light/text; keeps the weights with the best footage score "
        "and stores the presence threshold chosen on validation footage.",
    ),
    device: str = DeviceOption,
    precision: str = typer.Option("auto", callback=one_of("auto", "fp32", "bf16", "fp16"),
                                  help="auto (bf16 on CUDA and on CPUs with native bf16, else fp32), fp32, bf16 or fp16."),
    workers: int = typer.Option(-1, min=-1, max=64, help="Data-loading processes (-1: 8 on CUDA, 1 on CPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT's checkpoint (OUT.checkpoint.pt)."),
    init_weights: Optional[Path] = typer.Option(
        None, "--init-weights", help="Start from these weights (fine-tune), e.g. a model trained at a smaller --input-size."
    ),
    footage_labels: list[Path] = typer.Option(
        [], "--footage-labels", help="Hand-labelled video frames (file,clip,frame,width,height,visible,noses; repeatable): "
        "split by clip, mixed into training, and, when clips are held out, the judge of each epoch and of the presence threshold.",
    ),
    videos: Optional[Path] = typer.Option(None, "--videos", help="Folder of the clips a --footage-labels file names, when they are not beside it."),
    real_share: float = typer.Option(0.4, "--real-share", min=0.0, max=1.0, help="Share of training views drawn from the real frames."),
    real_val_fraction: float = typer.Option(0.2, "--real-val-fraction", min=0.0, max=0.9, help="Share of the real frames' clips held out for validation."),
    epoch_size: int = typer.Option(0, "--epoch-size", min=0, help="Training views per epoch (0: one per training image)."),
    portraits_kept: float = typer.Option(0.995, "--portraits-kept", min=0.0, max=1.0, help="With held-out real frames: "
                                         "the presence threshold keeps a point on at least this share of the validation portraits."),
) -> None:
    """Train the nose localizer; writes weights, a checkpoint, a loss plot and heat-map pictures."""
    from pettrack.model.data import AugmentConfig
    from pettrack.model.footage import FootageMix
    from pettrack.model.train import TrainConfig, TrainingError, train

    from .console import RichTrainReporter

    if footage and no_augment:
        fail("--footage builds augmented footage views; it cannot be combined with --no-augment")
        raise typer.Exit(2)
    config = TrainConfig(
        images=images, labels=labels, out=out_file, epochs=epochs, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, sigma=sigma, input_size=input_size, val_fraction=val_fraction,
        seed=seed, patience=patience, ema_decay=ema_decay, fg_weight=fg_weight,
        augment=AugmentConfig.none() if no_augment else AugmentConfig(),
        footage=FootageMix() if footage else None,
        device=device, precision=precision, workers=workers, resume=resume, init_weights=init_weights,
        real_labels=list(footage_labels), videos=videos, real_share=real_share, real_val_fraction=real_val_fraction,
        epoch_size=epoch_size, portraits_kept=portraits_kept,
    )
    try:
        with _outputs_refused(), RichTrainReporter() as reporter:
            result = train(config, reporter)
    except (TrainingError, ValueError) as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    except KeyboardInterrupt:
        err.print(f"interrupted; best weights so far in {out_file}, resume with --resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.best is None:
        fail("no epoch completed")
        raise typer.Exit(EXIT_FAILED)
    b = result.best
    err.print(
        f"best epoch {b.epoch}: validation mean {b.val_mean:.2f} px, median {b.val_median:.2f} px (model space), "
        f"PCK@10 {b.pck10:.1%}; weights in {out_file}; plots {config.artifact('loss.png').name}, "
        f"{config.artifact('heatmaps.png').name}",
        highlight=False,
    )


@app.command(name="eval")
def eval_command(
    images: Path = typer.Option(..., "--images", help="Folder with the labelled images."),
    labels: Path = typer.Option(..., "--labels", help="Label file in the pet-noses format."),
    weights: Optional[Path] = WeightsOption,
    min_confidence: Optional[float] = MinConfidenceOption,
    split: str = typer.Option("all", "--split", callback=one_of("all", "val", "train"), help="all images, or only the 'val' or 'train' side of train's deterministic split."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.0, max=0.99, help="With --split: the split's validation share (as in train)."),
    footage: bool = typer.Option(True, "--footage/--no-footage", help="Also score the footage set: every image small and large on video-aspect canvases, degraded, and as many views with no nose."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write predictions.csv, worst.png and (with footage) presence.png here."),
    device: str = DeviceOption,
    backend: str = BackendOption,
    precision: str = PrecisionOption,
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    worst: int = typer.Option(12, min=1, max=200, help="How many of the worst predictions the gallery shows."),
) -> None:
    """Measure accuracy on labelled images: distance statistics and PCK on the photos, and hit rate
    and nose-free rejection on the footage set built from them."""
    from pettrack.model.data import load_samples, split_names
    from pettrack.model.evaluate import (
        footage_cases, predict, predict_footage, presence_scores, summarize, summarize_footage, write_report_csv,
        write_worst_gallery,
    )
    from pettrack.model.plots import plot_presence

    from .console import footage_table

    if report is not None:
        with _outputs_refused(f"--report {report}: "):
            check_outputs([report / name for name in ("predictions.csv", "worst.png", "presence.png")], [labels])
    if not images.is_dir():
        fail(f"{images}: not a folder of images")
        raise typer.Exit(EXIT_FAILED)
    label_file = _read_label_file(labels)
    localizer = _load_localizer(LocalizerSettings(weights, device, precision, min_confidence, backend))
    samples, skipped = load_samples(images, label_file.labels, max_side=2 * localizer.size)
    for item in skipped:
        warn(str(images / item.name), f"{item.reason} (label line {item.line}), skipped")
    if split != "all":
        sides = dict(zip(("train", "val"), split_names([s.name for s in samples], val_fraction)))
        samples = [s for s in samples if s.name in sides[split]]
    if not samples:
        fail("no labelled image could be read")
        raise typer.Exit(EXIT_FAILED)
    cases = footage_cases(samples, localizer.size) if footage else []
    with progress() as bar:
        task = bar.add_task("evaluating", total=len(samples) + len(cases), rate="")
        predictions = predict(localizer, samples, batch_size, on_batch=lambda n: bar.advance(task, n))
        footage_results = predict_footage(localizer, cases, batch_size, on_batch=lambda n: bar.advance(task, n))
    summary = summarize(predictions)
    out.print(summary_table(summary, localizer.size))
    out.print("  ".join(f"{name.upper()}: {value:.1%}" for name, value in summary.pck.items())
              + f"  (model pixels; {len(predictions)} images, {len(skipped)} skipped)", highlight=False)
    if footage_results:
        scored = summarize_footage(footage_results, localizer.min_confidence)
        out.print(footage_table(scored, f"{len(cases)} views from these images"))
        best = summarize_footage(footage_results)
        out.print(f"nose-free views rejected: {scored.rejected:.1%}; views right: {scored.accuracy:.1%} "
                  f"(threshold {scored.threshold:.3f}; the best on this set would be {best.threshold:.3f}: "
                  f"{best.rejected:.1%} rejected, {best.accuracy:.1%} right)", highlight=False)
    if report is not None:
        write_report_csv(predictions, report / "predictions.csv")
        write_worst_gallery(predictions, samples, report / "worst.png", worst)
        written = [report / "predictions.csv", report / "worst.png"]
        if footage_results:
            plot_presence(*presence_scores(footage_results), localizer.min_confidence, report / "presence.png",
                          f"footage set: {len(cases)} views from {len(samples)} images")
            written.append(report / "presence.png")
        err.print(f"report: {', '.join(map(str, written))}", highlight=False)

