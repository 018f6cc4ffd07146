"""`pettrack label`: the frames it proposes, the labels file it keeps, its server, and its page in a
real headless browser, through the command as a user runs it."""

from __future__ import annotations

import csv
import http.client
import json
import signal
import threading

import numpy as np
import pytest
from browser import Browser, find_browser
from conftest import SAMPLES, start_cli
from synthetic import write_video

from pettrack.model.frames import clip_frames, load_frames, read_frame_labels
from pettrack.pipelines.labeling import (
    Answer, FrameCheck, Guess, LabelServer, LabelSession, LabelStore, Pick, check_answer, pick_frames, unsureness,
)

CLIP = SAMPLES / "dog_4s.mp4"
BROWSER = find_browser()
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no Chromium here (apt install chromium)")


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --- choosing frames ---------------------------------------------------------------------------

def _check(index, confidence=0.95, gap=0.0, jump=float("nan"), breaks=False):
    return FrameCheck(index, (Guess(100.0, 50.0, confidence),), gap, jump, breaks)


def test_unsure_frames_are_picked_with_their_reason_and_the_rest_evenly_spaced():
    checks = [_check(i) for i in range(0, 300, 3)]
    checks[10] = _check(30, confidence=0.70)  # at the threshold
    checks[50] = _check(150, gap=0.30)  # the mirror image disagrees
    checks[80] = _check(240, jump=0.40)  # the track jumps
    checks[95] = _check(285, confidence=0.1, breaks=True)  # the track breaks
    picked = pick_frames(checks, 9, threshold=0.7)
    assert len(picked) == 9 and [c.index for c, _ in picked] == sorted(c.index for c, _ in picked)
    reasons = {c.index: reason for c, reason in picked}
    assert "near the threshold" in reasons[30] and "mirror" in reasons[150] and "jumps" in reasons[240] and "breaks" in reasons[285]
    assert sum(r == "evenly spaced" for r in reasons.values()) >= 3
    assert unsureness(_check(0, confidence=0.99), 0.7)[0] == 0.0


def test_unsure_picks_keep_apart():
    checks = [_check(i, confidence=0.7) for i in range(100)]  # all equally unsure
    picked = [c.index for c, _ in pick_frames(checks, 5, threshold=0.7)]
    assert len(picked) == 5 and min(np.diff(picked)) >= 10


# --- the labels file ---------------------------------------------------------------------------

def _pick(frame=3, width=64, height=48):
    return Pick("clip.mp4", frame, width, height, "evenly spaced", (Guess(10, 10, 0.9),))


def test_the_store_rewrites_its_rows_and_keeps_what_it_does_not_manage(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,clip,frame,width,height,visible,noses,labellers\n"
                      ",other.mp4,7,10,10,yes,1 1,2\n"
                      ",clip.mp4,3,64,48,no,,1\n"
                      "garbage row\n")
    store = LabelStore(labels)
    assert store.answer(_pick().key) == Answer("no", ())
    store.save(_pick(), Answer("yes", ((10.5, 20.0), (30.0, 40.25))))
    rows = _rows(labels)
    assert rows[0]["clip"] == "other.mp4" and rows[0]["labellers"] == "2"
    assert rows[1]["visible"] == "yes" and rows[1]["noses"] == "10.5 20.0;30.0 40.2" and rows[1]["labellers"] == "1"
    assert rows[2]["file"] == "garbage row"  # a row it cannot read is kept as it was
    store.save(_pick(), None)
    assert [r["clip"] or r["file"] for r in _rows(labels)] == ["other.mp4", "garbage row"]
    assert LabelStore(labels).answer(_pick().key) is None
    assert not list(tmp_path.glob("*.partial*")) and not list(tmp_path.glob(".*"))  # written atomically


def test_answers_are_checked_before_they_are_saved():
    pick = _pick()
    assert check_answer(pick, {"visible": "yes", "noses": [[63.4, 47.9]]}) == Answer("yes", ((63.4, 47.9),))
    assert check_answer(pick, {"clear": True}) is None
    for body, says in [({"visible": "yes", "noses": [[64, 1]]}, "outside the 64x48 frame"),
                       ({"visible": "yes", "noses": []}, "at least one point"),
                       ({"visible": "no", "noses": [[1, 1]]}, "at least one point"),
                       ({"visible": "maybe"}, "yes or no"),
                       ({"visible": "yes", "noses": [["1", 2]]}, "[x, y]")]:
        with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("]", r"\]")):
            check_answer(pick, body)


# --- the server --------------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    session = LabelSession([_pick()], [b"\xff\xd8jpeg"], LabelStore(tmp_path / "labels.csv"), 0.7)
    server = LabelServer(session)
    thread = threading.Thread(target=server.run_until_done)
    thread.start()
    yield server
    session.done.set()
    thread.join(10)
    assert not thread.is_alive()


def _request(server, method, path, body=None, host=None):
    port = server.server_address[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{port}", "Content-Type": "application/json"}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_the_server_listens_on_localhost_only_and_serves_nothing_else(server, tmp_path):
    assert server.server_address[0] == "127.0.0.1"
    assert _request(server, "GET", "/frame/0.jpg") == (200, b"\xff\xd8jpeg")
    for path in ("/frame/1.jpg", "/frame/../../etc/passwd", "/../labels.csv", "/frame/-1.jpg", "/labels.csv",
                 "/frame/0.jpg/../../../etc/passwd", "//etc/passwd"):
        assert _request(server, "GET", path)[0] == 404, path
    assert _request(server, "GET", "/", host="evil.example:80")[0] == 403  # DNS rebinding
    assert _request(server, "POST", "/api/answer", {"id": 0, "visible": "yes", "noses": [[5, 5]]},
                    host="evil.example")[0] == 403
    status, data = _request(server, "POST", "/api/answer", {"id": 0, "visible": "yes", "noses": [[500, 5]]})
    assert status == 400 and b"outside" in data and not (tmp_path / "labels.csv").exists()
    assert _request(server, "POST", "/api/answer", {"id": 7, "visible": "no"})[0] == 400
    assert _request(server, "POST", "/api/answer", {"id": 0, "visible": "yes", "noses": [[5, 6]]})[0] == 200
    assert _rows(tmp_path / "labels.csv")[0]["noses"] == "5.0 6.0"
    status, data = _request(server, "GET", "/api/session")
    assert status == 200 and json.loads(data)["answers"] == {"0": {"visible": "yes", "noses": [[5.0, 6.0]]}}


def test_done_stops_the_server(server):
    assert _request(server, "POST", "/api/done", {})[0] == 200
    assert server.session.done.wait(5)


# --- the page, through the command -------------------------------------------------------------

def _start_label(*args):
    process = start_cli("label", *args, "--no-browser")
    line = process.stdout.readline()
    assert line.startswith("open http://127.0.0.1:"), line + process.stderr.read()
    return process, line.split()[1]


def _ready(browser, index):
    browser.wait_for(f"window.pettrack && window.pettrack.state.ready && window.pettrack.state.index === {index}")


def _click_image(browser, x, y):
    # At a whole CSS pixel (mouse events carry whole pixels): the answer is where that pixel lands.
    cx, cy = (round(v) for v in browser.evaluate(f"window.pettrack.imageToClient({x}, {y})"))
    browser.click(cx, cy)
    return browser.evaluate(f"window.pettrack.clientToImage({cx}, {cy})")


@needs_browser
def test_label_page_in_a_real_browser(tiny_weights, tmp_path):
    labels = tmp_path / "labels.csv"
    process, url = _start_label(CLIP, "--labels", labels, "--frames", "6", "--weights", tiny_weights)
    try:
        with Browser(BROWSER) as browser:
            browser.open(url)
            _ready(browser, 0)
            frames = browser.evaluate("window.pettrack.state.frames")
            assert len(frames) == 6 and all(f["reason"] for f in frames)
            clicked = _click_image(browser, 407.5, 121.5)
            browser.wait_for("window.pettrack.state.pending === 0 && Object.keys(window.pettrack.state.answers).length === 1")
            second = _click_image(browser, 100.0, 300.0)  # a second pet's nose on the same frame
            browser.press("ArrowRight")
            _ready(browser, 1)
            browser.press("n")  # no nose: saved, and the page moves on
            _ready(browser, 2)
            _click_image(browser, 200, 100)
            browser.wait_for("Object.keys(window.pettrack.state.answers).length === 3")
            browser.press("z")  # undo that click: the frame has no answer again
            browser.wait_for("window.pettrack.state.pending === 0 && Object.keys(window.pettrack.state.answers).length === 2")
            rows = _rows(labels)
            assert [(r["clip"], int(r["frame"]), r["visible"]) for r in rows] == [  # a clip outside the labels' folder: absolute
                (str(CLIP), frames[0]["frame"], "yes"), (str(CLIP), frames[1]["frame"], "no")]
            noses = [tuple(map(float, n.split())) for n in rows[0]["noses"].split(";")]
            assert np.allclose(noses, [clicked, second], atol=0.06)
            assert noses[0] == pytest.approx((407.5, 121.5), abs=1.5)  # pixel coordinates of the 640x360 frame
            browser.screenshot(tmp_path / "label.png")
            assert (tmp_path / "label.png").stat().st_size > 10_000

            browser.reload()  # what was answered is still there, and the page opens at the first open frame
            _ready(browser, 2)
            answers = browser.evaluate("window.pettrack.state.answers")
            assert answers["0"]["noses"] == [list(n) for n in noses] and answers["1"]["visible"] == "no"
            browser.evaluate("document.getElementById('done').click()")
            assert process.wait(20) == 0
        assert "1 frames with a nose and 1 with none answered" in process.stderr.read()
    finally:
        process.kill()
        process.wait()

    # Running it again continues: the same frames, the answers kept, no model needed to start.
    process, url = _start_label(CLIP, "--labels", labels, "--frames", "6", "--weights", tmp_path / "absent.safetensors")
    try:
        status = _request_url(url + "api/session")
        assert [f["frame"] for f in status["frames"]] == [f["frame"] for f in frames] and len(status["answers"]) == 2
        process.send_signal(signal.SIGINT)  # Ctrl-C: stops cleanly, nothing lost
        assert process.wait(20) == 0
        assert len(_rows(labels)) == 2
    finally:
        process.kill()
        process.wait()
    # train and finetune read what the page wrote
    frames_read, skipped = load_frames(read_frame_labels(labels))
    assert len(frames_read) == 2 and not skipped


def _request_url(url):
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@needs_browser
def test_clicks_on_a_rotated_letterboxed_clip_are_in_the_upright_frame(tiny_weights, tmp_path):
    # A phone clip stored 64x48 with a rotation tag: shown (and tracked, and read by train) as 48x64.
    stored = np.full((48, 64, 3), 40, dtype=np.uint8)
    stored[10:14, 50:54] = 255  # a bright mark; where it lands upright depends on the rotation
    clip = write_video(tmp_path / "phone.mp4", [stored] * 10, rotation=90)
    _, upright = next(clip_frames(clip))
    assert upright.shape[:2] == (64, 48)
    ys, xs = np.nonzero(upright[..., 0] > 200)
    mark = (float(xs.mean()), float(ys.mean()))
    labels = tmp_path / "phone.csv"
    process, url = _start_label(clip, "--labels", labels, "--frames", "2", "--weights", tiny_weights)
    try:
        with Browser(BROWSER, width=1000, height=700) as browser:  # a tall frame in a wide page: letterboxed
            browser.open(url)
            _ready(browser, 0)
            assert browser.evaluate("[window.pettrack.state.frames[0].width, window.pettrack.state.frames[0].height]") == [48, 64]
            _click_image(browser, *mark)
            browser.wait_for("window.pettrack.state.pending === 0 && Object.keys(window.pettrack.state.answers).length === 1")
            browser.screenshot(tmp_path / "phone.png")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(20)
    row = _rows(labels)[0]
    assert (row["width"], row["height"]) == ("48", "64")
    x, y = map(float, row["noses"].split())
    assert (x, y) == pytest.approx(mark, abs=0.6)  # the page is zoomed ~10x: a CSS pixel is 0.1 frame px
    frame, _ = load_frames(read_frame_labels(labels))
    nose = frame[0].original_noses[0]
    assert frame[0].image[int(round(nose[1])), int(round(nose[0])), 0] > 200  # the label sits on the mark


def test_label_refuses_what_it_cannot_use(tmp_path):
    from conftest import run_cli

    result = run_cli("label", tmp_path / "absent.mp4", "--no-browser")
    assert result.returncode == 2 and "absent.mp4: no such video file" in result.stderr
    labels = tmp_path / "labels.csv"
    labels.write_text("name,x\na,1\n")
    result = run_cli("label", CLIP, "--labels", labels, "--no-browser")
    assert result.returncode == 1 and "not a footage labels file" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("label", CLIP, "--labels", CLIP, "--no-browser")
    assert result.returncode == 2 and "is an input of this run" in result.stderr


def test_a_second_round_proposes_new_frames_once_every_pick_is_answered(tiny_weights, tmp_path):
    from pettrack.model.localizer import Localizer
    from pettrack.pipelines.labeling import plan_picks

    labels = tmp_path / "labels.csv"

    def no_model():
        raise AssertionError("the model is loaded only to pick new frames")

    first, threshold, new = plan_picks([CLIP], labels, 3, lambda: Localizer.load(tiny_weights, device="cpu"))
    assert len(first) == new == 3 and (tmp_path / "labels.picks.json").is_file()
    again, _, new = plan_picks([CLIP], labels, 3, no_model, answered=lambda pick: pick.frame != first[0].frame)
    assert again == first and new == 0  # one still open: the same frames, no model needed
    more, _, new = plan_picks([CLIP], labels, 3, lambda: Localizer.load(tiny_weights, device="cpu"),
                              answered=lambda pick: True)
    assert new == 3 and len(more) == 6 and len({p.frame for p in more}) == 6
    assert [p.frame for p in more] == sorted(p.frame for p in more)
