"""`pettrack convert`: earlier runs' tracks for SLEAP, NWB and DeepLabCut, without the model."""

from __future__ import annotations

from pathlib import Path

import typer

from pettrack.model.files import check_outputs

from ..console import describe_error, fail, say, warn
from ..exports import TrackExportError, export_path
from ..tables import RunRecord, TrackFileError, plot_path, record_path
from .common import EXIT_FAILED, export_formats, outputs_refused, plot_and_export


def run(
    *,
    tracks: list[Path],
    to: str,
    plot: bool,
) -> None:
    """Write existing runs' tracks for SLEAP, NWB or DeepLabCut (beside each CSV), without running
    the model."""
    formats = export_formats(to)
    failed = 0
    for csv in tracks:
        try:
            record = RunRecord.beside(csv)
            if record is None:
                warn(str(csv), f"no run record ({record_path(csv).name}): times come from the CSV, the source video is unknown")
            with outputs_refused():
                check_outputs([export_path(csv, f) for f in formats] + ([plot_path(csv)] if plot else []), [csv])
            for path in plot_and_export(csv.name, csv, record, plot_path(csv) if plot else None, formats):
                say(f"{csv}: wrote {path}")
        except (TrackFileError, TrackExportError) as exc:
            fail(str(exc))
            failed += 1
        except OSError as exc:
            fail(f"{csv}: {describe_error(exc)}")
            failed += 1
    if failed:
        raise typer.Exit(EXIT_FAILED)
