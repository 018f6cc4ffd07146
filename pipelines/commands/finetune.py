"""`pettrack finetune`: the model taught a user's own pet (model/finetune.py does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pettrack.model.files import check_outputs

from ..console import fail, say, warn
from .common import EXIT_FAILED, EXIT_INTERRUPTED, outputs_refused


def run(
    *,
    labels: Path,
    out_file: Path,
    weights: Optional[Path],
    videos: Optional[Path],
    steps: int,
    lr: float,
    anchor: float,
    distill: float,
    held_out_every: int,
    force: bool,
    seed: int,
    device: str,
    precision: str,
) -> None:
    """Teach the model your own pet: fine-tune it on frames you labelled with pettrack label."""
    from pettrack.model.finetune import FinetuneConfig, FinetuneError, finetune as run_finetune

    from ..console import RichFinetuneReporter, held_out_line
    from ..interrupts import ctrl_c_requests

    with outputs_refused():
        check_outputs([out_file], [labels])
    config = FinetuneConfig(labels=labels, out=out_file, weights=weights, videos=videos, steps=steps, lr=lr, anchor=anchor,
                            distill=distill, held_out_every=held_out_every, seed=seed, device=device, precision=precision, force=force)
    try:
        with ctrl_c_requests() as stop_requested, RichFinetuneReporter() as reporter:
            result = run_finetune(config, reporter, stop_requested)
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
