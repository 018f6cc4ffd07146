"""Image <-> model-input geometry.

Every image is *letterboxed* into the square model input: resized so its longer side fills the
square, aspect ratio kept, and centred on a padded canvas. The map is an axis-aligned affine

    u = sx * x + tx        v = sy * y + ty

from original image pixels (x, y) to model pixels (u, v). Pixel centres sit on integer
coordinates in both spaces, the convention OpenCV's resize and warpAffine use, so the inverse is
exact and every point the model reports can be taken back to the original image's pixels.

Letterboxing (rather than stretching to a square) keeps a pet's face the same shape whether it
comes from a 3:4 photo or a 16:9 video frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Padding colour: the ImageNet mean, so padded pixels normalise to ~0.
PAD_RGB = (124, 116, 104)


@dataclass(frozen=True)
class Letterbox:
    """The affine map from one image's pixels to the square model input."""

    width: int  # image size the map was fitted to
    height: int
    size: int  # model input side
    sx: float
    sy: float
    tx: float
    ty: float

    @classmethod
    def fit(cls, width: int, height: int, size: int) -> "Letterbox":
        if width < 1 or height < 1:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        scale = size / max(width, height)
        new_w = min(size, max(1, round(width * scale)))
        new_h = min(size, max(1, round(height * scale)))
        sx, sy = new_w / width, new_h / height
        pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
        # cv2.resize maps pixel centre x to (x + 0.5) * s - 0.5; then the canvas offset.
        return cls(width, height, size, sx, sy, 0.5 * sx - 0.5 + pad_x, 0.5 * sy - 0.5 + pad_y)

    @property
    def resized_size(self) -> tuple[int, int]:
        return round(self.width * self.sx), round(self.height * self.sy)

    @property
    def offset(self) -> tuple[int, int]:
        new_w, new_h = self.resized_size
        return (self.size - new_w) // 2, (self.size - new_h) // 2

    @property
    def scale(self) -> float:
        """Model pixels per image pixel (sx and sy differ only by rounding)."""
        return 0.5 * (self.sx + self.sy)

    def matrix(self) -> np.ndarray:
        """2x3 affine matrix, image -> model."""
        return np.array([[self.sx, 0.0, self.tx], [0.0, self.sy, self.ty]], dtype=np.float64)

    def to_model(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([xy[..., 0] * self.sx + self.tx, xy[..., 1] * self.sy + self.ty], axis=-1)

    def to_image(self, uv: np.ndarray, clip: bool = False) -> np.ndarray:
        """Model -> image pixels. clip: keep the point inside the image (a heat-map peak in the
        letterbox padding still means "nearest the edge")."""
        uv = np.asarray(uv, dtype=np.float64)
        xy = np.stack([(uv[..., 0] - self.tx) / self.sx, (uv[..., 1] - self.ty) / self.sy], axis=-1)
        return np.clip(xy, 0.0, [self.width - 1, self.height - 1]) if clip else xy

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Letterbox an HxWx3 uint8 image into a size x size x 3 uint8 model input."""
        if image.shape[1] != self.width or image.shape[0] != self.height:
            raise ValueError(
                f"letterbox fitted to {self.width}x{self.height}, got {image.shape[1]}x{image.shape[0]}"
            )
        new_w, new_h = self.resized_size
        shrinking = new_w < self.width
        resized = cv2.resize(
            image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        )
        canvas = np.empty((self.size, self.size, 3), dtype=np.uint8)
        canvas[:] = PAD_RGB
        off_x, off_y = self.offset
        canvas[off_y : off_y + new_h, off_x : off_x + new_w] = resized
        return canvas

    def heatmap_to_image(self, heatmap: np.ndarray) -> np.ndarray:
        """Warp a size x size model-space map back onto the image (HxW float32)."""
        inverse = cv2.invertAffineTransform(self.matrix())
        return cv2.warpAffine(
            heatmap.astype(np.float32), inverse, (self.width, self.height), flags=cv2.INTER_LINEAR
        )
