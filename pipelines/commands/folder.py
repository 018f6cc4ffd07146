"""`pettrack folder`: the nose in every image of a folder, as a table, a CSV, annotated copies."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer
from rich.table import Table
from rich.text import Text

from pettrack.model.files import check_outputs
from pettrack.model.settings import LocalizerSettings

from ..console import describe_error, err, fail, out, progress, say, shown, warn
from .common import EXIT_FAILED, EXIT_INTERRUPTED, device_kind, load_localizer, outputs_refused

if TYPE_CHECKING:
    from ..folder import ImageFailure, ImageResult


def run(
    *,
    directory: Path,
    csv: bool,
    out_file: Optional[Path],
    recursive: bool,
    annotate: Optional[Path],
    heatmap: bool,
    settings: LocalizerSettings,
    batch_size: Optional[int],
    workers: Optional[int],
    engine: str,
    address: Optional[str],
    actors: Optional[int],
    chunk: int,
) -> None:
    """Locate the nose in every image of a folder: a table, or CSV with --csv."""
    from ..folder import CSV_COLUMNS, FolderOptions, ImageFailure, ImageResult, find_files, run_folder
    from ..ray_engine import EngineUnavailable, run_folder_job
    from ..runner import device_defaults
    from ..sinks import open_csv

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
    with outputs_refused():
        FolderOptions(annotate_dir=annotate).check(directory)
        check_outputs([out_file], images)
    localizer = None if engine == "ray" else load_localizer(settings)
    default_batch, default_workers = device_defaults(device_kind(localizer.device if localizer else settings.device))
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
        err.print(f"[yellow]{len(failures)} skipped:")
        for failure in failures:
            say(f"  {failure.file}: {failure.reason}")
