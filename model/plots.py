"""Pictures for people: the loss curve, heat-maps of validation images, the worst predictions."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .files import atomic_bytes  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_bytes(path, buffer.getvalue())


def plot_history(epochs: Sequence[int], train_loss: Sequence[float], val_mean: Sequence[float], path: Path) -> None:
    """Training loss (log scale) and validation mean error per epoch."""
    figure, loss_axis = plt.subplots(figsize=(8, 4.5))
    loss_axis.plot(epochs, train_loss, color="tab:blue", label="train loss (MSE)")
    loss_axis.set_yscale("log")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("train loss", color="tab:blue")
    error_axis = loss_axis.twinx()
    error_axis.plot(epochs, val_mean, color="tab:red", label="validation mean error")
    error_axis.set_ylabel("validation mean error (model px)", color="tab:red")
    loss_axis.grid(alpha=0.3)
    figure.suptitle("pettrack training")
    figure.tight_layout()
    _save(figure, path)


def plot_panels(
    images: Sequence[np.ndarray],
    truths: Sequence[tuple[float, float] | None],
    preds: Sequence[tuple[float, float]],
    titles: Sequence[str],
    path: Path,
    heatmaps: Sequence[np.ndarray] | None = None,
    columns: int = 4,
) -> None:
    """A grid of images, each with its true point (green ring), prediction (red cross) and,
    optionally, the predicted heat-map overlaid."""
    count = len(images)
    if count == 0:
        return
    columns = min(columns, count)
    rows = (count + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        axis.imshow(images[index])
        if heatmaps is not None:
            axis.imshow(heatmaps[index], cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
        if truths[index] is not None:
            axis.plot(*truths[index], "o", markersize=11, markerfacecolor="none", markeredgecolor="lime", markeredgewidth=2)
        axis.plot(*preds[index], "x", markersize=9, color="red", markeredgewidth=2)
        axis.set_title(titles[index], fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def plot_presence(nose: np.ndarray, free: np.ndarray, threshold: float, path: Path, title: str = "") -> None:
    """How well the heat-map peak tells a nose from none: confidence histograms (views with a nose
    the model found vs nose-free views), the ROC curve and the precision-recall curve, each with
    the presence threshold marked."""
    figure, (hist, roc, pr) = plt.subplots(1, 3, figsize=(15, 4.4))
    bins = np.linspace(0, 1, 41)
    hist.hist(nose, bins=bins, alpha=0.6, color="tab:green", label=f"nose found ({len(nose)})")
    hist.hist(free, bins=bins, alpha=0.6, color="tab:red", label=f"no nose ({len(free)})")
    hist.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    hist.set_xlabel("heat-map peak (confidence)")
    hist.set_ylabel("views")
    hist.legend()
    thresholds = np.linspace(0, 1, 201)
    tpr = np.array([(nose >= t).mean() if nose.size else np.nan for t in thresholds])
    fpr = np.array([(free >= t).mean() if free.size else np.nan for t in thresholds])
    kept = np.array([(nose >= t).sum() + (free >= t).sum() for t in thresholds])
    precision = np.where(kept > 0, np.array([(nose >= t).sum() for t in thresholds]) / np.maximum(kept, 1), 1.0)
    at = int(np.argmin(np.abs(thresholds - threshold)))
    roc.plot(fpr, tpr, color="tab:blue")
    roc.plot(fpr[at], tpr[at], "ko")
    roc.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    roc.set_xlabel("nose-free views given a point (false positive rate)")
    roc.set_ylabel("found noses kept (true positive rate)")
    roc.set_title("ROC")
    pr.plot(tpr, precision, color="tab:purple")
    pr.plot(tpr[at], precision[at], "ko")
    pr.set_xlabel("recall (found noses kept)")
    pr.set_ylabel("precision (points that are noses)")
    pr.set_title("precision-recall")
    for axis in (hist, roc, pr):
        axis.grid(alpha=0.3)
    figure.suptitle(title or "nose present?")
    figure.tight_layout()
    _save(figure, path)
