"""`pettrack video` as a user runs it: output contract, bad input, truncation, Ctrl-C."""

import csv
import shutil
import signal
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import SAMPLES, run_cli, start_cli
from synthetic import write_audio_only, write_video

CLIP = SAMPLES / "dog_4s.mp4"
COLUMNS = ["frame", "time_s", "track", "x", "y", "x_raw", "y_raw", "confidence", "state"]


def video_facts(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, stream.codec_context.width, stream.codec_context.height, stream.average_rate, stream.codec_context.name


def read_rows(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_output_contract_on_the_29_97_fps_sample(tiny_weights, tmp_path):
    result = run_cli("video", CLIP, "--out-dir", tmp_path, "--end", "2", "--weights", tiny_weights, "--raw")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "dog_4s.pettrack.csv")
    assert [int(r["frame"]) for r in rows] == list(range(60))
    times = [float(r["time_s"]) for r in rows]
    assert times[0] == 0 and all(b > a for a, b in zip(times, times[1:]))
    assert times[30] == pytest.approx(30 * 1001 / 30000, abs=1e-3)
    assert all(r["state"] in ("tracked", "predicted", "lost") for r in rows)
    assert all(r["x_raw"] and r["confidence"] for r in rows if r["state"] == "tracked")
    frames, width, height, rate, codec = video_facts(tmp_path / "dog_4s.pettrack.mp4")
    assert (frames, width, height, rate) == (60, 640, 360, Fraction(30000, 1001))
    assert codec == "h264"
    assert "H.264" in result.stderr and "frames/s" in result.stderr


def test_whole_odd_sized_video_and_explicit_outputs(tiny_weights, tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (61, 99, 3), dtype=np.uint8) for _ in range(17)]
    source = write_video(tmp_path / "odd.mp4", frames, rate=Fraction(25))
    result = run_cli("video", source, "--csv", tmp_path / "a.csv", "--video", tmp_path / "b.mp4",
                     "--weights", tiny_weights, "--heatmap", "--workers", "1", "--batch-size", "5")
    assert result.returncode == 0, result.stderr
    assert len(read_rows(tmp_path / "a.csv")) == 17
    # yuv420p (browsers play it) needs even sizes: padded by one pixel; the CSV keeps the source's pixels.
    assert video_facts(tmp_path / "b.mp4")[:4] == (17, 100, 62, Fraction(25))
    with av.open(str(tmp_path / "b.mp4")) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_rotated_phone_video_is_processed_upright(tiny_weights, tmp_path):
    frames = [np.full((48, 64, 3), 120, np.uint8) for _ in range(8)]
    source = write_video(tmp_path / "phone.mp4", frames, rotation=90)
    result = run_cli("video", source, "--out-dir", tmp_path, "--weights", tiny_weights)
    assert result.returncode == 0, result.stderr
    assert "rotated 90" in result.stderr
    _, width, height, _, _ = video_facts(tmp_path / "phone.pettrack.mp4")
    assert (width, height) == (48, 64)
    for row in read_rows(tmp_path / "phone.pettrack.csv"):
        assert float(row["x_raw"]) <= 47 and float(row["y_raw"]) <= 63


def test_bad_inputs_are_named_and_the_good_one_still_runs(tiny_weights, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    audio = write_audio_only(tmp_path / "song.m4a")
    good = shutil.copy(CLIP, tmp_path / "good.mp4")
    result = run_cli("video", tmp_path / "missing.mp4", text, audio, good, "--end", "0.5", "--no-video",
                     "--weights", tiny_weights)
    assert result.returncode == 0  # the job was done for the one good video; the skips are listed
    assert "missing.mp4: no such file" in result.stderr
    assert "notes.mp4: not a readable video" in result.stderr
    assert "song.m4a: no video stream (contains audio)" in result.stderr
    assert "1 of 4 videos done; 3 skipped" in result.stderr
    assert len(read_rows(tmp_path / "good.pettrack.csv")) == 15
    assert not (tmp_path / "good.pettrack.mp4").exists()  # --no-video
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])  # one PyAV pass; decord chunks, then PyAV past the break
def test_truncated_video_keeps_the_frames_before_the_error(tiny_weights, tmp_path, workers):
    data = CLIP.read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: int(len(data) * 0.6)])  # moov is at the front (faststart): frames go missing
    result = run_cli("video", broken, "--out-dir", tmp_path, "--weights", tiny_weights, "--workers", workers)
    assert result.returncode == 0, result.stderr
    assert "broken.mp4" in result.stderr and "frame" in result.stderr and "kept" in result.stderr
    rows = read_rows(tmp_path / "broken.pettrack.csv")
    assert 10 < len(rows) < 120
    assert [int(r["frame"]) for r in rows] == list(range(len(rows)))
    assert video_facts(tmp_path / "broken.pettrack.mp4")[0] == len(rows)


def test_ctrl_c_leaves_a_valid_csv_and_a_playable_video(tiny_weights, tmp_path):
    # A long input (the sample clip played 6 times) so the interrupt lands mid-way.
    with av.open(str(CLIP)) as container:
        clip = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    source = write_video(tmp_path / "long.mp4", clip * 6, rate=Fraction(30000, 1001))
    process = start_cli("video", source, "--weights", tiny_weights, "--batch-size", "4")
    partial = tmp_path / ".long.pettrack.csv.partial.csv"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if partial.exists() and partial.stat().st_size > 2000:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    rows = read_rows(tmp_path / "long.pettrack.csv")
    assert 0 < len(rows) < 720
    assert [int(r["frame"]) for r in rows] == list(range(len(rows)))
    frames, width, height, rate, _ = video_facts(tmp_path / "long.pettrack.mp4")
    assert (frames, width, height, rate) == (len(rows), 640, 360, Fraction(30000, 1001))
    assert not list(tmp_path.glob(".*partial*"))


def test_tracking_a_moving_pet_with_the_default_model(tmp_path):
    """A sample photo panned and zoomed along a known path: the smoothed track stays near the
    truth and is much steadier than the raw detections."""
    from PIL import Image

    from synthetic import moving_sample_frames

    image = np.asarray(Image.open(SAMPLES / "images" / "Persian_2.jpg").convert("RGB"))
    nose = np.array([111.0, 69.0, 1.0])  # samples/noses.txt
    frames, transforms = moving_sample_frames(image, 90, size=(320, 240))
    truth = np.array([m @ nose for m in transforms])
    source = write_video(tmp_path / "pan.mp4", frames, rate=Fraction(30))
    # One pet: follow its best peak (a second peak on this cat's eye reaches the presence threshold
    # on a few frames; several pets are tests/test_multi_pet.py's business).
    result = run_cli("video", source, "--out-dir", tmp_path, "--no-video", "--max-pets", "1")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "pan.pettrack.csv")
    assert len(rows) == 90
    smooth = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    raw = np.array([[float(r["x_raw"]), float(r["y_raw"])] for r in rows])
    error = np.hypot(*(smooth - truth).T)
    assert np.median(error) < 8.0 and np.percentile(error, 90) < 15.0  # px on a 320x240 video

    def jitter(xy):
        return np.mean(np.abs(np.diff(xy, n=2, axis=0)))

    assert jitter(smooth) < 0.5 * jitter(raw)


def test_one_pixel_video(tiny_weights, tmp_path):
    source = write_video(tmp_path / "dot.mp4", [np.full((1, 1, 3), 100, np.uint8)] * 5, rate=Fraction(25))
    result = run_cli("video", source, "--out-dir", tmp_path, "--weights", tiny_weights)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "dot.pettrack.csv")
    assert len(rows) == 5 and all(float(r["x_raw"]) == 0 and float(r["y_raw"]) == 0 for r in rows)
    assert video_facts(tmp_path / "dot.pettrack.mp4")[:3] == (5, 2, 2)  # padded to yuv420p's even sizes


@pytest.mark.parametrize("suffix, container, codec", [
    (".mkv", "matroska", "libx264"), (".webm", "webm", "libvpx-vp9"), (".h264", "h264", "libx264"),
])
def test_containers_without_a_frame_count_are_decoded_to_their_end(tiny_weights, tmp_path, suffix, container, codec):
    """OBS, screen recorders and browsers write MKV and WebM, cameras raw H.264: their containers
    carry no frame count, and every frame that decodes is tracked and drawn."""
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(23)]
    source = tmp_path / f"clip{suffix}"
    with av.open(str(source), "w", format=container) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    result = run_cli("video", source, "--weights", tiny_weights, "--no-plots")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "clip.pettrack.csv")
    assert sorted({int(r["frame"]) for r in rows}) == list(range(23))
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times) and times[-1] == pytest.approx(22 / 25, abs=0.01)  # raw H.264 too: k / rate
    assert video_facts(tmp_path / "clip.pettrack.mp4")[0] == 23


def test_a_rerun_over_a_folder_with_results_skips_pettracks_own_outputs(tiny_weights, tmp_path):
    """`pettrack video *.mp4` again in the same folder: the glob now names NAME.pettrack.mp4 too."""
    clip = tmp_path / "clip.mp4"
    shutil.copy(SAMPLES / "dog_4s.mp4", clip)
    first = run_cli("video", clip, "--weights", tiny_weights, "--end", "0.3", "--no-plots")
    assert first.returncode == 0, first.stderr
    again = run_cli("video", *sorted(tmp_path.glob("*.mp4")), "--weights", tiny_weights, "--end", "0.3", "--no-plots")
    assert again.returncode == 0, again.stderr
    assert "skipped 1 of pettrack's own outputs (NAME.pettrack.*): clip.pettrack.mp4" in again.stderr
    assert not (tmp_path / "clip.pettrack.pettrack.csv").exists()
    alone = run_cli("video", tmp_path / "clip.pettrack.mp4", "--weights", tiny_weights)
    assert alone.returncode == 2 and "every input is one of pettrack's own outputs" in alone.stderr


def test_a_run_without_a_nose_writes_strict_json(tiny_weights, tmp_path):
    """The run record of a run that tracked nothing has no NaN (a browser's JSON.parse refuses it)."""
    import json

    source = write_video(tmp_path / "grey.mp4", [np.full((32, 48, 3), 100, np.uint8)] * 5, rate=Fraction(25))
    result = run_cli("video", source, "--out-dir", tmp_path, "--weights", tiny_weights, "--min-confidence", "1", "--no-video")
    assert result.returncode == 0, result.stderr

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    record = json.loads((tmp_path / "grey.pettrack.json").read_text(), parse_constant=refuse)
    assert record["tracks"] == 0 and record["mean_confidence"] is None


@pytest.mark.parametrize("size", [(64, 48), (63, 47)])  # odd sizes are padded to even ones, both yuv420p
def test_video_writer_keeps_colours(tmp_path, size):
    from pettrack.pipelines.video_io import VideoWriter

    colours = [(255, 40, 160), (20, 200, 90), (128, 128, 128)]
    width, height = size
    with VideoWriter(tmp_path / "colours.mp4", width, height, Fraction(30)) as writer:
        for colour in colours:
            writer.write(np.full((height, width, 3), colour, np.uint8))
    with av.open(str(tmp_path / "colours.mp4")) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == len(colours)
    for image, colour in zip(decoded, colours):
        assert image.shape[:2] == (height + height % 2, width + width % 2)
        assert np.abs(image[height // 2, width // 2].astype(int) - colour).max() <= 6
        assert np.abs(image[-1, -1].astype(int) - colour).max() <= 6  # the padding copies the edge


def _changing_frames(count: int, size=(160, 120)):
    """Frames that differ from each other everywhere (a moving gradient plus a frame counter)."""
    width, height = size
    xs = np.arange(width)[None, :, None]
    ys = np.arange(height)[:, None, None]
    frames = []
    for i in range(count):
        image = ((xs * 2 + ys + i * 7) % 256).astype(np.uint8).repeat(3, axis=2)
        image[:, :, 1] = (i * 37) % 256
        frames.append(np.ascontiguousarray(image))
    return frames


DECODE_CASES = {
    "h264": dict(codec="libx264", options={"g": "30", "bf": "2"}),
    "hevc-open-gop": dict(codec="libx265", options={"x265-params": "keyint=24:min-keyint=24:open-gop=1:bframes=3:log-level=error"}),
    "vfr": dict(codec="libx264", options={"g": "30"}, pts=list(np.cumsum([1 + i % 3 for i in range(120)]) - 1), rate=Fraction(60)),
    "rotated": dict(codec="libx264", options={"g": "30"}, rotation=90),
    "trimmed": dict(codec="libx264", options={"g": "30", "bf": "2"}, hidden=20),
}


def trimmed(source, hidden: int):
    """`source` cut at its frame `hidden` the way editors and `ffmpeg -ss ... -c copy` cut without
    re-encoding: every packet kept, timestamps moved back so the first `hidden` frames fall
    before 0, which the MP4 muxer writes as an edit list that hides them (it keeps the packets
    from the keyframe the first shown frame needs)."""
    out = source.with_name(f"{source.stem}.trimmed{source.suffix}")
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        stream = src.streams.video[0]
        copy = dst.add_stream_from_template(stream)
        shift = int(hidden / stream.average_rate / stream.time_base)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue  # the flush packet
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = copy
            dst.mux(packet)
    return out


@pytest.mark.parametrize("case", sorted(DECODE_CASES))
def test_parallel_decoding_returns_exactly_the_sequential_frames(tmp_path, case):
    import hashlib

    from pettrack.pipelines.video_io import parallel_frames, probe

    spec = dict(DECODE_CASES[case])
    hidden = spec.pop("hidden", 0)
    if spec["codec"] not in av.codecs_available:
        pytest.skip(f"{spec['codec']} is not in this PyAV build")
    source = write_video(tmp_path / f"{case}.mp4", _changing_frames(120), **{"rate": 25, **spec})
    if hidden:
        source = trimmed(source, hidden)
    info = probe(source)
    assert info.frame_count == 120 - hidden and (info.lead_in > 0) == bool(hidden)

    def digest(frame):
        return frame.index, round(frame.time_s, 6), hashlib.md5(frame.rgb.tobytes()).hexdigest()

    sequential = list(parallel_frames(info, 0, info.frame_count, 1, digest))
    notes = []
    parallel = list(parallel_frames(info, 0, info.frame_count, 3, digest, on_note=notes.append))
    assert len(sequential) == 120 - hidden
    assert parallel == sequential
    assert sequential[0][:2] == (0, 0.0)
    # The reference: PyAV decoding the whole file in order, turned upright like the readers do.
    with av.open(str(source)) as container:
        reference = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if case == "rotated":
        reference = [np.ascontiguousarray(np.rot90(image, 1)) for image in reference]
    assert [d[2] for d in sequential] == [hashlib.md5(image.tobytes()).hexdigest() for image in reference]
    if case == "hevc-open-gop":
        assert notes and "open-GOP" in notes[0]
    if hidden:
        assert notes and f"edit list hides the first {info.lead_in} stored frames" in notes[0]


def test_a_trimmed_clip_is_tracked_on_the_frames_and_times_it_shows(tiny_weights, tmp_path):
    """A clip cut without re-encoding keeps the frames before the cut, hidden by its edit list.
    They are neither tracked nor counted: row k is the k-th frame a player shows, at its time,
    and the annotated video has the same frames (it failed as "lost step with the CSV")."""
    source = trimmed(write_video(tmp_path / "clip.mp4", _changing_frames(80, (96, 64)), rate=25,
                                 codec="libx264", options={"g": "30", "bf": "2"}), 20)
    result = run_cli("video", source, "--out-dir", tmp_path, "--weights", tiny_weights, "--raw", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "its edit list hides the first" in result.stderr  # two workers were asked for; one decodes
    rows = read_rows(tmp_path / "clip.trimmed.pettrack.csv")
    shown = _frame_times(source)
    assert len(shown) == 60
    assert [int(r["frame"]) for r in rows] == list(range(60))
    assert [float(r["time_s"]) for r in rows] == pytest.approx(shown, abs=1e-3)
    assert _frame_times(tmp_path / "clip.trimmed.pettrack.mp4") == pytest.approx(shown, abs=1e-3)


def _frame_times(path):
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(video=0)]


def test_variable_frame_rate_clip_keeps_every_frame_time_and_its_sound(tiny_weights, tmp_path):
    """The annotated video is the source, annotated: same frames, each at its own time (a VFR
    phone clip is not re-timed at its average rate), and the sound copied."""
    steps = [1 + (i % 4 == 0) * 2 for i in range(60)]  # 1/60 s mostly, every fourth frame 3/60 s
    pts = list(np.cumsum(steps) - steps[0])
    source = write_video(tmp_path / "vfr.mp4", _changing_frames(60, (96, 64)), rate=Fraction(60),
                         pts=pts, audio=True)
    result = run_cli("video", source, "--out-dir", tmp_path, "--weights", tiny_weights)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "vfr.pettrack.csv")
    out = tmp_path / "vfr.pettrack.mp4"
    source_times, out_times = _frame_times(source), _frame_times(out)
    assert len(rows) == len(source_times) == len(out_times) == 60
    assert out_times == pytest.approx(source_times, abs=1e-3)
    assert [float(r["time_s"]) for r in rows] == pytest.approx(source_times, abs=1e-3)
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams.audio] == ["aac"]
        audio_packets = sum(1 for _ in container.demux(container.streams.audio[0]))
    with av.open(str(source)) as container:
        assert audio_packets >= sum(1 for p in container.demux(container.streams.audio[0]) if p.size) - 2


def test_rotated_clip_frames_rows_and_input_agree(tiny_weights, tmp_path):
    source = write_video(tmp_path / "phone.mp4", _changing_frames(40, (64, 48)), rotation=270)
    result = run_cli("video", source, "--out-dir", tmp_path, "--weights", tiny_weights, "--workers", "2")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "phone.pettrack.csv")
    frames, width, height, _, _ = video_facts(tmp_path / "phone.pettrack.mp4")
    assert len(rows) == frames == 40 and (width, height) == (48, 64)


def test_tracker_settings_from_the_command_line(tiny_weights, tmp_path):
    settings = tmp_path / "strict.toml"
    settings.write_text("min_confidence = 1.0\n")  # no detection is ever good enough: every frame lost
    result = run_cli("video", CLIP, "--out-dir", tmp_path, "--end", "0.5", "--no-video", "--weights", tiny_weights,
                     "--tracker", settings)
    assert result.returncode == 0, result.stderr
    assert {r["state"] for r in read_rows(tmp_path / "dog_4s.pettrack.csv")} == {"lost"}
    settings.write_text("min_confidence = 2\n")
    result = run_cli("video", CLIP, "--out-dir", tmp_path / "x", "--no-video", "--tracker", settings)
    assert result.returncode == 2 and "min_confidence" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_the_annotated_video_of_an_odd_sized_clip_plays_in_chromium(tmp_path):
    """Browsers play H.264 in yuv420p only: an odd-sized clip's annotated video is padded by an
    edge pixel to stay yuv420p, and a real Chromium decodes its frames."""
    import functools
    import http.server
    import threading

    from browser import Browser, find_browser

    executable = find_browser()
    if executable is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium; apt-get install chromium)")
    source = write_video(tmp_path / "odd.mp4", _changing_frames(20, (63, 47)))
    result = run_cli("video", source, "--weights", "fast", "--no-plots")
    assert result.returncode == 0, result.stderr
    (tmp_path / "page.html").write_text(
        '<video id="v" src="odd.pettrack.mp4" preload="auto" muted></video><script>'
        'const v = document.getElementById("v");'
        'v.addEventListener("loadeddata", () => { window.result = {width: v.videoWidth, height: v.videoHeight}; });'
        'v.addEventListener("error", () => { window.result = {error: v.error ? v.error.code : -1}; });</script>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Browser(executable) as browser:
            browser.open(f"http://127.0.0.1:{server.server_address[1]}/page.html")
            assert browser.wait_for("window.result") == {"width": 64, "height": 48}
    finally:
        server.shutdown()
        server.server_close()


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the process's memory from /proc")
def test_a_video_read_in_one_pass_stays_in_bounded_memory_behind_a_slow_model(tmp_path):
    """One decoder through a whole clip (one worker here; open-GOP phone video and short clips
    likewise) must not run ahead of the model without bound. decord's reader did: 7 GB for
    112 s of 720p; here, 400 frames of 640x360 behind a model taking 4 ms a frame, it held
    about 200 MB more."""
    from pettrack.pipelines.video_io import parallel_frames, probe

    frames = _changing_frames(8, (640, 360))
    source = write_video(tmp_path / "long.mp4", [frames[i % 8] for i in range(400)], rate=25,
                         codec="libx264", options={"g": "50"})
    info = probe(source)
    baseline, peak, count = _rss_mib(), 0.0, 0
    for _ in parallel_frames(info, 0, info.frame_count, 1, lambda frame: frame.index):
        time.sleep(0.004)
        count += 1
        peak = max(peak, _rss_mib())
    assert count == 400
    assert peak - baseline < 60, f"memory grew by {peak - baseline:.0f} MiB while decoding"
