"""Does `pettrack finetune` teach the model a user's clips? The issue's test, measured.

For each clip chosen, its hand-labelled frames are split in time: K evenly spaced frames are the
"user's labels" (what `pettrack label` would have saved), the rest are frames the user never
labelled. The fine-tune sees only the user's labels (and holds some of those out itself); both
models are then scored on the never-labelled frames by the footage rule (right, nose frames hit,
no-nose frames given a point), per clip.

Clips: the dev set's kitten (and dog) by default, or the weakest clips of another labels file
(by the base model's right-rate on their frames):

    python benchmarks/finetune_clips.py                                  # dev: dog + kitten, K = 11
    python benchmarks/finetune_clips.py --labelled 4,8,11                # a learning curve
    python benchmarks/finetune_clips.py --labels ../shared/data/footage-train/labels.csv \\
        --videos ../shared/videos-train --weakest 4 --labelled 5

Nothing here trains the shipped model: the fine-tunes are written to a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from pettrack.model.finetune import FinetuneConfig, finetune
from pettrack.model.frames import COLUMNS, clip_path, frame_image_path, load_frames, predict_frames, read_frame_labels, score_frames
from pettrack.model.localizer import Localizer

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DEV_SET = SHARED / "data" / "footage-noses" / "labels.csv"


def evenly(count: int, total: int) -> list[int]:
    """`count` ranks out of `total`, evenly spread (the first and the last included)."""
    if count >= total:
        return list(range(total))
    return sorted({int(round(r)) for r in np.linspace(0, total - 1, count)})


def split_clip_rows(labels_path: Path, clips: list[str], labelled: int) -> tuple[list, list]:
    """(user rows, other rows) of the chosen clips, disputed frames left out."""
    rows = [r for r in read_frame_labels(labels_path).labels if r.clip in clips and r.visible != "disputed"]
    user, other = [], []
    for clip in clips:
        mine = sorted((r for r in rows if r.clip == clip), key=lambda r: r.frame)
        chosen = set(evenly(labelled, len(mine)))
        for rank, row in enumerate(mine):
            (user if rank in chosen else other).append(row)
    return user, other


def write_rows(rows, labels_path: Path, videos: Path | None, out: Path) -> Path:
    """A labels file of these rows with absolute paths, so it can live anywhere."""
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for r in rows:
            image = frame_image_path(r, labels_path.parent)
            clip = clip_path(r, labels_path.parent, videos)
            noses = ";".join(f"{x} {y}" for x, y in r.noses)
            writer.writerow([str(image or ""), str(clip or r.clip), r.frame, r.width, r.height, r.visible, noses])
    return out


def weakest_clips(localizer: Localizer, labels_path: Path, videos: Path | None, count: int, min_frames: int) -> list[str]:
    frames, _ = load_frames(read_frame_labels(labels_path), videos)
    score = score_frames(predict_frames(localizer, frames), localizer.min_confidence)
    eligible = [(v["right"], clip) for clip, v in score.per_clip.items() if v["frames"] >= min_frames]
    return [clip for _, clip in sorted(eligible)[:count]]


def figures(score) -> str:
    pointed = "-" if np.isnan(score.no_nose_pointed) else f"{score.no_nose_pointed:.0%}"
    return f"{score.right:.1%} | {score.nose_hit:.1%} | {pointed}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=DEV_SET)
    parser.add_argument("--videos", type=Path, default=None)
    parser.add_argument("--clips", nargs="*", default=None, help="clip names as the labels file writes them")
    parser.add_argument("--weakest", type=int, default=0, help="instead of --clips: the N clips the base model does worst on")
    parser.add_argument("--labelled", default="11", help="frames the user labels per clip; several, comma-separated, draw a curve")
    parser.add_argument("--steps", type=int, default=240)
    parser.add_argument("--weights", default=None, help="the base model (default: the shipped default)")
    parser.add_argument("--anchor", type=float, default=0.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--distill", type=float, default=0.0)
    parser.add_argument("--sheet", type=Path, help="contact sheets PREFIX-base-K.jpg and PREFIX-finetuned-K.jpg of the never-labelled frames")
    args = parser.parse_args()

    base = Localizer.load(args.weights, device="cpu", backend="torch")
    if args.weakest:
        clips = weakest_clips(base, args.labels, args.videos, args.weakest, min_frames=8)
    else:
        clips = args.clips or sorted({r.clip for r in read_frame_labels(args.labels).labels})
    print(f"clips: {', '.join(clips)}")
    # What the fine-tune must not forget: the other clips' labelled frames (the dev set and the
    # footage-train validation clips, less the clips above), scored before and after.
    from footage_frames import real_sets  # benchmarks/ is on the path when run as a script

    names = {Path(c).name for c in clips}
    elsewhere = [f for frames in real_sets().values() for f in frames if Path(f.clip).name not in names]
    elsewhere_before = score_frames(predict_frames(base, elsewhere), base.min_confidence)
    print("| frames labelled per clip | model | never-labelled frames | right | nose frames hit | no-nose frames given a point | fine-tune held out: before -> after | other clips' frames: right / nose hit / no-nose pointed | seconds |")
    print("|---:|---|---:|---:|---:|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for labelled in (int(k) for k in args.labelled.split(",")):
            user, other = split_clip_rows(args.labels, clips, labelled)
            user_file = write_rows(user, args.labels, args.videos, Path(tmp) / f"user{labelled}.csv")
            other_file = write_rows(other, args.labels, args.videos, Path(tmp) / f"other{labelled}.csv")
            other_frames, _ = load_frames(read_frame_labels(other_file))
            before_results = predict_frames(base, other_frames)
            before = score_frames(before_results, base.min_confidence)
            started = time.time()
            out = Path(tmp) / f"tuned{labelled}.safetensors"
            result = finetune(FinetuneConfig(labels=user_file, out=out, weights=args.weights, steps=args.steps,
                                             anchor=args.anchor, lr=args.lr, distill=args.distill, device="cpu",
                                             force=True))
            seconds = time.time() - started
            tuned = Localizer.load(out, device="cpu", backend="torch")
            after_results = predict_frames(tuned, other_frames)
            after = score_frames(after_results, tuned.min_confidence)
            if args.sheet:
                from footage_frames import contact_sheet  # benchmarks/ is on the path when run as a script

                for name, results, localizer in (("base", before_results, base), ("finetuned", after_results, tuned)):
                    contact_sheet(results, localizer.min_confidence,
                                  f"never-labelled frames, {name} ({labelled} labelled per clip): green = labelled nose "
                                  "(5% radius), magenta = the model's point", Path(f"{args.sheet}-{name}-{labelled}.jpg"))
            held = f"{result.before.score.right:.0%} -> {result.after.score.right:.0%} of {result.held_out_frames}"
            elsewhere_after = score_frames(predict_frames(tuned, elsewhere), tuned.min_confidence)
            print(f"| {labelled} | base | {len(other_frames)} | {figures(before)} | | "
                  f"{figures(elsewhere_before)} of {len(elsewhere)} | |")
            print(f"| {labelled} | fine-tuned (step {result.after.step}, threshold {tuned.min_confidence:.2f}) | "
                  f"{len(other_frames)} | {figures(after)} | {held} | {figures(elsewhere_after)} | {seconds:.0f} |")
            by_name = lambda per_clip: {Path(clip).name: v for clip, v in per_clip.items()}  # noqa: E731
            for clip in clips:
                b, a = by_name(before.per_clip).get(Path(clip).name), by_name(after.per_clip).get(Path(clip).name)
                if b:
                    print(f"|  | {Path(clip).name} | {b['frames']} | {b['right']:.0%} -> {a['right']:.0%} | | | | | |")


if __name__ == "__main__":
    main()
