import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
sys.path.insert(0, str(Path(__file__).parent))  # tests/synthetic.py


def run_cli(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run the installed `pettrack` command as a user would."""
    exe = shutil.which("pettrack")
    assert exe, "the pettrack command is not installed (pip install .)"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)


def start_cli(*args: str) -> subprocess.Popen:
    """Start `pettrack` in the background, for tests that interrupt it. A shell may start
    children with SIGINT ignored (and the child would inherit that): give it the default back."""
    exe = shutil.which("pettrack")
    assert exe, "the pettrack command is not installed (pip install .)"
    return subprocess.Popen([exe, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A real (tiny, barely trained) model made through the CLI on the shipped samples."""
    out = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    result = run_cli(
        "train", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--out", out,
        "--epochs", "2", "--input-size", "64", "--sigma", "2", "--batch-size", "4", "--val-fraction", "0.25",
    )
    assert result.returncode == 0, result.stderr
    return out


# The slowest test files first (by the durations the suite prints): the two xdist workers take
# whole files in collection order, so a run that ends on short files has both workers finish
# together instead of one waiting for the other's last long file.
SLOWEST_FILES = ("test_cli.py", "test_finetune.py", "test_scale.py", "test_hardening.py", "test_training.py",
                 "test_backends.py", "test_video.py", "test_frames.py", "test_camera.py", "test_startup.py",
                 "test_dependencies.py", "test_label.py", "test_outputs.py", "test_weights.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order
