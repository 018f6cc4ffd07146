"""Plot the footage training's validation scores over its stages, one after the other.

Each `pettrack train` run writes NAME.history.csv (one row per epoch). A fine-tune that starts
from an earlier run's weights continues that run's curve, so the stages are drawn end to end on
one epoch axis, with each stage's start marked. The picture answers one question for the model
card: was the footage score still rising when the training stopped?

    python benchmarks/learning_curve.py --stage footage=docs/training/footage.history.csv \
        --stage continuation=docs/training/footage_long.history.csv --out docs/training/footage_curve.png

Prints a table per epoch (stage, portrait mean, PCK@10, footage views right, threshold, seconds).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


@dataclass(frozen=True)
class Epoch:
    stage: str
    number: int  # counted over all stages
    portrait_mean: float  # validation mean error, 256 px space
    pck10: float
    footage_right: float
    threshold: float
    seconds: float


def read_stages(stages: list[tuple[str, Path]]) -> list[Epoch]:
    epochs: list[Epoch] = []
    for name, path in stages:
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                epochs.append(Epoch(name, len(epochs) + 1, float(row["val_mean"]), float(row["pck10"]),
                                    float(row["footage_accuracy"]), float(row["threshold"]), float(row["seconds"])))
    return epochs


def plot(epochs: list[Epoch], path: Path) -> None:
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    x = [e.number for e in epochs]
    top.plot(x, [100 * e.footage_right for e in epochs], "o-", color="tab:purple")
    top.set_ylabel("footage views right (%)")
    bottom.plot(x, [e.portrait_mean for e in epochs], "o-", color="tab:blue")
    bottom.set_ylabel("portrait mean error (px)")
    bottom.set_xlabel("epoch, over all stages")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        for e in epochs:
            if e.number == 1 or epochs[e.number - 2].stage != e.stage:
                axis.axvline(e.number - 0.5, color="grey", linestyle="--", linewidth=1)
                if axis is top:
                    axis.annotate(e.stage, (e.number - 0.4, 0.02), xycoords=("data", "axes fraction"), fontsize=8)
    top.set_title("Footage fine-tune: validation after each epoch (313 held-out photos, 1,878 footage views)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", action="append", required=True, metavar="NAME=HISTORY.csv",
                        help="a training run's history, in training order (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()
    stages = [(text.split("=", 1)[0], Path(text.split("=", 1)[1])) for text in args.stage]
    epochs = read_stages(stages)
    print("| epoch | stage | portrait mean (px) | PCK@10 | footage views right | threshold | seconds |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for e in epochs:
        print(f"| {e.number} | {e.stage} | {e.portrait_mean:.2f} | {e.pck10:.1%} | {e.footage_right:.1%} | "
              f"{e.threshold:.3f} | {e.seconds:.0f} |")
    plot(epochs, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
