"""Plot runs trained on hand-labelled real frames (`pettrack train --footage-labels`) epoch by
epoch: the held-out real frames right (at the threshold chosen each epoch), that threshold, and the
portrait validation mean, against the real-frame views seen so far. A reference model's figures
(the shipped default, measured by benchmarks/footage_frames.py) are drawn as lines.

    python benchmarks/real_frames_curve.py --run share0.5=runs/real1.history.csv:960 \
        --run share0.25=runs/real2.history.csv:480 --reference-right 0.768 --reference-mean 5.63 \
        --out docs/training/real_frames_curve.png

RUN is LABEL=HISTORY.csv:REAL_VIEWS_PER_EPOCH (the epoch size times --real-share).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_history(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, help="LABEL=HISTORY.csv:REAL_VIEWS_PER_EPOCH")
    parser.add_argument("--reference-right", type=float, help="the reference model's real frames right, same rule")
    parser.add_argument("--reference-mean", type=float, help="the reference model's portrait validation mean")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    print("| run | epoch | real views seen | real frames right | threshold | portrait mean |")
    print("|---|---:|---:|---:|---:|---:|")
    for spec in args.run:
        label, rest = spec.split("=", 1)
        path, per_epoch = rest.rsplit(":", 1)
        history = read_history(Path(path))
        seen = [row["epoch"] * float(per_epoch) for row in history]
        for row, views in zip(history, seen):
            print(f"| {label} | {row['epoch']:.0f} | {views:.0f} | {row['real_right']:.1%} | {row['threshold']:.2f} | "
                  f"{row['val_mean']:.2f} |")
        axes[0].plot(seen, [row["real_right"] for row in history], marker="o", label=label)
        axes[1].plot(seen, [row["threshold"] for row in history], marker="o", label=label)
        axes[2].plot(seen, [row["val_mean"] for row in history], marker="o", label=label)
    if args.reference_right is not None:
        axes[0].axhline(args.reference_right, color="grey", linestyle="--", label="shipped default, same rule")
    if args.reference_mean is not None:
        axes[2].axhline(args.reference_mean, color="grey", linestyle="--", label="shipped default")
    titles = ("held-out real frames right\n(threshold keeping 99.5% of portraits)", "presence threshold chosen",
              "portrait validation mean (px, 256 space)")
    for axis, title in zip(axes, titles):
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("real-frame training views seen")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
