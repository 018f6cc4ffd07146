"""Overlays drawn onto RGB images: the nose marker, the track with its trail, and a heat-map.
One module for every output that shows a nose: annotated images, annotated video, live view."""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from pettrack.tracker import TRACKED, FramePoints

NOSE_RGB = (255, 40, 160)
RAW_RGB = (255, 220, 0)


def marker_size(image: np.ndarray) -> int:
    """Marker radius that reads well on any image size."""
    return max(4, round(min(image.shape[:2]) / 40))


def draw_nose(image: np.ndarray, x: float, y: float, confidence: float | None = None, colour=NOSE_RGB) -> np.ndarray:
    """Ring and crosshair at (x, y), in place; returns the image."""
    radius = marker_size(image)
    thickness = max(1, radius // 3)
    centre = (int(round(x * 16)), int(round(y * 16)))  # sub-pixel drawing, 4 fractional bits
    cv2.circle(image, centre, radius * 16, colour, thickness, cv2.LINE_AA, 4)
    for dx, dy in ((1, 0), (0, 1)):
        start = (centre[0] - dx * radius * 8, centre[1] - dy * radius * 8)
        end = (centre[0] + dx * radius * 8, centre[1] + dy * radius * 8)
        cv2.line(image, start, end, colour, max(1, thickness // 2), cv2.LINE_AA, 4)
    if confidence is not None:
        _label(image, f"{confidence:.2f}", x, y, colour)
    return image


COASTING_RGB = (160, 160, 160)  # the track runs on prediction: no detection backs it
TRAIL = 12  # frames of track drawn behind the nose
# One colour per track id (cycled): distinct on fur, grass and sofas, and from the heat-map's jet.
TRACK_RGB = ((255, 40, 160), (0, 200, 255), (255, 150, 0), (120, 255, 60), (180, 90, 255), (255, 255, 255),
             (0, 255, 170), (255, 80, 80))


def track_colour(track: int) -> tuple[int, int, int]:
    return TRACK_RGB[track % len(TRACK_RGB)]


def _label(image: np.ndarray, text: str, x: float, y: float, colour) -> None:
    radius = marker_size(image)
    scale, thickness = radius / 14, max(1, radius // 3)
    org = (int(x) + radius + 2, int(y) - radius - 2)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


class TrackOverlay:
    """Draws a frame's tracks: each nose in its track's colour with its id (a grey ring while the
    track coasts), a trail of its recent positions and, optionally, the raw detections. Keeps the
    trails between frames; a trail ends with its track, so it never crosses a cut or a gap."""

    def __init__(self, draw_raw: bool = False):
        self.draw_raw = draw_raw
        self._trails: dict[int, deque[tuple[float, float]]] = {}

    def draw(self, image: np.ndarray, rows: FramePoints) -> np.ndarray:
        """Draw onto `image` in place and return it."""
        if self.draw_raw:
            for point in rows.points:
                if point.x_raw is not None:
                    draw_nose(image, point.x_raw, point.y_raw, colour=RAW_RGB)
        shown = {p.track: p for p in rows.points if p.track is not None}
        self._trails = {track: trail for track, trail in self._trails.items() if track in shown}
        for track, point in shown.items():
            colour = track_colour(track)
            trail = self._trails.setdefault(track, deque(maxlen=TRAIL))
            trail.append((point.x, point.y))
            if len(trail) > 1:
                line = (np.array(trail) * 16).round().astype(np.int32)
                cv2.polylines(image, [line], False, colour, max(1, marker_size(image) // 4), cv2.LINE_AA, 4)
            draw_nose(image, point.x, point.y, colour=colour if point.state == TRACKED else COASTING_RGB)
            # A coasting point has no detection, so no confidence: its id alone.
            confidence = f" {point.confidence:.2f}" if point.confidence is not None else ""
            _label(image, f"#{track}{confidence}", point.x, point.y, colour)
        return image


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """Blend a [0, 1] heat-map (same HxW as image) over it; hot areas show, cold ones don't."""
    heat = np.clip(heatmap, 0.0, 1.0)
    colours = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB).astype(np.float32)
    alpha = (0.65 * np.sqrt(heat))[..., None]
    blended = image.astype(np.float32) * (1 - alpha) + colours * alpha
    return blended.astype(np.uint8)


def encode_image(image_rgb: np.ndarray, suffix: str) -> bytes:
    """Encode for writing; the format follows the file suffix."""
    ok, data = cv2.imencode(suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"cannot encode an image as {suffix}")
    return data.tobytes()
