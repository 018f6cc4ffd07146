"""Outputs the field reads (SLEAP, NWB, DeepLabCut), the plot of a run, the batch report in a real
browser, and pettrack.load_track: each made through the CLI as a user makes them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pettrack
from conftest import REPO, SAMPLES, run_cli
from pettrack.pipelines.exports import nwb_keys
from pettrack.pipelines.tables import RunRecord, TrackFileError, track_arrays
from synthetic import crossing_clip, sample_sprites

sio = pytest.importorskip("sleap_io", reason='exports need sleap-io and movement: pip install "pettrack[export]"')
load_poses = pytest.importorskip("movement.io.load_poses")

ARTIFACTS = Path(os.environ.get("PETTRACK_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))


def _run(video: Path, out: Path, *extra: str) -> Path:
    result = run_cli("video", video, "--out-dir", out, "--export", "slp,nwb,dlc", *extra)
    assert result.returncode == 0, result.stderr
    return out / f"{video.stem}.pettrack.csv"


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    return _run(SAMPLES / "dog_4s.mp4", tmp_path_factory.mktemp("single"), "--max-pets", "1")


@pytest.fixture(scope="module")
def two_pets(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("two")
    video = crossing_clip(sample_sprites(), seed=1).write(out / "crossing.mp4")
    return _run(video, out, "--report")


def _expected(csv: Path):
    arrays = track_arrays(pettrack.load_track(csv))
    coasting = np.isnan(arrays.confidence) & ~np.isnan(arrays.xy[:, :, 0])
    return arrays, np.where(coasting, 0.0, arrays.confidence)  # a coasting point is exported with confidence 0


@pytest.mark.parametrize("which", ["single", "two_pets"])
def test_exports_load_back_with_sleap_io_and_movement(which, request):
    csv = request.getfixturevalue(which)
    arrays, confidence = _expected(csv)
    record = RunRecord.read(csv.with_suffix(".json"))
    assert len(arrays.tracks) == 1 if which == "single" else len(arrays.tracks) >= 2
    frames, names = len(arrays.frames), [f"track_{t}" for t in arrays.tracks]

    # SLEAP: sleap-io and movement read the same points, one SLEAP track per pettrack track.
    slp = csv.with_suffix(".slp")
    labels = sio.load_file(str(slp))
    assert [t.name for t in labels.tracks] == names and labels.skeletons[0].node_names == ["nose"]
    assert Path(labels.videos[0].filename).name == Path(record.source).name  # the source video is referenced
    points = labels.numpy(return_confidence=True)  # (frames, tracks, nodes, x y score)
    assert points.shape[0] == frames
    np.testing.assert_allclose(points[:, :, 0, :2], arrays.xy, atol=1e-4)
    np.testing.assert_allclose(points[:, :, 0, 2], confidence, atol=1e-4)
    moved = load_poses.from_file(slp, source_software="SLEAP", fps=record.fps)
    assert moved.sizes["time"] == frames and list(moved.individuals.values) == names
    np.testing.assert_allclose(moved.position.values[:, :, 0, :].transpose(0, 2, 1), arrays.xy, atol=1e-4)

    # NWB (ndx-pose): every track has a row for every frame, at that frame's time from the video,
    # NaN where it has no point, so any reader puts every point at its own time.
    nwb = csv.with_suffix(".nwb")
    # sleap-io reads every frame with a nose and its points back, at its exact frame index (its NWB
    # reader does not restore track identities: movement, below, reads each track by name).
    labels = sio.load_file(str(nwb))
    present = ~np.isnan(arrays.xy[:, :, 0]).all(axis=1)
    read = sorted(labels.labeled_frames, key=lambda frame: frame.frame_idx)
    assert [frame.frame_idx for frame in read] == [int(f) for f in arrays.frames[present]]
    for frame, row in zip(read, np.flatnonzero(present)):
        got = sorted(tuple(np.round(i.numpy()[0], 3)) for i in frame.instances)
        want = sorted(tuple(np.round(xy, 3)) for xy in arrays.xy[row] if not np.isnan(xy).any())
        assert got == want, (frame.frame_idx, got, want)
    import pynwb

    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        written = io.read()
        for column, track in enumerate(arrays.tracks):
            keys = nwb_keys(record, csv, track)
            series = written.processing[keys["processing_module_key"]][keys["pose_estimation_key"]].pose_estimation_series["nose"]
            np.testing.assert_allclose(series.get_timestamps(), arrays.times, atol=1e-6)  # every frame's own time
            np.testing.assert_allclose(series.data[:], arrays.xy[:, column], atol=1e-4)  # NaN where no point
    first = load_poses.from_file(nwb, source_software="NWB")  # what a new user types: the first track
    np.testing.assert_allclose(first.position.values[:, :, 0, 0], arrays.xy[:, 0], atol=1e-4)
    gaps = 0
    for column, track in enumerate(arrays.tracks):
        one = load_poses.from_file(nwb, source_software="NWB", **nwb_keys(record, csv, track))
        present = ~np.isnan(arrays.xy[:, column, 0])
        gaps += int(np.any(np.diff(np.flatnonzero(present)) > 1)) + int(not present.all())
        # Every point at its frame's time, after a gap too (movement's time axis is evenly spaced
        # from the first timestamp: within half a frame of the video's own times).
        np.testing.assert_allclose(one.time.values, arrays.times, atol=0.5 / record.fps)
        np.testing.assert_allclose(one.position.values[:, :, 0, 0], arrays.xy[:, column], atol=1e-4)
        np.testing.assert_allclose(one.confidence.values[present, 0, 0], confidence[present, column], atol=1e-4)
    if which == "two_pets":
        assert gaps, "the crossing clip's tracks should have gaps (a track that starts late or ends early)"

    # DeepLabCut-style table: movement reads it, one individual per track.
    dlc = load_poses.from_file(csv.with_suffix(".dlc.csv"), source_software="DeepLabCut", fps=record.fps)
    assert dlc.sizes["time"] == frames and list(dlc.individuals.values) == names
    np.testing.assert_allclose(dlc.position.values[:, :, 0, :].transpose(0, 2, 1), arrays.xy, atol=1e-4)
    np.testing.assert_allclose(np.nan_to_num(dlc.confidence.values[:, 0, :], nan=0.0),
                               np.nan_to_num(confidence, nan=0.0), atol=1e-4)


def test_video_report_writes_the_page_beside_its_outputs(two_pets):
    page = (two_pets.parent / "pettrack-report.html").read_text()
    assert 'data-name="crossing"' in page and 'href="crossing.pettrack.csv"' in page


def test_the_plot_of_a_run_is_a_real_png(single):
    plot = single.with_suffix(".png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 50_000
    with Image.open(plot) as image:
        image.verify()
    with Image.open(plot) as image:
        assert image.size == (1400, 750)
        # Not a blank canvas: the representative frame and the curves make many colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 1000


def test_convert_an_earlier_run_and_no_plots(tmp_path):
    csv = tmp_path / "dog_4s.pettrack.csv"
    result = run_cli("video", SAMPLES / "dog_4s.mp4", "--out-dir", tmp_path, "--no-plots", "--no-video")
    assert result.returncode == 0, result.stderr
    assert csv.is_file() and not csv.with_suffix(".png").exists()
    converted = run_cli("convert", csv, "--to", "nwb,dlc", "--plot")
    assert converted.returncode == 0, converted.stderr
    assert csv.with_suffix(".nwb").is_file() and csv.with_suffix(".dlc.csv").is_file() and csv.with_suffix(".png").is_file()
    assert not csv.with_suffix(".slp").exists()
    bad = run_cli("convert", csv, "--to", "nwb,xls")
    assert bad.returncode == 2 and "xls" in bad.stderr
    not_ours = tmp_path / "other.csv"
    not_ours.write_text("a,b\n1,2\n")
    refused = run_cli("convert", not_ours, "--to", "nwb")
    assert refused.returncode == 1 and "not a pettrack track CSV" in refused.stderr


def test_without_the_export_libraries_export_says_how_to_install_them(tmp_path):
    code = ("import sys; sys.modules['sleap_io'] = None; sys.argv = ['pettrack'] + sys.argv[1:]\n"
            "from pettrack.pipelines.entry import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "video", str(SAMPLES / "dog_4s.mp4"), "--out-dir",
                             str(tmp_path), "--export", "nwb"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and 'pip install "pettrack[export]"' in result.stderr
    assert not list(tmp_path.iterdir())  # refused before any work


def test_load_track_is_the_scripting_api(single, tmp_path):
    track = pettrack.load_track(single)
    assert list(track.columns) == ["frame", "time_s", "track", "x", "y", "x_raw", "y_raw", "confidence", "state"]
    assert str(track["track"].dtype) == "Int64" and track["frame"].is_monotonic_increasing
    assert set(track["state"]) <= {"tracked", "predicted", "lost"}
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("file,nose,x,y\n")
    with pytest.raises(TrackFileError, match="not a pettrack track CSV"):
        pettrack.load_track(wrong)


def _chromium() -> str | None:
    return next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)


def test_the_report_page_in_a_real_browser(single, two_pets, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium; apt-get install chromium)")
    folder = tmp_path / "batch"
    folder.mkdir()
    for csv in (single, two_pets):  # two runs' results, as a batch folder holds them
        for made in csv.parent.glob(csv.name.removesuffix(".csv") + ".*"):
            shutil.copy(made, folder / made.name)
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_cli("report", empty)
    assert nothing.returncode == 1 and "no pettrack results" in nothing.stderr and not list(empty.iterdir())
    result = run_cli("report", folder)
    assert result.returncode == 0, result.stderr
    page = folder / "pettrack-report.html"
    assert "http://" not in page.read_text() and "https://" not in page.read_text()  # nothing from the network

    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run([browser, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console  # the page logs nothing: no errors, no warnings
    html = dom.stdout
    assert 'data-ready="yes"' in html  # the script ran to its end
    assert 'data-sorted-by="tracked:asc"' in html  # and sorted the rows, worst first
    for name in ("dog_4s", "crossing"):
        assert f'data-name="{name}"' in html
        for link in (f"{name}.pettrack.csv", f"{name}.pettrack.png", f"{name}.pettrack.mp4"):
            assert f'href="{link}"' in html
            assert (folder / link).is_file()
        assert f'<video controls="" preload="metadata" src="{name}.pettrack.mp4">' in html
    assert html.count('<tr class="run') == 2

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    taken = subprocess.run([browser, *flags, "--window-size=1400,900", f"--screenshot={shot}", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    assert taken.returncode == 0 and shot.stat().st_size > 20_000, taken.stderr[-2000:]
