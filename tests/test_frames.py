"""Labelled video frames (model/frames.py): the labels reader, frames from images or clips, the
split by clip, training views, scoring, and a short training run on real frames through the CLI."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from pettrack.model.frames import (
    FrameLabelsError, FrameResult, RealAugment, RealFrame, choose_threshold, load_frames, read_frame_labels, real_view,
    score_frames, split_by_clip,
)

from conftest import SAMPLES, run_cli

HEADER = "file,clip,frame,width,height,visible,noses,labellers\n"


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def test_bad_rows_are_skipped_with_their_line(tmp_path):
    labels = _write(tmp_path / "labels.csv", [
        "a.jpg,clip.mp4,3,640,360,yes,100 50,2",           # line 2: good
        "b.jpg,clip.mp4,x,640,360,yes,100 50,2",           # 3: frame not a number
        "c.jpg,clip.mp4,4,640,360,maybe,,2",               # 4: unknown visibility
        "d.jpg,clip.mp4,5,640,360,yes,700 50,2",           # 5: outside the frame
        "e.jpg,clip.mp4,6,640,360,yes,,2",                 # 6: yes without a nose
        "f.jpg,clip.mp4,7,640,360,no,,2",                  # 7: good
        "g.jpg,clip.mp4,8,640,360,yes,10 20;30 40,2",      # 8: good, two noses
        "h.jpg,clip.mp4,9,640,360,disputed,,2",            # 9: good (left out of training)
        "i.jpg,clip.mp4,9,640",                            # 10: too few columns
        "j.jpg,clip.mp4,10,640,360,yes,1 2 3,2",           # 11: a nose is two numbers
    ])
    result = read_frame_labels(labels)
    assert [label.line for label in result.labels] == [2, 7, 8, 9]
    assert result.labels[2].noses == ((10.0, 20.0), (30.0, 40.0))
    problems = {p.line: p.reason for p in result.problems}
    assert set(problems) == {3, 4, 5, 6, 10, 11}
    assert "outside the 640x360 frame" in problems[5]
    assert "visible is yes but no nose" in problems[6]
    assert "line" not in problems[3] and result.problems[0].describe(labels).startswith(f"{labels}:3: ")


def test_a_file_that_is_not_a_labels_file_is_one_clear_error(tmp_path):
    (tmp_path / "pet-noses.csv").write_text('a.jpg,"(1, 2)"\n')
    with pytest.raises(FrameLabelsError, match="not a footage labels file .no column file, clip"):
        read_frame_labels(tmp_path / "pet-noses.csv")
    with pytest.raises(FrameLabelsError, match="cannot read"):
        read_frame_labels(tmp_path / "missing.csv")


def test_frames_come_from_images_or_the_clip_and_a_frame_past_the_end_names_the_clip(tmp_path):
    import cv2

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(SAMPLES / "dog_4s.mp4", videos / "dog_4s.mp4")
    labelled = tmp_path / "labels"
    (labelled / "frames").mkdir(parents=True)
    # Frame 5 as an image in frames/ (what it is read from), frame 16 only in the clip.
    rgb = np.zeros((360, 640, 3), np.uint8)
    cv2.imwrite(str(labelled / "frames" / "five.png"), rgb)
    labels = _write(labelled / "labels.csv", [
        "five.png,dog_4s.mp4,5,640,360,yes,407.5 121.5,2",
        ",dog_4s.mp4,16,640,360,yes,409.5 122.75,2",
        ",dog_4s.mp4,500,640,360,yes,409.5 122.75,2",      # past the clip's 120 frames
        ",nowhere.mp4,3,640,360,no,,2",                    # a clip that is not there
        "big.png,,3,1280,720,no,,2",                       # no image, no clip
    ])
    frames, skipped = load_frames(read_frame_labels(labels), videos_dir=videos)
    assert [f.name for f in frames] == ["five.png", "dog_4s.mp4#16"]
    assert frames[0].image.max() == 0  # from the image, not the clip
    assert frames[1].image.mean() > 20  # decoded from the clip
    reasons = {s.line: s.reason for s in skipped}
    assert "frame 500 is past the end of clip" in reasons[4] and "dog_4s.mp4 (120 frames)" in reasons[4]
    assert "clip 'nowhere.mp4' not found" in reasons[5]
    assert "image 'big.png' not found" in reasons[6]
    # Without --videos the clip is looked for beside the labels file only.
    frames, skipped = load_frames(read_frame_labels(labels))
    assert [f.name for f in frames] == ["five.png"] and "give --videos DIR" in skipped[0].reason


def _frame(clip: str, noses, size=(360, 640)) -> RealFrame:
    image = np.full((*size, 3), 90, np.uint8)
    return RealFrame(f"{clip}#0", clip, image, np.array(noses, dtype=float).reshape(-1, 2), 1.0, size[1], size[0])


def test_split_by_clip_keeps_each_clip_on_one_side_and_is_deterministic():
    frames = [_frame(f"clip{c}.mp4", [(10, 10)]) for c in range(20) for _ in range(5)]
    train, val = split_by_clip(frames, 0.2)
    assert {f.clip for f in train}.isdisjoint({f.clip for f in val})
    assert len({f.clip for f in val}) == 4
    again_train, again_val = split_by_clip(list(reversed(frames)), 0.2)
    assert {f.clip for f in again_val} == {f.clip for f in val}


def test_fewer_training_clips_keep_the_validation_side_and_grow_as_a_chain():
    frames = [_frame(f"clip{c}.mp4", [(10, 10)]) for c in range(20) for _ in range(5)]
    _, val = split_by_clip(frames, 0.2)
    sides = [split_by_clip(frames, 0.2, train_clips=n) for n in (4, 8, 16)]
    clip_sets = [{f.clip for f in train} for train, _ in sides]
    assert [len(c) for c in clip_sets] == [4, 8, 16]
    assert clip_sets[0] < clip_sets[1] < clip_sets[2]  # more clips add to the fewer, never swap them
    assert all({f.clip for f in v} == {f.clip for f in val} for _, v in sides)
    assert all(c.isdisjoint({f.clip for f in val}) for c in clip_sets)


def test_training_views_keep_every_nose_on_the_nose():
    rng = np.random.default_rng(0)
    image = np.zeros((360, 640, 3), np.uint8)
    noses = np.array([[100.0, 80.0], [500.0, 300.0]])
    for x, y in noses:  # a bright dot on each nose: the view's targets must sit on them
        image[int(y) - 8 : int(y) + 9, int(x) - 8 : int(x) + 9] = 255
    frame = RealFrame("f", "c", image, noses, 1.0, 640, 360)
    counts = set()
    for _ in range(200):
        view = real_view(frame, 128, rng, RealAugment(brightness=0, contrast=0, degrade=0))
        counts.add(len(view.points))
        for u, v in view.points:
            patch = view.image[max(0, round(v) - 2) : round(v) + 3, max(0, round(u) - 2) : round(u) + 3]
            assert patch.max() > 150, (u, v)
    assert counts == {0, 1, 2}  # crops with both noses, one, and none


def test_scoring_follows_the_footage_rule():
    near, far = _frame("a", [(100, 100)]), _frame("b", [(100, 100)])
    none, pair = _frame("c", []), _frame("d", [(100, 100), (400, 100)])
    results = [
        FrameResult(near, np.array([[105.0, 100.0]]), np.array([0.9])),   # within 5% of 360 = 18 px
        FrameResult(far, np.array([[130.0, 100.0]]), np.array([0.9])),    # 30 px off
        FrameResult(none, np.array([[50.0, 50.0]]), np.array([0.3])),     # below the threshold: right
        FrameResult(pair, np.array([[100.0, 101.0], [250.0, 100.0]]), np.array([0.9, 0.6])),
    ]
    score = score_frames(results, 0.5)
    assert score.right == 0.75 and score.nose_hit == pytest.approx(2 / 3) and score.no_nose_pointed == 0.0
    assert score.several_found == 0.5 and score.several_precision == 0.5
    assert score.per_clip["b"]["right"] == 0.0
    # The threshold keeps a point on 99.5% of the portraits: 1% of them are at 0.2 here.
    threshold = choose_threshold(results, np.array([0.2] * 10 + [0.9] * 990))
    assert threshold <= 0.2


def test_training_on_labelled_frames_through_the_cli(tmp_path):
    """A short run on the sample clip's labelled frames and a mirrored copy of it (two clips: one
    trains, one is held out and judges), with portraits, as a user runs it."""
    import av

    work = tmp_path / "frames"
    work.mkdir()
    shutil.copy(SAMPLES / "dog_4s.mp4", work / "dog_4s.mp4")
    with av.open(str(SAMPLES / "dog_4s.mp4")) as source, av.open(str(work / "mirror.mp4"), "w") as target:
        stream = target.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for frame in source.decode(video=0):
            mirrored = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.to_ndarray(format="rgb24")[:, ::-1]), format="rgb24")
            target.mux(stream.encode(mirrored))
        target.mux(stream.encode())
    rows = list(csv.DictReader(open(SAMPLES / "dog_4s.labels.csv", newline="")))
    mirrored_rows = []
    for row in rows:
        x, y = map(float, row["noses"].split())
        mirrored_rows.append({**row, "clip": "mirror.mp4", "noses": f"{639 - x} {y}"})
    with open(work / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows + mirrored_rows)
        handle.write(",dog_4s.mp4,999,640,360,yes,1 1\n")  # past the end: skipped, named
        handle.write(",dog_4s.mp4,3,640,360,yes,900 1\n")  # outside the frame: skipped, named
    out = tmp_path / "run" / "real.safetensors"
    result = run_cli(
        "train", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--out", out,
        "--footage-labels", work / "labels.csv", "--real-val-fraction", "0.5", "--real-share", "0.5",
        "--epochs", "2", "--epoch-size", "16", "--input-size", "64", "--sigma", "2", "--batch-size", "4",
        "--val-fraction", "0.25", "--footage", "--real-train-clips", "1",
    )
    assert result.returncode == 0, result.stderr
    assert "real frames right" in result.stderr
    assert "frame 999 is past the end of clip" in result.stderr and "labels.csv:24" in result.stderr
    assert "labels.csv:25" in result.stderr and "outside the 640x360 frame" in result.stderr
    from pettrack.model.weights import load_model

    _, info = load_model(out)
    data = info.training["data"]
    assert len(data["real_val_clips"]) == 1 and len(data["real_train_clips"]) == 1
    assert data["real_train_frames"] == data["real_val_frames"] == 11
    assert info.training["recipe"]["real_train_clips"] == 1
    assert info.metrics["real_frames"]["threshold"] == info.presence_threshold
    # The model works where --weights does.
    found = run_cli("folder", SAMPLES / "images", "--weights", out, "--csv")
    assert found.returncode == 0, found.stderr


def test_a_negative_number_of_training_clips_is_a_usage_error(tmp_path):
    result = run_cli("train", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt",
                     "--out", tmp_path / "w.safetensors", "--real-train-clips", "-1")
    assert result.returncode == 2
    assert "--real-train-clips" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written
