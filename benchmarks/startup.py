"""How fast the command answers, in one run on this machine:
- `pettrack --help` and a usage error (target 0.4 s on a 2-core CPU), against the baseline of
  importing the model stack up front (what every command paid before the CLI imported lazily);
- `pettrack video` on the shipped sample from the moment the process is started to the moment
  its first frame has been through the model and the tracker (target 1.0 s), on the OpenVINO
  backend with its converted model cached (no PyTorch), against the same on the PyTorch backend;
  and the whole run of the 4-second clip (120 frames, annotated video, no plot).

The first frame is seen by wrapping the runner's `drive` (the one loop every command runs) in
the measured process, which then runs the real `pettrack` entry point.

    python benchmarks/startup.py [--repeat 5]

Prints a table of median wall times over the repeats.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "dog_4s.mp4"


def seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# Runs `pettrack ARGS` in this process and prints the wall-clock time of its first frame.
FIRST_FRAME = """
import sys, time
import pettrack.pipelines.runner as runner
from pettrack.pipelines.entry import main

drive = runner.drive

def timed_drive(results, consume, summary, stop_on=()):
    seen = []

    def consume_and_time(result):
        consume(result)
        if not seen:
            seen.append(time.time())
            print(f"FIRST-FRAME {seen[0]!r}", file=sys.stderr, flush=True)
    return drive(results, consume_and_time, summary, stop_on)

runner.drive = timed_drive
sys.argv = ["pettrack", *sys.argv[1:]]
main()
"""


def first_frame_and_whole(args: list[str], repeat: int) -> tuple[float, float]:
    """Medians of (process start -> first frame, whole run) of `pettrack ARGS`."""
    firsts, wholes = [], []
    for _ in range(repeat):
        started = time.time()
        result = subprocess.run([sys.executable, "-c", FIRST_FRAME, *args], capture_output=True, text=True)
        ended = time.time()
        stamp = [line for line in result.stderr.splitlines() if line.startswith("FIRST-FRAME ")]
        if result.returncode != 0 or not stamp:
            sys.exit(f"pettrack {' '.join(args)} failed: {result.stderr[-400:]}")
        firsts.append(float(stamp[0].split()[1]) - started)
        wholes.append(ended - started)
    return statistics.median(firsts), statistics.median(wholes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("pettrack")
    if exe is None:
        sys.exit("the pettrack command is not installed (pip install .)")
    eager = "import pettrack.pipelines.cli, pettrack.model.net, pettrack.model.train, pettrack.pipelines.video"
    print(f"| command | median of {args.repeat} (s) | target |")
    print("|---|---:|---|")
    for name, command, target in [
        ("pettrack --help", [exe, "--help"], 0.4),
        ("pettrack video --max-pets 0 x.mp4 (usage error)", [exe, "video", "--max-pets", "0", "x.mp4"], 0.4),
        ("baseline: importing the model stack up front", [sys.executable, "-c", eager], None),
    ]:
        value = seconds(command, args.repeat)
        print(f"| {name} | {value:.2f} | {verdict(value, target)} |")
    out = Path(tempfile.mkdtemp())
    clip = [str(SAMPLE), "--no-plots", "--out-dir", str(out)]
    subprocess.run([exe, "video", *clip, "--backend", "openvino", "--end", "0.1"], capture_output=True)  # the cache warm
    for backend, target in (("openvino", 1.0), ("torch", None)):
        first, whole = first_frame_and_whole(["video", *clip, "--backend", backend], args.repeat)
        label = "OpenVINO, cache warm, no PyTorch" if backend == "openvino" else "baseline: the PyTorch backend"
        print(f"| pettrack video dog_4s.mp4, process start to first frame ({label}) | {first:.2f} | {verdict(first, target)} |")
        print(f"| pettrack video dog_4s.mp4, the whole run of 120 frames ({label}) | {whole:.2f} | |")
    shutil.rmtree(out, ignore_errors=True)


def verdict(value: float, target: float | None) -> str:
    return f"<= {target} s: {'met' if value <= target else 'missed'}" if target else ""


if __name__ == "__main__":
    main()
