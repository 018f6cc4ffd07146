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
