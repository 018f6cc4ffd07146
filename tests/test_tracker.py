"""Tracker behaviour on synthetic tracks with known truth."""

import numpy as np
import pytest

from pettrack.tracker import LOST, PREDICTED, TRACKED, TrackBuilder, TrackerConfig, TrackPoint, track as track_frames

FPS = 30.0


def truth(n):
    t = np.arange(n) / FPS
    return t, np.stack([320 + 120 * np.sin(1.3 * t), 240 + 80 * np.cos(0.9 * t)], axis=1)


def detections(points, times, noise=4.0, seed=0, confidence=0.9):
    rng = np.random.default_rng(seed)
    noisy = points + rng.normal(0, noise, points.shape)
    return [[i, t, x, y, confidence] for i, (t, (x, y)) in enumerate(zip(times, noisy))]


def track(dets, config=TrackerConfig(), **options) -> list[TrackPoint]:
    """One nose per frame: [frame, time, x, y, confidence] rows in, each frame's single row out
    (max_tracks=1, as with --max-pets 1). A confidence of 0 means no detection on that frame."""
    frames = [(int(f), t, [(x, y, c)] if c > 0 else []) for f, t, x, y, c in dets]
    released = track_frames(frames, config, max_tracks=1, **options)
    assert all(len(r.points) == 1 for r in released)
    return [r.points[0] for r in released]


def xy(points):
    return np.array([[p.x, p.y] if p.x is not None else [np.nan, np.nan] for p in points], dtype=float)


def test_smoothing_reduces_noise_well_below_the_raw_error():
    times, true = truth(300)
    dets = detections(true, times, noise=4.0)
    config = TrackerConfig(measurement_std=4.0)  # told the detector's real noise
    raw_error = np.hypot(*(np.array([d[2:4] for d in dets]) - true).T).mean()
    smooth_error = np.hypot(*(xy(track(dets, config)) - true).T).mean()
    causal = track(dets, config, causal=True)
    # Live, a track is shown once confirmed: the first frames are `lost` until then.
    assert [p.state for p in causal[:config.confirm_frames]] == [LOST] * (config.confirm_frames - 1) + [TRACKED]
    causal_error = np.nanmean(np.hypot(*(xy(causal) - true).T))
    assert smooth_error < 0.5 * raw_error
    assert causal_error < 0.8 * raw_error
    assert smooth_error < causal_error  # looking ahead helps


def test_single_outlier_is_gated():
    times, true = truth(120)
    dets = detections(true, times, noise=2.0)
    dets[60][2] += 90.0  # a confident detection on the wrong spot (an eye, a toy)
    points = track(dets)
    assert points[60].state == PREDICTED
    assert abs(points[60].x - true[60, 0]) < 4.0
    assert points[60].x_raw is None  # the track did not take it
    assert all(p.state == TRACKED for i, p in enumerate(points) if i != 60)


def test_short_gap_coasts_and_is_interpolated():
    times, true = truth(120)
    dets = detections(true, times, noise=2.0)
    for i in range(50, 58):  # 8 frames with no confident detection
        dets[i][4] = 0.05
    points = track(dets, TrackerConfig(max_coast_s=8 / FPS))
    assert [p.state for p in points[50:58]] == [PREDICTED] * 8
    gap_error = np.hypot(*(xy(points[50:58]) - true[50:58]).T)
    assert gap_error.max() < 6.0


def test_long_gap_is_lost_then_reacquired():
    config = TrackerConfig(max_coast_s=10 / FPS, keep_id_s=20 / FPS)
    times, true = truth(150)
    dets = detections(true, times, noise=2.0)
    for i in range(40, 80):
        dets[i][4] = 0.0
    points = track(dets, config)
    states = [p.state for p in points]
    assert states[40:50] == [PREDICTED] * 10
    assert states[50:80] == [LOST] * 30
    assert all(points[i].x is None for i in range(50, 80))
    assert states[80:] == [TRACKED] * 70
    assert {p.track for p in points[:50]} == {0} and {p.track for p in points[80:]} == {1}  # a new id after a loss
    # Damped coasting: the point stays near the last detection instead of flying on.
    last = np.array(dets[39][2:4])
    assert max(np.hypot(*(xy(points[40:50]) - last).T)) <= config.max_coast_distance + 1e-6
    assert np.hypot(*(xy(points[85:]) - true[85:]).T).mean() < 3.0


def test_jump_to_a_new_place_is_reacquired_after_coasting():
    times, true = truth(100)
    dets = detections(true, times, noise=1.0)
    for i in range(50, 100):
        dets[i][2] += 200.0  # the nose is somewhere else now
    points = track(dets, TrackerConfig(max_coast_s=5 / FPS))
    assert points[-1].state == TRACKED
    assert abs(points[-1].x - dets[-1][2]) < 5.0


def test_causal_mode_never_looks_ahead():
    times, true = truth(100)
    dets = detections(true, times)
    changed = [list(d) for d in dets]
    for d in changed[60:]:
        d[2] += 30.0
    a, b = track(dets, causal=True), track(changed, causal=True)
    assert np.array_equal(xy(a[:60]), xy(b[:60]), equal_nan=True)


def test_variable_frame_times():
    times, true = truth(200)
    rng = np.random.default_rng(3)
    keep = np.sort(rng.choice(200, 120, replace=False))  # irregular sampling
    dets = detections(true[keep], times[keep], noise=3.0)
    for d, frame in zip(dets, keep):
        d[0] = int(frame)
    points = track(dets)
    assert np.hypot(*(xy(points) - true[keep]).T).mean() < 2.5


def test_resolution_scale_keeps_behaviour():
    times, true = truth(120)
    dets = detections(true, times, noise=2.0)
    big = [[i, t, 4 * x, 4 * y, c] for i, t, x, y, c in dets]
    a, b = xy(track(dets)), xy(track(big, pixels_per_unit=4.0))
    assert np.allclose(4 * a, b, atol=1e-6)


def test_sliding_window_smoothing_equals_the_whole_file_pass():
    times, true = truth(400)
    dets = detections(true, times, noise=3.0)
    for i in range(100, 106):
        dets[i][4] = 0.0  # a short gap inside
    for i in range(200, 240):
        dets[i][4] = 0.0  # a loss
    whole, windowed = track(dets), track(dets, lag=30)
    assert [p.frame for p in windowed] == list(range(400))
    assert [p.state for p in windowed] == [p.state for p in whole]
    both = [(a, b) for a, b in zip(whole, windowed) if a.x is not None]
    assert max(max(abs(a.x - b.x), abs(a.y - b.y)) for a, b in both) < 0.01


def test_lag_only_applies_to_smoothing():
    with pytest.raises(ValueError, match="causal"):
        TrackBuilder(causal=True, lag=30)
    with pytest.raises(ValueError, match="lag"):
        TrackBuilder(lag=0)


def test_tracker_settings_from_toml(tmp_path):
    good = tmp_path / "t.toml"
    good.write_text("[tracker]\ngate = 5.0\nmax_coast_s = 0.25\nconfirm_frames = 2\n")
    config = TrackerConfig.from_toml(good)
    assert (config.gate, config.max_coast_s, config.confirm_frames, config.accel_std) == (
        5.0, 0.25, 2, TrackerConfig().accel_std)
    for text, words in (("gat = 5\n", "unknown tracker setting"), ("gate = -1\n", "gate"),
                        ("gate = 'x'\n", "number"), ("gate = \n", "not valid TOML"),
                        ("confirm_frames = 1.5\n", "whole number"), ("cut_threshold = 2\n", "at most 1")):
        good.write_text(text)
        with pytest.raises(ValueError, match=words):
            TrackerConfig.from_toml(good)


# --- Several noses ---

def two_noses(n=120, seed=0):
    """Two noses crossing paths (at frame ~60) with noise; frames as track() takes them."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    a = np.stack([100 + 300 * t / t[-1], 200 + 5 * np.sin(3 * t)], axis=1)
    b = np.stack([400 - 300 * t / t[-1], 215 + 5 * np.cos(3 * t)], axis=1)
    frames = [(i, t[i], [(*(a[i] + rng.normal(0, 1.5, 2)), 0.9), (*(b[i] + rng.normal(0, 1.5, 2)), 0.8)])
              for i in range(n)]
    return frames, a, b


def by_track(released):
    paths = {}
    for frame in released:
        for p in frame.points:
            if p.track is not None:
                paths.setdefault(p.track, {})[frame.frame] = np.array([p.x, p.y])
    return paths


def test_two_noses_keep_their_identities_through_a_crossing():
    frames, a, b = two_noses()
    paths = by_track(track_frames(frames))
    assert len(paths) == 2
    for path in paths.values():
        truth = a if np.linalg.norm(path[0] - a[0]) < np.linalg.norm(path[0] - b[0]) else b
        errors = [np.linalg.norm(xy - truth[f]) for f, xy in path.items()]
        assert len(path) == 120 and max(errors) < 8.0  # never swapped onto the other nose


def test_a_scene_cut_ends_every_track():
    frames, _, _ = two_noses()
    released = track_frames(frames, cuts=[70])
    paths = by_track(released)
    assert len(paths) == 4
    assert all(max(p) < 70 or min(p) >= 70 for p in paths.values())  # no id on both sides
    assert released[70].cut and not released[69].cut


def test_a_one_frame_blip_never_gets_a_track():
    frames, _, _ = two_noses(60)
    frames[30][2].append((50.0, 50.0, 0.95))  # a single confident false peak
    released = track_frames(frames)
    assert len(by_track(released)) == 2
    causal = track_frames(frames, causal=True)
    assert len(by_track(causal)) == 2


def test_max_tracks_one_follows_a_single_nose():
    frames, _, _ = two_noses(60)
    released = track_frames(frames, max_tracks=1)
    assert all(len(r.points) == 1 for r in released) and len(by_track(released)) == 1


def test_frames_without_a_track_get_one_lost_row():
    frames = [(i, i / FPS, []) for i in range(5)] + [(5 + i, (5 + i) / FPS, [(10.0, 10.0, 0.9)]) for i in range(5)]
    released = track_frames(frames)
    assert [len(r.points) for r in released] == [1] * 10
    assert all(r.points[0].state == LOST and r.points[0].track is None for r in released[:5])
    assert all(r.points[0].state == TRACKED and r.points[0].track == 0 for r in released[5:])


def test_sliding_window_equals_the_whole_pass_with_several_noses():
    frames, _, _ = two_noses(200)
    for i in range(100, 140):
        frames[i] = (frames[i][0], frames[i][1], frames[i][2][:1])  # the second nose gone for a while
    whole, windowed = track_frames(frames), track_frames(frames, lag=30)
    assert [r.frame for r in windowed] == list(range(200))
    for a, b in zip(whole, windowed):
        assert [(p.track, p.state) for p in a.points] == [(p.track, p.state) for p in b.points]
        for p, q in zip(a.points, b.points):
            if p.x is not None:
                assert abs(p.x - q.x) < 0.01 and abs(p.y - q.y) < 0.01


def test_a_short_absence_is_hidden_after_max_coast_and_keeps_the_id():
    config = TrackerConfig()  # shows 0.1 s of coasting, keeps the id for 1.5 s
    times, true = truth(120)
    dets = detections(true, times, noise=2.0)
    for i in range(50, 65):  # half a second without the nose
        dets[i][4] = 0.0
    points = track(dets, config)
    shown = round(config.max_coast_s * FPS)
    assert [p.state for p in points[50:65]] == [PREDICTED] * shown + [LOST] * (15 - shown)
    assert {p.track for p in points if p.track is not None} == {0}  # the same pet, the same id
    assert all(p.x is None for p in points[50 + shown:65])


def test_max_tracks_one_shows_one_track_when_a_hidden_one_finds_its_nose_again():
    """--max-pets 1: the nose jumps to a second pet, then back while the second pet's track still
    coasts. The first pet's track (hidden, kept for its id) takes the nose back; the coasting one is
    not shown beside it: one row per frame."""
    b, a = (80.0, 150.0), (520.0, 130.0)
    nose_at = [b] * 30 + [a] * 20 + [b] * 10
    frames = [(i, i / FPS, [(*xy, 0.9)]) for i, xy in enumerate(nose_at)]
    released = track_frames(frames, max_tracks=1)
    assert all(len(r.points) == 1 for r in released)
    assert released[0].points[0].track == released[55].points[0].track  # the first pet's id again
    assert released[40].points[0].track != released[0].points[0].track
