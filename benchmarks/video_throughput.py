"""Throughput and memory of `pettrack video` against a naive loop, in one run.

    python benchmarks/video_throughput.py [--video ../shared/videos/dog.mp4] [--weights W]
                                          [--repeat 10] [--write docs/benchmarks.md]

Naive loop: OpenCV read -> one frame at a time through the same model in PyTorch fp32 (the
issue's definition; `--naive-precision auto` for bf16 where the CPU has it) -> OpenCV write
(mp4v), no tracker. A second naive loop writes the same H.264 as pettrack (OpenCV's wheels cannot encode
H.264), so the comparison is also made for the same output. pettrack: the real CLI
(`pettrack video`, default settings) in a subprocess.
Peak memory is each process's maximum resident set size (from wait4), for the input and for the
same input repeated `--repeat` times (packets remuxed, no re-encode).
Prints a table; --write appends it, with the machine description, to a markdown file.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def repeat_video(source: Path, target: Path, times: int) -> Path:
    """The same packets `times` times in a row, timestamps shifted (no re-encoding)."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream_in = src.streams.video[0]
        stream_out = dst.add_stream_from_template(stream_in)
        offset = 0
        for _ in range(times):
            src.seek(0)
            last = 0
            for packet in src.demux(stream_in):
                if packet.dts is None:
                    continue
                packet.pts += offset
                packet.dts += offset
                last = max(last, packet.pts + (packet.duration or 0))
                packet.stream = stream_out
                dst.mux(packet)
            offset = last
    return target


# Peak RSS comes from wait4 in a small wrapper process: a child's ru_maxrss can include the RSS
# its parent had when it forked, so a parent holding torch would inflate every figure.
_WRAPPER = r"""
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
stderr = child.stderr.read()
_, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(stderr + f"\nPEAK_RSS_KIB {usage.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB, and stderr of a child process."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr[-2000:]}")
    peak = int(result.stderr.rsplit("PEAK_RSS_KIB", 1)[1].split()[0])
    return wall, peak // 1024, result.stderr


NAIVE = r"""
import sys, time, cv2, numpy as np
from pettrack.model.localizer import Localizer
from pettrack.pipelines.video_io import VideoWriter, probe
video, out, weights, codec = sys.argv[1], sys.argv[2], (sys.argv[3] or None), sys.argv[4]
precision = sys.argv[5] if len(sys.argv) > 5 else "auto"
localizer = Localizer.load(weights, device="cpu", backend="torch", precision=precision)
info = probe(video)
if codec == "mp4v":
    cv_writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), float(info.rate), (info.width, info.height))
    write, close = (lambda rgb: cv_writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))), cv_writer.release
else:  # the same H.264 writer pettrack uses
    writer = VideoWriter(out, info.width, info.height, info.rate)
    write, close = writer.write, writer.close
capture = cv2.VideoCapture(video)
frames, started = 0, time.perf_counter()
while True:
    ok, bgr = capture.read()
    if not ok:
        break
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    detection = localizer.locate([rgb])[0].peak
    cv2.circle(rgb, (int(detection.x), int(detection.y)), 8, (255, 40, 160), 2)
    write(rgb)
    frames += 1
close()
print(f"FRAMES {frames} SECONDS {time.perf_counter() - started:.3f}", file=sys.stderr)
"""


def parse_naive(stderr: str) -> tuple[int, float]:
    line = next(l for l in stderr.splitlines() if l.startswith("FRAMES"))
    _, frames, _, seconds = line.split()
    return int(frames), float(seconds)


def parse_pettrack(stderr: str) -> tuple[int, float]:
    line = next(l for l in stderr.splitlines() if "frames/s" in l and "frames," in l)
    frames = int(line.split(":")[1].split("frames")[0])
    fps = float(line.split(",")[-1].split("frames/s")[0])
    return frames, frames / fps


def publish(text: str, title: str, write: Path | None) -> None:
    """Print a result and, with --write, make it the current `## title` section of a markdown
    file: the section is replaced (its history is in git), or added at the end."""
    print(text)
    if not write:
        return
    section = f"## {title} ({time.strftime('%Y-%m-%d')})\n\n{text}\n"
    lines = Path(write).read_text().splitlines(keepends=True) if Path(write).exists() else []
    start = next((i for i, line in enumerate(lines) if line.startswith(f"## {title} (")), None)
    if start is None:
        Path(write).write_text("".join(lines).rstrip("\n") + "\n\n" + section)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    Path(write).write_text("".join(lines[:start]) + section + ("\n" + "".join(lines[end:]) if end < len(lines) else ""))


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=REPO.parent / "shared" / "videos" / "dog.mp4")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--pettrack", default=shutil.which("pettrack"),
                        help="the pettrack command to measure, e.g. a wrapper that runs an earlier version")
    parser.add_argument("--naive-precision", default="fp32", help="the naive loop's PyTorch precision")
    parser.add_argument("--title", default="pettrack video vs naive loop", help="the section to write")
    parser.add_argument("--pettrack-args", default="", help='more options for every pettrack run, e.g. "--backend torch"')
    args = parser.parse_args()
    pettrack = args.pettrack
    weights = ([] if args.weights is None else ["--weights", str(args.weights)]) + args.pettrack_args.split()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        long_video = repeat_video(args.video, tmp / f"{args.video.stem}_x{args.repeat}.mp4", args.repeat)
        for label, video in (("short", args.video), (f"{args.repeat}x longer", long_video)):
            wall, rss, err = run_measured([pettrack, "video", str(video), "--out-dir", str(tmp / "out"), *weights])
            frames, seconds = parse_pettrack(err)
            rows.append((f"pettrack video ({label})", frames, frames / seconds, wall, rss))
            if label == "short":
                wall, rss, err = run_measured([pettrack, "video", str(video), "--out-dir", str(tmp / "out"),
                                               "--no-video", *weights])
                frames, seconds = parse_pettrack(err)
                no_video = (f"pettrack video --no-video ({label})", frames, frames / seconds, wall, rss)
                for codec in ("mp4v", "h264"):
                    wall, rss, err = run_measured([sys.executable, "-c", NAIVE, str(video), str(tmp / "naive.mp4"),
                                                   str(args.weights or ""), codec, args.naive_precision])
                    frames, seconds = parse_naive(err)
                    rows.append((f"naive loop, OpenCV {codec} writer (short)" if codec == "mp4v"
                                 else "naive loop, pettrack's H.264 writer (short)", frames, frames / seconds, wall, rss))

    pet, naive, naive_h264, long_run = rows  # short, naive mp4v, naive H.264, long
    rows.insert(1, no_video)
    header = "| run | frames | frames/s (processing) | wall s (with start-up) | peak RSS MiB |\n|---|---:|---:|---:|---:|"
    lines = [f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]} |" for r in rows]
    verdict = (f"speed-up over the naive loop: {pet[2] / naive[2]:.2f}x with the annotated H.264 video, "
               f"{no_video[2] / naive[2]:.2f}x with --no-video (target >= 2x); "
               f"over the naive loop writing the same H.264: {pet[2] / naive_h264[2]:.2f}x; "
               f"whole process (wall time, start-up included) against the naive loop: {naive[3] / pet[3]:.2f}x "
               f"(target >= 2x); "
               f"peak memory, long / short: {long_run[4] / pet[4]:.2f} (target <= 1.2)")
    table = "\n".join([header, *lines])
    publish(f"Machine: {machine()}. Input: `{args.video.name}`. Naive loop in PyTorch {args.naive_precision}."
            f"\n\n{table}\n\n{verdict}",
            args.title, args.write)


if __name__ == "__main__":
    main()
