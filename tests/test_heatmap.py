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
