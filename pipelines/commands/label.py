"""`pettrack label`: the labelling page for a user's own clips (pipelines/labeling.py does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from pettrack.model.files import check_outputs
from pettrack.model.settings import LocalizerSettings

from ..console import fail, out, progress, say, shown
from .common import EXIT_FAILED, load_localizer, outputs_refused, unique_inputs


def run(
    *,
    videos: list[Path],
    labels: Path,
    frames: int,
    port: int,
    no_browser: bool,
    weights: Optional[Path],
    device: str,
    backend: str,
) -> None:
    """Label noses on frames of your own clips in a local page; every answer is saved at once."""
    from ..labeling import (
        LabelServer, LabelSession, LabelStore, LabelingError, browser_available, clip_name, encode_frames, picks_path,
        plan_picks,
    )
    from ..video_io import VideoError

    videos = unique_inputs(videos)
    missing = [v for v in videos if not v.is_file()]
    if missing:
        fail(f"{missing[0]}: no such video file")
        raise typer.Exit(2)
    with outputs_refused("--labels: "):
        check_outputs([labels, picks_path(labels)], videos)
    with progress("frames") as bar:
        def on_clip(clip: Path, total: int):
            task = bar.add_task(escape(f"checking {shown(clip.name)}"), total=total or None, rate="")
            return lambda: bar.advance(task)

        try:
            store = LabelStore(labels)
            picks, threshold, new = plan_picks(
                videos, labels, frames, lambda: load_localizer(LocalizerSettings(weights, device, "auto", None, backend)),
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
