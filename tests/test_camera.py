"""`pettrack camera` against a local MJPEG stream: rows, drops, reconnection, accuracy."""

import csv
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES, run_cli, start_cli
from mjpeg_server import MjpegServer
from synthetic import moving_sample_frames

COLUMNS = ["frame", "time_s", "track", "x", "y", "x_raw", "y_raw", "confidence", "state"]
PUG = SAMPLES / "images" / "pug_140.jpg"
PUG_NOSE = (149.0, 47.0)  # samples/noses.txt


def read_rows(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


@pytest.fixture()
def moving_pug():
    image = np.asarray(Image.open(PUG).convert("RGB"))
    frames, transforms = moving_sample_frames(image, 90, size=(320, 240))
    truth = [m @ np.array([*PUG_NOSE, 1.0]) for m in transforms]
    return frames, truth


def test_live_rows_timestamps_and_dropped_frames(moving_pug, tmp_path):
    frames, _ = moving_pug
    server = MjpegServer(frames, fps=90).start()  # faster than the model on this CPU
    try:
        out = tmp_path / "live.csv"
        # The stream handling is under test here, not the model: the light one leaves more rows.
        result = run_cli("camera", server.url, "--duration", "4", "--csv", out, "--video", tmp_path / "live.mp4",
                         "--weights", "fast")
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert len(rows) >= 5
    times = [float(r["time_s"]) for r in rows]
    assert all(b > a for a, b in zip(times, times[1:]))
    indices = [int(r["frame"]) for r in rows]
    assert all(b > a for a, b in zip(indices, indices[1:]))
    summary = next(line for line in result.stderr.splitlines() if line.startswith("frames received"))
    received, processed, dropped = (int(summary.split(word)[1].split(",")[0].split(";")[0]) for word in
                                    ("received ", "processed ", "dropped "))
    assert processed == len(rows) and dropped > 0 and received == processed + dropped
    assert "p50" in summary and "p95" in summary
    # --csv appends: a second run adds rows under the same header
    again = run_cli("camera", str(SAMPLES / "dog_4s.mp4"), "--frames", "5", "--csv", out)
    assert again.returncode == 0, again.stderr
    assert len(read_rows(out)) == len(rows) + 5


def test_live_track_follows_the_nose(moving_pug, tmp_path):
    frames, truth = moving_pug
    server = MjpegServer(frames, fps=15).start()  # slow enough that every frame is processed
    try:
        out = tmp_path / "live.csv"
        result = run_cli("camera", server.url, "--frames", "60", "--csv", out)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    errors = []
    for row in read_rows(out):
        if row["x"]:
            tx, ty = truth[int(row["frame"]) % len(truth)]
            errors.append(np.hypot(float(row["x"]) - tx, float(row["y"]) - ty))
    assert len(errors) >= 50
    assert np.median(errors) < 12.0  # pixels, on a 320x240 stream


def test_reconnects_after_the_stream_drops(moving_pug, tmp_path):
    frames, _ = moving_pug
    server = MjpegServer(frames, fps=20).start()
    out = tmp_path / "live.csv"
    exe = shutil.which("pettrack")
    process = subprocess.Popen([exe, "camera", server.url, "--duration", "9", "--csv", str(out), "--weights", "fast"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def outage():
        deadline = time.time() + 30
        while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 15):
            time.sleep(0.1)  # wait until rows are flowing (start-up takes a few seconds)
        server.stop()
        time.sleep(2.0)
        server.start()  # same port

    threading.Thread(target=outage, daemon=True).start()
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        server.stop()
    assert process.returncode == 0, stderr
    assert "dropped; reconnecting" in stderr and "reconnected" in stderr
    times = [float(r["time_s"]) for r in read_rows(out)]
    gaps = np.diff(times)
    assert gaps.max() > 1.5  # the outage shows as a gap in time
    assert times[-1] > times[int(np.argmax(gaps))] + 1.0  # and rows kept coming after it


def test_source_that_never_opens_fails_clearly(tmp_path):
    result = run_cli("camera", "http://127.0.0.1:9/none.mjpg", "--duration", "2")
    assert result.returncode == 1
    assert "cannot open source" in result.stderr
    result = run_cli("camera", str(tmp_path / "missing.mp4"), "--duration", "2")
    assert result.returncode == 1 and "cannot open source" in result.stderr


def test_show_without_a_display_says_so(tmp_path):
    result = run_cli("camera", str(SAMPLES / "dog_4s.mp4"), "--frames", "3", "--show", env={"PATH": _path()})
    assert result.returncode == 0, result.stderr
    assert "no display available" in result.stderr


def _path():
    import os

    return os.environ["PATH"]


def test_ctrl_c_ends_a_live_session_with_its_summary_and_exit_130(tmp_path):
    import signal

    out = tmp_path / "live.csv"
    process = start_cli("camera", SAMPLES / "dog_4s.mp4", "--csv", out, "--weights", "fast")
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 4):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "frames received" in stderr and "Traceback" not in stderr
    assert len(read_rows(out)) >= 3
