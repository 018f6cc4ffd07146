"""Terminal output: one stderr console for progress, warnings and summaries (stdout stays free
for data such as CSV), and the rich training reporter."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pettrack.model.files import final_path, undecodable_as_escapes

if TYPE_CHECKING:  # the command line imports this module before it knows it needs a model
    from pettrack.model.evaluate import EvalSummary, FootageSummary
    from pettrack.model.finetune import Judgement
    from pettrack.model.train import EpochRecord

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


# Longer texts are shown by their start and end: a name of megabytes (a label line) stays one line.
# (Messages with several full paths stay well under it.)
LONGEST_SHOWN = 2000


def shown(text: str) -> str:
    """A name from outside (a file name, a stream URL) as it is safe to print: control characters
    and bytes that are not UTF-8 escaped, so a name cannot move the cursor or break the terminal,
    and a very long one shortened. (Rich markup is escaped by warn and fail.)"""
    if len(text) > LONGEST_SHOWN:
        text = f"{text[:1200]}... ({len(text):,} characters) ...{text[-200:]}"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in undecodable_as_escapes(text))


def warn(where: str, what: str) -> None:
    """One line per problem: where (file, line or frame), then what."""
    err.print(f"[yellow]pettrack: warning:[/] {escape(shown(where))}: {escape(shown(what))}", highlight=False)


def fail(message: str) -> None:
    """The one line a failure prints: `pettrack: <what> (<file>[, line N | frame N]): <why>`."""
    err.print(f"[bold red]pettrack:[/] {escape(shown(message))}", highlight=False)


def say(text: str) -> None:
    """A plain line on stderr (names in it are shown literally, never as markup)."""
    err.print(shown(text), highlight=False, markup=False)


def describe_error(exc: BaseException) -> str:
    """An exception in one line, without errno numbers: 'clip.csv: No space left on device'."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{final_path(exc.filename)}: {exc.strerror}" if exc.filename else exc.strerror
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def progress(unit: str = "images") -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def footage_table(summary: FootageSummary, source: str) -> Table:
    from pettrack.model.evaluate import FOOTAGE_SCALES

    table = Table(title=f"Footage set ({source}), presence threshold {summary.threshold:.3f}", title_justify="left")
    for name in ("pet size", "views", "hit rate", "found", "mean px", "median px"):
        table.add_column(name, justify="left" if name == "pet size" else "right")
    for scale, row in summary.per_scale.items():
        table.add_row(f"{scale} ({FOOTAGE_SCALES[scale]:g} of the width)", str(row["count"]), f"{row['hit_rate']:.1%}",
                      f"{row['found']:.1%}", f"{row['mean']:.2f}", f"{row['median']:.2f}")
    return table


def summary_table(summary: EvalSummary, input_size: int) -> Table:
    table = Table(title="Euclidean distance, prediction to label", title_justify="left")
    table.add_column("space")
    for name in ("min", "mean", "median", "max", "std"):
        table.add_column(name, justify="right")
    for label, stats in (("original pixels", summary.pixels), (f"model {input_size}x{input_size} px", summary.model)):
        table.add_row(label, *(f"{getattr(stats, n):.2f}" for n in ("min", "mean", "median", "max", "std")))
    return table


class RichTrainReporter:
    """Progress bar per epoch with the running loss; a line per epoch with validation figures."""

    def __init__(self) -> None:
        self._progress = progress()
        self._task = None
        self._losses: list[float] = []

    def __enter__(self) -> "RichTrainReporter":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def begin(self, total_epochs: int, start_epoch: int, steps_per_epoch: int, description: str) -> None:
        self._total = total_epochs
        self._steps = steps_per_epoch
        err.print(escape(description), highlight=False)
        self._new_task(start_epoch)

    def _new_task(self, epoch: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._losses = []
        self._task = self._progress.add_task(f"epoch {epoch}/{self._total}", total=self._steps, rate="")

    def steps(self, losses: list[float]) -> None:
        self._losses.extend(losses)
        mean = sum(self._losses[-20:]) / len(self._losses[-20:])
        self._progress.update(self._task, advance=len(losses), rate=f"loss {mean:.5f}")

    def epoch(self, record: EpochRecord, improved: bool) -> None:
        mark = "[green]best[/]" if improved else ""
        self._progress.console.print(
            f"epoch {record.epoch:3d}  loss {record.train_loss:.5f}  val mean {record.val_mean:6.2f} px  "
            f"median {record.val_median:6.2f} px  PCK@10 {record.pck10:6.1%}  "
            + ("" if math.isnan(record.footage_accuracy) else  # nan: trained without a footage set
               f"footage right {record.footage_accuracy:6.1%} at {record.threshold:.2f}  ")
            + ("" if math.isnan(record.real_right) else  # nan: no held-out real frames
               f"real frames right {record.real_right:6.1%} at {record.threshold:.2f}  ")
            + f"lr {record.lr:.2e}  "
            f"{record.seconds:5.1f}s {mark}",
            highlight=False,
        )
        if record.epoch < self._total:
            self._new_task(record.epoch + 1)

    def note(self, text: str) -> None:
        self._progress.console.print(f"[yellow]note:[/] {escape(shown(text))}", highlight=False)


def held_out_line(judgement: "Judgement") -> str:
    """A model on the held-out frames in one line: right, nose frames hit, no-nose frames rejected."""
    score = judgement.score
    rejected = "-" if math.isnan(score.no_nose_pointed) else f"{1 - score.no_nose_pointed:.0%}"
    return (f"right {score.right:.0%} of {score.frames}, noses hit {score.nose_hit:.0%}, "
            f"no-nose frames rejected {rejected}, threshold {score.threshold:.2f}")


class RichFinetuneReporter:
    """One progress bar over the steps with the running loss; a line per judgement."""

    def __init__(self) -> None:
        self._progress = progress(unit="steps")
        self._task = None
        self._losses: list[float] = []

    def __enter__(self) -> "RichFinetuneReporter":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def begin(self, total_steps: int, description: str) -> None:
        self._progress.console.print(escape(shown(description)), highlight=False)
        self._task = self._progress.add_task("fine-tuning", total=total_steps, rate="")

    def step(self, loss: float) -> None:
        self._losses.append(loss)
        recent = self._losses[-20:]
        self._progress.update(self._task, advance=1, rate=f"loss {sum(recent) / len(recent):.5f}")

    def judged(self, judgement: "Judgement", kept: bool) -> None:
        who = "base model" if judgement.step == 0 else f"step {judgement.step:4d}"
        mark = " [green]kept[/]" if kept and judgement.step else ""
        self._progress.console.print(f"{who}: held out: {escape(held_out_line(judgement))}{mark}", highlight=False)
