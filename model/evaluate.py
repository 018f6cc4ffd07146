"""Accuracy of a localizer on labelled images: distances, PCK and a per-image report."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .data import Sample
from .files import atomic_text
from .geometry import Letterbox
from .localizer import Localizer
from .plots import plot_panels

PCK_THRESHOLDS = (5.0, 10.0)  # model pixels


@dataclass(frozen=True)
class Prediction:
    name: str
    x_true: float  # original pixels
    y_true: float
    x_pred: float
    y_pred: float
    confidence: float
    width: int
    height: int
    model_scale: float  # model pixels per original pixel

    @property
    def distance_px(self) -> float:
        return float(np.hypot(self.x_pred - self.x_true, self.y_pred - self.y_true))

    @property
    def distance_model(self) -> float:
        return self.distance_px * self.model_scale


@dataclass(frozen=True)
class DistanceStats:
    count: int
    min: float
    mean: float
    median: float
    max: float
    std: float

    @classmethod
    def of(cls, distances: Iterable[float]) -> "DistanceStats":
        d = np.asarray(list(distances), dtype=np.float64)
        if d.size == 0:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        return cls(int(d.size), float(d.min()), float(d.mean()), float(np.median(d)), float(d.max()), float(d.std()))


@dataclass(frozen=True)
class EvalSummary:
    pixels: DistanceStats  # original image pixels
    model: DistanceStats  # model-input pixels (input_size x input_size)
    pck: dict[str, float]  # e.g. {"pck@5": 0.91, "pck@10": 0.97}, model pixels

    def to_dict(self) -> dict:
        return {"pixels": asdict(self.pixels), "model": asdict(self.model), **self.pck}


def predict(
    localizer: Localizer,
    samples: list[Sample],
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> list[Prediction]:
    predictions: list[Prediction] = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        prepared = [localizer.prepare(s.image, s.scale) for s in chunk]
        output = localizer.infer(np.stack([p.input for p in prepared]))
        for sample, prep, uv, conf in zip(chunk, prepared, output.points, output.confidence):
            x, y = prep.to_original(uv)
            tx, ty = sample.original_point
            scale = Letterbox.fit(sample.width, sample.height, localizer.size).scale
            predictions.append(
                Prediction(sample.name, tx, ty, float(x), float(y), float(conf), sample.width, sample.height, scale)
            )
        if on_batch:
            on_batch(len(chunk))
    return predictions


def summarize(predictions: list[Prediction]) -> EvalSummary:
    model = [p.distance_model for p in predictions]
    pck = {
        f"pck@{t:g}": float(np.mean([d <= t for d in model])) if model else float("nan")
        for t in PCK_THRESHOLDS
    }
    return EvalSummary(DistanceStats.of(p.distance_px for p in predictions), DistanceStats.of(model), pck)


REPORT_COLUMNS = (
    "file", "x_true", "y_true", "x_pred", "y_pred", "confidence", "width", "height",
    "distance_px", "distance_model",
)


def write_report_csv(predictions: list[Prediction], path: Path) -> None:
    with atomic_text(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for p in sorted(predictions, key=lambda p: -p.distance_px):
            writer.writerow([
                p.name, f"{p.x_true:.2f}", f"{p.y_true:.2f}", f"{p.x_pred:.2f}", f"{p.y_pred:.2f}",
                f"{p.confidence:.4f}", p.width, p.height, f"{p.distance_px:.2f}", f"{p.distance_model:.2f}",
            ])


def write_worst_gallery(predictions: list[Prediction], samples: list[Sample], path: Path, count: int = 12) -> None:
    """A PNG of the `count` worst predictions: true nose (green ring) and prediction (red cross)."""
    by_name = {s.name: s for s in samples}
    chosen = sorted(predictions, key=lambda p: -p.distance_px)[:count]
    pictures, truths, preds, titles = [], [], [], []
    for p in chosen:
        sample = by_name[p.name]
        pictures.append(sample.image)
        truths.append((p.x_true * sample.scale, p.y_true * sample.scale))
        preds.append((p.x_pred * sample.scale, p.y_pred * sample.scale))
        titles.append(f"{p.name}\nerror {p.distance_px:.1f} px ({p.distance_model:.1f} model px)")
    plot_panels(pictures, truths, preds, titles, path)
