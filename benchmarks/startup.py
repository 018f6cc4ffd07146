"""How fast the command answers: `pettrack --help` and a usage error, against the baseline of
importing the model stack up front (what every command paid before the CLI imported lazily), in
one run on this machine.

    python benchmarks/startup.py [--repeat 5]

Prints a table of median wall times over the repeats; the target for --help and usage errors is
0.4 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

TARGET_S = 0.4


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
    eager = "import pettrack.pipelines.cli, pettrack.model.localizer, pettrack.model.train, pettrack.pipelines.video"
    rows = [
        ("pettrack --help", [exe, "--help"], True),
        ("pettrack video --max-pets 0 x.mp4 (usage error)", [exe, "video", "--max-pets", "0", "x.mp4"], True),
        ("baseline: importing the model stack up front", [sys.executable, "-c", eager], False),
    ]
    print(f"| command | median of {args.repeat} (s) | target |")
    print("|---|---:|---|")
    for name, command, targeted in rows:
        value = seconds(command, args.repeat)
        verdict = ("met" if value <= TARGET_S else "missed") if targeted else ""
        print(f"| {name} | {value:.2f} | {f'<= {TARGET_S} s: {verdict}' if targeted else ''} |")


if __name__ == "__main__":
    main()
