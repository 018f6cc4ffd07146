import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
sys.path.insert(0, str(Path(__file__).parent))  # tests/synthetic.py


def run_cli(*args: str, process: bool = False, timeout: float | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run `pettrack ARGS` as a user would, through the installed entry point, and return its exit
    status and what it printed (both streams, including what C libraries write to them).

    By default it runs in this process: a command then does not pay for importing torch,
    OpenVINO and the rest again (seconds each time, most of the suite's time when every test
    started a process). process=True, a timeout (a test that a run does not hang) or any other
    subprocess.run keyword (cwd, env, input) runs the installed `pettrack` executable in a
    process of its own: for tests of what only a process shows (its imports, signals, the
    library notices it prints once) and for engines that start processes (Ray)."""
    if process or timeout is not None or kwargs:
        exe = shutil.which("pettrack")
        assert exe, "the pettrack command is not installed (pip install .)"
        return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=timeout or 600, **kwargs)
    return run_in_process([str(arg) for arg in args])


# Signals whose Python-level handlers a command may change for its own run.
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)


def run_in_process(args: list[str]) -> subprocess.CompletedProcess:
    """`pettrack ARGS` through `pettrack.pipelines.entry.main`, as its own process would run it:
    the same argv, stdout and stderr captured at the file-descriptor level (what libav or OpenCV
    write from C is captured too), and the process-wide state a command changes for its own run
    (the warning filters, --debug's PETTRACK_DEBUG, signal handlers) put back afterwards. What the
    modules set once for the life of a process (OpenCV's log levels) stays, as in a process.

    The signal handlers matter: a training run's DataLoader installs a SIGCHLD handler that checks
    its own worker processes; left in place, it fired when a later test's subprocess ended and
    took the pytest-xdist worker down."""
    from pettrack.pipelines.entry import main

    saved_argv, saved_debug = sys.argv, os.environ.get("PETTRACK_DEBUG")
    saved_streams = sys.stdout, sys.stderr
    saved_handlers = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file, warnings.catch_warnings():
        for stream in saved_streams:
            stream.flush()
        saved_fds = os.dup(1), os.dup(2)
        os.dup2(out_file.fileno(), 1)
        os.dup2(err_file.fileno(), 2)
        # Python's own choices for a process whose output is a pipe: strict UTF-8 on stdout,
        # backslash escapes on stderr.
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", write_through=True)
        sys.argv = ["pettrack", *args]
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = _exit_status(stop.code)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, saved in zip((1, 2), saved_fds):
                os.dup2(saved, fd)
                os.close(saved)
            sys.stdout, sys.stderr = saved_streams
            sys.argv = saved_argv
            if saved_debug is None:
                os.environ.pop("PETTRACK_DEBUG", None)
            for signum, handler in saved_handlers.items():
                if handler is not None and signal.getsignal(signum) is not handler:
                    signal.signal(signum, handler)
        printed = []
        for file in (out_file, err_file):
            file.seek(0)
            printed.append(file.read().decode("utf-8", errors="replace"))
    return subprocess.CompletedProcess(["pettrack", *args], code, *printed)


def _exit_status(code: object) -> int:
    """What a process's exit status would be for sys.exit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")  # sys.exit("message") prints the message and exits 1
    return 1


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
