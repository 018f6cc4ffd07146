"""Synthetic labelled images for tests: a dark round "nose" on a textured background."""

from __future__ import annotations

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
