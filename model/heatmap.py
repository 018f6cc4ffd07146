"""Heat-map codec: Gaussian targets in, sub-pixel peaks and confidences out.

Coordinates are model-input pixels with pixel centres on integers (see geometry.py); the heat-map
has the same size as the model input, so heat-map pixel (row i, column j) is point (u=j, v=i).
"""

from __future__ import annotations

import numpy as np
import torch

# Values below this are treated as this when taking logs in the sub-pixel fit.
_LOG_FLOOR = 1e-6


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


def _parabola_offset(left: torch.Tensor, centre: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Vertex of the parabola through three log-values at -1, 0, +1.

    On the log of a Gaussian this is exact, which is why the fit is done in the log domain.
    """
    left, centre, right = (torch.log(t.clamp_min(_LOG_FLOOR)) for t in (left, centre, right))
    curvature = left - 2.0 * centre + right
    offset = 0.5 * (left - right) / torch.where(curvature < 0, curvature, -torch.ones_like(curvature))
    offset = torch.where(curvature < 0, offset, torch.zeros_like(offset))
    # The argmax pixel is the nearest pixel to a unimodal peak, so the peak is within half a pixel.
    return offset.clamp(-0.5, 0.5)


def decode(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak of each heat-map with sub-pixel refinement.

    heatmaps: (N, 1, H, W) or (N, H, W). Returns (points (N, 2) as (u, v), confidence (N,)),
    confidence being the peak height. Works on any device; the result stays there.
    """
    if heatmaps.dim() == 4:
        heatmaps = heatmaps[:, 0]
    maps = heatmaps.float()
    n, height, width = maps.shape
    flat = maps.reshape(n, -1)
    confidence, index = flat.max(dim=1)
    row, col = index // width, index % width

    def at(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        r = r.clamp(0, height - 1)
        c = c.clamp(0, width - 1)
        return flat.gather(1, (r * width + c).unsqueeze(1)).squeeze(1)

    du = _parabola_offset(at(row, col - 1), confidence, at(row, col + 1))
    dv = _parabola_offset(at(row - 1, col), confidence, at(row + 1, col))
    # At a border the missing neighbour is clamped to the peak itself: no shift outwards.
    du = torch.where((col == 0) | (col == width - 1), torch.zeros_like(du), du)
    dv = torch.where((row == 0) | (row == height - 1), torch.zeros_like(dv), dv)
    points = torch.stack([col.float() + du, row.float() + dv], dim=1)
    return points, confidence
