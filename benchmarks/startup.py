"""How fast the command answers, in one run on this machine:
- `pettrack --help` and a usage error (target 0.4 s on a 2-core CPU), against the baseline of
  importing the model stack up front (what every command paid before the CLI imported lazily);
- `pettrack video` from start to its first frame (target 1.0 s): a whole run of the first frame
  of the shipped sample, CSV only, on the OpenVINO backend with its converted model cached (no
  PyTorch), against the same run on the PyTorch backend.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("pettrack")
    if exe is None:
        sys.exit("the pettrack command is not installed (pip install .)")
    eager = "import pettrack.pipelines.cli, pettrack.model.net, pettrack.model.train, pettrack.pipelines.video"
    out = Path(tempfile.mkdtemp())
    first_frame = [exe, "video", str(SAMPLE), "--end", "0.03", "--no-video", "--no-plots", "--out-dir", str(out)]
    subprocess.run([*first_frame, "--backend", "openvino"], capture_output=True)  # the cache warm, as after a first run
    rows = [
        ("pettrack --help", [exe, "--help"], 0.4),
        ("pettrack video --max-pets 0 x.mp4 (usage error)", [exe, "video", "--max-pets", "0", "x.mp4"], 0.4),
        ("baseline: importing the model stack up front", [sys.executable, "-c", eager], None),
        ("pettrack video, start to first frame (OpenVINO, cache warm, no PyTorch)", [*first_frame, "--backend", "openvino"], 1.0),
        ("baseline: the same on the PyTorch backend", [*first_frame, "--backend", "torch"], None),
    ]
    print(f"| command | median of {args.repeat} (s) | target |")
    print("|---|---:|---|")
    for name, command, target in rows:
        value = seconds(command, args.repeat)
        verdict = f"<= {target} s: {'met' if value <= target else 'missed'}" if target else ""
        print(f"| {name} | {value:.2f} | {verdict} |")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
