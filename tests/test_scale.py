"""`--engine ray` on a real local Ray (127.0.0.1): same outputs as the local engine, a killed worker
retried, an interrupted job resumed, a corrupt input reported, and a clear message without Ray."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest

from conftest import REPO, SAMPLES, run_cli, start_cli
from synthetic import crossing_clip, sample_sprites, write_video

pytest.importorskip("ray", reason="the ray extra is not installed (pip install \".[ray]\")")

JOB = "pettrack-job.jsonl"


def records(folder):
    return [json.loads(line) for line in (folder / JOB).read_text().splitlines()]


def video_facts(path):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, stream.width, stream.height, stream.average_rate


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three short clips: a real one (the sample, cut to 1 s), two pets, and a plain pan."""
    folder = tmp_path_factory.mktemp("clips")
    pets = crossing_clip(sample_sprites(), seed=1, seconds=2.0)
    made = [pets.write(folder / "pets.mp4")]
    rng = np.random.default_rng(0)
    frames = [np.clip(rng.normal(120, 30, (120, 160, 3)), 0, 255).astype(np.uint8) for _ in range(20)]
    made.append(write_video(folder / "noise.mp4", frames, rate=Fraction(20)))
    subprocess.run([sys.executable, "-c", (
        "import av, sys\n"
        "src = av.open(sys.argv[1]); dst = av.open(sys.argv[2], 'w')\n"
        "s = dst.add_stream('libx264', rate=src.streams.video[0].average_rate)\n"
        "s.width, s.height, s.pix_fmt = 640, 360, 'yuv420p'\n"
        "for i, f in enumerate(src.decode(video=0)):\n"
        "    if i == 30: break\n"
        "    f.pts = None; [dst.mux(p) for p in s.encode(f)]\n"
        "[dst.mux(p) for p in s.encode(None)]; dst.close()\n"), str(SAMPLES / "dog_4s.mp4"), str(folder / "dog_1s.mp4")],
        check=True)
    made.append(folder / "dog_1s.mp4")
    return made


def test_ray_outputs_equal_the_local_engine_and_a_rerun_skips_them(clips, tmp_path):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    result = run_cli("video", *clips, "--out-dir", local)
    assert result.returncode == 0, result.stderr
    result = run_cli("video", *clips, "--out-dir", distributed, "--engine", "ray", "--actors", "2", process=True)
    assert result.returncode == 0, result.stderr
    for clip in clips:
        name = clip.stem
        assert (local / f"{name}.pettrack.csv").read_bytes() == (distributed / f"{name}.pettrack.csv").read_bytes()
        assert video_facts(local / f"{name}.pettrack.mp4") == video_facts(distributed / f"{name}.pettrack.mp4")
    done = records(distributed)
    assert sorted(r["input"] for r in done if r["status"] == "done") == sorted(str(c.resolve()) for c in clips)
    assert all(len(r["outputs"]) == 2 for r in done)
    assert "3 done" in result.stderr
    # The same command again: nothing to do, every input is complete.
    again = run_cli("video", *clips, "--out-dir", distributed, "--engine", "ray", process=True)
    assert again.returncode == 0, again.stderr
    assert "all 3 input(s) already complete" in again.stderr and len(records(distributed)) == 3
    assert again.stderr.count("\n") == 1, again.stderr  # one line, no empty progress bar
    # An output changed since: that input alone is done again.
    (distributed / "noise.pettrack.csv").write_text("edited\n")
    again = run_cli("video", *clips, "--out-dir", distributed, "--engine", "ray", process=True)
    assert again.returncode == 0, again.stderr
    assert "1 done" in again.stderr and "2 already complete" in again.stderr
    assert (distributed / "noise.pettrack.csv").read_bytes() == (local / "noise.pettrack.csv").read_bytes()


def _worker_pids():
    """Processes running a VideoWorker task (Ray names them ray::VideoWorker.track)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if b"VideoWorker.track" in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_a_killed_worker_is_retried_and_every_output_is_whole(clips, tmp_path):
    out = tmp_path / "out"
    process = start_cli("video", *clips, "--out-dir", out, "--engine", "ray", "--actors", "1")
    deadline, killed = time.monotonic() + 180, None
    while killed is None and time.monotonic() < deadline and process.poll() is None:
        pids = _worker_pids()
        if pids:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    _, stderr = process.communicate(timeout=300)
    assert killed is not None, "no worker was seen running a video"
    assert process.returncode == 0, stderr
    job = records(out)
    assert any(r["status"] == "retry" and "worker died" in r["error"] for r in job)
    assert sorted(r["input"] for r in job if r["status"] == "done") == sorted(str(c.resolve()) for c in clips)
    for clip in clips:
        rows = list(csv.DictReader(open(out / f"{clip.stem}.pettrack.csv")))
        assert rows and video_facts(out / f"{clip.stem}.pettrack.mp4")[0] == len({r["frame"] for r in rows})
    assert "retried" in stderr


def test_an_interrupted_job_resumes_with_the_inputs_left(clips, tmp_path):
    out = tmp_path / "out"
    process = start_cli("video", *clips, "--out-dir", out, "--engine", "ray", "--actors", "1")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        if (out / JOB).exists() and any(r["status"] == "done" for r in records(out)):
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    first = [r["input"] for r in records(out) if r["status"] == "done"]
    assert 1 <= len(first) < len(clips)
    result = run_cli("video", *clips, "--out-dir", out, "--engine", "ray", process=True)
    assert result.returncode == 0, result.stderr
    assert f"{len(first)} already complete" in result.stderr
    second = [r["input"] for r in records(out) if r["status"] == "done"]
    assert sorted(second) == sorted(str(c.resolve()) for c in clips) and not set(first) & set(second[len(first):])


def test_a_corrupt_input_is_reported_and_the_good_ones_are_written(clips, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"# a job list\n{clips[1]}\nbroken.mp4\n\n{clips[2]}\n")
    out = tmp_path / "out"
    result = run_cli("video", "--manifest", listing, "--out-dir", out, "--engine", "ray", process=True)
    assert result.returncode == 0, result.stderr  # some inputs done: success, the failure listed
    assert "broken.mp4" in result.stderr and "1 failed" in result.stderr
    job = {r["input"]: r for r in records(out)}
    assert job[str(bad.resolve())]["status"] == "failed" and job[str(bad.resolve())]["error"]
    for clip in clips[1:]:
        assert job[str(clip.resolve())]["status"] == "done" and (out / f"{clip.stem}.pettrack.csv").exists()


def test_folder_on_ray_equals_the_local_engine(tmp_path):
    local = run_cli("folder", SAMPLES / "images", "--csv", "--backend", "torch")
    distributed = run_cli("folder", SAMPLES / "images", "--csv", "--backend", "torch", "--engine", "ray",
                          "--actors", "2", "--chunk", "3", process=True)
    assert local.returncode == 0 and distributed.returncode == 0, distributed.stderr
    assert distributed.stdout == local.stdout


def test_without_ray_the_engine_says_how_to_install_it(clips, tmp_path):
    code = ("import sys; sys.modules['ray'] = None; sys.argv = ['pettrack'] + sys.argv[1:]\n"
            "from pettrack.pipelines.entry import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "video", str(clips[1]), "--out-dir", str(tmp_path),
                             "--engine", "ray"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert 'pip install "pettrack[ray]"' in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written
