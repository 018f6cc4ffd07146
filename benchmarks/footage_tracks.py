"""Tracks on real footage: the shared clips' hand-labelled frames, scored on the tracker's output.

    python benchmarks/footage_tracks.py [--set ../shared/data/footage-noses] [--write docs/tracker.md]

The model runs once on every frame of dog.mp4 and kitten.mp4 (one pet each); the tracker then
replays those detections (with the scene cuts pettrack finds). On the
labelled frames (visible `yes` or `no`; `disputed` left out) it reports, for several
settings of how long a track keeps its id and how long its coasted point is written, the share of visible noses
that a track point lies on (within 5% of the frame's short side, the dev set's scoring rule), and
the share of track points that lie on a nose, for all points and for `tracked` points only
(`predicted` points are the coasting ones, written while no detection backs the track).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from video_throughput import publish  # noqa: E402

from pettrack.model.localizer import Localizer  # noqa: E402
from pettrack.pipelines.cuts import SceneCuts  # noqa: E402
from pettrack.tracker import TrackerConfig, image_pixels_per_unit, track  # noqa: E402

DEFAULT_SET = REPO.parent / "shared" / "data" / "footage-noses"
HIT_SHARE = 0.05


def detect_clip(localizer: Localizer, path: Path) -> tuple[list, list[int], float, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames, cuts, batch, index = [], [], [], 0
    detector = SceneCuts(TrackerConfig().cut_threshold)
    size = (0, 0)
    while True:
        ok, bgr = capture.read()
        if ok:
            size = (bgr.shape[1], bgr.shape[0])
            prepared = localizer.prepare(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if detector(prepared):
                cuts.append(index)
            batch.append(prepared)
            index += 1
        if batch and (len(batch) == 16 or not ok):
            for found in localizer.detect(batch):
                frames.append((len(frames), len(frames) / fps, [(n.x, n.y, n.confidence) for n in found.noses]))
            batch = []
        if not ok:
            break
    capture.release()
    return frames, cuts, fps, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--videos", type=Path, default=REPO.parent / "shared" / "videos")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    labels = defaultdict(dict)
    with open(args.set / "labels.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["visible"] in ("yes", "no"):
                noses = [tuple(map(float, n.split())) for n in row["noses"].split(";") if n.strip()]
                labels[row["clip"]][int(row["frame"])] = (noses if row["visible"] == "yes" else [],
                                                          min(int(row["width"]), int(row["height"])))
    localizer = Localizer.load(args.weights)
    detected = {clip: detect_clip(localizer, args.videos / clip) for clip in sorted(labels)}
    lines = ["| keep_id_s | max_coast_s | visible noses found | track points on a nose | `tracked` points on a nose | "
             "tracks (dog / kitten) |", "|---:|---:|---:|---:|---:|---:|"]
    for keep, coast in ((0.3, 0.2), (0.8, 0.2), (0.8, 0.8), (1.5, 0.0), (1.5, 0.1), (1.5, 0.2), (1.5, 0.4)):
        config = replace(TrackerConfig(), keep_id_s=keep, max_coast_s=coast)
        found = visible = on = points = on_tracked = tracked = 0
        counts = []
        for clip, (frames, cuts, _, (width, height)) in detected.items():
            released = track(frames, config, image_pixels_per_unit(width, height), lag=30, cuts=cuts)
            counts.append(len({p.track for r in released for p in r.points if p.track is not None}))
            for frame, (noses, short) in labels[clip].items():
                rows = [p for p in released[frame].points if p.track is not None]

                def on_nose(p) -> bool:
                    return any(np.hypot(p.x - x, p.y - y) <= HIT_SHARE * short for x, y in noses)

                visible += len(noses)
                found += sum(any(np.hypot(p.x - x, p.y - y) <= HIT_SHARE * short for p in rows) for x, y in noses)
                points += len(rows)
                on += sum(on_nose(p) for p in rows)
                tracked += sum(p.state == "tracked" for p in rows)
                on_tracked += sum(on_nose(p) for p in rows if p.state == "tracked")
        lines.append(f"| {keep:g} | {coast:g} | {found}/{visible} = {found / visible:.1%} | {on}/{points} = {on / max(points, 1):.1%} "
                     f"| {on_tracked}/{tracked} = {on_tracked / max(tracked, 1):.1%} | {' / '.join(map(str, counts))} |")
    judged = sum(len(v) for v in labels.values())
    lines += ["", f"{judged} labelled frames of dog.mp4 and kitten.mp4 (one pet each); model {localizer.size} px, "
              f"presence threshold {localizer.min_confidence:.2f}, backend {localizer.backend.name}."]
    publish("\n".join(lines), "Tracks on the real footage set", args.write)


if __name__ == "__main__":
    main()
