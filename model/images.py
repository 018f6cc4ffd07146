"""Reading images the way a user's folder has them: any common format, EXIF-rotated, grayscale,
with alpha, 16-bit, truncated, or far larger than the model needs.

Always returns 8-bit RGB in display orientation, plus the size of the full-resolution
displayed image, so callers report points in the pixels the user sees.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
# Refuse images above this many pixels rather than exhausting memory (~0.5 GB of RGB).
MAX_PIXELS = 180_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own bomb check then agrees with ours
# EXIF orientations 5-8 swap width and height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}


class ImageReadError(Exception):
    """An image that cannot be used; the message says why."""


@dataclass(frozen=True)
class LoadedImage:
    rgb: np.ndarray  # HxWx3 uint8, display orientation, possibly reduced (see decode_scale)
    width: int  # full-resolution display size
    height: int

    @property
    def decode_scale(self) -> float:
        """rgb pixels per full-resolution pixel (1.0 unless a huge JPEG was decoded reduced)."""
        return self.rgb.shape[1] / self.width


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(path: Path, min_side: int | None = None) -> LoadedImage:
    """Decode an image file.

    min_side: if given, a JPEG whose longer side exceeds twice this may be decoded at a reduced
    scale (1/2, 1/4, 1/8; longer side still >= min_side), which makes huge photos cheap. Other
    formats decode at full size.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _from_pil(image, min_side)
    except FileNotFoundError as exc:
        raise ImageReadError("file not found") from exc
    except IsADirectoryError as exc:
        raise ImageReadError("is a directory") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"image too large (limit {MAX_PIXELS:,} pixels)") from exc
    except UnidentifiedImageError:
        return _from_opencv(path)
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.strerror:  # the file system refused: permission, I/O error
            raise ImageReadError(f"cannot read it: {exc.strerror}") from exc
        # Pillow says "image file is truncated", "broken data stream", ... here.
        raise ImageReadError(f"cannot decode: {exc}") from exc


def fit_within(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """The image shrunk (area filter) so its longer side is at most `max_side`; unchanged if it is."""
    longest = max(rgb.shape[:2])
    if longest <= max_side:
        return rgb
    factor = max_side / longest
    size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _from_pil(image: Image.Image, min_side: int | None) -> LoadedImage:
    orientation = image.getexif().get(0x0112, 1)
    full_w, full_h = image.size
    if full_w * full_h > MAX_PIXELS:
        raise ImageReadError(f"image too large ({full_w}x{full_h}, limit {MAX_PIXELS:,} pixels)")
    if orientation in _TRANSPOSING_ORIENTATIONS:
        full_w, full_h = full_h, full_w
    if min_side and image.format == "JPEG":
        long_side = max(image.size)
        target = max(min_side, 1)
        if long_side > 2 * target:
            ratio = target / long_side
            image.draft("RGB", (max(1, int(image.size[0] * ratio)), max(1, int(image.size[1] * ratio))))
    image.load()  # raises on truncated data
    image = ImageOps.exif_transpose(image)
    return LoadedImage(_to_rgb8(image), full_w, full_h)


def _to_rgb8(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image).astype(np.float64)
        if mode == "F":
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            values = (values - low) / (high - low or 1.0) * 255.0
        elif values.max(initial=0) > 255:
            values = values / 257.0  # 16-bit range to 8-bit
        gray = np.clip(np.nan_to_num(values), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Composite onto white: transparent areas of cut-out pet photos look natural that way.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))


def _from_opencv(path: Path) -> LoadedImage:
    """Fallback for files Pillow does not identify (some TIFF variants, 16-bit colour)."""
    data = np.fromfile(str(path), dtype=np.uint8)
    decoded = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR) if data.size else None
    if decoded is None:
        raise ImageReadError("not an image, or a format that cannot be decoded")
    if decoded.dtype == np.uint16:
        decoded = (decoded / 257.0).astype(np.uint8)
    elif decoded.dtype != np.uint8:
        decoded = cv2.normalize(decoded, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    rgb = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return LoadedImage(rgb, rgb.shape[1], rgb.shape[0])
