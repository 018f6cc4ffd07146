"""Labelled images in memory, the deterministic train/validation split, and augmentation."""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .footage import (
    FootageMix, adjust_colour, Photo, View, canvas_view_raw, degrade, mosaic_view_raw, nose_free_view_raw, padded_points, to_view,
)
from .geometry import PAD_RGB, Letterbox
from .images import ImageReadError, fit_within, load_image
from .labels import Label


@dataclass(frozen=True)
class Sample:
    """One labelled image, decoded (possibly reduced) and held in memory."""

    name: str
    image: np.ndarray  # HxWx3 uint8 RGB
    x: float  # nose in `image` pixels
    y: float
    scale: float  # `image` pixels per original pixel
    width: int  # original size
    height: int

    @property
    def original_point(self) -> tuple[float, float]:
        return self.x / self.scale, self.y / self.scale


@dataclass(frozen=True)
class SkippedSample:
    name: str
    line: int
    reason: str


def load_samples(
    images_dir: Path, labels: list[Label], max_side: int, workers: int = 4
) -> tuple[list[Sample], list[SkippedSample]]:
    """Decode every labelled image once. Missing or unreadable images, and labels that fall
    outside their image, are skipped and returned as SkippedSample records, never fatal.

    Images are kept at most `max_side` pixels on their longer side (enough for the model input
    plus augmentation), which keeps a few thousand photos in a few hundred MB.
    """

    def load(label: Label) -> Sample | SkippedSample:
        path = Path(images_dir) / label.name
        try:
            loaded = load_image(path, min_side=max_side)
        except ImageReadError as exc:
            return SkippedSample(label.name, label.line, str(exc))
        if not (0 <= label.x < loaded.width and 0 <= label.y < loaded.height):
            return SkippedSample(
                label.name, label.line,
                f"point ({label.x:g}, {label.y:g}) is outside the {loaded.width}x{loaded.height} image",
            )
        image = fit_within(loaded.rgb, max_side)
        scale = image.shape[1] / loaded.width
        # Same pixel-centre convention as geometry.py.
        x = (label.x + 0.5) * scale - 0.5
        y = (label.y + 0.5) * scale - 0.5
        return Sample(label.name, image, x, y, scale, loaded.width, loaded.height)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(load, labels))
    samples = [r for r in results if isinstance(r, Sample)]
    skipped = [r for r in results if isinstance(r, SkippedSample)]
    return samples, skipped


def hash_order(names: list[str], seed: int = 0) -> list[str]:
    """`names` in the order of a hash of each name and the seed: a fixed shuffle that does not
    depend on the input's order or on which other names are present."""
    return sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest())


def split_names(names: list[str], val_fraction: float, seed: int = 0) -> tuple[set[str], set[str]]:
    """Deterministic split by a hash of each name: the same image always lands on the same side,
    whatever the order of the label file and whichever other images are present."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError("validation fraction must be in [0, 1)")
    ranked = hash_order(names, seed)
    n_val = round(len(ranked) * val_fraction)
    if val_fraction > 0 and len(ranked) > 1:
        n_val = min(max(n_val, 1), len(ranked) - 1)
    return set(ranked[n_val:]), set(ranked[:n_val])


@dataclass(frozen=True)
class AugmentConfig:
    """Random view of a training image; ranges are symmetric (+/-)."""

    flip: bool = True
    rotate_deg: float = 25.0
    scale: float = 0.30
    shift: float = 0.15  # fraction of the model input side
    brightness: float = 0.30
    contrast: float = 0.30

    @classmethod
    def none(cls) -> "AugmentConfig":
        return cls(False, 0.0, 0.0, 0.0, 0.0, 0.0)


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


def random_affine(config: AugmentConfig, size: int) -> np.ndarray:
    """3x3 model->model transform: flip, rotation and scale about the centre, then shift.

    Draws from torch's RNG so DataLoader workers get distinct, reproducible streams.
    """
    centre = (size - 1) / 2.0
    angle = math.radians(_uniform(-config.rotate_deg, config.rotate_deg))
    zoom = _uniform(1.0 - config.scale, 1.0 + config.scale)
    shift_u = _uniform(-config.shift, config.shift) * size
    shift_v = _uniform(-config.shift, config.shift) * size
    flip = -1.0 if config.flip and float(torch.rand(())) < 0.5 else 1.0
    cos, sin = math.cos(angle) * zoom, math.sin(angle) * zoom
    linear = np.array([[cos * flip, -sin], [sin * flip, cos]])
    offset = np.array([centre + shift_u, centre + shift_v]) - linear @ np.array([centre, centre])
    return np.vstack([np.hstack([linear, offset[:, None]]), [0.0, 0.0, 1.0]])


def jitter_colour(image: np.ndarray, config: AugmentConfig) -> np.ndarray:
    if config.brightness == 0 and config.contrast == 0:
        return image
    return adjust_colour(image, _uniform(1 - config.brightness, 1 + config.brightness),
                         _uniform(1 - config.contrast, 1 + config.contrast))


def model_view(sample: Sample, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The un-augmented model input for a sample (exactly what inference sees) and its target."""
    box = Letterbox.fit(sample.image.shape[1], sample.image.shape[0], size)
    return box.apply(sample.image), box.to_model(np.array([sample.x, sample.y]))


def augmented_view(
    sample: Sample, size: int, config: AugmentConfig, margin: float = 2.0, tries: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """A random view whose nose stays inside the input; falls back to the plain view."""
    height, width = sample.image.shape[:2]
    box = Letterbox.fit(width, height, size)
    base = np.vstack([box.matrix(), [0.0, 0.0, 1.0]])
    for _ in range(tries):
        matrix = (random_affine(config, size) @ base)[:2]
        point = matrix @ np.array([sample.x, sample.y, 1.0])
        if np.all(point >= margin) and np.all(point <= size - 1 - margin):
            view = cv2.warpAffine(
                sample.image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_RGB,
            )
            return jitter_colour(view, config), point
    return model_view(sample, size)


def photo_of(sample: Sample) -> Photo:
    return Photo(sample.image, sample.x, sample.y)


def _numpy_rng() -> np.random.Generator:
    """A numpy generator seeded from torch's RNG, so DataLoader workers stay reproducible."""
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


def footage_view(samples: list[Sample], index: int, size: int, mix: FootageMix, rng: np.random.Generator) -> View | None:
    """A footage-like view (canvas, mosaic or nose-free) around samples[index], or None for a
    portrait (the caller draws that with the portrait augmentation)."""
    kind = mix.kind(float(rng.random()))
    if kind == "portrait":
        return None
    photos = _LazyPhotos(samples)
    photo = photo_of(samples[index])
    if kind == "canvas":
        canvas, noses = canvas_view_raw(photos, photo, size, rng, min_scale=mix.min_scale)
    elif kind == "mosaic":
        others = [photo_of(samples[int(i)]) for i in rng.integers(len(samples), size=int(rng.integers(1, 4)))]
        canvas, noses = mosaic_view_raw(photos, [photo, *others], size, rng)
    else:
        canvas, noses = nose_free_view_raw(photos, photo, size, rng)
    if rng.random() < mix.degrade_footage:
        canvas = degrade(canvas, rng)
    return to_view(canvas, noses, size)


class _LazyPhotos:
    """Samples seen as Photos without building a list of thousands each call."""

    def __init__(self, samples: list[Sample]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Photo:
        return photo_of(self.samples[index])


class NoseDataset(Dataset):
    """Yields (SxSx3 uint8 image tensor, (MAX_NOSES, 2) float32 noses in model pixels, padded with
    footage.NO_POINT). Without augmentation: the plain letterboxed portrait. With it: an augmented
    portrait, or (with a FootageMix) a footage-like view, which may hold several noses or none."""

    def __init__(self, samples: list[Sample], size: int, augment: AugmentConfig | None, footage: FootageMix | None = None):
        self.samples = samples
        self.size = size
        self.augment = augment
        self.footage = footage

    def __len__(self) -> int:
        return len(self.samples)

    def view(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        sample = self.samples[index]
        if self.augment is None:
            view, point = model_view(sample, self.size)
            return view, point.reshape(1, 2)
        rng = _numpy_rng()
        if self.footage is not None:
            footage = footage_view(self.samples, index, self.size, self.footage, rng)
            if footage is not None:
                return footage.image, footage.points
        view, point = augmented_view(sample, self.size, self.augment)
        if self.footage is not None and rng.random() < self.footage.degrade_portrait:
            view = degrade(view, rng)
        return view, point.reshape(1, 2)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        view, points = self.view(index)
        return torch.from_numpy(np.ascontiguousarray(view)), torch.from_numpy(padded_points(points))
