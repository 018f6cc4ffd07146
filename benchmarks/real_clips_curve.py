"""Learning curve against the amount of real footage: models fine-tuned on more or fewer of the
real training clips (`pettrack train --footage-labels ... --real-train-clips N`), scored on the
dev frames and the validation clips (the sets of benchmarks/footage_frames.py).

For each model and set it prints, and draws against the number of training clips:
- peak on a nose: the share of nose frames whose highest peak lies on a labelled nose, whatever
  its height (how well the network places the point, with no threshold involved);
- frames right at the model's own presence threshold (the footage rule);
- frames right at the best threshold for that set (the most any single threshold could give);
- frames right with a perfect presence decision: every no-nose frame right and every nose frame
  whose peak is on a nose right. No calibration of the presence score, however clever, can do
  better than this with the same peaks.

    python benchmarks/real_clips_curve.py --model 0=default --model 11=runs/curve11.safetensors \
        --model 22=runs/curve22.safetensors --model 44=runs/real1.safetensors \
        --out docs/training/real_clips_curve.png
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import matplotlib

from footage_frames import real_sets  # benchmarks/ is the script's folder, so on sys.path
from pettrack.model.frames import FrameResult, predict_frames, score_frames
from pettrack.model.localizer import Localizer

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@dataclass(frozen=True)
class CurvePoint:
    clips: int
    model: str
    set_name: str
    peak_on_nose: float
    right_own: float
    threshold: float
    right_best: float
    best_threshold: float
    right_perfect_presence: float


def measure(clips: int, model: str, set_name: str, results: list[FrameResult], threshold: float) -> CurvePoint:
    placed = score_frames(results, 0.0)  # every peak reported: is it on a nose?
    nose_frames = sum(r.frame.has_nose for r in results)
    on_nose = placed.nose_hit * nose_frames
    perfect = (on_nose + len(results) - nose_frames) / len(results)
    candidates = sorted({0.0, *(float(h) for r in results for h in r.heights[:1]), 1.01})
    best = max(candidates, key=lambda t: (score_frames(results, t).right, -abs(t - threshold)))
    return CurvePoint(clips, model, set_name, placed.nose_hit, score_frames(results, threshold).right, threshold,
                      score_frames(results, best).right, best, perfect)


def draw(points: list[CurvePoint], out: Path, title: str) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    series = (("peak_on_nose", "peak on a nose (nose frames)", "o-"),
              ("right_own", "frames right, own threshold", "s-"),
              ("right_best", "frames right, best threshold", "^--"),
              ("right_perfect_presence", "frames right, perfect presence", "v:"))
    for axis, set_name in zip(axes, ("dev", "val")):
        chosen = sorted((p for p in points if p.set_name == set_name), key=lambda p: p.clips)
        for field, label, style in series:
            axis.plot([p.clips for p in chosen], [100 * getattr(p, field) for p in chosen], style, label=label)
        axis.axhline(85, color="grey", linewidth=0.8, linestyle="--")
        axis.annotate("target 85%", (1.0, 85), xycoords=("axes fraction", "data"), xytext=(-4, 3),
                      textcoords="offset points", ha="right", color="grey", fontsize=8)
        axis.set_title(f"{set_name} ({'dog and kitten, never trained on' if set_name == 'dev' else '11 held-out clips'})")
        axis.set_xlabel("real training clips (0 = the shipped default, no real frames)")
        axis.set_xticks(sorted({p.clips for p in chosen}))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("%")
    axes[1].legend(loc="lower left", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="CLIPS=WEIGHTS (repeatable)")
    parser.add_argument("--out", type=Path, help="draw the curve here (PNG)")
    parser.add_argument("--title", default="Fine-tunes on more or fewer real clips: the network's placement and the frames right")
    args = parser.parse_args()
    sets = real_sets()
    points = []
    print("| training clips | model | set | peak on a nose | right at own threshold | right at best threshold | "
          "right with perfect presence |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for spec in args.model:
        clips, weights = spec.split("=", 1)
        localizer = Localizer.load(weights, device="cpu", backend="torch")
        for set_name, frames in sets.items():
            point = measure(int(clips), weights, set_name, predict_frames(localizer, frames), localizer.min_confidence)
            points.append(point)
            print(f"| {point.clips} | {weights} | {set_name} | {point.peak_on_nose:.1%} | {point.right_own:.1%} "
                  f"({point.threshold:.2f}) | {point.right_best:.1%} ({point.best_threshold:.2f}) | "
                  f"{point.right_perfect_presence:.1%} |", flush=True)
    if args.out:
        draw(points, args.out, args.title)
        print(f"\ncurve: {args.out}")


if __name__ == "__main__":
    main()
