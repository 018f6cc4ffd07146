"""Score models on hand-labelled real footage frames, per clip, and draw contact sheets of them.

Two sets, in one run, for every model given:
- dev: ../shared/data/footage-noses/ (dog, kitten): the development set we report on and never
  train on;
- val: the validation clips of ../shared/data/footage-train/, split off by clip exactly as
  `pettrack train --footage-labels` splits them (seed 0, 20% of the clips): never trained on.
plus the held-out portraits (the validation side of pet-noses' train_noses.txt): the share given
a point, and the mean / median / PCK@10 in model pixels with a missing point counted as a miss.

The scoring rule is the sets' own: a frame is right when the highest reported point lies within
5% of the frame's short side of a labelled nose, or, for a frame with no visible nose, when no
point is reported. Disputed frames are left out. In frames with several noses, every reported
point is matched to at most one nose (found / precision).

    python benchmarks/footage_frames.py --weights old.safetensors --weights default
    python benchmarks/footage_frames.py --weights default --sheet docs/images/footage   # contact sheets
    python benchmarks/footage_frames.py --per-clip                                      # a row per clip
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from pettrack.model.data import load_samples, split_names
from pettrack.model.evaluate import predict
from pettrack.model.frames import HIT_SHARE, FrameResult, load_frames, predict_frames, read_frame_labels, score_frames, split_by_clip
from pettrack.model.labels import read_labels
from pettrack.model.localizer import Localizer
from pettrack.pipelines.draw import draw_nose

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DEV_SET = SHARED / "data" / "footage-noses" / "labels.csv"
TRAIN_SET = SHARED / "data" / "footage-train" / "labels.csv"
PORTRAITS = SHARED / "data" / "pet-noses"
LABEL_RGB, MISS_RGB = (40, 220, 40), (255, 60, 60)
SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def real_sets(val_fraction: float = 0.2, seed: int = 0) -> dict[str, list]:
    dev, _ = load_frames(read_frame_labels(DEV_SET))
    labelled, _ = load_frames(read_frame_labels(TRAIN_SET), SHARED / "videos-train")
    _, val = split_by_clip(labelled, val_fraction, seed)
    return {"dev": dev, "val": val}


def held_out_portraits(input_size: int = 256):
    labels = read_labels(PORTRAITS / "train_noses.txt").labels
    samples, _ = load_samples(PORTRAITS / "images", labels, max_side=int(input_size * 1.3) + 2)
    _, val = split_names([s.name for s in samples], 0.1, 0)
    return [s for s in samples if s.name in val]


def portrait_figures(localizer: Localizer, portraits) -> dict[str, float]:
    """Share given a point, and mean / median / PCK@10 in model pixels where a missing point
    counts as a miss (an infinite error); and every portrait's peak height (for the sweep)."""
    predictions = predict(localizer, portraits, batch_size=32)
    confidences = np.array([p.confidence for p in predictions])
    kept = confidences >= localizer.min_confidence
    errors = np.array([p.distance_model if k else np.inf for p, k in zip(predictions, kept)])
    finite = errors[np.isfinite(errors)]
    return {"given": kept.mean(), "mean": finite.mean(), "median": float(np.median(errors)),
            "pck10": float((errors <= 10).mean()), "count": len(predictions), "confidences": confidences}


def contact_sheet(results: list[FrameResult], threshold: float, title: str, path: Path, columns: int = 6,
                  tile_width: int = 320) -> None:
    """A grid of the frames: labelled noses as green rings (the 5% radius), the model's points as
    magenta markers (its best peak grey when below the presence threshold), the verdict on top."""
    tiles = []
    for result in results:
        frame = result.frame
        image = frame.image.copy()
        short = min(image.shape[:2])
        for x, y in frame.noses:
            cv2.circle(image, (round(x), round(y)), round(HIT_SHARE * short), LABEL_RGB, max(2, short // 180), cv2.LINE_AA)
        for (x, y), height in zip(result.peaks * frame.scale, result.heights):
            if height >= threshold or height == result.heights[0]:
                draw_nose(image, x, y, height, colour=(255, 40, 160) if height >= threshold else (150, 150, 150))
        verdict = "right" if result.right(threshold) else "WRONG"
        scale = tile_width / image.shape[1]
        tile = cv2.resize(image, (tile_width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        text = f"{frame.name[-34:]} {'nose' if frame.has_nose else 'no nose'}: {verdict}"
        cv2.rectangle(tile, (0, 0), (tile_width, 18), (0, 0, 0), -1)
        cv2.putText(tile, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, MISS_RGB if verdict == "WRONG" else (255, 255, 255),
                    1, cv2.LINE_AA)
        tiles.append(tile)
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0] + 2, 0, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255)) for t in tiles]
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 255))
    grid = np.vstack([np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)])
    banner = np.full((30, grid.shape[1], 3), 255, np.uint8)
    cv2.putText(banner, title, (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack([banner, grid]), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82])


def percent(value: float) -> str:
    return "–" if np.isnan(value) else f"{value:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", action="append", help="weights file or shipped name (repeatable; default: default)")
    parser.add_argument("--per-clip", action="store_true", help="also a row per clip and model")
    parser.add_argument("--sheet", type=Path, help="write contact sheets PREFIX-MODEL-SET-CLIP.jpg of the worst clips")
    parser.add_argument("--worst", type=int, default=4, help="clips per set in the contact sheets")
    parser.add_argument("--no-portraits", action="store_true", help="skip the held-out portraits")
    parser.add_argument("--sweep", action="store_true", help="also the figures at a sweep of presence thresholds")
    args = parser.parse_args()
    sets = real_sets()
    portraits = [] if args.no_portraits else held_out_portraits()
    for name, frames in sets.items():
        print(f"{name}: {len(frames)} frames of {len({f.clip for f in frames})} clips, "
              f"{sum(f.has_nose for f in frames)} with a nose ({sum(len(f.noses) > 1 for f in frames)} with several), "
              f"{sum(not f.has_nose for f in frames)} without")
    print()
    print("| model | threshold | set | frames right | nose frames right | no-nose frames given a point | "
          "several pets: noses found | precision | portraits given a point | portraits mean / median / PCK@10 |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    clip_rows, sweep_rows, portrait_sweeps = [], [], []
    for weights in args.weights or ["default"]:
        localizer = Localizer.load(weights, device="cpu", backend="torch")
        threshold = localizer.min_confidence
        shown = weights if len(Path(weights).parts) == 1 else f"{Path(weights).parent.name}/{Path(weights).stem}"
        figures = portrait_figures(localizer, portraits) if portraits else None
        if figures:
            portrait_sweeps.append((shown, [(figures["confidences"] >= t).mean() for t in SWEEP]))
        for set_name, frames in sets.items():
            results = predict_frames(localizer, frames)
            score = score_frames(results, threshold)
            portrait_cells = (f"{figures['given']:.1%} | {figures['mean']:.2f} / {figures['median']:.2f} / {figures['pck10']:.1%}"
                              if figures and set_name == "dev" else " | ")
            print(f"| {shown} | {threshold:.3f} | {set_name} | {score.right:.1%} | {percent(score.nose_hit)} | "
                  f"{percent(score.no_nose_pointed)} | {percent(score.several_found)} | {percent(score.several_precision)} | "
                  f"{portrait_cells} |")
            swept = [score_frames(results, t) for t in SWEEP]
            sweep_rows.append((shown, set_name, [s.right for s in swept], [s.no_nose_pointed for s in swept]))
            for clip, values in score.per_clip.items():
                clip_rows.append((set_name, clip, shown, values))
            if args.sheet:
                worst = sorted(score.per_clip, key=lambda c: score.per_clip[c]["right"])[: args.worst]
                for clip in worst:
                    chosen = [r for r in results if r.frame.clip == clip]
                    contact_sheet(chosen, threshold, f"{clip} ({set_name}), model {shown}: green = labelled nose (5% radius), "
                                  f"magenta = pettrack, grey = best peak below {threshold:.2f}",
                                  Path(f"{args.sheet}-{shown.replace('/', '-')}-{set_name}-{Path(clip).stem[-40:]}.jpg"))
    if args.sweep:
        print()
        print("| model | set | " + " | ".join(f"at {t:.1f}: right / no-nose pointed" for t in SWEEP) + " |")
        print("|---|---|" + "---:|" * len(SWEEP))
        for shown, set_name, rights, pointed in sweep_rows:
            print(f"| {shown} | {set_name} | " + " | ".join(f"{r:.1%} / {percent(p)}" for r, p in zip(rights, pointed)) + " |")
        for shown, given in portrait_sweeps:
            print(f"| {shown} | portraits given a point | " + " | ".join(f"{share:.1%}" for share in given) + " |")
    if args.per_clip:
        models = list(dict.fromkeys(row[2] for row in clip_rows))
        print()
        print("| set | clip | frames | " + " | ".join(f"right, {m}" for m in models) + " |")
        print("|---|---|---:|" + "---:|" * len(models))
        keys = list(dict.fromkeys((s, c) for s, c, _, _ in clip_rows))
        for set_name, clip in keys:
            values = {m: v for s, c, m, v in clip_rows if (s, c) == (set_name, clip)}
            count = next(iter(values.values()))["frames"]
            print(f"| {set_name} | {clip} | {count} | " + " | ".join(percent(values[m]["right"]) for m in models) + " |")


if __name__ == "__main__":
    main()
