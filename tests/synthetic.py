"""Synthetic labelled images for tests: a dark round "nose" on a textured background."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def blob_image(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, tuple[float, float]]:
    """An RGB image with one dark disc; returns the image and the disc centre (x, y)."""
    base = rng.integers(120, 220, size=3)
    noise = cv2.GaussianBlur(rng.normal(0, 25, size=(height, width, 3)), (0, 0), 2.0)
    image = np.clip(base + noise, 0, 255).astype(np.uint8)
    radius = max(3, min(width, height) // 12)
    x = float(rng.uniform(radius + 2, width - radius - 2))
    y = float(rng.uniform(radius + 2, height - radius - 2))
    # Draw with sub-pixel precision (shift=4 fractional bits).
    cv2.circle(image, (int(round(x * 16)), int(round(y * 16))), radius * 16, (20, 15, 10), -1, cv2.LINE_AA, 4)
    return image, (x, y)


def write_blob_dataset(folder: Path, count: int, seed: int = 0) -> Path:
    """Writes PNGs and a label file in the pet-noses format; returns the label file's path."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(count):
        width, height = int(rng.integers(70, 110)), int(rng.integers(55, 90))
        image, (x, y) = blob_image(rng, width, height)
        name = f"blob_{index:03d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        lines.append(f'{name},"({x:.2f}, {y:.2f})"')
    labels = folder / "labels.txt"
    labels.write_text("\n".join(lines) + "\n")
    return labels
