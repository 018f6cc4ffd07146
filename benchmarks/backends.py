"""PyTorch against OpenVINO on this CPU: the model alone, and `pettrack video` end to end.

    python benchmarks/backends.py [--video ../shared/videos/dog.mp4] [--rounds 3] [--write docs/benchmarks.md]

Model only: images/s of the default model for torch fp32, torch bf16, openvino fp32 and openvino
bf16 at batch 1 and 8, measured in alternating rounds (each round runs every variant for
`--seconds`), so a change in the machine's load hits all of them alike; the table gives the median
round. End to end: `pettrack video` on the input with `--backend torch` and `--backend openvino`
(annotated H.264 video, and --no-video), alternately, and the naive loop (OpenCV read, one frame
at a time through PyTorch, OpenCV mp4v write) in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from video_throughput import NAIVE, machine, parse_naive, parse_pettrack, publish, run_measured  # noqa: E402

from pettrack.model.localizer import Localizer  # noqa: E402

VARIANTS = (("torch", "fp32"), ("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16"))


def images_per_second(localizer: Localizer, batch: np.ndarray, seconds: float) -> float:
    localizer.infer(batch)  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        localizer.infer(batch)
        done += len(batch)
    return done / (time.perf_counter() - started)


def model_only(rounds: int, seconds: float) -> str:
    localizers = {v: Localizer.load("default", device="cpu", precision=v[1], backend=v[0]) for v in VARIANTS}
    size = next(iter(localizers.values())).size
    rng = np.random.default_rng(0)
    batches = {b: rng.integers(0, 255, (b, size, size, 3), dtype=np.uint8) for b in (1, 8)}
    rates: dict[tuple, list[float]] = {}
    for _ in range(rounds):
        for variant, localizer in localizers.items():
            for b, batch in batches.items():
                rates.setdefault((*variant, b), []).append(images_per_second(localizer, batch, seconds))
    median = {key: statistics.median(values) for key, values in rates.items()}
    lines = ["| backend | precision | batch 1 images/s | batch 8 images/s | vs torch bf16 (batch 1 / 8) |",
             "|---|---|---:|---:|---:|"]
    for backend, precision in VARIANTS:
        one, eight = median[(backend, precision, 1)], median[(backend, precision, 8)]
        ratio = f"{one / median[('torch', 'bf16', 1)]:.2f}x / {eight / median[('torch', 'bf16', 8)]:.2f}x"
        lines.append(f"| {backend} | {precision} | {one:.1f} | {eight:.1f} | {ratio} |")
    return "\n".join(lines)


def end_to_end(video: Path, rounds: int) -> str:
    pettrack = shutil.which("pettrack")
    rows: dict[str, list[tuple[float, int]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for backend in ("torch", "openvino"):
                for extra in ([], ["--no-video"]):
                    _, rss, err = run_measured([pettrack, "video", str(video), "--out-dir", tmp, "--backend", backend, *extra])
                    frames, seconds = parse_pettrack(err)
                    rows.setdefault(f"pettrack video --backend {backend} {' '.join(extra)}".strip(), []).append((frames / seconds, rss))
        _, rss, err = run_measured([sys.executable, "-c", NAIVE, str(video), str(Path(tmp) / "naive.mp4"), "", "mp4v"])
        frames, seconds = parse_naive(err)
        rows["naive loop (torch, one frame at a time, OpenCV mp4v)"] = [(frames / seconds, rss)]
    naive = rows["naive loop (torch, one frame at a time, OpenCV mp4v)"][0][0]
    lines = ["| run | frames/s (median) | vs naive loop | peak RSS MiB |", "|---|---:|---:|---:|"]
    for name, values in rows.items():
        fps = statistics.median(v[0] for v in values)
        lines.append(f"| {name} | {fps:.1f} | {fps / naive:.2f}x | {max(v[1] for v in values)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=REPO.parent / "shared" / "videos" / "dog.mp4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per variant and batch size, per round")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    model = model_only(args.rounds, args.seconds)
    video = end_to_end(args.video, args.rounds)
    publish(f"Machine: {machine()}. Default model (256 px). Model only, median of {args.rounds} alternating rounds:\n\n"
            f"{model}\n\n`pettrack video {args.video.name}` end to end, median of {args.rounds} alternating runs:\n\n{video}",
            "PyTorch and OpenVINO backends", args.write)


if __name__ == "__main__":
    main()
