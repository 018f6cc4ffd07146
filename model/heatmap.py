"""Heat-map codec: Gaussian targets in, sub-pixel peaks and confidences out.

Coordinates are model-input pixels with pixel centres on integers (see geometry.py); the heat-map
has the same size as the model input, so heat-map pixel (row i, column j) is point (u=j, v=i).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

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


def nms_radius(sigma: float) -> int:
    """Peaks closer than this (model pixels) are one nose: two Gaussians of this sigma nearer than
    about 2 sigma merge into a single hump, so a second maximum inside it is noise, not a pet."""
    return max(1, math.ceil(2.0 * sigma))


def decode_peaks(heatmaps: torch.Tensor, max_peaks: int = 1, radius: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The `max_peaks` highest local maxima of each heat-map, each refined to sub-pixel.

    heatmaps: (N, 1, H, W) or (N, H, W). A pixel is a local maximum when it is the highest within
    `radius` pixels (a square window: max-pool non-maximum suppression); radius 0 makes every pixel
    a candidate, so max_peaks=1 is the plain arg-max. Returns points (N, K, 2) as (u, v) and their
    heights (N, K), highest first, K = min(max_peaks, H * W); slots without a maximum have height -1.
    Pure and batched; runs on the maps' device and leaves the result there.
    """
    if heatmaps.dim() == 4:
        heatmaps = heatmaps[:, 0]
    maps = heatmaps.float()
    n, height, width = maps.shape
    flat = maps.reshape(n, -1)
    if radius > 0:
        pooled = window_max(maps, radius)
        candidates = torch.where(maps >= pooled, maps, torch.full_like(maps, -1.0)).reshape(n, -1)
    else:
        candidates = flat
    heights, index = candidates.topk(min(max_peaks, height * width), dim=1)
    row, col = index // width, index % width
    if radius > 0 and heights.shape[1] > 1:
        heights, order = _drop_ties(heights, row, col, radius).sort(dim=1, descending=True)
        index = index.gather(1, order)
        row, col = index // width, index % width

    def at(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        r = r.clamp(0, height - 1)
        c = c.clamp(0, width - 1)
        return flat.gather(1, r * width + c)

    centre = flat.gather(1, index)
    du = _parabola_offset(at(row, col - 1), centre, at(row, col + 1))
    dv = _parabola_offset(at(row - 1, col), centre, at(row + 1, col))
    # At a border the missing neighbour is clamped to the peak itself: no shift outwards.
    du = torch.where((col == 0) | (col == width - 1), torch.zeros_like(du), du)
    dv = torch.where((row == 0) | (row == height - 1), torch.zeros_like(dv), dv)
    return torch.stack([col.float() + du, row.float() + dv], dim=2), heights


def window_max(maps: torch.Tensor, radius: int) -> torch.Tensor:
    """The maximum of each (2 radius + 1)-pixel square window, centred, over (N, H, W) maps: the
    same values as a stride-1 max-pool, without its cost. A square window is a row window then a
    column window, and each 1-D window max takes log2(window) passes: windows of 1, 2, 4, ...
    pixels are doubled up to the largest power of two P within the window, then two overlapping
    P-windows cover it. At radius 14 on 16 maps of 256 x 256 this is ~4 ms against ~450 ms for
    F.max_pool2d with a 29 x 29 kernel on a CPU."""
    return _axis_window_max(_axis_window_max(maps, radius, dim=2), radius, dim=1)


def _axis_window_max(maps: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    window, span = 2 * radius + 1, 1
    while span * 2 <= window:
        span *= 2
    length = maps.shape[dim]
    padding = (radius, radius) if dim == 2 else (0, 0, radius, radius)
    running = F.pad(maps, padding, value=float("-inf"))  # running[i]: the max of padded[i, i + reach)
    reach = 1
    while reach < span:
        size = running.shape[dim] - reach
        running = torch.maximum(running.narrow(dim, 0, size), running.narrow(dim, reach, size))
        reach *= 2
    return torch.maximum(running.narrow(dim, 0, length), running.narrow(dim, window - span, length))


def _drop_ties(heights: torch.Tensor, row: torch.Tensor, col: torch.Tensor, radius: int) -> torch.Tensor:
    """Max-pooling keeps every pixel of a flat top (two equal maxima within the radius): of such
    candidates keep the first, mark the others with height -1. Candidates are highest first, so a
    candidate is dropped when a kept, earlier one is within the radius. K is small (max_peaks)."""
    near = (torch.maximum((row[:, :, None] - row[:, None, :]).abs(), (col[:, :, None] - col[:, None, :]).abs())
            <= radius)
    kept = torch.ones_like(heights, dtype=torch.bool)
    for k in range(1, heights.shape[1]):
        kept[:, k] = ~(near[:, k, :k] & kept[:, :k]).any(dim=1)
    return torch.where(kept, heights, torch.full_like(heights, -1.0))


def decode(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The highest peak of each heat-map, sub-pixel: points (N, 2) as (u, v) and heights (N,)."""
    points, heights = decode_peaks(heatmaps, max_peaks=1)
    return points[:, 0], heights[:, 0]
