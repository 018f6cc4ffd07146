"""The command answers at once: --help, every command's --help and usage errors load none of the
heavy libraries (torch, torchvision, OpenVINO, OpenCV, SciPy, matplotlib, Ray); a command
imports what it needs when it runs, and on the OpenVINO backend that is never PyTorch once the
weights are converted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import SAMPLES
from pettrack.model.backends import openvino_available

HEAVY = ("torch", "torchvision", "openvino", "cv2", "scipy", "matplotlib", "ray", "pandas", "filterpy", "decord")

# Runs the installed entry point in-process and prints which heavy libraries it left loaded.
PROBE = """
import json, sys
from pettrack.pipelines.entry import main
heavy = json.loads(sys.argv[2])
sys.argv = ["pettrack", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as stop:
    code = stop.code
else:
    code = 0
print(json.dumps({"code": code, "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""

COMMANDS = ("folder", "video", "camera", "export", "convert", "report", "train", "eval")


def _probe(*args: str, env: dict | None = None) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps([str(a) for a in args]), json.dumps(HEAVY)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [
    (), ("--help",), *((command, "--help") for command in COMMANDS),
    ("video", "--max-pets", "0", "clip.mp4"),          # a bad value
    ("folder",),                                        # a missing argument
    ("video", "--no-such-option", "clip.mp4"),          # an unknown option
    ("no-such-command",),
    ("video", "--backend", "tpu", "clip.mp4"),         # a value outside the choices
])
def test_help_and_usage_errors_load_no_heavy_library(args):
    answer = _probe(*args)
    assert answer["code"] in (0, 2), answer
    assert answer["loaded"] == [], f"pettrack {' '.join(args)} loaded {answer['loaded']}"


def test_a_command_that_runs_loads_what_it_needs(tmp_path):
    """The probe can see a heavy import: a command past its usage checks loads the model code."""
    answer = _probe("export", "--format", "onnx", "--out", str(tmp_path / "x.txt"), "--weights", str(tmp_path / "none.safetensors"))
    assert answer["code"] == 1
    assert "torch" in answer["loaded"], answer


@pytest.mark.skipif(not openvino_available(), reason='needs pip install "pettrack[openvino]"')
def test_the_openvino_path_runs_without_pytorch_once_the_weights_are_converted(tmp_path):
    """The first run converts the weights (with PyTorch) into the cache; from then on video,
    folder and camera run from the cached model and the weights' metadata alone."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    images = SAMPLES / "images"
    first = _probe("folder", images, "--csv", "--backend", "openvino", env=env)
    assert first["code"] == 0 and "torch" in first["loaded"], first
    runs = [
        ("video", SAMPLES / "dog_4s.mp4", "--out-dir", tmp_path / "out", "--no-plots", "--export", "nwb,slp,dlc"),
        ("folder", images, "--out", tmp_path / "noses.csv", "--annotate", tmp_path / "annotated", "--precision", "int8"),
        ("camera", SAMPLES / "dog_4s.mp4", "--frames", "10", "--csv", tmp_path / "live.csv"),
    ]
    for args in runs:
        answer = _probe(*args, env=env)
        assert answer["code"] == 0, (args, answer)
        assert "torch" not in answer["loaded"] and "torchvision" not in answer["loaded"], (args[0], answer["loaded"])
    assert len((tmp_path / "out" / "dog_4s.pettrack.csv").read_text().splitlines()) > 120
