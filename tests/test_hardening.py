"""Hostile but realistic use, through the CLI: broken inputs, bad options, dangerous output
targets, a full disk, Ctrl-C. One property per case: no traceback, the documented exit code, a
message that names the file, every good input's output complete and identical to a run without
the bad ones, every earlier output untouched. The corpus is made by tests/hostile.py."""

import csv
import io
import os
import shutil
import signal
import time
from pathlib import Path

import av
import pytest

import hostile
from conftest import SAMPLES, run_cli, start_cli

FAST = ("--weights", "fast")


def _clean(result, code: int) -> str:
    """The run ended with `code`, without a traceback; its stderr."""
    assert result.returncode == code, result.stderr
    assert "Traceback (most recent call last)" not in result.stderr
    return result.stderr


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def clean_folder_csv(tmp_path_factory) -> str:
    """`folder --csv` on the good photos alone: what every run with bad files must still give."""
    folder = hostile.good_folder(tmp_path_factory.mktemp("clean") / "photos")
    result = run_cli("folder", folder, "--csv", *FAST)
    _clean(result, 0)
    return result.stdout


# -- images and folders ------------------------------------------------------------------------

def test_broken_and_odd_files_are_listed_and_the_good_results_are_the_same(tmp_path, clean_folder_csv):
    folder = hostile.good_folder(tmp_path / "photos")
    broken = hostile.broken_images(folder)
    odd = hostile.odd_entries(folder)
    result = run_cli("folder", folder, "--csv", *FAST, timeout=120)  # a FIFO must not hang it
    stderr = _clean(result, 0)
    for name in [*broken, *odd, "loop"]:
        assert name in stderr, name
    assert "skipped" in stderr
    assert result.stdout == clean_folder_csv


def test_a_name_that_is_not_utf8_or_is_markup_is_processed_and_shown_literally(tmp_path, clean_folder_csv):
    folder = hostile.good_folder(tmp_path / "photos")
    hostile.non_utf8_name(folder)
    hostile.markup_name(folder)
    result = run_cli("folder", folder, "--csv", *FAST)
    _clean(result, 0)
    names = [row["file"] for row in _rows(result.stdout)]
    assert "caf\\xe9.jpg" in names and "[bold red]boom.jpg" in names  # documented: bytes as \xNN
    table = _clean(run_cli("folder", folder, *FAST), 0)
    assert "processed 4 of 4" in table
    assert "boom" in run_cli("folder", folder, *FAST).stdout


def test_an_all_bad_rerun_leaves_the_earlier_results(tmp_path):
    folder = hostile.good_folder(tmp_path / "photos")
    out = tmp_path / "results.csv"
    _clean(run_cli("folder", folder, "--out", out, *FAST), 0)
    earlier = out.read_bytes()
    for name in hostile.GOOD_IMAGES:
        (folder / name).write_bytes(b"not any more")
    stderr = _clean(run_cli("folder", folder, "--out", out, *FAST), 1)
    assert "no image could be processed" in stderr
    assert out.read_bytes() == earlier


# -- output targets ----------------------------------------------------------------------------

def test_outputs_that_would_destroy_something_are_refused_before_any_work(tmp_path):
    folder = hostile.good_folder(tmp_path / "photos")
    photo = folder / hostile.GOOD_IMAGES[0]
    before = photo.read_bytes()
    stderr = _clean(run_cli("folder", folder, "--out", photo, *FAST), 2)
    assert photo.name in stderr and photo.read_bytes() == before

    (tmp_path / "a-folder").mkdir()
    assert "folder" in _clean(run_cli("folder", folder, "--out", tmp_path / "a-folder", *FAST), 2)
    (tmp_path / "a-file").write_text("x")
    assert "a-file" in _clean(run_cli("folder", folder, "--out", tmp_path / "a-file" / "r.csv", *FAST), 2)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "FIFO" in _clean(run_cli("folder", folder, "--out", fifo, *FAST, timeout=60), 2)
    assert fifo.is_fifo()

    labels = tmp_path / "noses.txt"
    shutil.copy(SAMPLES / "noses.txt", labels)
    before = labels.read_bytes()
    stderr = _clean(run_cli("train", "--images", SAMPLES / "images", "--labels", labels, "--out", labels,
                            "--epochs", "1", "--input-size", "64"), 2)
    assert "noses.txt" in stderr and labels.read_bytes() == before

    clip = shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "clip.mp4")
    before = clip.read_bytes()
    _clean(run_cli("camera", clip, "--video", clip, "--frames", "2", *FAST), 2)
    _clean(run_cli("video", clip, "--csv", clip, *FAST), 2)
    assert clip.read_bytes() == before

    other = tmp_path / "other.csv"
    other.write_text("name,score\nrex,10\n")
    assert "other.csv" in _clean(run_cli("camera", clip, "--csv", other, "--frames", "2", *FAST), 2)
    assert other.read_text() == "name,score\nrex,10\n"

    report = tmp_path / "report-is-a-file"
    report.write_text("x")
    _clean(run_cli("eval", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--report", report,
                   *FAST), 2)


def test_an_output_that_is_a_link_is_written_through(tmp_path, clean_folder_csv):
    folder = hostile.good_folder(tmp_path / "photos")
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    _clean(run_cli("folder", folder, "--out", link, *FAST), 0)
    assert link.is_symlink() and real.read_text() == clean_folder_csv


def test_same_named_inputs_are_refused_before_anything_is_written(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / sub / "clip.mp4")
    stderr = _clean(run_cli("video", tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4", "--out-dir",
                            tmp_path / "out", *FAST), 2)
    assert "clip.mp4" in stderr and not (tmp_path / "out").exists()
    shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "a" / "clip.mov")
    _clean(run_cli("video", tmp_path / "a" / "clip.mp4", tmp_path / "a" / "clip.mov", *FAST), 2)
    assert not (tmp_path / "a" / "clip.pettrack.csv").exists()


def test_a_full_disk_is_one_line_and_earlier_results_survive(tmp_path):
    mount = tmp_path / "small"
    if not hostile.full_filesystem(mount):
        pytest.skip("cannot mount a small tmpfs here (needs root); the full-disk case is not tested")
    try:
        earlier = b"frame,time_s,track,x,y,x_raw,y_raw,confidence,state\n0,0.0000,0,1,1,1,1,0.9,tracked\n"
        (mount / "clip.pettrack.csv").write_bytes(earlier)
        hostile.filler(mount / "filler")
        clip = shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "clip.mp4")
        stderr = _clean(run_cli("video", clip, "--out-dir", mount, *FAST), 1)
        assert "No space left on device" in stderr and "clip.mp4" in stderr
        assert (mount / "clip.pettrack.csv").read_bytes() == earlier
        assert not [p for p in mount.iterdir() if p.name.startswith(".")]  # no temp files left behind

        folder = hostile.good_folder(tmp_path / "photos")
        stderr = _clean(run_cli("folder", folder, "--csv", "--annotate", mount / "annotated", *FAST), 1)
        assert "annotated copies could not be written" in stderr
        (mount / "clip.pettrack.csv").unlink()  # room for the earlier table below, and no more
        (mount / "table.csv").write_bytes(earlier)
        hostile.filler(mount / "filler2")
        stderr = _clean(run_cli("folder", folder, "--out", mount / "table.csv", *FAST), 1)
        assert "table.csv: cannot write it (No space left on device)" in stderr and "earlier contents are kept" in stderr
        assert (mount / "table.csv").read_bytes() == earlier
    finally:
        hostile.release_filesystem(mount)


def test_a_full_disk_leaves_no_handle_open_on_the_output_folder(tmp_path):
    """In a process that goes on after a failed video (a Ray worker, a script using pettrack),
    the partial video's file is closed, so its space is free again at once. (A handle stayed open
    when the disk was full before the video's header was written.)"""
    mount = tmp_path / "small"
    if not hostile.full_filesystem(mount):
        pytest.skip("cannot mount a small tmpfs here (needs root); the full-disk case is not tested")
    try:
        hostile.filler(mount / "filler")
        clip = shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "clip.mp4")
        _clean(run_cli("video", clip, "--out-dir", mount, *FAST), 1)
        held = [target for target in (os.path.realpath(fd) for fd in Path("/proc/self/fd").iterdir())
                if target.startswith(str(mount))]
        assert held == []
    finally:
        hostile.release_filesystem(mount)


# -- videos ------------------------------------------------------------------------------------

def test_bad_videos_are_skipped_and_the_good_one_is_done(tmp_path):
    good = shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "good.mp4")
    (tmp_path / "junk.mp4").write_text("not a video")
    result = run_cli("video", tmp_path / "junk.mp4", tmp_path / "missing.mp4", good, "--no-video", *FAST)
    stderr = _clean(result, 0)
    assert "junk.mp4" in stderr and "missing.mp4" in stderr and "1 of 3 videos done" in stderr
    alone = tmp_path / "alone"
    _clean(run_cli("video", good, "--no-video", "--out-dir", alone, *FAST), 0)
    assert (tmp_path / "good.pettrack.csv").read_bytes() == (alone / "good.pettrack.csv").read_bytes()
    assert "Errno" not in stderr


def test_a_truncated_video_keeps_every_frame_that_decodes(tmp_path):
    clip = hostile.truncated_video(tmp_path / "cut.mp4")
    decodable = 0
    with av.open(str(clip)) as container:
        for packet in container.demux(video=0):
            try:
                decodable += len(packet.decode())
            except av.FFmpegError:
                continue
    stderr = _clean(run_cli("video", clip, *FAST), 0)
    rows = (tmp_path / "cut.pettrack.csv").read_text().splitlines()[1:]
    assert 0 < decodable < 120 and len(rows) == decodable
    with av.open(str(tmp_path / "cut.pettrack.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == decodable
    assert "cut.mp4" in stderr and f"frame {decodable}" in stderr
    assert "[h264 @" not in stderr and "[mov," not in stderr  # libav's own lines stay off the terminal


def test_bad_option_values_are_usage_errors_and_a_rerun_with_one_keeps_the_earlier_csv(tmp_path):
    clip = shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "clip.mp4")
    _clean(run_cli("video", clip, "--no-video", *FAST), 0)
    earlier = (tmp_path / "clip.pettrack.csv").read_bytes()
    for bad in (["--decoder", "opencv2"], ["--start", "3", "--end", "1"], ["--batch-size", "0"],
                ["--device", "gpu"], ["--min-confidence", "2"], ["--max-pets", "0"], ["--engine", "spark"],
                ["--manifest", tmp_path / "no-such-list.txt"]):
        _clean(run_cli("video", clip, *bad, *FAST), 2)
    assert (tmp_path / "clip.pettrack.csv").read_bytes() == earlier
    assert "past the end" in _clean(run_cli("video", clip, "--start", "30", *FAST), 1)
    assert (tmp_path / "clip.pettrack.csv").read_bytes() == earlier
    train = ["train", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--out", tmp_path / "w.safetensors"]
    for bad in (["--epochs", "0"], ["--lr", "-1"], ["--val-fraction", "2"], ["--input-size", "100"],
                ["--precision", "fp8"]):
        _clean(run_cli(*train, *bad), 2)
    _clean(run_cli("export", "--format", "onnx2", "--out", tmp_path / "m.onnx"), 2)
    _clean(run_cli("eval", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--split", "test"), 2)
    _clean(run_cli("eval", "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt", "--precision", "fp8"), 2)
    assert "xls" in _clean(run_cli("video", clip, "--export", "nwb,xls", *FAST), 2)


# -- labels and weights ------------------------------------------------------------------------

def test_hostile_label_lines_are_skipped_with_their_line_numbers_and_cut_short(tmp_path):
    labels = hostile.hostile_labels(tmp_path / "labels.txt")
    result = run_cli("eval", "--images", SAMPLES / "images", "--labels", labels, "--no-footage", *FAST)
    stderr = _clean(result, 0)
    for line in (2, 3, 4, 5):
        assert f"labels.txt:{line}" in stderr
    assert "inside the image folder" in stderr and "not UTF-8" in stderr
    assert len(stderr) < 5000  # the 5 MB line is not echoed
    assert "2 images" in result.stdout


def test_weights_that_are_a_folder_a_pickle_or_absurd_are_refused(tmp_path):
    stderr = _clean(run_cli("folder", SAMPLES / "images", "--weights", tmp_path), 1)
    assert "is a folder" in stderr
    marker = tmp_path / "unpickled"
    payload = hostile.pickle_weights(tmp_path / "evil.safetensors", marker)
    _clean(run_cli("folder", SAMPLES / "images", "--weights", payload), 1)
    assert not marker.exists()

    from safetensors.torch import load_file, save_file
    from pettrack.model.weights import METADATA_KEY, read_info, shipped_weights_path

    import json
    info = json.loads(read_info(shipped_weights_path("fast")).to_json())
    info["input_size"] = 1_000_000
    absurd = tmp_path / "absurd.safetensors"
    save_file(load_file(str(shipped_weights_path("fast"))), str(absurd), metadata={"format": "pt", METADATA_KEY: json.dumps(info)})
    assert "input size" in _clean(run_cli("folder", SAMPLES / "images", "--weights", absurd), 1)


# -- interrupts and unexpected errors ----------------------------------------------------------

def test_ctrl_c_during_start_up_exits_130_quietly(tmp_path):
    process = start_cli("folder", SAMPLES / "images", "--csv", *FAST)
    time.sleep(0.3)  # torch is still loading
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path):
    """A bug (here: one planted in run_folder) reaches the user as one line, not a traceback."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "import pettrack.pipelines.folder as folder\n"
        "def planted(*args, **kwargs):\n"
        "    raise RuntimeError('a planted bug')\n"
        "folder.run_folder = planted  # the folder command imports it when it runs\n"
        "from pettrack.pipelines.entry import main\n"
        "main()\n"
    )
    command = [sys.executable, "-c", program, "folder", str(SAMPLES / "images"), *FAST]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    stderr = _clean(result, 1)
    assert "a planted bug" in stderr and "--debug" in stderr
    result = subprocess.run([*command, "--debug"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr


def test_the_readme_table_gives_the_exit_codes_these_tests_check():
    """The README's 'What happens when...' table and this file agree on every exit code."""
    expected = {
        "a broken image": 0, "a file name that is not UTF-8": 0, "one video of several": 0,
        "every input fails": 1, "a truncated or damaged video": 0, "a bad label line": 0,
        "weights that are a folder": 1, "a bad option value": 2, "an output that is an input": 2,
        "an output that is a symbolic link": 0, "the disk fills up": 1, "Ctrl-C": 130, "a rerun": 0,
        "a bug in pettrack": 1,
    }
    text = (SAMPLES.parent / "README.md").read_text()
    table = text[text.index("### What happens when"):]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| what")]
    found = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for start, code in expected.items():
            if cells[0].startswith(start):
                found[start] = int(cells[-1])
    assert found == expected


def test_ctrl_c_while_the_plot_is_drawn_says_what_was_kept(tmp_path):
    """Ctrl-C after the tracking, during the plot and export stage: exit 130 with one line naming
    the complete results (here the interrupt is raised inside the plot, where a user's lands)."""
    import shutil
    import subprocess
    import sys

    shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "clip.mp4")
    program = (
        "import sys\n"
        "import pettrack.pipelines.track_plot as track_plot\n"
        "def interrupted(*args, **kwargs):\n"
        "    raise KeyboardInterrupt\n"
        "track_plot.plot_track = interrupted  # the video command imports it when it draws\n"
        "from pettrack.pipelines.entry import main\n"
        "main()\n"
    )
    command = [sys.executable, "-c", program, "video", str(tmp_path / "clip.mp4"), "--end", "0.5", *FAST]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    stderr = _clean(result, 130)
    assert "interrupted while making the plot and exports of" in stderr
    assert "clip.pettrack.csv" in stderr and "clip.pettrack.json" in stderr
    assert (tmp_path / "clip.pettrack.csv").is_file() and (tmp_path / "clip.pettrack.mp4").is_file()
    assert not list(tmp_path.glob("*.partial*"))


def test_a_folder_of_only_bad_images_says_nothing_was_written_and_keeps_the_earlier_csv(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    (images / "a.jpg").write_text("not a jpeg")
    earlier = tmp_path / "prev.csv"
    earlier.write_text("file,nose,x,y\nold.jpg,0,1,2\n")
    result = run_cli("folder", images, "--out", earlier, *FAST)
    stderr = _clean(result, 1)
    assert f"processed 0 of 1 images, nothing written to {earlier} (its earlier contents are kept)" in stderr
    assert "CSV in" not in stderr and earlier.read_text() == "file,nose,x,y\nold.jpg,0,1,2\n"


def test_a_name_of_megabytes_is_shown_shortened_on_one_line():
    from pettrack.pipelines.console import LONGEST_SHOWN, shown

    name = "a" * 5_000_000 + ".jpg"
    text = shown(name)
    assert len(text) < LONGEST_SHOWN and "(5,000,004 characters)" in text and text.endswith("a.jpg")
    assert shown("short.jpg") == "short.jpg"


def test_an_unreadable_video_is_skipped_and_listed_like_a_missing_one(tmp_path, monkeypatch):
    """Permission denied (made here by refusing the open: root reads any file) skips that input,
    lists it, and the run is done (exit 0) when the others are."""
    import errno

    from typer.testing import CliRunner

    from pettrack.pipelines.cli import app

    shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "a.mp4")
    shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "locked.mp4")
    real_open = av.open

    def refusing_open(path, *args, **kwargs):
        if str(path).endswith("locked.mp4"):
            raise av.error.PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(av, "open", refusing_open)
    result = CliRunner().invoke(app, ["video", str(tmp_path / "a.mp4"), str(tmp_path / "locked.mp4"),
                                      str(tmp_path / "absent.mp4"), "--no-video", "--no-plots", "--end", "0.5"])
    assert result.exit_code == 0, result.output
    assert "locked.mp4: not a readable video (Permission denied)" in result.output
    assert "1 of 3 videos done; 2 skipped" in result.output and "absent.mp4: no such file" in result.output
    assert (tmp_path / "a.pettrack.csv").is_file() and not (tmp_path / "locked.pettrack.csv").exists()


def test_library_notices_show_only_with_debug(tmp_path):
    """torch's deprecation warnings on a TorchScript export, ONNX progress lines and OpenCV's log
    lines are for developers: a user sees pettrack's own lines, and --debug shows the rest.
    (In processes of their own: a library says a notice once per process, and OpenCV reads its log
    level once.)"""
    exported = run_cli("export", "--format", "torchscript", "--out", tmp_path / "m.pt", "--weights", "fast", process=True)
    assert exported.returncode == 0 and exported.stdout == ""
    assert exported.stderr.strip().splitlines() == [line for line in exported.stderr.strip().splitlines()
                                                    if line.startswith("wrote ")]
    debug = run_cli("export", "--format", "torchscript", "--out", tmp_path / "d.pt", "--weights", "fast", "--debug",
                    process=True)
    assert debug.returncode == 0 and "FutureWarning" in debug.stderr
    camera = run_cli("camera", "7", "--frames", "1", "--weights", "fast", process=True)
    assert camera.returncode == 1 and "cannot open source 7" in camera.stderr
    assert "WARN" not in camera.stderr and "global " not in camera.stderr


@pytest.mark.parametrize("size, stage", [("128k", "the annotated video"), ("320k", "the plot")])
def test_a_disk_that_fills_halfway_keeps_the_whole_earlier_run(tmp_path, size, stage):
    """The CSV fits, then {stage} does not: no new file replaces its earlier one, so the folder
    never mixes two runs, and the message names what was not kept."""
    mount = tmp_path / "small"
    if not hostile.full_filesystem(mount, size):
        pytest.skip("cannot mount a small tmpfs here (needs root); the full-disk case is not tested")
    try:
        earlier = {f"clip.pettrack.{suffix}": f"earlier {suffix}".encode() for suffix in ("csv", "mp4", "png", "json")}
        for name, data in earlier.items():
            (mount / name).write_bytes(data)
        clip = shutil.copy(SAMPLES / "dog_4s.mp4", tmp_path / "clip.mp4")
        result = run_cli("video", clip, "--out-dir", mount, "--weights", "fast")
        assert result.returncode == 1 and "No space left on device" in result.stderr
        assert "none of its new results was kept (clip.pettrack.csv, clip.pettrack.mp4" in result.stderr
        assert {p.name: p.read_bytes() for p in mount.iterdir()} == earlier  # and no temp file left
    finally:
        hostile.release_filesystem(mount)
