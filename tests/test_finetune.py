"""`pettrack finetune`: a model from a user's labelled frames, through the command as a user runs it."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, run_cli, start_cli

from pettrack.model.backends import openvino_available
from pettrack.model.finetune import split_by_time
from pettrack.model.frames import RealFrame
from pettrack.model.weights import read_info


def _frame(clip: str, index: int) -> RealFrame:
    return RealFrame(f"{clip}#{index}", clip, np.zeros((4, 4, 3), np.uint8), np.zeros((0, 2)), 1.0, 4, 4, index)


def test_every_fourth_labelled_frame_in_time_is_held_out():
    frames = [_frame("a.mp4", i) for i in (90, 10, 50, 30, 70, 20, 60, 40)] + [_frame("b.mp4", i) for i in (5, 1)]
    train, held = split_by_time(frames, 4)
    assert sorted((f.clip, f.frame) for f in held) == [("a.mp4", 40), ("a.mp4", 90)]
    assert len(train) == 8
    train, held = split_by_time([_frame("a.mp4", 3), _frame("a.mp4", 1)], 4)  # too few for the rule: the last
    assert [f.frame for f in held] == [3] and [f.frame for f in train] == [1]


def _user_labels(tmp_path: Path, extra: str = "") -> Path:
    """The sample clip and its labels, as `pettrack label` leaves them: beside each other."""
    shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "dog_4s.mp4")
    labels = tmp_path / "labels.csv"
    labels.write_text((SAMPLES / "dog_4s.labels.csv").read_text() + extra)
    return labels


def test_finetune_through_the_command(tiny_weights, tmp_path):
    labels = _user_labels(tmp_path)
    out = tmp_path / "mypet.safetensors"
    result = run_cli("finetune", "--labels", labels, "--out", out, "--weights", tiny_weights, "--steps", "6",
                     "--force")
    assert result.returncode == 0, result.stderr
    assert "held out (2 frames): before right" in result.stderr and "after  right" in result.stderr
    info = read_info(out)
    assert info.training["finetune"]["train_frames"] == 9 and info.training["finetune"]["held_out_frames"] == 2
    assert 0.0 <= info.presence_threshold <= 1.0 and info.metrics["held_out"]["after"]["frames"] == 2
    # The result works where --weights does.
    video = run_cli("video", SAMPLES / "dog_4s.mp4", "--out-dir", tmp_path / "run", "--weights", out, "--no-video",
                    "--end", "0.5")
    assert video.returncode == 0, video.stderr
    assert (tmp_path / "run" / "dog_4s.pettrack.csv").is_file()


def test_a_worse_model_is_not_written_without_force(tmp_path):
    labels = _user_labels(tmp_path)
    out = tmp_path / "broken.safetensors"
    # A rate this high wrecks the shipped `fast` model within a few steps: it then misses the held-out
    # noses it found before.
    args = ("finetune", "--labels", labels, "--out", out, "--weights", "fast", "--steps", "3", "--lr", "1.0", "--anchor", "0")
    result = run_cli(*args)
    assert result.returncode == 1 and "worse than fast on the held-out frames" in result.stderr
    assert "not written" in result.stderr and not out.exists()
    result = run_cli(*args, "--force")
    assert result.returncode == 0 and "written anyway (--force)" in result.stderr and out.is_file()


def test_bad_labels_get_one_line_each(tiny_weights, tmp_path):
    labels = _user_labels(tmp_path, ",cat.mp4,3,640,360,yes,10 10\n"
                                    ",dog_4s.mp4,5000,640,360,yes,10 10\n"
                                    ",dog_4s.mp4,7,640,360,yes,700 10\n")
    result = run_cli("finetune", "--labels", labels, "--out", tmp_path / "m.safetensors", "--weights", tiny_weights,
                     "--steps", "2", "--force")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any("labels.csv:13" in line and "clip 'cat.mp4' not found" in line for line in lines)
    assert any("labels.csv:14" in line and "frame 5000 is past the end of clip" in line and "(120 frames)" in line
               for line in lines)
    assert any("labels.csv:15" in line and "nose (700, 10) is outside the 640x360 frame" in line for line in lines)
    assert "Traceback" not in result.stderr


def test_finetune_refuses_what_it_cannot_use(tiny_weights, tmp_path):
    labels = tmp_path / "one.csv"
    shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "dog_4s.mp4")
    labels.write_text("file,clip,frame,width,height,visible,noses\n,dog_4s.mp4,5,640,360,yes,407.5 121.5\n")
    result = run_cli("finetune", "--labels", labels, "--out", tmp_path / "m.safetensors", "--weights", tiny_weights)
    assert result.returncode == 1 and "1 usable labelled frame(s)" in result.stderr and "pettrack label" in result.stderr
    result = run_cli("finetune", "--labels", tmp_path / "absent.csv", "--out", tmp_path / "m.safetensors")
    assert result.returncode == 1 and "absent.csv" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("finetune", "--labels", labels, "--out", labels)
    assert result.returncode == 2 and "is an input of this run" in result.stderr


def test_ctrl_c_keeps_the_best_step_so_far(tiny_weights, tmp_path):
    labels = _user_labels(tmp_path)
    out = tmp_path / "mypet.safetensors"
    process = start_cli("finetune", "--labels", labels, "--out", out, "--weights", tiny_weights, "--steps", "100000",
                        "--force")
    try:
        for line in process.stderr:  # the first judgement of a fine-tuned step
            if line.startswith("step") and "kept" in line:
                break
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 130
        rest = process.stderr.read()
    finally:
        process.kill()
        process.wait()
    assert "interrupted after" in rest and "the best step so far is used" in rest and out.is_file()
    assert read_info(out).training["finetune"]["step_kept"] >= 40


@pytest.mark.skipif(not openvino_available(), reason='needs pip install "pettrack[openvino]"')
def test_a_finetuned_model_quantizes_on_the_users_own_frames(tiny_weights, tmp_path):
    labels = _user_labels(tmp_path)
    out = tmp_path / "mypet.safetensors"
    assert run_cli("finetune", "--labels", labels, "--out", out, "--weights", tiny_weights, "--steps", "2",
                   "--force").returncode == 0
    # A user has no portraits to calibrate on: their labelled frames are enough.
    made = run_cli("export", "--format", "openvino", "--int8", "--weights", out, "--labels", labels,
                   "--out", tmp_path / "mypet.int8.xml")
    assert made.returncode == 0, made.stderr
    used = run_cli("video", SAMPLES / "dog_4s.mp4", "--out-dir", tmp_path / "run", "--weights", out,
                   "--precision", "int8", "--no-video", "--end", "0.5")
    assert used.returncode == 0, used.stderr


def test_int8_calibration_on_labelled_frames_that_cannot_be_read_is_one_line(tmp_path):
    labels = tmp_path / "mypet.csv"
    labels.write_text("file,clip,frame,width,height,visible,noses\n,gone.mp4,3,640,360,yes,10 10\n")
    result = run_cli("export", "--format", "openvino", "--int8", "--weights", "fast", "--labels", labels,
                     "--out", tmp_path / "fast.int8.xml")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "mypet.csv:2" in result.stderr and "clip 'gone.mp4' not found" in result.stderr
    assert "no labelled frame could be read for calibration" in result.stderr
    assert not (tmp_path / "fast.int8.xml").exists()
