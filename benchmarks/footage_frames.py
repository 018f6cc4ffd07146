"""Score models on hand-labelled real footage frames and draw contact sheets of them.

The set is ../shared/data/footage-noses/ (README there): frames of the shared clips, each marked
by two annotators with every visible nose or "no nose visible". The scoring rule is that set's: a
frame is right when the reported point lies within 5% of the frame's short side of a labelled
nose, or, for a frame with no visible nose, when no point is reported. Disputed frames are left
out.

    python benchmarks/footage_frames.py                         # the shipped default model
    python benchmarks/footage_frames.py --weights runs/x.safetensors --weights default \
        --sheet docs/images/footage          # compare models; contact sheets per model and clip

Prints one row per model (frames right, nose frames hit, no-nose frames given a point) and the
share of frames right at a sweep of presence thresholds (the model's own is marked).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pettrack.model.images import load_image
from pettrack.model.localizer import Detection, Localizer
from pettrack.pipelines.draw import draw_nose

DEFAULT_SET = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "footage-noses"
HIT_SHARE = 0.05  # of the frame's short side
LABEL_RGB, MISS_RGB = (40, 220, 40), (255, 60, 60)


@dataclass(frozen=True)
class LabelledFrame:
    file: str
    clip: str
    frame: int
    visible: str  # yes, no or disputed
    noses: list[tuple[float, float]]


def read_frames(folder: Path) -> list[LabelledFrame]:
    rows = []
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            noses = [tuple(float(v) for v in pair.split()) for pair in row["noses"].split(";") if pair.strip()]
            rows.append(LabelledFrame(row["file"], row["clip"], int(row["frame"]), row["visible"], noses))
    return rows


def is_right(frame: LabelledFrame, detection: Detection, short_side: int, threshold: float) -> bool:
    reported = detection.confidence >= threshold
    if frame.visible == "no":
        return not reported
    if not reported:
        return False
    return any(np.hypot(detection.x - x, detection.y - y) <= HIT_SHARE * short_side for x, y in frame.noses)


def score(frames: list[LabelledFrame], detections: list[Detection], shorts: list[int], threshold: float) -> dict:
    judged = [(f, d, s) for f, d, s in zip(frames, detections, shorts) if f.visible in ("yes", "no")]
    yes = [(f, d, s) for f, d, s in judged if f.visible == "yes"]
    no = [(f, d, s) for f, d, s in judged if f.visible == "no"]
    return {
        "right": np.mean([is_right(f, d, s, threshold) for f, d, s in judged]),
        "nose_hit": np.mean([is_right(f, d, s, threshold) for f, d, s in yes]),
        "nose_point_on_nose": np.mean([is_right(f, d, s, 0.0) for f, d, s in yes]),
        "no_nose_pointed": np.mean([d.confidence >= threshold for _, d, _ in no]) if no else float("nan"),
        "frames": len(judged), "yes": len(yes), "no": len(no),
    }


def contact_sheet(frames, images, detections, threshold: float, title: str, path: Path, columns: int = 6,
                  tile_width: int = 320) -> None:
    """A grid of the frames: labelled noses as green rings, the model's point as a magenta marker
    (grey when below the presence threshold), the verdict in the corner."""
    tiles = []
    for frame, rgb, detection in zip(frames, images, detections):
        image = rgb.copy()
        short = min(image.shape[:2])
        for x, y in frame.noses:
            cv2.circle(image, (round(x), round(y)), round(HIT_SHARE * short), LABEL_RGB, max(2, short // 180), cv2.LINE_AA)
        present = detection.confidence >= threshold
        draw_nose(image, detection.x, detection.y, detection.confidence, colour=(255, 40, 160) if present else (150, 150, 150))
        verdict = "disputed" if frame.visible == "disputed" else ("right" if is_right(frame, detection, short, threshold) else "WRONG")
        scale = tile_width / image.shape[1]
        tile = cv2.resize(image, (tile_width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        text = f"{frame.clip} #{frame.frame} {frame.visible}: {verdict}"
        colour = (255, 255, 255) if verdict != "WRONG" else MISS_RGB
        cv2.rectangle(tile, (0, 0), (tile_width, 18), (0, 0, 0), -1)
        cv2.putText(tile, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)
        tiles.append(tile)
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0] + 2, 0, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255)) for t in tiles]
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 255))
    grid = np.vstack([np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)])
    banner = np.full((30, grid.shape[1], 3), 255, np.uint8)
    cv2.putText(banner, title, (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack([banner, grid]), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="folder with labels.csv and frames/")
    parser.add_argument("--weights", action="append", help="weights file or shipped name (repeatable)")
    parser.add_argument("--sheet", type=Path, help="write contact sheets NAME-MODEL-CLIP.jpg with this prefix")
    args = parser.parse_args()
    frames = read_frames(args.set)
    images = [load_image(args.set / "frames" / f.file).rgb for f in frames]
    shorts = [min(image.shape[:2]) for image in images]
    print(f"{len(frames)} frames: {sum(f.visible == 'yes' for f in frames)} with a nose, "
          f"{sum(f.visible == 'no' for f in frames)} without, {sum(f.visible == 'disputed' for f in frames)} disputed (left out)")
    sweep = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    print("| model | threshold | frames right | nose frames hit | nose frames with the peak on a nose | no-nose frames given a point | "
          + " | ".join(f"right at {t:.1f}" for t in sweep) + " |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(sweep))
    for weights in args.weights or ["default"]:
        localizer = Localizer.load(weights, device="cpu", backend="torch")
        detections = []
        for start in range(0, len(images), 8):
            detections += [d.peak for d in localizer.locate(images[start : start + 8])]
        threshold = localizer.min_confidence
        result = score(frames, detections, shorts, threshold)
        swept = [score(frames, detections, shorts, t)["right"] for t in sweep]
        print(f"| {weights} | {threshold:.3f} | {result['right']:.1%} | {result['nose_hit']:.1%} | "
              f"{result['nose_point_on_nose']:.1%} | {result['no_nose_pointed']:.1%} | "
              + " | ".join(f"{v:.1%}" for v in swept) + " |")
        if args.sheet:
            path = Path(weights)
            name = weights if len(path.parts) == 1 else f"{path.parent.name}-{path.stem}"  # run folders share stems
            for clip in sorted({f.clip for f in frames}):
                chosen = [i for i, f in enumerate(frames) if f.clip == clip]
                contact_sheet([frames[i] for i in chosen], [images[i] for i in chosen], [detections[i] for i in chosen],
                              threshold, f"{clip}, model {weights}: green = labelled nose (5% radius), magenta = pettrack, "
                              f"grey = below the presence threshold {threshold:.2f}",
                              Path(f"{args.sheet}-{name}-{Path(clip).stem}.jpg"))


if __name__ == "__main__":
    main()
