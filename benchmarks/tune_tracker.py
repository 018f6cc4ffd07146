"""Choose the tracker's defaults from measurements, not guesses.

    python benchmarks/tune_tracker.py [--weights W] [--write docs/tracker.md]

1. Builds pan-and-zoom videos of every sample photo (known nose path), at three speeds, and runs
   the real detector on every frame (this is the only slow part).
2. Measures the detector's noise in tracker units (pixels of a 256 px square, as TrackerConfig).
3. Replays the detections through the tracker for a grid of (measurement_std, accel_std) and
   prints the mean error of the smoothed (RTS) and causal tracks against the truth, plus jitter
   (mean |second difference|, px/frame^2) of raw and smoothed tracks.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

sys.path.insert(0, str(REPO / "benchmarks"))

from synthetic import moving_sample_frames  # noqa: E402
from video_throughput import publish  # noqa: E402

from pettrack.model.labels import read_labels  # noqa: E402
from pettrack.model.localizer import Localizer  # noqa: E402
from pettrack.tracker import TrackerConfig, image_pixels_per_unit, track  # noqa: E402

FPS = 30.0


def detect_sequences(localizer: Localizer, frames_per_video: int) -> list[dict]:
    sequences = []
    for label in read_labels(REPO / "samples" / "noses.txt").labels:
        image = np.asarray(Image.open(REPO / "samples" / "images" / label.name).convert("RGB"))
        for count in (frames_per_video, frames_per_video // 2, frames_per_video // 4):  # 3 speeds
            frames, transforms = moving_sample_frames(image, count, size=(640, 360))
            truth = np.array([m @ np.array([label.x, label.y, 1.0]) for m in transforms])
            found = []
            for start in range(0, len(frames), 16):
                found += [d.peak for d in localizer.locate(frames[start:start + 16])]
            raw = np.array([[d.x, d.y] for d in found])
            confidence = np.array([d.confidence for d in found])
            sequences.append({"name": f"{label.name}@{count}", "truth": truth, "raw": raw,
                              "confidence": confidence, "pixels_per_unit": image_pixels_per_unit(640, 360)})
    return sequences


def evaluate(sequences: list[dict], config: TrackerConfig, causal: bool) -> tuple[float, float]:
    errors, jitters = [], []
    for seq in sequences:
        # One pet: its best peak each frame, one track at a time (--max-pets 1).
        frames = [(i, i / FPS, [(x, y, c)]) for i, ((x, y), c) in enumerate(zip(seq["raw"], seq["confidence"]))]
        released = track(frames, config, pixels_per_unit=seq["pixels_per_unit"], causal=causal, max_tracks=1)
        xy = np.array([[p.x, p.y] if p.x is not None else [np.nan, np.nan] for r in released for p in r.points])
        errors.append(np.nanmean(np.hypot(*(xy - seq["truth"]).T)))
        jitters.append(np.nanmean(np.abs(np.diff(xy, n=2, axis=0))))
    return float(np.mean(errors)), float(np.mean(jitters))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    localizer = Localizer.load(args.weights, device="cpu", backend="torch")
    started = time.perf_counter()
    sequences = detect_sequences(localizer, args.frames)
    raw_units = np.concatenate([(s["raw"] - s["truth"]) / s["pixels_per_unit"] for s in sequences])
    raw_error = float(np.mean([np.mean(np.hypot(*(s["raw"] - s["truth"]).T)) for s in sequences]))
    raw_jitter = float(np.mean([np.mean(np.abs(np.diff(s["raw"], n=2, axis=0))) for s in sequences]))
    lines = [
        f"{len(sequences)} pan-and-zoom videos of the {len(sequences) // 3} sample photos, 640x360, "
        f"{args.frames}/{args.frames // 2}/{args.frames // 4} frames each; detection took {time.perf_counter() - started:.0f} s.",
        f"Model: {localizer.size} px input. Detector noise, tracker units (256 px square): "
        f"std x {raw_units[:, 0].std():.2f}, y {raw_units[:, 1].std():.2f}; median |error| {np.median(np.hypot(*raw_units.T)):.2f}.",
        f"Raw detections: mean error {raw_error:.2f} px, jitter {raw_jitter:.2f} px/frame^2.",
        "",
        "| measurement_std | accel_std | smoothed error px | smoothed jitter | causal error px |",
        "|---:|---:|---:|---:|---:|",
    ]
    best = None
    base = TrackerConfig()
    for measurement_std in (1.0, 2.0, 4.0, 6.0, 8.0):
        for accel_std in (200.0, 400.0, 800.0, 1600.0, 3200.0):
            config = replace(base, measurement_std=measurement_std, accel_std=accel_std)
            smooth_error, smooth_jitter = evaluate(sequences, config, causal=False)
            causal_error, _ = evaluate(sequences, config, causal=True)
            lines.append(f"| {measurement_std:g} | {accel_std:g} | {smooth_error:.2f} | {smooth_jitter:.2f} | {causal_error:.2f} |")
            if best is None or smooth_error < best[0]:
                best = (smooth_error, measurement_std, accel_std, smooth_jitter, causal_error)
    lines += ["", f"Best smoothed error {best[0]:.2f} px (raw {raw_error:.2f}) at measurement_std={best[1]:g}, "
                  f"accel_std={best[2]:g}; jitter {best[3]:.2f} (raw {raw_jitter:.2f}); causal error {best[4]:.2f} px."]
    publish("\n".join(lines), "Tracker tuning run", args.write)


if __name__ == "__main__":
    main()
