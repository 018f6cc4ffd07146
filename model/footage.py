"""Training and validation views that look like real footage, built from labelled pet photos.

The labelled data are portraits: one pet filling a photo. Footage is different: the pet may be
small in a 16:9 or 9:16 frame, there may be several pets or none whose nose shows, and frames are
blurred, compressed, noisy, dark or covered with text. This module composes such views from the
portraits, always tracking every nose exactly:

- `canvas_view_raw`: one photo at a random scale (filling the frame down to ~1/8 of its width) on a
  canvas of video aspect whose background is a nose-free crop of another photo;
- `mosaic_view_raw`: 2-4 photos on one canvas, a nose for each;
- `nose_free_view_raw`: a crop of a photo that excludes its nose with a margin, or a canvas of such
  crops: the target is an all-zero heat-map;
- `degrade`: motion blur, compression, noise, low light, colour casts and text overlays.

The `*_raw` functions return a canvas in *image* pixels whose longer side is the model input size
and its noses; `to_view` then letterboxes it exactly as inference letterboxes a frame (geometry.Letterbox), so the model is trained
on what it will be shown. Points follow the pixel-centre convention of geometry.py: resizing by
(sx, sy) maps x to (x + 0.5) * sx - 0.5, pasting at an integer offset adds the offset.

All randomness comes from the numpy Generator passed in, so a view is a pure function of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .geometry import Letterbox

# Canvas aspect ratios (width / height) of the footage users bring: landscape, portrait phone, 4:3.
VIDEO_ASPECTS = (16 / 9, 9 / 16, 4 / 3)
# A nose-free crop keeps at least this share of the photo's short side between it and the nose:
# the nose pad is ~5% of a portrait's short side, so this clears the whole muzzle.
NOSE_FREE_MARGIN = 0.12
# Largest number of noses a training view carries; targets are padded to it.
MAX_NOSES = 8
# Padding for unused target slots: far outside any input, so its Gaussian is exactly zero.
NO_POINT = -1.0e4


@dataclass(frozen=True)
class Photo:
    """A labelled photo: RGB pixels and its nose (pixel centres on integers)."""

    image: np.ndarray  # HxWx3 uint8
    x: float
    y: float


@dataclass(frozen=True)
class View:
    """A model input and every nose in it, in model pixels."""

    image: np.ndarray  # SxSx3 uint8, letterboxed
    points: np.ndarray  # (K, 2) float64, K >= 0
    short_side: float  # the canvas's short side in model pixels (the footage hit radius is 5% of it)


@dataclass(frozen=True)
class FootageMix:
    """What share of training views is of each kind; the rest are augmented portraits.

    Portraits stay in the mix so the footage model does not forget what it already does well.
    """

    canvas: float = 0.30
    mosaic: float = 0.12
    nose_free: float = 0.25
    degrade_footage: float = 0.8  # chance that a footage view (canvas, mosaic, nose-free) is degraded
    degrade_portrait: float = 0.3
    min_scale: float = 1 / 8  # smallest pet: this share of the canvas width

    def kind(self, draw: float) -> str:
        """Map a uniform draw in [0, 1) to a view kind."""
        for name, share in (("canvas", self.canvas), ("mosaic", self.mosaic), ("nose_free", self.nose_free)):
            if draw < share:
                return name
            draw -= share
        return "portrait"


def canvas_shape(size: int, aspect: float) -> tuple[int, int]:
    """(width, height) of a canvas of this aspect whose longer side is `size`."""
    if aspect >= 1:
        return size, max(1, round(size / aspect))
    return max(1, round(size * aspect)), size


def resize(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float, float]:
    """Resize (area filter when shrinking) and return the exact per-axis scale used."""
    h, w = image.shape[:2]
    shrinking = width * height < w * h
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out, width / w, height / h


def scale_point(x: float, y: float, sx: float, sy: float) -> tuple[float, float]:
    return (x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5


def nose_free_crop(photo: Photo, rng: np.random.Generator, min_side: float = 0.3) -> np.ndarray | None:
    """A random crop of the photo that keeps NOSE_FREE_MARGIN of its short side clear of the nose.

    Picks one of the four bands beside the nose (left, right, above, below) that is big enough,
    then a random rectangle inside it. None when no band is big enough (a nose in the middle of a
    tiny photo).
    """
    h, w = photo.image.shape[:2]
    margin = NOSE_FREE_MARGIN * min(h, w)
    smallest = max(8, int(min_side * min(h, w)))
    # Bands as (x0, y0, x1, y1), exclusive ends, every pixel at least `margin` from the nose.
    bands = [
        (0, 0, int(math.floor(photo.x - margin)), h),
        (int(math.ceil(photo.x + margin)) + 1, 0, w, h),
        (0, 0, w, int(math.floor(photo.y - margin))),
        (0, int(math.ceil(photo.y + margin)) + 1, w, h),
    ]
    usable = [b for b in bands if b[2] - b[0] >= smallest and b[3] - b[1] >= smallest]
    if not usable:
        return None
    x0, y0, x1, y1 = usable[int(rng.integers(len(usable)))]
    cw = int(rng.integers(smallest, x1 - x0 + 1))
    ch = int(rng.integers(smallest, y1 - y0 + 1))
    left = int(rng.integers(x0, x1 - cw + 1))
    top = int(rng.integers(y0, y1 - ch + 1))
    return photo.image[top : top + ch, left : left + cw]


def background(photos: Sequence[Photo], width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A canvas filled from a nose-free crop of a random photo (texture, not a flat colour)."""
    for _ in range(8):
        crop = nose_free_crop(photos[int(rng.integers(len(photos)))], rng)
        if crop is not None:
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            return resize(np.ascontiguousarray(crop), width, height)[0]
    # Photos whose noses leave no room for a crop: a blurred noise field.
    noise = rng.integers(0, 256, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def paste(canvas: np.ndarray, image: np.ndarray, left: int, top: int) -> None:
    """Paste `image` with its top-left corner at (left, top), clipped to the canvas."""
    ch, cw = canvas.shape[:2]
    h, w = image.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + w, cw), min(top + h, ch)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = image[y0 - top : y1 - top, x0 - left : x1 - left]


def flipped(photo: Photo, rng: np.random.Generator) -> Photo:
    if rng.random() < 0.5:
        return photo
    w = photo.image.shape[1]
    return Photo(np.ascontiguousarray(photo.image[:, ::-1]), w - 1 - photo.x, photo.y)


def place(
    canvas: np.ndarray, photo: Photo, width: int, region: tuple[int, int, int, int],
    rng: np.random.Generator, margin: float = 2.0,
) -> tuple[float, float] | None:
    """Resize the photo to `width` pixels wide and paste it at a random spot in `region`
    (x0, y0, x1, y1) of the canvas such that its nose lands inside the region. Returns the nose
    in canvas pixels, or None when the nose cannot land inside (region too small)."""
    h, w = photo.image.shape[:2]
    height = max(1, round(h * width / w))
    resized, sx, sy = resize(photo.image, max(1, width), height)
    nx, ny = scale_point(photo.x, photo.y, sx, sy)
    x0, y0, x1, y1 = region
    # Offsets that keep the nose inside [x0 + margin, x1 - 1 - margin] and the photo overlapping.
    lo_x, hi_x = math.ceil(x0 + margin - nx), math.floor(x1 - 1 - margin - nx)
    lo_y, hi_y = math.ceil(y0 + margin - ny), math.floor(y1 - 1 - margin - ny)
    # Prefer offsets that keep the whole photo inside the region when it fits.
    if resized.shape[1] <= x1 - x0:
        lo_x, hi_x = max(lo_x, x0), min(hi_x, x1 - resized.shape[1])
    if resized.shape[0] <= y1 - y0:
        lo_y, hi_y = max(lo_y, y0), min(hi_y, y1 - resized.shape[0])
    if lo_x > hi_x or lo_y > hi_y:
        return None
    left, top = int(rng.integers(lo_x, hi_x + 1)), int(rng.integers(lo_y, hi_y + 1))
    paste(canvas, resized, left, top)
    return nx + left, ny + top


def canvas_view_raw(
    photos: Sequence[Photo], photo: Photo, size: int, rng: np.random.Generator,
    scale: float | None = None, aspect: float | None = None, min_scale: float = 1 / 8,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """One photo on a video-aspect canvas. scale: the photo's width as a share of the canvas width
    (log-uniform in [min_scale, 1.3] when None); values above 1 crop the photo."""
    aspect = aspect or VIDEO_ASPECTS[int(rng.integers(len(VIDEO_ASPECTS)))]
    cw, ch = canvas_shape(size, aspect)
    canvas = background(photos, cw, ch, rng)
    if scale is None:
        scale = float(np.exp(rng.uniform(np.log(min_scale), np.log(1.3))))
    nose = place(canvas, flipped(photo, rng), max(4, round(scale * cw)), (0, 0, cw, ch), rng)
    return canvas, [] if nose is None else [nose]


def mosaic_view_raw(
    photos: Sequence[Photo], chosen: Sequence[Photo], size: int, rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """2-4 photos, one per cell of a grid on a video-aspect canvas; a nose for each placed photo."""
    aspect = VIDEO_ASPECTS[int(rng.integers(len(VIDEO_ASPECTS)))]
    cw, ch = canvas_shape(size, aspect)
    canvas = background(photos, cw, ch, rng)
    cols, rows = (2, 1) if len(chosen) == 2 and aspect >= 1 else (1, 2) if len(chosen) == 2 else (2, 2)
    cells = [(c * cw // cols, r * ch // rows, (c + 1) * cw // cols, (r + 1) * ch // rows)
             for r in range(rows) for c in range(cols)]
    order = rng.permutation(len(cells))[: len(chosen)]
    noses = []
    for photo, cell in zip(chosen, (cells[i] for i in order)):
        cell_w, cell_h = cell[2] - cell[0], cell[3] - cell[1]
        h, w = photo.image.shape[:2]
        fit = min(cell_w / w, cell_h / h)  # the whole photo fits its cell at this scale
        width = max(4, round(w * fit * rng.uniform(0.45, 1.0)))
        nose = place(canvas, flipped(photo, rng), width, cell, rng)
        if nose is not None:
            noses.append(nose)
    return canvas, noses


def nose_free_view_raw(
    photos: Sequence[Photo], photo: Photo, size: int, rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A crop without the nose (body, paws, back of the head, background), flipped or rotated by a
    multiple of 90 degrees, or a canvas of several such crops. No noses."""
    if rng.random() < 0.6:
        crop = nose_free_crop(photo, rng)
        if crop is not None:
            crop = np.rot90(crop, int(rng.integers(4))) if rng.random() < 0.3 else crop
            crop = crop[:, ::-1] if rng.random() < 0.5 else crop
            crop = np.ascontiguousarray(crop)
            h, w = crop.shape[:2]
            factor = size / max(h, w)
            return resize(crop, max(1, round(w * factor)), max(1, round(h * factor)))[0], []
    aspect = VIDEO_ASPECTS[int(rng.integers(len(VIDEO_ASPECTS)))]
    cw, ch = canvas_shape(size, aspect)
    canvas = background(photos, cw, ch, rng)
    for _ in range(int(rng.integers(1, 4))):
        crop = nose_free_crop(photos[int(rng.integers(len(photos)))], rng)
        if crop is None:
            continue
        h, w = crop.shape[:2]
        width = max(4, round(cw * rng.uniform(0.2, 0.8)))
        piece = resize(np.ascontiguousarray(crop), width, max(1, round(h * width / w)))[0]
        ph = piece.shape[0]
        left = int(rng.integers(-width // 4, max(cw - width // 2, 1 - width // 4)))
        top = int(rng.integers(-ph // 4, max(ch - ph // 2, 1 - ph // 4)))
        paste(canvas, piece, left, top)
    return canvas, []


def adjust_colour(image: np.ndarray, gain: float, contrast: float) -> np.ndarray:
    """Brightness times `gain`, then contrast scaled by `contrast` about the mean."""
    values = image.astype(np.float32) * gain
    mean = float(values.mean())
    return np.clip((values - mean) * contrast + mean, 0, 255).astype(np.uint8)


# --- Footage degradations (on the canvas, before letterboxing, as a camera and encoder would) ---

def motion_blur(image: np.ndarray, rng: np.random.Generator, max_length: int = 15) -> np.ndarray:
    """A linear motion-blur kernel at a random angle. It is centred, so the nose does not move."""
    length = int(rng.integers(3, max_length + 1)) | 1
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    kernel /= max(kernel.sum(), 1e-6)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(10, 60))
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else image


def low_bitrate(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Detail lost to a low bitrate: down-sample, then back up (blocky, smeared)."""
    h, w = image.shape[:2]
    factor = rng.uniform(0.25, 0.6)
    small = cv2.resize(image, (max(2, round(w * factor)), max(2, round(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def sensor_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(3, 18)
    noisy = image.astype(np.float32) + rng.normal(0, sigma, size=image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def low_light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darker (gamma and gain), then the noise a sensor adds when it is dark."""
    values = (image.astype(np.float32) / 255.0) ** rng.uniform(1.2, 2.2) * rng.uniform(0.3, 0.8)
    values += rng.normal(0, rng.uniform(0.005, 0.03), size=image.shape).astype(np.float32)
    return np.clip(values * 255.0, 0, 255).astype(np.uint8)


def colour_cast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gains = rng.uniform(0.75, 1.25, size=3).astype(np.float32)
    if rng.random() < 0.2:  # night-vision cameras: grey
        return np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    return np.clip(image.astype(np.float32) * gains, 0, 255).astype(np.uint8)


_OVERLAY_TEXT = ("REC", "LIVE", "CAM 01", "2024-06-01 08:15:22", "@petcam", "SUBSCRIBE", "lol", "Day 3", "FRONT DOOR", "12:04 PM")


def text_overlay(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Time stamps, captions and badges as pet-cams and compilations burn them in."""
    out = image.copy()
    h, w = out.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        text = _OVERLAY_TEXT[int(rng.integers(len(_OVERLAY_TEXT)))]
        scale = rng.uniform(0.25, 0.8) * max(w, h) / 256
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        org = (int(rng.integers(0, max(1, w - 20))), int(rng.integers(10, max(11, h))))
        if rng.random() < 0.3:  # a badge: filled box behind the text
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            cv2.rectangle(out, (org[0] - 2, org[1] - th - 2), (org[0] + tw + 2, org[1] + 3), tuple(255 - c for c in colour), -1)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, max(1, int(scale * 2)), cv2.LINE_AA)
    return out


DEGRADATIONS = (  # (function, chance); applied in this order, as the capture chain would
    (low_light, 0.2),
    (colour_cast, 0.3),
    (motion_blur, 0.35),
    (sensor_noise, 0.3),
    (low_bitrate, 0.2),
    (jpeg, 0.35),
    (text_overlay, 0.15),
)


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Some of the footage degradations, each drawn independently. None moves a nose."""
    for function, chance in DEGRADATIONS:
        if rng.random() < chance:
            image = function(image, rng)
    return image


def to_view(canvas: np.ndarray, noses: list[tuple[float, float]], size: int) -> View:
    """Letterbox a canvas exactly as inference letterboxes a frame."""
    box = Letterbox.fit(canvas.shape[1], canvas.shape[0], size)
    points = box.to_model(np.array(noses, dtype=np.float64).reshape(-1, 2))
    return View(box.apply(np.ascontiguousarray(canvas)), points, min(canvas.shape[:2]) * box.scale)


def padded_points(points: np.ndarray) -> np.ndarray:
    """(MAX_NOSES, 2) float32: the points, then NO_POINT rows (batches need one shape)."""
    out = np.full((MAX_NOSES, 2), NO_POINT, dtype=np.float32)
    out[: min(len(points), MAX_NOSES)] = points[:MAX_NOSES]
    return out
