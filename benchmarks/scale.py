"""The Ray engine against the local engine on this machine: throughput, memory, overhead per video.

    pip install ".[ray]"
    python benchmarks/scale.py [--clips 6] [--write docs/scale.md]

The same set of clips (copies of samples/dog_4s.mp4, 120 frames of 640x360 each, as separate
inputs) is tracked three ways, each a fresh `pettrack video` process writing CSV and annotated
video: the local engine, Ray with 1 actor and Ray with 2 actors (a local Ray started by the
command). Reported: wall time of the whole command (model loading and Ray's start included),
frames/s over it, and the peak resident memory of the driver and of the largest Ray worker
(sampled from /proc every 0.1 s). The overhead per video is Ray with 1 actor minus the local
engine per video, from a straight-line fit of wall time against the number of videos (runs with
a third of the clips and with all): the fixed start (Ray's processes, the actors, their model) is
reported apart, since a real job pays it once for thousands of videos.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from video_throughput import publish  # noqa: E402

FRAMES_PER_CLIP = 120


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def worker_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if b"VideoWorker" in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def run(command: list[str]) -> dict:
    """Run a command, sampling the driver's and the Ray workers' memory; wall time and peaks."""
    peaks = {"driver": 0.0, "worker": 0.0}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peaks["driver"] = max(peaks["driver"], rss_mib(process.pid))
            for pid in worker_pids():
                peaks["worker"] = max(peaks["worker"], rss_mib(pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    return {"seconds": time.perf_counter() - started, **peaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    exe = shutil.which("pettrack")
    few = max(1, args.clips // 3)
    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for i in range(args.clips):
            clips.append(Path(tmp) / f"clip{i}.mp4")
            shutil.copy(REPO / "samples" / "dog_4s.mp4", clips[-1])

        def command(count: int, out: str, *extra: str) -> list[str]:
            return [exe, "video", *map(str, clips[:count]), "--backend", args.backend, "--out-dir", f"{tmp}/{out}", *extra]

        runs = {
            "local engine": run(command(args.clips, "local")),
            "Ray, 1 actor": run(command(args.clips, "ray1", "--engine", "ray", "--actors", "1")),
            "Ray, 2 actors": run(command(args.clips, "ray2", "--engine", "ray", "--actors", "2")),
        }
        fewer = {"local engine": run(command(few, "local_few")),
                 "Ray, 1 actor": run(command(few, "ray1_few", "--engine", "ray", "--actors", "1")),
                 "Ray, 2 actors": run(command(few, "ray2_few", "--engine", "ray", "--actors", "2"))}
        same = all((Path(tmp) / "local" / f"clip{i}.pettrack.csv").read_bytes()
                   == (Path(tmp) / name / f"clip{i}.pettrack.csv").read_bytes()
                   for name in ("ray1", "ray2") for i in range(args.clips))
    frames = args.clips * FRAMES_PER_CLIP
    local = runs["local engine"]
    lines = ["| engine | wall time s | frames/s | vs local | driver peak RSS MiB | largest worker peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in runs.items():
        worker = f"{r['worker']:.0f}" if r["worker"] else "-"
        lines.append(f"| {name} | {r['seconds']:.1f} | {frames / r['seconds']:.1f} | "
                     f"{local['seconds'] / r['seconds']:.2f}x | {r['driver']:.0f} | {worker} |")

    # Wall time = fixed start + per-video time, from the runs with `few` and with all clips.
    def fit(name: str) -> tuple[float, float]:
        per_video = (runs[name]["seconds"] - fewer[name]["seconds"]) / (args.clips - few)
        return runs[name]["seconds"] - per_video * args.clips, per_video

    (local_start, local_per), (ray_start, ray_per) = fit("local engine"), fit("Ray, 1 actor")
    two_start, two_per = fit("Ray, 2 actors")
    lines += ["", f"{args.clips} videos x {FRAMES_PER_CLIP} frames (640x360, annotated video written), "
              f"{os.cpu_count()} CPUs, backend {args.backend}. CSVs byte for byte equal to the local engine's: "
              f"{'yes' if same else 'NO'}.",
              "",
              f"Fixed start and time per video (from runs of {few} and {args.clips} videos): local engine "
              f"{local_start:.1f} s + {local_per:.2f} s/video; Ray with 1 actor {ray_start:.1f} s + {ray_per:.2f} s/video. "
              f"Overhead per video through Ray: {ray_per - local_per:+.2f} s; Ray's start (cluster, actors, "
              f"model load in the actor): {ray_start - local_start:+.1f} s once per job. Ray with 2 actors: "
              f"{two_start:.1f} s + {two_per:.2f} s/video. Once started (many videos), throughput against the local "
              f"engine: 1 actor {local_per / ray_per:.2f}x, 2 actors {local_per / two_per:.2f}x."]
    publish("\n".join(lines), "Ray against the local engine on this machine", args.write)


if __name__ == "__main__":
    main()
