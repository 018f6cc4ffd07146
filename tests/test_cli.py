"""The pettrack command end to end, run as a user runs it (installed console script)."""

import csv
import io
import os
import shutil
import signal
import time

import cv2
import numpy as np
import pytest

from conftest import SAMPLES, run_cli, start_cli

FOLDER_COLUMNS = ["file", "nose", "x", "y", "confidence", "width", "height"]


@pytest.fixture()
def messy_folder(tmp_path):
    """The samples plus a corrupt JPEG, a text file, a text file named .png and a 16-bit PNG."""
    folder = tmp_path / "pets"
    shutil.copytree(SAMPLES / "images", folder)
    data = (SAMPLES / "images" / "beagle_100.jpg").read_bytes()
    (folder / "corrupt.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.txt").write_text("my pets\n")
    (folder / "fake.png").write_text("not a png")
    image = cv2.imread(str(SAMPLES / "images" / "pug_140.jpg"))
    cv2.imwrite(str(folder / "pug16.png"), image.astype(np.uint16) * 257)
    return folder


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_train_eval_folder_pipeline(tiny_weights, messy_folder, tmp_path):
    # eval prints the statistics and writes a report
    report = tmp_path / "report"
    result = run_cli("eval", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt",
                     "--weights", tiny_weights, "--report", report)
    assert result.returncode == 0, result.stderr
    for word in ("min", "mean", "median", "max", "std", "original pixels", "model 64x64 px", "PCK@5", "PCK@10"):
        assert word in result.stdout
    rows = read_csv((report / "predictions.csv").read_text())
    assert len(rows) == 8 and rows[0]["distance_px"]
    assert (report / "worst.png").stat().st_size > 0

    # folder --csv on a folder with bad files: CSV on stdout, one line per bad file on stderr
    result = run_cli("folder", messy_folder, "--csv", "--weights", tiny_weights)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == ",".join(FOLDER_COLUMNS)
    rows = read_csv(result.stdout)
    assert [r["file"] for r in rows] == sorted(
        [p.name for p in (SAMPLES / "images").iterdir()] + ["pug16.png"]
    )
    for row in rows:
        assert 0 <= float(row["x"]) < int(row["width"]) and 0 <= float(row["y"]) < int(row["height"])
        assert 0 <= float(row["confidence"]) <= 1
    pug16 = next(r for r in rows if r["file"] == "pug16.png")
    assert (pug16["width"], pug16["height"]) == ("300", "225")
    for bad in ("corrupt.jpg", "notes.txt", "fake.png"):
        assert bad in result.stderr
    assert "3 skipped" in result.stderr or "2 skipped" in result.stderr


def test_folder_out_file_annotate_and_table(tiny_weights, messy_folder, tmp_path):
    out = tmp_path / "results" / "noses.csv"
    annotated = tmp_path / "annotated"
    result = run_cli("folder", messy_folder, "--out", out, "--annotate", annotated, "--heatmap", "--weights", tiny_weights)
    assert result.returncode == 0, result.stderr
    rows = read_csv(out.read_text())
    assert len(rows) == 9 and list(rows[0].keys()) == FOLDER_COLUMNS
    assert not list(out.parent.glob(".*partial*"))
    written = sorted(p.name for p in annotated.iterdir())
    assert written == sorted(r["file"] for r in rows)
    copy = cv2.imread(str(annotated / "beagle_100.jpg"))
    assert copy.shape == (500, 333, 3)

    result = run_cli("folder", SAMPLES / "images", "--weights", tiny_weights)
    assert result.returncode == 0
    assert "beagle_100.jpg" in result.stdout and "confidence" in result.stdout


def test_folder_recursive_and_relative_names(tiny_weights, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(SAMPLES / "images" / "pug_140.jpg", tmp_path / "a" / "b" / "pug.jpg")
    shutil.copy(SAMPLES / "images" / "Persian_2.jpg", tmp_path / "a" / "cat.jpg")
    flat = run_cli("folder", tmp_path / "a", "--csv", "--weights", tiny_weights)
    deep = run_cli("folder", tmp_path / "a", "--csv", "--recursive", "--weights", tiny_weights)
    assert [r["file"] for r in read_csv(flat.stdout)] == ["cat.jpg"]
    assert [r["file"] for r in read_csv(deep.stdout)] == ["b/pug.jpg", "cat.jpg"]


def test_folder_with_nothing_usable_fails_clearly(tiny_weights, tmp_path):
    (tmp_path / "junk.jpg").write_text("junk")
    out = tmp_path / "out.csv"
    result = run_cli("folder", tmp_path, "--out", out, "--weights", tiny_weights)
    assert result.returncode == 1
    assert "no image could be processed" in result.stderr and "junk.jpg" in result.stderr
    assert not out.exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("folder", empty, "--weights", tiny_weights)
    assert result.returncode == 1 and "no images found" in result.stderr

    result = run_cli("folder", tmp_path / "missing", "--weights", tiny_weights)
    assert result.returncode == 1 and "not a folder" in result.stderr


def test_bad_weights_and_bad_labels_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage" * 10)
    result = run_cli("folder", SAMPLES / "images", "--weights", bad)
    assert result.returncode == 1 and "bad.safetensors" in result.stderr
    assert "Traceback" not in result.stderr

    labels = tmp_path / "labels.txt"
    labels.write_text('beagle_100.jpg,"(71, 211)"\nthis is not a label\nmissing.jpg,"(1, 2)"\n')
    result = run_cli("train", "--images", SAMPLES / "images", "--labels", labels, "--out", tmp_path / "w.safetensors",
                     "--epochs", "1", "--input-size", "64")
    assert result.returncode == 1
    assert "labels.txt:2" in result.stderr and "missing.jpg" in result.stderr
    assert "usable labelled images" in result.stderr


def test_train_ctrl_c_keeps_weights_and_resume_finishes(tmp_path):
    out = tmp_path / "w.safetensors"
    history = tmp_path / "w.history.csv"
    args = ["train", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--out", out,
            "--epochs", "25", "--input-size", "64", "--sigma", "2", "--batch-size", "4", "--val-fraction", "0.25",
            "--workers", "0"]
    process = start_cli(*args)
    deadline = time.time() + 120
    while not history.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "resume with --resume" in stderr
    done = len(history.read_text().splitlines()) - 1
    assert 1 <= done < 25
    assert out.is_file() and out.with_suffix(".checkpoint.pt").is_file()

    changed = run_cli(*[("96" if a == "64" else a) for a in args], "--resume")
    assert changed.returncode == 1 and "cannot resume" in changed.stderr and "input_size" in changed.stderr

    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {out.with_suffix('.checkpoint.pt')} after epoch {done}" in resumed.stderr
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs == list(range(1, 26))


@pytest.mark.parametrize("name, size", [("default", 256), ("portrait", 256), ("fast", 128)])
def test_shipped_models_by_name_find_the_sample_noses(name, size):
    args = ["eval", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt"]
    result = run_cli(*args, "--weights", name) if name != "default" else run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert f"model {size}x{size} px" in result.stdout
    # The samples are full-size photos (up to 500 px); 10 model px is a small part of a pet's face.
    assert "PCK@10: 100.0%" in result.stdout, result.stdout


def test_unknown_model_name_lists_the_shipped_ones():
    result = run_cli("folder", SAMPLES / "images", "--weights", "fastest")
    assert result.returncode == 1
    assert "fastest: no such weights file (shipped models: default, portrait, fast)" in result.stderr


def test_train_init_weights_fine_tunes_at_another_input_size(tiny_weights, tmp_path):
    from safetensors.torch import load_file

    from pettrack.model.weights import read_info

    # A learning rate of ~0 keeps the convolutions where they started, so they show where that was.
    common = ["train", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--epochs", "1",
              "--input-size", "96", "--sigma", "3", "--batch-size", "4", "--val-fraction", "0.25",
              "--lr", "1e-12", "--workers", "0", "--seed", "1"]  # tiny_weights grew from seed 0
    tuned, fresh = tmp_path / "tuned.safetensors", tmp_path / "fresh.safetensors"
    result = run_cli(*common, "--out", tuned, "--init-weights", tiny_weights)
    assert result.returncode == 0, result.stderr
    assert f"initial weights from {tiny_weights}" in result.stderr
    assert run_cli(*common, "--out", fresh).returncode == 0
    assert read_info(tuned).net.input_size == 96 and read_info(tiny_weights).net.input_size == 64

    start, after, control = (load_file(str(p)) for p in (tiny_weights, tuned, fresh))
    convs = [k for k in start if k.endswith(".weight") and start[k].dim() == 4]
    assert len(convs) > 20
    for key in convs:
        assert np.allclose(after[key].float(), start[key].float(), atol=1e-3), key
    assert not any(np.allclose(control[key].float(), start[key].float(), atol=1e-3) for key in convs)

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    result = run_cli(*common, "--out", tmp_path / "x.safetensors", "--init-weights", bad)
    assert result.returncode == 1 and "bad.safetensors" in result.stderr and "Traceback" not in result.stderr


def test_eval_skips_missing_images_and_fails_without_labels(tiny_weights, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text('beagle_100.jpg,"(71, 211)"\ngone.jpg,"(5, 5)"\npug_140.jpg,"(149, 47)"\nbad line\n')
    result = run_cli("eval", "--images", SAMPLES / "images", "--labels", labels, "--weights", tiny_weights)
    assert result.returncode == 0, result.stderr
    assert "gone.jpg" in result.stderr and "labels.txt:4" in result.stderr
    assert "2 images, 1 skipped" in result.stdout

    result = run_cli("eval", "--images", SAMPLES / "images", "--labels", tmp_path / "none.txt", "--weights", tiny_weights)
    assert result.returncode == 1 and "none.txt" in result.stderr and "Traceback" not in result.stderr


def test_folder_applies_the_presence_threshold_from_the_weights(tiny_weights, tmp_path):
    """A peak below the model's stored threshold is 'no nose': empty x, y with the confidence
    kept; --min-confidence overrides the stored value."""
    from pettrack.model.weights import load_model, read_info, save_weights

    model, info = load_model(tiny_weights)
    info.presence_threshold = 0.999
    strict = tmp_path / "strict.safetensors"
    save_weights(strict, model, info)
    assert read_info(strict).presence_threshold == 0.999

    result = run_cli("folder", SAMPLES / "images", "--csv", "--weights", strict)
    assert result.returncode == 0, result.stderr
    rows = read_csv(result.stdout)
    assert len(rows) == 8
    for row in rows:
        assert row["x"] == "" and row["y"] == "" and 0 <= float(row["confidence"]) < 0.999

    result = run_cli("folder", SAMPLES / "images", "--csv", "--weights", strict, "--min-confidence", "0")
    assert result.returncode == 0, result.stderr
    assert all(row["x"] and row["y"] for row in read_csv(result.stdout))

    result = run_cli("folder", SAMPLES / "images", "--weights", strict, "--min-confidence", "1.5")
    assert result.returncode == 2 and "min-confidence" in result.stderr


def test_a_rerun_that_produces_nothing_leaves_earlier_results(tiny_weights, tmp_path):
    out = tmp_path / "noses.csv"
    assert run_cli("folder", SAMPLES / "images", "--out", out, "--weights", tiny_weights).returncode == 0
    earlier = out.read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"not a jpeg")
    result = run_cli("folder", bad, "--out", out, "--weights", tiny_weights)
    assert result.returncode == 1 and "broken.jpg" in result.stderr
    assert out.read_bytes() == earlier
    assert not list(tmp_path.glob(".*partial*"))

    video_out = tmp_path / "v"
    assert run_cli("video", SAMPLES / "dog_4s.mp4", "--out-dir", video_out, "--end", "0.3", "--no-video",
                   "--weights", tiny_weights).returncode == 0
    earlier = (video_out / "dog_4s.pettrack.csv").read_bytes()
    result = run_cli("video", SAMPLES / "dog_4s.mp4", "--out-dir", video_out, "--start", "100", "--no-video",
                     "--weights", tiny_weights)
    assert result.returncode == 1
    assert (video_out / "dog_4s.pettrack.csv").read_bytes() == earlier


def test_outputs_never_overwrite_inputs_in_the_library(tiny_weights, tmp_path):
    from pettrack.model.localizer import Localizer
    from pettrack.pipelines.folder import FolderOptions, run_folder
    from pettrack.pipelines.video import VideoOptions, VideoOutputs, run_video
    from pettrack.model.files import OutputError
    from pettrack.pipelines.video_io import probe

    clip = shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "clip.mp4")
    before = clip.read_bytes()
    localizer = Localizer.load(tiny_weights, device="cpu")
    with pytest.raises(OutputError, match="is an input"):
        run_video(localizer, probe(clip), VideoOutputs(tmp_path / "x.csv", clip), VideoOptions())
    with pytest.raises(OutputError, match="same file"):
        run_video(localizer, probe(clip), VideoOutputs(tmp_path / "x.mp4", tmp_path / "x.mp4"), VideoOptions())
    assert clip.read_bytes() == before
    with pytest.raises(ValueError, match="different folder"):
        run_folder(localizer, tmp_path, [], FolderOptions(annotate_dir=tmp_path / "." ), print, print)
    result = run_cli("folder", SAMPLES / "images", "--annotate", SAMPLES / "images", "--weights", tiny_weights)
    assert result.returncode == 2 and "different folder" in result.stderr


def test_default_model_says_when_there_is_no_nose(tmp_path):
    """The shipped default rejects views without a nose (a dog's body, the top of a cat's head,
    a plain wall) with its stored threshold, and still finds every sample photo's nose."""
    from PIL import Image

    folder = tmp_path / "mixed"
    shutil.copytree(SAMPLES / "images", folder)
    Image.open(SAMPLES / "images" / "beagle_100.jpg").crop((120, 260, 333, 500)).save(folder / "zz_beagle_body.jpg")
    Image.open(SAMPLES / "images" / "Siamese_25.jpg").crop((0, 0, 335, 180)).save(folder / "zz_siamese_top.jpg")
    Image.fromarray(np.full((200, 300, 3), (90, 120, 60), np.uint8)).save(folder / "zz_wall.png")
    result = run_cli("folder", folder, "--csv")
    assert result.returncode == 0, result.stderr
    rows = {r["file"]: r for r in read_csv(result.stdout)}
    truth = {line.split(",")[0]: line for line in (SAMPLES / "noses.txt").read_text().splitlines()}
    for name in truth:
        assert rows[name]["x"] and rows[name]["y"], rows[name]
    for name in ("zz_beagle_body.jpg", "zz_siamese_top.jpg", "zz_wall.png"):
        assert rows[name]["x"] == "" and rows[name]["y"] == "" and float(rows[name]["confidence"]) < 0.5, rows[name]


def test_eval_split_and_footage_set(tiny_weights, tmp_path):
    labels = ["--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--weights", tiny_weights]
    result = run_cli("eval", *labels, "--split", "val", "--val-fraction", "0.25", "--report", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert "2 images" in result.stdout  # a quarter of the 8 samples, the same ones train validates on
    assert "Footage set (12 views" in result.stdout and "nose-free views rejected" in result.stdout
    assert (tmp_path / "r" / "presence.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = run_cli("eval", *labels, "--no-footage")
    assert result.returncode == 0 and "Footage set" not in result.stdout
    result = run_cli("eval", *labels, "--split", "test")
    assert result.returncode == 2 and "--split" in result.stderr and "Traceback" not in result.stderr


def test_train_footage_stores_a_presence_threshold(tmp_path):
    from pettrack.model.weights import read_info

    out = tmp_path / "footage.safetensors"
    common = ["train", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--epochs", "1",
              "--input-size", "64", "--sigma", "2", "--batch-size", "4", "--val-fraction", "0.25"]
    result = run_cli(*common, "--out", out, "--footage")
    assert result.returncode == 0, result.stderr
    assert "footage right" in result.stderr
    info = read_info(out)
    assert 0.0 < info.presence_threshold < 1.0 and "footage" in info.metrics
    result = run_cli(*common, "--out", tmp_path / "x.safetensors", "--footage", "--no-augment")
    assert result.returncode == 2 and "--no-augment" in result.stderr and not (tmp_path / "x.safetensors").exists()


def test_help_names_the_extras_to_install():
    """Option help is rich markup, where "[openvino]" would be read as a style and vanish."""
    result = run_cli("video", "--help", env={**os.environ, "COLUMNS": "250"})
    assert result.returncode == 0
    for extra in ('"pettrack[openvino]"', '"pettrack[export]"', '"pettrack[ray]"'):
        assert extra in result.stdout, extra
