"""Live-mode latency and throughput: `pettrack camera` on a local MJPEG stream.

    python benchmarks/camera_latency.py [--seconds 15] [--fps 30] [--size 640x360] [--write docs/benchmarks.md]

A test-fixture server on 127.0.0.1 streams a sample photo panned along a path at --fps; the real
CLI processes it for --seconds. Reports frames received / processed / dropped, processing fps and
capture-to-result latency p50/p95 as the CLI prints them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from mjpeg_server import MjpegServer  # noqa: E402
from synthetic import moving_sample_frames  # noqa: E402
from video_throughput import machine, publish  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--weights", default="default", help="weights file or shipped model name")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    image = np.asarray(Image.open(REPO / "samples" / "images" / "beagle_100.jpg").convert("RGB"))
    frames, _ = moving_sample_frames(image, 120, size=(width, height))
    server = MjpegServer(frames, fps=args.fps).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(["pettrack", "camera", server.url, "--duration", str(args.seconds),
                                     "--csv", str(Path(tmp) / "live.csv"), "--weights", args.weights], capture_output=True, text=True)
    finally:
        server.stop()
    summary = next((l for l in result.stderr.splitlines() if l.startswith("frames received")), result.stderr[-500:])
    text = (f"Machine: {machine()}. Stream: {width}x{height} MJPEG at {args.fps:g} fps from 127.0.0.1, "
            f"{args.seconds:g} s, model `{args.weights}`.\n\n`{summary}`")
    publish(text, "Live mode latency", args.write)


if __name__ == "__main__":
    main()
