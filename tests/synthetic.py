"""Synthetic test material: labelled blob images, encoded clips, and clips of several sample pets with known nose paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


def blob_image(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, tuple[float, float]]:
    """An RGB image with one dark disc; returns the image and the disc centre (x, y)."""
    base = rng.integers(120, 220, size=3)
    noise = cv2.GaussianBlur(rng.normal(0, 25, size=(height, width, 3)), (0, 0), 2.0)
    image = np.clip(base + noise, 0, 255).astype(np.uint8)
    radius = max(3, min(width, height) // 12)
    x = float(rng.uniform(radius + 2, width - radius - 2))
    y = float(rng.uniform(radius + 2, height - radius - 2))
    # Draw with sub-pixel precision (shift=4 fractional bits).
    cv2.circle(image, (int(round(x * 16)), int(round(y * 16))), radius * 16, (20, 15, 10), -1, cv2.LINE_AA, 4)
    return image, (x, y)


def write_blob_dataset(folder: Path, count: int, seed: int = 0) -> Path:
    """Writes PNGs and a label file in the pet-noses format; returns the label file's path."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(count):
        width, height = int(rng.integers(70, 110)), int(rng.integers(55, 90))
        image, (x, y) = blob_image(rng, width, height)
        name = f"blob_{index:03d}.png"
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        lines.append(f'{name},"({x:.2f}, {y:.2f})"')
    labels = folder / "labels.txt"
    labels.write_text("\n".join(lines) + "\n")
    return labels


def write_video(path: Path, frames, rate=25, rotation: int = 0, codec: str = "libx264",
                options: dict | None = None, pts: list[int] | None = None, audio: bool = False) -> Path:
    """Encode RGB frames into an MP4 with PyAV; rotation sets the display-rotation tag.

    options: encoder options (e.g. x265-params); pts: each frame's time in units of 1/rate
    (irregular steps make a variable-frame-rate clip); default 0, 1, 2, ...; audio: add an AAC
    tone as long as the video."""
    from fractions import Fraction

    import av

    frames = list(frames)
    height, width = frames[0].shape[:2]
    rate = Fraction(rate)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        stream.codec_context.time_base = 1 / rate
        if options:
            stream.options = options
        if rotation:
            stream.set_display_rotation(rotation)
        sound = container.add_stream("aac", rate=16000) if audio else None
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = index if pts is None else pts[index]
            _encode(container, stream, frame)
        _encode(container, stream, None)
        if sound is not None:
            last = pts[-1] + 1 if pts else len(frames)
            _write_tone(container, sound, float(last / rate))
    return path


def _write_tone(container, stream, seconds: float, rate: int = 16000) -> None:
    import av

    samples = (np.sin(np.arange(int(rate * seconds)) / 10) * 0.3).astype(np.float32)
    for start in range(0, samples.size, 1024):
        frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        _encode(container, stream, frame)
    _encode(container, stream, None)


def _encode(container, stream, frame) -> None:
    """Encode one frame (None flushes the encoder) and mux what comes out."""
    for packet in stream.encode(frame):
        container.mux(packet)


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    import av

    with av.open(str(path), "w") as container:
        _write_tone(container, container.add_stream("aac", rate=16000), seconds)
    return path


def moving_sample_frames(image: np.ndarray, count: int, size=(320, 240), seed: int = 0):
    """Frames showing `image` panned and zoomed along a known smooth path.

    Returns (frames, truth) where truth[i] maps image pixel (0, 0)-based points: a function
    that takes (x, y) in the source image and gives its position in frame i."""
    width, height = size
    frames, transforms = [], []
    src_h, src_w = image.shape[:2]
    for i in range(count):
        t = i / max(count - 1, 1)
        zoom = 0.55 + 0.25 * t  # frame pixels per image pixel
        # The image centre drifts on a smooth curve.
        cx = width / 2 + 40 * np.sin(2 * np.pi * t)
        cy = height / 2 + 25 * np.sin(np.pi * t)
        matrix = np.array([[zoom, 0, cx - zoom * src_w / 2], [0, zoom, cy - zoom * src_h / 2]])
        frames.append(cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_AREA, borderValue=(90, 90, 90)))
        transforms.append(matrix)
    return frames, transforms


# --- Clips of several pets with known nose paths (tests/test_multi_pet.py, benchmarks/multi_pet.py) ---

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@dataclass(frozen=True)
class Sprite:
    """A pet's face cut from a sample photo, and where its nose is in it."""

    rgb: np.ndarray
    nose: tuple[float, float]


@dataclass
class PetClip:
    """Frames and, per frame, every visible nose as (pet, x, y); pet numbers are the truth's ids."""

    name: str
    frames: list[np.ndarray]
    truth: list[list[tuple[int, float, float]]]
    fps: float
    cuts: list[int]  # frames that start a new scene

    def write(self, path: Path) -> Path:
        write_video(path, self.frames, rate=int(self.fps))
        return path


def sample_sprites(side: int = 140) -> list[Sprite]:
    """Every sample photo's face: a square around the nose (shifted inside the photo), side px."""
    from PIL import Image

    sprites = []
    for line in (SAMPLES / "noses.txt").read_text().splitlines():
        name, rest = line.split(",", 1)
        x, y = (float(v) for v in rest.strip('"() ').split(","))
        image = np.asarray(Image.open(SAMPLES / "images" / name).convert("RGB"))
        h, w = image.shape[:2]
        crop = int(0.7 * min(w, h))
        left = int(np.clip(x - crop / 2, 0, w - crop))
        top = int(np.clip(y - crop * 0.45, 0, h - crop))
        face = cv2.resize(image[top:top + crop, left:left + crop], (side, side), interpolation=cv2.INTER_AREA)
        scale = side / crop
        sprites.append(Sprite(face, ((x - left + 0.5) * scale - 0.5, (y - top + 0.5) * scale - 0.5)))
    return sprites


def textured_background(seed: int, width: int = 640, height: int = 360) -> np.ndarray:
    """A floor-like texture: a colour, large soft blotches and fine grain."""
    rng = np.random.default_rng(seed)
    base = rng.integers(70, 200, size=3).astype(np.float32)
    blotches = cv2.resize(rng.normal(0, 25, size=(height // 40 + 1, width // 40 + 1)).astype(np.float32),
                          (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 5, size=(height, width)).astype(np.float32)
    return np.clip(base + (blotches + grain)[..., None], 0, 255).astype(np.uint8)


def compose(background: np.ndarray, placed: list[tuple[int, Sprite, float, float]]) -> tuple[np.ndarray, list]:
    """Paste sprites (pet, sprite, left, top) in order, later ones in front; returns the frame
    and the noses not covered by a sprite pasted after theirs nor outside the frame."""
    frame = background.copy()
    height, width = frame.shape[:2]
    boxes = []
    for pet, sprite, left, top in placed:
        side = sprite.rgb.shape[0]
        x0, y0 = int(round(left)), int(round(top))
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
        if fx1 > fx0 and fy1 > fy0:
            frame[fy0:fy1, fx0:fx1] = sprite.rgb[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        boxes.append((pet, x0 + sprite.nose[0], y0 + sprite.nose[1], (x0, y0, x0 + side, y0 + side)))
    visible = []
    for i, (pet, nx, ny, _) in enumerate(boxes):
        covered = any(b[0] <= nx < b[2] and b[1] <= ny < b[3] for _, _, _, b in boxes[i + 1:])
        if not covered and 0 <= nx < width and 0 <= ny < height:
            visible.append((pet, nx, ny))
    return frame, visible


def crossing_clip(sprites: list[Sprite], seed: int = 0, fps: float = 15.0, seconds: float = 3.0) -> PetClip:
    """Two pets walk towards each other and cross; the second passes in front of the first,
    hiding its nose for about half a second."""
    rng = np.random.default_rng(seed)
    a, b = rng.choice(len(sprites), 2, replace=False)
    background = textured_background(seed)
    count = int(fps * seconds)
    ya = rng.uniform(50, 110)
    yb = ya + sprites[a].nose[1] - rng.uniform(10, 40)  # its top edge above the first pet's nose
    frames, truth = [], []
    for i in range(count):
        t = i / (count - 1)
        left_a, left_b = 40 + 420 * t, 460 - 420 * t
        frame, visible = compose(background, [(0, sprites[a], left_a, ya + 15 * np.sin(3 * t)),
                                              (1, sprites[b], left_b, yb)])
        frames.append(frame)
        truth.append(visible)
    return PetClip(f"crossing-{seed}", frames, truth, fps, [])


def cut_clip(sprites: list[Sprite], seed: int = 0, fps: float = 15.0, seconds: float = 4.0) -> PetClip:
    """Two pets in one room, then a hard cut to two other pets in another room, placed where the
    first two were (so only the cut, not the distance, can tell them apart)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sprites))
    scenes = [(textured_background(seed), order[:2]), (textured_background(seed + 1000), order[2:4])]
    count = int(fps * seconds)
    cut = count // 2
    frames, truth = [], []
    for i in range(count):
        background, pets = scenes[i >= cut]
        t = i / fps
        first = 2 * (i >= cut)
        placed = [(first, sprites[pets[0]], 80 + 30 * t, 100 + 10 * np.sin(2 * t)),
                  (first + 1, sprites[pets[1]], 380 - 20 * t, 140)]
        frame, visible = compose(background, placed)
        frames.append(frame)
        truth.append(visible)
    return PetClip(f"cut-{seed}", frames, truth, fps, [cut])


def disappearing_clip(sprites: list[Sprite], seed: int = 0, fps: float = 15.0, seconds: float = 4.0,
                      gone: tuple[float, float] = (1.5, 2.5)) -> PetClip:
    """One pet moving about; between gone[0] and gone[1] seconds it is not in the picture at all."""
    rng = np.random.default_rng(seed)
    pet = int(rng.integers(len(sprites)))
    background = textured_background(seed)
    frames, truth = [], []
    for i in range(int(fps * seconds)):
        t = i / fps
        placed = [] if gone[0] <= t < gone[1] else [(0, sprites[pet], 200 + 40 * t, 90 + 30 * np.sin(1.5 * t))]
        frame, visible = compose(background, placed)
        frames.append(frame)
        truth.append(visible)
    return PetClip(f"disappearing-{seed}", frames, truth, fps, [])
