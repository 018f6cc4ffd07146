"""What several commands share: exit codes, the output policy and the model load as one-line errors,
and the inputs and formats they read."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer

from pettrack.model.devices import device_type
from pettrack.model.files import OutputError, same_file
from pettrack.model.labels import LabelFile, read_labels
from pettrack.model.settings import LocalizerSettings

from ..console import describe_error, fail, warn
from ..entry import EXIT_FAILED, EXIT_INTERRUPTED  # noqa: F401 - the commands' exit codes
from ..exports import INSTALL_EXPORT, export_track, exports_available, parse_formats
from ..tables import RunRecord, load_track

if TYPE_CHECKING:
    from pettrack.model.localizer import Localizer
    from pettrack.tracker import TrackerConfig


@contextlib.contextmanager
def outputs_refused(prefix: str = "") -> Iterator[None]:
    """An output the library's output policy refuses (model/files.py check_outputs) is bad
    usage: one line, exit 2, before any work."""
    try:
        yield
    except OutputError as exc:
        fail(f"{prefix}{exc}")
        raise typer.Exit(2) from exc


def load_localizer(settings: LocalizerSettings) -> Localizer:
    """The model the options ask for; what cannot be loaded is one line: exit 2 for a backend or
    int8 model that cannot run here, 1 for weights that cannot be read."""
    from pettrack.model.backends import BackendError, QuantizeError
    from pettrack.model.localizer import Localizer
    from pettrack.model.weights import WeightsError

    try:
        return Localizer.from_settings(settings)
    except BackendError as exc:
        fail(f"--backend {settings.backend}: {exc}")
        raise typer.Exit(2) from exc
    except QuantizeError as exc:
        fail(f"--precision int8: {exc}")
        raise typer.Exit(2) from exc
    except (WeightsError, ValueError) as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc


def device_kind(device: str) -> str:
    """cpu or cuda: the kind of device a --device name stands for (for the batch and worker defaults)."""
    from pettrack.model.devices import resolve_device

    try:
        return device_type(resolve_device(device))
    except ValueError as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc


def tracker_config(path: Optional[Path]) -> TrackerConfig:
    from pettrack.tracker import TrackerConfig

    if path is None:
        return TrackerConfig()
    try:
        return TrackerConfig.from_toml(path)
    except ValueError as exc:
        fail(f"--tracker: {exc}")
        raise typer.Exit(2) from exc


def unique_inputs(paths: list[Path]) -> list[Path]:
    """The inputs in order, each once (a file named twice is done once, and said so)."""
    kept: list[Path] = []
    for path in paths:
        if any(same_file(path, other) for other in kept):
            warn(str(path), "named more than once; done once")
            continue
        kept.append(path)
    return kept


def export_formats(text: Optional[str]) -> tuple[str, ...]:
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


def plot_and_export(title: str, csv: Path, record: Optional[RunRecord], plot: Optional[Path],
                     formats: tuple[str, ...], read_from: Optional[Path] = None) -> list[Path]:
    """A run's plot (when `plot` names it) and exports, made from its CSV (read once, from
    `read_from` when its new content is not in place yet) and record."""
    if not plot and not formats:
        return []
    from ..track_plot import plot_track

    table = load_track(read_from or csv)
    made = [plot_track(table, record, plot, title)] if plot else []
    return made + (export_track(csv, table, record, formats) if formats else [])


def read_label_file(labels: Path) -> LabelFile:
    """A label file, each bad line warned about (file:line) and skipped; unreadable: exit 1."""
    try:
        label_file = read_labels(labels)
    except OSError as exc:
        fail(f"{labels}: cannot read it: {describe_error(exc)}")
        raise typer.Exit(EXIT_FAILED) from exc
    for problem in label_file.problems:
        warn(f"{labels}:{problem.line}", f"{problem.reason}: {problem.shown}")
    return label_file
