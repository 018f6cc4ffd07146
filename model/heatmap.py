"""Heat-map targets: the Gaussian peaks the network is trained to draw at each nose.

Coordinates are model-input pixels with pixel centres on integers (see geometry.py); the heat-map
has the same size as the model input, so heat-map pixel (row i, column j) is point (u=j, v=i).
Reading noses back out of a heat-map is model/peaks.py's.
"""

from __future__ import annotations

import numpy as np
import torch


def render_gaussians(points: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Gaussian heat-maps, peak 1.0, one per point.

    points: (N, 2) tensor of (u, v) in model pixels. Returns (N, 1, size, size) float32 on the
    points' device.
    """
    grid = torch.arange(size, device=points.device, dtype=torch.float32)
    du = grid.view(1, 1, size) - points[:, 0].float().view(-1, 1, 1)
    dv = grid.view(1, size, 1) - points[:, 1].float().view(-1, 1, 1)
    return torch.exp(-(du * du + dv * dv) / (2.0 * sigma * sigma)).unsqueeze(1)


def render_targets(points: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Training targets with any number of noses: (N, K, 2) points (unused slots far outside the
    map, see footage.NO_POINT) -> (N, 1, size, size), the maximum of the K Gaussians. A sample
    with no nose gets an all-zero map."""
    n, k, _ = points.shape
    maps = render_gaussians(points.reshape(n * k, 2), size, sigma).view(n, k, size, size)
    return maps.amax(dim=1, keepdim=True)


def encode(point: tuple[float, float], size: int, sigma: float) -> np.ndarray:
    """One Gaussian target as a (size, size) float32 array."""
    pts = torch.tensor([point], dtype=torch.float32)
    return render_gaussians(pts, size, sigma)[0, 0].numpy()
