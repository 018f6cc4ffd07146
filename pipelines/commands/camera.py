"""`pettrack camera`: live tracking on a camera, a stream or a file played in real time."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from pettrack.model.settings import LocalizerSettings

from ..console import err, fail, progress, shown, warn
from .common import EXIT_FAILED, EXIT_INTERRUPTED, load_localizer, outputs_refused, tracker_config


def run(
    *,
    source: str,
    show: bool,
    csv_file: Optional[Path],
    video_file: Optional[Path],
    duration: Optional[float],
    frames: Optional[int],
    reconnect_limit: float,
    settings: LocalizerSettings,
    tracker: Optional[Path],
) -> None:
    """Live mode: track the nose on a camera or stream as it happens (Ctrl-C to stop)."""
    from ..camera import CameraOptions, SourceError, display_available, parse_source, run_camera

    tracker_settings = tracker_config(tracker)
    if show and not display_available():
        warn("--show", "no display available (DISPLAY is not set); running without a window")
        show = False
    options = CameraOptions(show, csv_file, video_file, duration, frames, reconnect_limit, tracker_settings)
    with outputs_refused():
        options.check(parse_source(source))
    localizer = load_localizer(settings)
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
