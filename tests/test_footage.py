"""Footage views: every nose label follows the pixels exactly, nose-free views have no nose, mosaic
targets have a peak per nose, and the footage validation set is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pettrack.model.evaluate import FOOTAGE_SCALES, NOSE_FREE, best_threshold, footage_cases
from pettrack.model.data import Sample
from pettrack.model.footage import (
    DEGRADATIONS, NOSE_FREE_MARGIN, Photo, canvas_view_raw, degrade, motion_blur, mosaic_view_raw, nose_free_crop,
    nose_free_view_raw, padded_points, to_view,
)
from pettrack.model.heatmap import render_targets


def ramp_photo(width: int, height: int, nose: tuple[float, float]) -> Photo:
    """A photo whose pixels say where they are: red = x, green = y (0..255 across the photo).

    Resizing (area or bilinear) keeps a linear ramp linear, so reading the colour at a mapped
    point, bilinearly, gives back the source coordinate the point came from.
    """
    xs = np.linspace(0, 255, width)
    ys = np.linspace(0, 255, height)
    image = np.zeros((height, width, 3), np.float64)
    image[:, :, 0] = xs[None, :]
    image[:, :, 1] = ys[:, None]
    image[:, :, 2] = 128
    return Photo(np.round(image).astype(np.uint8), *nose)


def source_coordinate(image: np.ndarray, point: np.ndarray, photo: Photo) -> tuple[float, float]:
    """The photo coordinate encoded at a (sub-pixel) point of a view, read bilinearly."""
    u, v = point
    u0, v0 = int(np.floor(u)), int(np.floor(v))
    fu, fv = u - u0, v - v0
    patch = image[v0 : v0 + 2, u0 : u0 + 2, :2].astype(np.float64)
    value = (patch[0, 0] * (1 - fu) * (1 - fv) + patch[0, 1] * fu * (1 - fv)
             + patch[1, 0] * (1 - fu) * fv + patch[1, 1] * fu * fv)
    h, w = photo.image.shape[:2]
    return value[0] * (w - 1) / 255, value[1] * (h - 1) / 255


def assert_on_nose(view_image: np.ndarray, point: np.ndarray, photo: Photo, tolerance: float) -> None:
    """The view pixel at `point` came from the photo's nose. (A mirrored photo mirrors its ramp
    too, so the colour at the mirrored nose still reads the original nose coordinate.)"""
    sx, sy = source_coordinate(view_image, point, photo)
    assert np.hypot(sx - photo.x, sy - photo.y) <= tolerance, (sx, sy, photo.x, photo.y)


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25, 0.125])
def test_canvas_view_keeps_the_nose_on_its_pixel(scale: float):
    photos = [ramp_photo(200, 150, (80.0, 60.0)), ramp_photo(160, 200, (100.0, 120.0))]
    for seed in range(12):
        rng = np.random.default_rng(seed)
        photo = photos[seed % 2]
        canvas, noses = canvas_view_raw(photos, photo, 256, rng, scale=scale)
        assert len(noses) == 1
        view = to_view(canvas, noses, 256)
        # In photo pixels: one view pixel is 1/scale photo pixels wide; the colour is exact to
        # about half a level (uint8), which is (w - 1) / 255 photo pixels.
        assert_on_nose(view.image, view.points[0], photo, tolerance=1.5 + 0.1 / scale)


def test_mosaic_view_has_every_nose_on_its_pixel_and_a_peak_per_nose():
    photos = [ramp_photo(200, 150, (50.0, 40.0)), ramp_photo(150, 200, (90.0, 130.0)),
              ramp_photo(180, 180, (120.0, 60.0)), ramp_photo(220, 160, (110.0, 100.0))]
    for seed in range(10):
        rng = np.random.default_rng(seed)
        chosen = photos[: 2 + seed % 3]
        canvas, noses = mosaic_view_raw(photos, chosen, 256, rng)
        view = to_view(canvas, noses, 256)
        assert len(view.points) == len(chosen)
        for photo, point in zip(chosen, view.points):
            assert_on_nose(view.image, point, photo, tolerance=3.0)
        target = render_targets(torch.from_numpy(padded_points(view.points))[None], 256, 7.0)[0, 0]
        peaks = (target == torch.nn.functional.max_pool2d(target[None, None], 9, 1, 4)[0, 0]) & (target > 0.5)
        assert int(peaks.sum()) == len(chosen)


def test_nose_free_crops_keep_clear_of_the_nose():
    for seed in range(200):
        rng = np.random.default_rng(seed)
        width, height = int(rng.integers(80, 320)), int(rng.integers(80, 320))
        photo = ramp_photo(width, height, (float(rng.uniform(0, width - 1)), float(rng.uniform(0, height - 1))))
        crop = nose_free_crop(photo, rng)
        if crop is None:
            continue
        xs = crop[:, :, 0].astype(np.float64) * (width - 1) / 255
        ys = crop[:, :, 1].astype(np.float64) * (height - 1) / 255
        distance = np.hypot(xs - photo.x, ys - photo.y).min()
        # Rounding the ramp to 8 bits blurs positions by up to (side - 1) / 510 pixels.
        slack = max(width, height) / 255
        assert distance >= NOSE_FREE_MARGIN * min(width, height) - slack


def test_nose_free_views_have_no_nose_and_an_all_zero_target():
    photos = [ramp_photo(200, 150, (100.0, 75.0)), ramp_photo(300, 200, (40.0, 30.0))]
    for seed in range(20):
        canvas, noses = nose_free_view_raw(photos, photos[seed % 2], 256, np.random.default_rng(seed))
        assert noses == []
        view = to_view(canvas, noses, 256)
        target = render_targets(torch.from_numpy(padded_points(view.points))[None], 256, 7.0)
        assert view.image.shape == (256, 256, 3) and float(target.max()) == 0.0


def test_degradations_never_move_a_point():
    # A single bright dot: after any degradation its brightness centroid stays where it was.
    image = np.zeros((96, 128, 3), np.uint8)
    image[40, 70] = 255
    for seed in range(20):
        blurred = motion_blur(image, np.random.default_rng(seed)).astype(np.float64).sum(axis=2)
        ys, xs = np.nonzero(blurred)
        weights = blurred[ys, xs]
        assert abs(np.average(xs, weights=weights) - 70) < 0.6 and abs(np.average(ys, weights=weights) - 40) < 0.6
    for function, _ in DEGRADATIONS:
        out = function(np.full((90, 160, 3), 120, np.uint8), np.random.default_rng(0))
        assert out.shape == (90, 160, 3) and out.dtype == np.uint8
    assert degrade(image, np.random.default_rng(0)).shape == image.shape


def test_footage_set_is_deterministic_and_balanced():
    samples = [Sample(f"pet_{i}.jpg", ramp_photo(200, 160, (100.0, 80.0)).image, 100.0, 80.0, 1.0, 200, 160)
               for i in range(4)]
    first = footage_cases(samples, 128, seed=0)
    again = footage_cases(list(reversed(samples)), 128, seed=0)
    assert len(first) == 2 * len(FOOTAGE_SCALES) * len(samples)
    assert sum(c.scale == NOSE_FREE for c in first) == len(first) // 2
    for a, b in zip(first, again):
        assert a.scale == b.scale and np.array_equal(a.view.image, b.view.image) and np.array_equal(a.view.points, b.view.points)


def test_best_threshold_separates_the_populations():
    nose = np.array([0.6, 0.7, 0.8, 0.9])
    free = np.array([0.1, 0.2, 0.3, 0.65])
    threshold = best_threshold(nose, free)
    assert 0.3 < threshold <= 0.6
