import numpy as np
import pytest
import torch

from pettrack.model.heatmap import decode, encode, render_gaussians


@pytest.mark.parametrize("point", [(128.0, 128.0), (37.3, 201.8), (100.49, 12.51), (3.2, 250.7), (0.0, 255.0)])
def test_encode_decode_round_trip_is_subpixel_exact(point):
    heatmap = encode(point, 256, sigma=7.0)
    found, confidence = decode(torch.from_numpy(heatmap)[None, None])
    assert np.hypot(*(found[0].numpy() - np.array(point))) < 0.1
    assert confidence.item() == pytest.approx(1.0, abs=0.02)


def test_round_trip_many_random_points_in_a_batch():
    rng = np.random.default_rng(1)
    points = torch.tensor(rng.uniform(2, 253, size=(64, 2)), dtype=torch.float32)
    found, _ = decode(render_gaussians(points, 256, 7.0))
    assert (found - points).norm(dim=1).max().item() < 0.1


def test_small_sigma_and_small_maps_round_trip():
    points = torch.tensor([[10.3, 40.7], [31.6, 5.2]])
    found, _ = decode(render_gaussians(points, 64, 2.0))
    assert (found - points).norm(dim=1).max().item() < 0.1


def test_confidence_is_the_peak_height():
    maps = render_gaussians(torch.tensor([[50.0, 60.0]]), 128, 5.0) * 0.3
    _, confidence = decode(maps)
    assert confidence.item() == pytest.approx(0.3, abs=1e-4)


def test_flat_map_decodes_without_nan():
    found, confidence = decode(torch.zeros(2, 1, 32, 32))
    assert torch.isfinite(found).all() and (confidence == 0).all()


def test_decode_peaks_finds_every_nose_best_first_and_merges_close_maxima():
    from pettrack.model.heatmap import decode_peaks, nms_radius, render_targets

    sigma = 7.0
    noses = torch.tensor([[[40.3, 50.7], [200.2, 100.9], [45.0, 190.0], [-1e4, -1e4]],
                          [[128.0, 128.0], [128.0 + sigma, 128.0], [-1e4, -1e4], [-1e4, -1e4]]])
    maps = render_targets(noses, 256, sigma)
    maps[0, 0] *= torch.linspace(1.0, 0.5, 256).view(256, 1)  # three different heights
    points, heights = decode_peaks(maps, max_peaks=4, radius=nms_radius(sigma))
    assert points.shape == (2, 4, 2) and heights.shape == (2, 4)
    assert torch.all(heights[:, :-1] >= heights[:, 1:])  # best first
    found = {tuple(p) for p in points[0, :3].round().tolist()}
    assert found == {(40.0, 51.0), (200.0, 101.0), (45.0, 190.0)}
    assert torch.allclose(points[0, 0], torch.tensor([40.3, 50.7]), atol=0.2)
    # Two noses one sigma apart are a single hump: one peak, not two.
    assert heights[1, 0] > 0.9 and heights[1, 1] < 0.1
    # max_peaks=1 is the plain arg-max that decode() returns.
    top, top_heights = decode_peaks(maps, max_peaks=1)
    plain, plain_heights = decode(maps)
    assert torch.equal(top[:, 0], plain) and torch.equal(top_heights[:, 0], plain_heights)


@pytest.mark.parametrize("radius", [1, 2, 7, 14, 40])
def test_window_max_equals_a_stride_one_max_pool(radius):
    """The fast window maximum behind peak finding gives exactly what max-pooling gives, also
    where the window is wider than the map and on maps that are not square."""
    from pettrack.model.heatmap import window_max

    generator = torch.Generator().manual_seed(radius)
    for shape in ((3, 64, 64), (2, 17, 50)):
        maps = torch.rand(shape, generator=generator)
        pooled = torch.nn.functional.max_pool2d(maps[:, None], 2 * radius + 1, stride=1, padding=radius)[:, 0]
        assert torch.equal(window_max(maps, radius), pooled)
