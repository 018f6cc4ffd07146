"""PyTorch against OpenVINO on this CPU: the model alone, each stage of `pettrack video`, and
`pettrack video` end to end.

    python benchmarks/backends.py [--video ../shared/videos/dog.mp4] [--rounds 3] [--write docs/benchmarks.md]

Model only: images/s of the default model for torch fp32, torch bf16, openvino fp32, openvino
bf16 and openvino int8 (the shipped quantized model) at batch 1 and 8, measured in alternating
rounds (each round runs every variant for `--seconds`), so a change in the machine's load hits
all of them alike; the table gives the median round.
Stage budget: the CPU time (all threads, core-ms per frame) of each stage of `pettrack video`
run alone on the input: decode + letterbox, inference (batch 16), the second decode that the
annotated video is drawn on, drawing, H.264 encoding. Their sum over the cores is the best
end-to-end rate any pipeline can reach on this machine.
End to end: `pettrack video` on the input with `--backend torch`, OpenVINO bf16 and OpenVINO
int8 (annotated H.264 video, and --no-video), alternately, and the naive loop (OpenCV read, one
frame at a time through PyTorch fp32, OpenCV mp4v write) in the same run.
"""

from __future__ import annotations

import argparse
import os
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

VARIANTS = (("torch", "fp32"), ("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16"), ("openvino", "int8"))
END_TO_END = {  # name -> pettrack video arguments
    "torch (bf16)": ["--backend", "torch"],
    "openvino bf16 (the default here)": ["--backend", "openvino"],
    "openvino int8": ["--backend", "openvino", "--precision", "int8"],
}


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


def stage_budget(video: Path, frames: int = 200) -> str:
    """Core-ms per frame of each stage of `pettrack video`, each run alone on `frames` frames."""
    from pettrack.pipelines.draw import TrackOverlay
    from pettrack.pipelines.video_io import DecordReader, SourceReplay, VideoWriter, probe
    from pettrack.tracker import FramePoints, TrackPoint

    info = probe(video)
    localizer = Localizer.load("default", device="cpu", backend="openvino")

    def core_ms(work) -> float:
        started = time.process_time()
        count = work()
        return 1000 * (time.process_time() - started) / count

    def decode() -> int:
        inputs = [localizer.prepare(frame.rgb).input for frame in DecordReader(video).frames(0, frames)]
        decode.inputs = np.stack(inputs)
        return len(inputs)

    def infer(precision: str):
        chosen = Localizer.load("default", device="cpu", backend="openvino", precision=precision)
        chosen.infer(decode.inputs[:16])  # warm-up

        def run() -> int:
            for start in range(0, len(decode.inputs), 16):
                chosen.infer(decode.inputs[start:start + 16])
            return len(decode.inputs)
        return run

    def replay() -> int:
        source = SourceReplay(info)
        replay.images = [frame.rgb for frame, _ in zip(source.frames(0, lambda packet: None), range(frames))]
        source.close()
        return len(replay.images)

    def draw() -> int:
        overlay = TrackOverlay()
        for i, image in enumerate(replay.images):
            point = TrackPoint(i, i / 30, 1, 300.0 + i, 200.0, 300.0 + i, 200.0, 0.9, "tracked")
            overlay.draw(image, FramePoints(i, i / 30, (point,)))
        return len(replay.images)

    def encode(tmp: str) -> int:
        with VideoWriter(Path(tmp) / "encoded.mp4", info.width, info.height, info.rate) as writer:
            for image in replay.images:
                writer.write(image)
        return len(replay.images)

    with tempfile.TemporaryDirectory() as tmp:
        stages = {
            "decode + letterbox (decord)": core_ms(decode),
            "inference, OpenVINO bf16, batch 16": core_ms(infer("bf16")),
            "inference, OpenVINO int8, batch 16": core_ms(infer("int8")),
            "second decode for the annotated video (PyAV)": core_ms(replay),
            "drawing": core_ms(draw),
            "H.264 encode (libx264 superfast)": core_ms(lambda: encode(tmp)),
        }
    cores = os.cpu_count() or 1
    lines = ["| stage | core-ms per frame |", "|---|---:|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in stages.items()]
    for precision in ("bf16", "int8"):
        total = sum(v for k, v in stages.items() if "inference" not in k or precision in k)
        lines.append(f"| **all stages, {precision}**: the most {cores} cores can do | {total:.1f} "
                     f"(= {1000 * cores / total:.0f} frames/s) |")
    return "\n".join(lines)


def end_to_end(video: Path, rounds: int) -> str:
    pettrack = shutil.which("pettrack")
    rows: dict[str, list[tuple[float, int]]] = {}
    naive_name = "naive loop (PyTorch fp32, one frame at a time, OpenCV read and mp4v write)"
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for name, arguments in END_TO_END.items():
                for extra in ([], ["--no-video"]):
                    _, rss, err = run_measured([pettrack, "video", str(video), "--out-dir", tmp, *arguments, *extra])
                    frames, seconds = parse_pettrack(err)
                    rows.setdefault(f"pettrack video, {name}{', --no-video' if extra else ''}", []).append((frames / seconds, rss))
            _, rss, err = run_measured([sys.executable, "-c", NAIVE, str(video), str(Path(tmp) / "naive.mp4"), "", "mp4v",
                                        "fp32"])
            frames, seconds = parse_naive(err)
            rows.setdefault(naive_name, []).append((frames / seconds, rss))
    naive = statistics.median(v[0] for v in rows[naive_name])
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
    stages = stage_budget(args.video)
    video = end_to_end(args.video, args.rounds)
    publish(f"Machine: {machine()}. Default model (256 px). Model only, median of {args.rounds} alternating rounds:\n\n"
            f"{model}\n\nStage budget of `pettrack video {args.video.name}` (each stage alone, CPU time of all threads):"
            f"\n\n{stages}\n\n`pettrack video {args.video.name}` end to end, median of {args.rounds} alternating runs:\n\n{video}",
            "PyTorch and OpenVINO backends", args.write)


if __name__ == "__main__":
    main()
