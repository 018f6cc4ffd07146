"""`pettrack eval`: accuracy on labelled photos and the footage set built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pettrack.model.files import check_outputs
from pettrack.model.settings import LocalizerSettings

from ..console import err, fail, out, progress, summary_table, warn
from .common import EXIT_FAILED, load_localizer, outputs_refused, read_label_file


def run(
    *,
    images: Path,
    labels: Path,
    weights: Optional[Path],
    min_confidence: Optional[float],
    split: str,
    val_fraction: float,
    footage: bool,
    report: Optional[Path],
    device: str,
    backend: str,
    precision: str,
    batch_size: int,
    worst: int,
) -> None:
    """Measure accuracy on labelled images: distance statistics and PCK on the photos, and hit rate
    and nose-free rejection on the footage set built from them."""
    from pettrack.model.data import load_samples, split_names
    from pettrack.model.evaluate import (
        footage_cases, predict, predict_footage, presence_scores, summarize, summarize_footage, write_report_csv,
        write_worst_gallery,
    )
    from pettrack.model.plots import plot_presence

    from ..console import footage_table

    if report is not None:
        with outputs_refused(f"--report {report}: "):
            check_outputs([report / name for name in ("predictions.csv", "worst.png", "presence.png")], [labels])
    if not images.is_dir():
        fail(f"{images}: not a folder of images")
        raise typer.Exit(EXIT_FAILED)
    label_file = read_label_file(labels)
    localizer = load_localizer(LocalizerSettings(weights, device, precision, min_confidence, backend))
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
