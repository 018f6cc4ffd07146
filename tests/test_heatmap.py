"""Heat-maps: the targets training draws (model/heatmap.py) decode back to their points
(model/peaks.py), sub-pixel, one peak per nose."""

import numpy as np
import pytest
import torch

from pettrack.model.heatmap import encode, render_gaussians, render_targets
from pettrack.model.peaks import decode_peaks, nms_radius, window_max


def decode(maps) -> tuple[np.ndarray, np.ndarray]:
    """Each map's highest peak: points (N, 2) and heights (N,)."""
    points, heights = decode_peaks(np.asarray(maps), max_peaks=1)
    return points[:, 0], heights[:, 0]


@pytest.mark.parametrize("point", [(128.0, 128.0), (37.3, 201.8), (100.49, 12.51), (3.2, 250.7), (0.0, 255.0)])
def test_encode_decode_round_trip_is_subpixel_exact(point):
    heatmap = encode(point, 256, sigma=7.0)
    found, confidence = decode(heatmap[None, None])
    assert np.hypot(*(found[0] - np.array(point))) < 0.1
    assert confidence[0] == pytest.approx(1.0, abs=0.02)


def test_round_trip_many_random_points_in_a_batch():
    rng = np.random.default_rng(1)
    points = torch.tensor(rng.uniform(2, 253, size=(64, 2)), dtype=torch.float32)
    found, _ = decode(render_gaussians(points, 256, 7.0).numpy())
    assert np.hypot(*(found - points.numpy()).T).max() < 0.1


def test_small_sigma_and_small_maps_round_trip():
    points = torch.tensor([[10.3, 40.7], [31.6, 5.2]])
    found, _ = decode(render_gaussians(points, 64, 2.0).numpy())
    assert np.hypot(*(found - points.numpy()).T).max() < 0.1


def test_confidence_is_the_peak_height():
    maps = render_gaussians(torch.tensor([[50.0, 60.0]]), 128, 5.0) * 0.3
    _, confidence = decode(maps.numpy())
    assert confidence[0] == pytest.approx(0.3, abs=1e-4)


def test_flat_map_decodes_without_nan():
    found, confidence = decode(np.zeros((2, 1, 32, 32), np.float32))
    assert np.isfinite(found).all() and (confidence == 0).all()


def test_decode_peaks_finds_every_nose_best_first_and_merges_close_maxima():
    sigma = 7.0
    noses = torch.tensor([[[40.3, 50.7], [200.2, 100.9], [45.0, 190.0], [-1e4, -1e4]],
                          [[128.0, 128.0], [128.0 + sigma, 128.0], [-1e4, -1e4], [-1e4, -1e4]]])
    maps = render_targets(noses, 256, sigma)
    maps[0, 0] *= torch.linspace(1.0, 0.5, 256).view(256, 1)  # three different heights
    maps = maps.numpy()
    points, heights = decode_peaks(maps, max_peaks=4, radius=nms_radius(sigma))
    assert points.shape == (2, 4, 2) and heights.shape == (2, 4)
    assert np.all(heights[:, :-1] >= heights[:, 1:])  # best first
    found = {tuple(p) for p in points[0, :3].round().tolist()}
    assert found == {(40.0, 51.0), (200.0, 101.0), (45.0, 190.0)}
    assert np.allclose(points[0, 0], [40.3, 50.7], atol=0.2)
    # Two noses one sigma apart are a single hump: one peak, not two.
    assert heights[1, 0] > 0.9 and heights[1, 1] < 0.1
    # max_peaks=1 is the plain arg-max.
    top, top_heights = decode_peaks(maps, max_peaks=1, radius=nms_radius(sigma))
    flat = maps[:, 0].reshape(2, -1)
    assert np.array_equal(top_heights[:, 0], flat.max(axis=1))
    assert np.array_equal(top[:, 0].round(), points[:, 0].round())


def test_a_flat_top_is_one_peak():
    """Two equal maxima within the radius (a plateau) are one nose, not two."""
    maps = np.zeros((1, 64, 64), np.float32)
    maps[0, 30, 30] = maps[0, 30, 32] = 0.8
    maps[0, 10, 50] = 0.5
    points, heights = decode_peaks(maps, max_peaks=3, radius=4)
    assert heights[0].tolist() == pytest.approx([0.8, 0.5, -1.0])
    assert points[0, 0].tolist() == pytest.approx([30.0, 30.0], abs=0.5)


@pytest.mark.parametrize("radius", [1, 2, 7, 14, 40])
def test_window_max_equals_a_stride_one_max_pool(radius):
    """The window maximum behind peak finding gives exactly what max-pooling gives, also where
    the window is wider than the map and on maps that are not square."""
    generator = torch.Generator().manual_seed(radius)
    for shape in ((3, 64, 64), (2, 17, 50)):
        maps = torch.rand(shape, generator=generator)
        pooled = torch.nn.functional.max_pool2d(maps[:, None], 2 * radius + 1, stride=1, padding=radius)[:, 0]
        assert np.array_equal(window_max(maps.numpy(), radius), pooled.numpy())


def test_sorting_the_few_maxima_equals_partitioning_every_pixel(monkeypatch):
    """A network's map has a dozen maxima and no flat stretch: they are sorted; a map with flat
    stretches goes through a partition of every pixel. Both give the same peaks."""
    from pettrack.model import peaks

    rng = np.random.default_rng(3)
    noses = torch.tensor(rng.uniform(10, 118, size=(6, 5, 2)), dtype=torch.float32)
    maps = render_targets(noses, 128, 3.0).numpy() * rng.uniform(0.3, 1.0, size=(6, 1, 1, 1)).astype(np.float32)
    maps += rng.uniform(1e-4, 2e-4, size=maps.shape).astype(np.float32)  # no two pixels equal, as a network's
    maxima = (maps[:, 0] >= window_max(maps[:, 0], nms_radius(3.0))).sum()
    assert maxima <= peaks._FEW_MAXIMA * len(maps)  # the sorted path
    sorted_points, sorted_heights = decode_peaks(maps, max_peaks=8, radius=nms_radius(3.0))
    monkeypatch.setattr(peaks, "_FEW_MAXIMA", 0)
    partitioned_points, partitioned_heights = decode_peaks(maps, max_peaks=8, radius=nms_radius(3.0))
    assert np.array_equal(sorted_heights, partitioned_heights)
    kept = sorted_heights > 0.1
    assert kept.sum() >= 20 and np.array_equal(sorted_points[kept], partitioned_points[kept])
