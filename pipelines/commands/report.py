"""`pettrack report`: the page for a batch of runs."""

from __future__ import annotations

from pathlib import Path

import typer


from ..console import describe_error, fail, say, warn
from ..report import REPORT_NAME, find_runs, write_report
from .common import EXIT_FAILED


def run(
    *,
    directory: Path,
) -> None:
    """A page for a batch: DIR/pettrack-report.html, a row per video (thumbnail, share tracked,
    confidence, tracks, timeline, links)."""
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
