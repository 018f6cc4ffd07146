"""Accuracy of a localizer on labelled images: distances, PCK and a per-image report."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .data import Sample, photo_of
from .files import atomic_text
from .footage import View, canvas_view_raw, degrade, nose_free_view_raw, to_view
from .geometry import Letterbox
from .localizer import Localizer, batched
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
    for chunk in batched(samples, batch_size):
        found = localizer.detect([localizer.prepare(s.image, s.scale) for s in chunk])
        for sample, detections in zip(chunk, found):
            peak = detections.peak  # scored whether or not it reaches the presence threshold
            tx, ty = sample.original_point
            scale = Letterbox.fit(sample.width, sample.height, localizer.size).scale
            predictions.append(
                Prediction(sample.name, tx, ty, peak.x, peak.y, peak.confidence, sample.width, sample.height, scale)
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


# --- Footage: the validation photos as footage shows pets, and frames with no nose ----------------

# Canvas scales of the footage set: the pet's photo as a share of the canvas width.
FOOTAGE_SCALES = {"full": 1.0, "half": 0.5, "eighth": 0.125}
NOSE_FREE = "none"
HIT_RADIUS = 0.05  # a point is on a nose within this share of the frame's short side


@dataclass(frozen=True)
class FootageCase:
    scale: str  # a FOOTAGE_SCALES key, or NOSE_FREE
    view: View


@dataclass(frozen=True)
class FootageResult:
    scale: str
    confidence: float
    error: float  # model pixels to the nearest nose (nan for nose-free cases)
    hit: bool  # within HIT_RADIUS of a nose (always False for nose-free cases)


def footage_cases(samples: list[Sample], size: int, seed: int = 0) -> list[FootageCase]:
    """The footage validation set: each photo at every FOOTAGE_SCALES on a video-aspect canvas,
    degraded, plus as many nose-free views. Deterministic: a case depends on (seed, photo name,
    kind) only, never on the order or number of other photos."""
    ordered = sorted(samples, key=lambda s: s.name)
    photos = [photo_of(s) for s in ordered]
    cases: list[FootageCase] = []
    for sample, photo in zip(ordered, photos):
        name_seed = int.from_bytes(hashlib.sha256(sample.name.encode()).digest()[:8], "little")
        for k, (scale_name, scale) in enumerate(FOOTAGE_SCALES.items()):
            rng = np.random.default_rng([seed, name_seed, k])
            canvas, noses = canvas_view_raw(photos, photo, size, rng, scale=scale)
            cases.append(FootageCase(scale_name, to_view(degrade(canvas, rng), noses, size)))
            rng = np.random.default_rng([seed, name_seed, 100 + k])
            canvas, _ = nose_free_view_raw(photos, photo, size, rng)
            cases.append(FootageCase(NOSE_FREE, to_view(degrade(canvas, rng), [], size)))
    return cases


def predict_footage(
    localizer: Localizer, cases: list[FootageCase], batch_size: int = 32, on_batch: Callable[[int], None] | None = None,
) -> list[FootageResult]:
    results: list[FootageResult] = []
    for chunk in batched(cases, batch_size):
        output = localizer.infer(np.stack([c.view.image for c in chunk]))
        for case, uv, conf in zip(chunk, output.points, output.confidence):
            if len(case.view.points):
                error = float(np.min(np.hypot(*(case.view.points - uv).T)))
                hit = error <= HIT_RADIUS * case.view.short_side
            else:
                error, hit = float("nan"), False
            results.append(FootageResult(case.scale, float(conf), error, hit))
        if on_batch:
            on_batch(len(chunk))
    return results


def presence_scores(results: list[FootageResult]) -> tuple[np.ndarray, np.ndarray]:
    """(confidences of nose views the model found, confidences of nose-free views): the two
    populations the presence threshold separates."""
    nose = np.array([r.confidence for r in results if r.scale != NOSE_FREE and r.hit])
    free = np.array([r.confidence for r in results if r.scale == NOSE_FREE])
    return nose, free


def best_threshold(nose: np.ndarray, free: np.ndarray) -> float:
    """The presence threshold with the best balanced accuracy: the mean of the share of noses kept
    (confidence >= t) and the share of nose-free views rejected (< t). Midway between neighbours."""
    values = np.unique(np.concatenate([nose, free, [0.0, 1.0]]))
    candidates = (values[:-1] + values[1:]) / 2
    kept = (nose[None, :] >= candidates[:, None]).mean(axis=1) if nose.size else np.zeros(len(candidates))
    rejected = (free[None, :] < candidates[:, None]).mean(axis=1) if free.size else np.zeros(len(candidates))
    return float(candidates[int(np.argmax(kept + rejected))])


@dataclass(frozen=True)
class FootageSummary:
    threshold: float
    per_scale: dict[str, dict[str, float]]  # scale -> hit_rate, found (hit and kept), mean, median, count
    rejected: float  # share of nose-free views below the threshold
    accuracy: float  # share of all cases right: hit and kept, or nose-free and rejected

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_footage(results: list[FootageResult], threshold: float | None = None) -> FootageSummary:
    """threshold None: choose it on these results (best_threshold over the nose views that hit)."""
    nose = [r for r in results if r.scale != NOSE_FREE]
    free = np.array([r.confidence for r in results if r.scale == NOSE_FREE])
    if threshold is None:
        threshold = best_threshold(*presence_scores(results))
    per_scale = {}
    for scale in FOOTAGE_SCALES:
        chosen = [r for r in nose if r.scale == scale]
        errors = np.array([r.error for r in chosen])
        per_scale[scale] = {
            "count": len(chosen),
            "hit_rate": float(np.mean([r.hit for r in chosen])) if chosen else float("nan"),
            "found": float(np.mean([r.hit and r.confidence >= threshold for r in chosen])) if chosen else float("nan"),
            "mean": float(errors.mean()) if chosen else float("nan"),
            "median": float(np.median(errors)) if chosen else float("nan"),
        }
    right = sum(r.hit and r.confidence >= threshold for r in nose) + int((free < threshold).sum())
    return FootageSummary(
        threshold, per_scale, float((free < threshold).mean()) if free.size else float("nan"),
        right / max(1, len(results)),
    )
