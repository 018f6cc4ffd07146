"""Tracker behaviour on synthetic tracks with known truth."""

import numpy as np
import pytest

from pettrack.tracker import LOST, PREDICTED, TRACKED, TrackBuilder, TrackerConfig, track

FPS = 30.0


def truth(n):
    t = np.arange(n) / FPS
    return t, np.stack([320 + 120 * np.sin(1.3 * t), 240 + 80 * np.cos(0.9 * t)], axis=1)


def detections(points, times, noise=4.0, seed=0, confidence=0.9):
    rng = np.random.default_rng(seed)
    noisy = points + rng.normal(0, noise, points.shape)
    return [[i, t, x, y, confidence] for i, (t, (x, y)) in enumerate(zip(times, noisy))]


def xy(points):
    return np.array([[p.x, p.y] for p in points], dtype=float)


def test_smoothing_reduces_noise_well_below_the_raw_error():
    times, true = truth(300)
    dets = detections(true, times, noise=4.0)
    config = TrackerConfig(measurement_std=4.0)  # told the detector's real noise
    raw_error = np.hypot(*(np.array([d[2:4] for d in dets]) - true).T).mean()
    smooth_error = np.hypot(*(xy(track(dets, config)) - true).T).mean()
    causal_error = np.hypot(*(xy(track(dets, config, causal=True)) - true).T).mean()
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
    assert points[60].x_raw == dets[60][2]  # the raw detection is still reported
    assert all(p.state == TRACKED for i, p in enumerate(points) if i != 60)


def test_short_gap_coasts_and_is_interpolated():
    times, true = truth(120)
    dets = detections(true, times, noise=2.0)
    for i in range(50, 58):  # 8 frames with no confident detection
        dets[i][4] = 0.05
    points = track(dets)
    assert [p.state for p in points[50:58]] == [PREDICTED] * 8
    gap_error = np.hypot(*(xy(points[50:58]) - true[50:58]).T)
    assert gap_error.max() < 6.0


def test_long_gap_is_lost_then_reacquired():
    config = TrackerConfig(max_coast_frames=10)
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
    assert np.hypot(*(xy(points[85:]) - true[85:]).T).mean() < 3.0


def test_jump_to_a_new_place_is_reacquired_after_coasting():
    times, true = truth(100)
    dets = detections(true, times, noise=1.0)
    for i in range(50, 100):
        dets[i][2] += 200.0  # the nose is somewhere else now
    points = track(dets, TrackerConfig(max_coast_frames=5))
    assert points[-1].state == TRACKED
    assert abs(points[-1].x - dets[-1][2]) < 5.0


def test_causal_mode_never_looks_ahead():
    times, true = truth(100)
    dets = detections(true, times)
    changed = [list(d) for d in dets]
    for d in changed[60:]:
        d[2] += 30.0
    a, b = track(dets, causal=True), track(changed, causal=True)
    assert xy(a[:60]).tolist() == xy(b[:60]).tolist()


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
    good.write_text("[tracker]\ngate = 5.0\nmax_coast_frames = 4\n")
    config = TrackerConfig.from_toml(good)
    assert (config.gate, config.max_coast_frames, config.accel_std) == (5.0, 4, TrackerConfig().accel_std)
    for text, words in (("gat = 5\n", "unknown tracker setting"), ("gate = -1\n", "gate"),
                        ("gate = 'x'\n", "number"), ("gate = \n", "not valid TOML")):
        good.write_text(text)
        with pytest.raises(ValueError, match=words):
            TrackerConfig.from_toml(good)
