"""How many decoding threads `pettrack video` should use on a CPU: frames/s and peak memory of the
whole command with one thread (a PyAV pass, read ahead: the CPU default) against two (decord
readers on keyframe-aligned chunks), on a 720p, a 1080p and a 4K clip, in one run; and the one
decord reader that a whole clip used to be read by, behind a model as slow as the real one.

    python benchmarks/decode_workers.py [--video CLIP ...] [--write docs/benchmarks.md]

Default clips: ../shared/videos/dog.mp4 (720p), the 1080p60 clip of ../shared/videos-train, and
a 4K clip made here from dog.mp4 (300 frames upscaled, x264 ultrafast). Peak memory is each
process's maximum resident set size (wait4, as video_throughput.py measures it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from video_throughput import machine, parse_pettrack, publish, repeat_video, run_measured  # noqa: E402

SHARED = REPO.parent / "shared"
DEFAULT_CLIPS = [SHARED / "videos" / "dog.mp4", SHARED / "videos-train" / "RyanJFM__computerVison__dog.mp4"]

# One decord reader through a whole clip, its caller taking `delay` s a frame (the model's pace):
# prints the reader's peak resident memory.
DECORD_ALONE = r"""
import sys, time, decord
delay = float(sys.argv[2])
reader = decord.VideoReader(sys.argv[1], ctx=decord.cpu(0), num_threads=1)
for _ in range(len(reader)):
    reader.next().asnumpy()
    time.sleep(delay)
"""


def upscaled_4k(source: Path, target: Path, frames: int = 300) -> Path:
    import av
    import cv2

    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = dst.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "60"}
        for index, frame in enumerate(src.decode(video=0)):
            if index >= frames:
                break
            rgb = cv2.resize(frame.to_ndarray(format="rgb24"), (3840, 2160))
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, action="append", help="clips to measure (default: see above)")
    parser.add_argument("--write", type=Path, help="append the table to this markdown file")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp())
    clips = args.video or [c for c in DEFAULT_CLIPS if c.exists()] + [upscaled_4k(DEFAULT_CLIPS[0], scratch / "dog_4k.mp4")]
    rows = ["| clip | decoding | frames/s | peak RSS MiB |", "|---|---|---:|---:|"]
    for clip in clips:
        for workers, label in ((1, "1 thread, one PyAV pass (CPU default)"), (2, "baseline: 2 decord workers")):
            _, peak, stderr = run_measured(["pettrack", "video", str(clip), "--out-dir", str(scratch / "out"),
                                            "--overwrite", "--no-plots", "--workers", str(workers)])
            frames, seconds = parse_pettrack(stderr)
            rows.append(f"| {clip.name} | {label} | {frames / seconds:.1f} | {peak} |")
    long_clip = repeat_video(DEFAULT_CLIPS[0], scratch / "dog_x10.mp4", 10)
    _, peak, _ = run_measured([sys.executable, "-c", DECORD_ALONE, str(long_clip), "0.015"])
    rows.append(f"| {long_clip.name} (112 s, 720p) | baseline: one decord reader alone, its caller 15 ms a frame | – | {peak} |")
    _, peak, stderr = run_measured(["pettrack", "video", str(long_clip), "--out-dir", str(scratch / "out"),
                                    "--overwrite", "--no-plots", "--no-video", "--workers", "1"])
    frames, seconds = parse_pettrack(stderr)
    rows.append(f"| {long_clip.name} (112 s, 720p) | pettrack video --no-video, 1 thread | {frames / seconds:.1f} | {peak} |")
    text = f"Machine: {machine()}.\n\n" + "\n".join(rows)
    publish(text, "Decoding threads on a CPU: frames/s and memory", args.write)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)")
