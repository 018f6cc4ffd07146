"""Ctrl-C cannot get lost: it is recorded as well as raised, and the runner and the training loop
stop at their next safe point when the record says so (pipelines/interrupts.py)."""

import signal

import pytest

from pettrack.model.data import AugmentConfig
from pettrack.model.train import TrainConfig, train
from pettrack.pipelines.interrupts import ctrl_c_requests, pressed
from pettrack.pipelines.runner import RunSummary, drive

from conftest import SAMPLES


@pytest.fixture
def ctrl_c_enabled():
    """Python's own Ctrl-C handler for the test: a test run started in the background by a shell
    (as CI may be) begins with SIGINT ignored, and ctrl_c_requests() rightly leaves that alone."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_ctrl_c_is_raised_and_remembered_even_when_the_interrupt_is_swallowed(ctrl_c_enabled):
    before = signal.getsignal(signal.SIGINT)
    with ctrl_c_requests() as requested:
        assert not requested()
        # Call the installed SIGINT handler as Python would on Ctrl-C, and swallow its
        # KeyboardInterrupt as a finalizer would. (A real signal sent to a pytest-xdist worker
        # may be taken by one of its I/O threads and land outside this block, ending the worker.)
        with pytest.raises(KeyboardInterrupt):
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        assert requested()
    assert signal.getsignal(signal.SIGINT) is before


def test_the_runner_stops_at_the_next_frame_after_a_swallowed_ctrl_c(ctrl_c_enabled):
    """A Ctrl-C whose KeyboardInterrupt landed in a finalizer (importlib's module-lock callback
    while a command imports its libraries, in one CI run) still ends the run as Ctrl-C does."""
    consumed = []
    with ctrl_c_requests():
        with pytest.raises(KeyboardInterrupt):
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # swallowed below, as a finalizer would
        assert pressed()
        summary = drive(iter(range(10)), consumed.append, RunSummary())
    assert summary.interrupted and summary.frames == 1 and consumed == [0]
    assert not pressed()  # the record ends with its ctrl_c_requests()


def test_an_ignored_ctrl_c_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with ctrl_c_requests() as requested:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert not requested()
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_stop_request_ends_training_after_a_checkpoint_and_the_run_resumes(tmp_path):
    epochs_done = []
    config = TrainConfig(
        images=SAMPLES / "images", labels=SAMPLES / "noses.txt", out=tmp_path / "w.safetensors", epochs=4,
        batch_size=4, sigma=2, input_size=64, val_fraction=0.25, workers=0, augment=AugmentConfig.none(),
    )
    history = config.artifact("history.csv")

    def stop_after_first_epoch() -> bool:
        if history.exists():
            epochs_done.append(len(history.read_text().splitlines()) - 1)
        return bool(epochs_done)

    with pytest.raises(KeyboardInterrupt):
        train(config, stop_requested=stop_after_first_epoch)
    assert len(history.read_text().splitlines()) - 1 == 1
    assert config.out.is_file() and config.checkpoint_path.is_file()

    config.resume = True
    result = train(config)
    assert result.epochs_run == 4
    assert [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]] == [1, 2, 3, 4]
