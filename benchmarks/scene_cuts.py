"""Choose the scene-cut threshold from measurements: colour-histogram distances between consecutive
frames within real clips (no cut) and across real and generated cuts.

    python benchmarks/scene_cuts.py [--videos ../shared/videos] [--write docs/tracker.md]

Within a clip: every pair of consecutive frames of each shared clip (a pet moving fast, the camera
moving, motion blur). Real cuts: the last frame of each clip against every frame of the others
(what joining two clips gives, wherever the cut falls). Generated cuts: pan-and-zoom clips of two
different sample photos, joined. The threshold must sit above the first and below the others.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from synthetic import moving_sample_frames  # noqa: E402
from video_throughput import publish  # noqa: E402

from pettrack.model.geometry import Letterbox  # noqa: E402
from pettrack.model.localizer import Prepared  # noqa: E402
from pettrack.pipelines.cuts import colour_histogram, histogram_distance, picture  # noqa: E402
from pettrack.tracker import TrackerConfig  # noqa: E402

SIZE = 256


def histogram(rgb: np.ndarray) -> np.ndarray:
    box = Letterbox.fit(rgb.shape[1], rgb.shape[0], SIZE)
    return colour_histogram(picture(Prepared(box.apply(rgb), box)))


def clip_histograms(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    found = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        found.append(histogram(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    capture.release()
    return found


def consecutive(histograms: list[np.ndarray]) -> np.ndarray:
    return np.array([histogram_distance(a, b) for a, b in zip(histograms, histograms[1:])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, default=REPO.parent / "shared" / "videos")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    clips = {path.name: clip_histograms(path) for path in sorted(args.videos.glob("*.mp4"))}
    photos = sorted((REPO / "samples" / "images").glob("*.jpg"))
    generated = {}
    for photo in photos:
        frames, _ = moving_sample_frames(np.asarray(Image.open(photo).convert("RGB")), 30, size=(640, 360))
        generated[photo.name] = [histogram(f) for f in frames]

    threshold = TrackerConfig().cut_threshold
    lines = ["| pairs of frames | count | min | median | max | above the threshold |", "|---|---:|---:|---:|---:|---:|"]

    def row(name: str, values: np.ndarray) -> None:
        lines.append(f"| {name} | {len(values)} | {values.min():.3f} | {np.median(values):.3f} | {values.max():.3f} "
                     f"| {np.mean(values > threshold):.1%} |")

    for name, histograms in clips.items():
        row(f"within {name} (no cut)", consecutive(histograms))
    row("within generated pan-and-zoom clips (no cut)", np.concatenate([consecutive(h) for h in generated.values()]))
    real = [histogram_distance(a[-1], b_frame) for na, a in clips.items() for nb, b in clips.items() if na != nb
            for b_frame in b]
    row("real cuts: last frame of one clip to any frame of the other", np.array(real))
    names = list(generated)
    made = [histogram_distance(generated[a][-1], generated[b][0]) for a in names for b in names if a != b]
    row("generated cuts: one sample photo's clip to another's", np.array(made))
    lines += ["", f"Threshold (TrackerConfig.cut_threshold): {threshold:g}. Histograms: HSV 16x8x8 bins of the "
              f"{SIZE} px letterboxed picture; Bhattacharyya distance."]
    publish("\n".join(lines), "Scene-cut threshold", args.write)


if __name__ == "__main__":
    main()
