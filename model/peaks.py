"""Heat-maps to noses: the highest local maxima of each map, refined to sub-pixel.

Coordinates are model-input pixels with pixel centres on integers (see geometry.py); a heat-map
has the size of the model input, so heat-map pixel (row i, column j) is point (u=j, v=i).

NumPy and OpenCV only, on the host: every backend's maps are decoded here (a batch of 16 of the
network's maps of 256 x 256 takes about 2 ms on one CPU core), so the OpenVINO path runs
without PyTorch.
model/heatmap.py renders the Gaussian targets these maps are trained towards.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Values below this are treated as this when taking logs in the sub-pixel fit.
_LOG_FLOOR = 1e-6
# A network's heat-map has about a dozen local maxima; up to this many per map they are sorted
# (0.1 ms for 16 maps), more (flat stretches) go through a partition of every pixel (8 ms).
_FEW_MAXIMA = 256


def nms_radius(sigma: float) -> int:
    """Peaks closer than this (model pixels) are one nose: two Gaussians of this sigma nearer than
    about 2 sigma merge into a single hump, so a second maximum inside it is noise, not a pet."""
    return max(1, math.ceil(2.0 * sigma))


def window_max(maps: np.ndarray, radius: int) -> np.ndarray:
    """The maximum of each (2 radius + 1)-pixel square window, centred, over (N, H, W) float32
    maps; outside the map counts as lower than anything in it (a stride-1 max-pool's values).
    OpenCV's dilation with a rectangle runs as a row pass and a column pass."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return np.stack([cv2.dilate(m, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf) for m in maps])


def decode_peaks(heatmaps: np.ndarray, max_peaks: int = 1, radius: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The `max_peaks` highest local maxima of each heat-map, each refined to sub-pixel.

    heatmaps: (N, 1, H, W) or (N, H, W). A pixel is a local maximum when it is the highest within
    `radius` pixels (a square window); radius 0, or max_peaks 1, makes it the plain arg-max.
    Returns points (N, K, 2) as (u, v) and their heights (N, K), float64, highest first,
    K = min(max_peaks, H * W); slots without a maximum have height -1.
    """
    maps = np.asarray(heatmaps, dtype=np.float32)
    if maps.ndim == 4:
        maps = maps[:, 0]
    n, height, width = maps.shape
    flat = maps.reshape(n, -1)
    k = min(max_peaks, height * width)
    if radius > 0 and k > 1:
        is_max = (maps >= window_max(maps, radius)).reshape(n, -1)
        if np.count_nonzero(is_max) <= _FEW_MAXIMA * n:
            index, heights = _top_maxima(flat, is_max, k)
        else:  # flat stretches (a map of exact zeros): every pixel of a plateau is a maximum
            candidates = np.where(is_max, flat, np.float32(-1.0))
            index = _top_k(candidates, k)
            heights = np.take_along_axis(candidates, index, axis=1).astype(np.float64)
    else:
        index = _top_k(flat, k)
        heights = np.take_along_axis(flat, index, axis=1).astype(np.float64)
    row, col = index // width, index % width
    if radius > 0 and k > 1:
        heights = _drop_ties(heights, row, col, radius)
        order = np.argsort(-heights, axis=1, kind="stable")
        heights, index = np.take_along_axis(heights, order, 1), np.take_along_axis(index, order, 1)
        row, col = index // width, index % width

    def at(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return np.take_along_axis(flat, np.clip(r, 0, height - 1) * width + np.clip(c, 0, width - 1), axis=1)

    centre = np.take_along_axis(flat, index, axis=1)
    du = _parabola_offset(at(row, col - 1), centre, at(row, col + 1))
    dv = _parabola_offset(at(row - 1, col), centre, at(row + 1, col))
    # At a border the missing neighbour is clamped to the peak itself: no shift outwards.
    du = np.where((col == 0) | (col == width - 1), 0.0, du)
    dv = np.where((row == 0) | (row == height - 1), 0.0, dv)
    return np.stack([col + du, row + dv], axis=2), heights


def _top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values of each row, largest first (ties: the lower index first)."""
    if k == 1:
        return values.argmax(axis=1)[:, None]
    part = np.argpartition(-values, k - 1, axis=1)[:, :k]
    order = np.lexsort((part, -np.take_along_axis(values, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _top_maxima(flat: np.ndarray, is_max: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k highest local maxima of each row, highest first (ties: the lower index first):
    indices (N, K) and heights (N, K), height -1 (index 0) where a row has fewer than k."""
    n = len(flat)
    rows, cols = np.nonzero(is_max)
    values = flat[rows, cols]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n))[rows]
    kept = rank < k
    index = np.zeros((n, k), dtype=np.int64)
    heights = np.full((n, k), -1.0)
    index[rows[kept], rank[kept]] = cols[kept]
    heights[rows[kept], rank[kept]] = values[kept]
    return index, heights


def _parabola_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through three log-values at -1, 0, +1.

    On the log of a Gaussian this is exact, which is why the fit is done in the log domain.
    """
    left, centre, right = (np.log(np.maximum(v.astype(np.float64), _LOG_FLOOR)) for v in (left, centre, right))
    curvature = left - 2.0 * centre + right
    offset = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0)
    # The argmax pixel is the nearest pixel to a unimodal peak, so the peak is within half a pixel.
    return np.clip(offset, -0.5, 0.5)


def _drop_ties(heights: np.ndarray, row: np.ndarray, col: np.ndarray, radius: int) -> np.ndarray:
    """A flat top (two equal maxima within the radius) leaves every pixel of it a candidate: of
    such candidates keep the first, mark the others with height -1. Candidates are highest first,
    so a candidate is dropped when a kept, earlier one is within the radius. K is small."""
    near = np.maximum(np.abs(row[:, :, None] - row[:, None, :]), np.abs(col[:, :, None] - col[:, None, :])) <= radius
    kept = np.ones(heights.shape, dtype=bool)
    for k in range(1, heights.shape[1]):
        kept[:, k] = ~(near[:, k, :k] & kept[:, :k]).any(axis=1)
    return np.where(kept, heights, -1.0)
