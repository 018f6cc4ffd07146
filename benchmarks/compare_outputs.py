"""Are the outputs of two pettrack versions the same on the shipped samples?

Runs `pettrack video samples/dog_4s.mp4` and `pettrack folder samples/images --csv` with each
version's code (a git revision, installed into a temporary folder) and the same weights, then
compares: the CSVs byte for byte, the annotated videos frame by frame (count, size, rate, times
and pixels; two decoders may round colours differently by a level or two, so pixels are compared
by their mean absolute difference).

    python benchmarks/compare_outputs.py --before 2d1e74b --weights /tmp/old_default.safetensors --after-args "--backend torch"

(`--weights` must be a file both versions can read; `git show REV:model/weights/default.safetensors
> FILE` gives a version's shipped model.)
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


def install(revision: str, target: Path) -> Path:
    """The code of `revision` as an importable tree (no dependencies: they are already here)."""
    tree = target / "src"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), revision], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target / "site"),
                    str(tree)], check=True)
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)
    return target / "site"


def run(site: Path | None, out: Path, weights: str, extra: list[str] = ()) -> None:
    env = dict(os.environ)
    if site is not None:
        # Ahead of this tree's editable install (its finder comes after the path entries).
        env["PYTHONPATH"] = str(site)
    # The command's entry point moved from cli.py to entry.py; either version may be compared.
    command = [sys.executable, "-c", "try:\n    from pettrack.pipelines.entry import main\n"
               "except ImportError:\n    from pettrack.pipelines.cli import main\nmain()"]
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([*command, "video", str(SAMPLES / "dog_4s.mp4"), "--out-dir", str(out), "--weights", weights, *extra],
                   check=True, env=env, capture_output=True)
    folder = subprocess.run([*command, "folder", str(SAMPLES / "images"), "--csv", "--weights", weights, *extra],
                            check=True, env=env, capture_output=True)
    (out / "folder.csv").write_bytes(folder.stdout)


def frames(path: Path) -> tuple[list[np.ndarray], list[float], object]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in container.decode(stream)]
        return [d[0] for d in decoded], [d[1] for d in decoded], stream.average_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git revision of the earlier version")
    parser.add_argument("--after", default=None, help="git revision of the later one (default: this working tree)")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--after-args", default="",
                        help='options only the later version has, e.g. "--backend torch" to compare like with like')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run(install(args.before, tmp / "before"), tmp / "out-before", args.weights)
        run(install(args.after, tmp / "after") if args.after else None, tmp / "out-after", args.weights,
            args.after_args.split())
        print("| output | same? | detail |\n|---|---|---|")
        for name in ("dog_4s.pettrack.csv", "folder.csv"):
            same = filecmp.cmp(tmp / "out-before" / name, tmp / "out-after" / name, shallow=False)
            print(f"| {name} | {'byte for byte' if same else 'NO'} | |")
        (a, ta, ra), (b, tb, rb) = (frames(tmp / d / "dog_4s.pettrack.mp4") for d in ("out-before", "out-after"))
        diff = float(np.mean([np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b)])) if len(a) == len(b) else float("nan")
        print(f"| dog_4s.pettrack.mp4 | {'frames, size, rate and times' if (len(a), a[0].shape, ra, ta) == (len(b), b[0].shape, rb, tb) else 'NO'} "
              f"| {len(a)} vs {len(b)} frames, {a[0].shape[1]}x{a[0].shape[0]}, rate {ra} vs {rb}, "
              f"mean abs pixel difference {diff:.2f} levels |")


if __name__ == "__main__":
    main()
