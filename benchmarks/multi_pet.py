"""Several pets: pettrack's tracker against Norfair's, fed the same detections, on generated clips
with known nose paths.

    pip install --no-deps motmetrics norfair   # metrics (py-motmetrics) and the comparison tracker
    python benchmarks/multi_pet.py [--seeds 4] [--weights W] [--write docs/tracker.md]

Clips (tests/synthetic.py): two pets crossing, one hiding the other's nose for about half a
second; two pets then a hard cut to two others placed where the first were; one pet gone for one
second. The real detector runs once on every frame; both trackers get its noses. pettrack also
gets the frames' scene cuts from its own detector (pipelines/cuts.py); Norfair has no notion of
a cut. A tracked point matches a true nose within 5% of the frame's short side (the footage
scoring rule).

Metrics from py-motmetrics (CLEAR MOT and identity): recall, precision, IDF1, identity switches;
plus tracks that run through a cut, RMSE of matched points (px) and jitter (mean |second
difference| of each track's points, px/frame^2).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

import motmetrics as mm  # noqa: E402
from synthetic import PetClip, crossing_clip, cut_clip, disappearing_clip, sample_sprites  # noqa: E402
from video_throughput import publish  # noqa: E402

from pettrack.model.localizer import Detection, Detections, Localizer  # noqa: E402
from pettrack.pipelines.cuts import SceneCuts  # noqa: E402
from pettrack.tracker import TrackerConfig, image_pixels_per_unit, track  # noqa: E402

# Tracks per frame: {track id: (x, y)}
Tracks = list[dict[int, tuple[float, float]]]


def detect(localizer: Localizer, clip: PetClip) -> tuple[list[Detections], list[int]]:
    found, cuts = [], []
    detector = SceneCuts(TrackerConfig().cut_threshold)
    for start in range(0, len(clip.frames), 16):
        prepared = [localizer.prepare(frame) for frame in clip.frames[start:start + 16]]
        cuts += [start + i for i, p in enumerate(prepared) if detector(p)]
        found += localizer.detect(prepared)
    return found, cuts


def from_truth(clip: PetClip, seed: int, noise_px: float = 2.0) -> list[Detections]:
    """A detector that is never wrong, only noisy: every visible nose, 2 px std. Tells the
    tracker's own share of the errors from the detector's."""
    rng = np.random.default_rng(seed)
    found = []
    for truth in clip.truth:
        noses = tuple(Detection(x + rng.normal(0, noise_px), y + rng.normal(0, noise_px), 0.9) for _, x, y in truth)
        found.append(Detections(noses[0] if noses else Detection(0.0, 0.0, 0.0), noses))
    return found


def run_pettrack(clip: PetClip, found: list[Detections], cuts: list[int], config: TrackerConfig) -> Tracks:
    height, width = clip.frames[0].shape[:2]
    frames = [(i, i / clip.fps, [(n.x, n.y, n.confidence) for n in d.noses]) for i, d in enumerate(found)]
    rows = track(frames, config, image_pixels_per_unit(width, height), lag=30, cuts=cuts)
    return [{p.track: (p.x, p.y) for p in r.points if p.track is not None} for r in rows]


def run_norfair(clip: PetClip, found: list[Detections], threshold: float) -> Tracks:
    from norfair import Detection, Tracker

    tracker = Tracker(distance_function="euclidean", distance_threshold=threshold)
    tracks = []
    for d in found:
        detections = [Detection(points=np.array([[n.x, n.y]]), scores=np.array([n.confidence])) for n in d.noses]
        tracks.append({obj.id: tuple(obj.estimate[0]) for obj in tracker.update(detections=detections)})
    return tracks


def score(clips: list[PetClip], runs: list[Tracks]) -> dict[str, float]:
    accumulators, errors, jitters, through_cuts = [], [], [], 0
    for clip, tracks in zip(clips, runs):
        radius = 0.05 * min(clip.frames[0].shape[:2])
        acc = mm.MOTAccumulator(auto_id=True)
        for truth, found in zip(clip.truth, tracks):
            objects = np.array([[x, y] for _, x, y in truth]).reshape(-1, 2)
            hypotheses = np.array(list(found.values())).reshape(-1, 2)
            acc.update([pet for pet, _, _ in truth], list(found), mm.distances.norm2squared_matrix(
                objects, hypotheses, max_d2=radius * radius))
        accumulators.append(acc)
        matches = acc.mot_events[acc.mot_events.Type == "MATCH"]
        errors += list(np.sqrt(matches.D.to_numpy(dtype=float)))
        paths = defaultdict(list)
        for frame, found in enumerate(tracks):
            for track_id, xy in found.items():
                paths[track_id].append((frame, *xy))
        for path in paths.values():
            path = np.array(path)
            consecutive = np.diff(path[:, 0]) == 1
            second = np.diff(path[:, 1:], n=2, axis=0)
            ok = consecutive[1:] & consecutive[:-1]
            jitters += list(np.abs(second[ok]).ravel())
            through_cuts += sum(path[0, 0] < cut <= path[-1, 0] for cut in clip.cuts)
    summary = mm.metrics.create().compute_many(accumulators, metrics=["recall", "precision", "idf1", "num_switches"],
                                               generate_overall=True).loc["OVERALL"]
    return {"recall": summary["recall"], "precision": summary["precision"], "idf1": summary["idf1"],
            "switches": int(summary["num_switches"]), "through_cuts": through_cuts,
            "rmse": float(np.sqrt(np.mean(np.square(errors)))), "jitter": float(np.mean(jitters))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    localizer = Localizer.load(args.weights, device="cpu")
    sprites = sample_sprites()
    kinds = {"crossing": crossing_clip, "cut": cut_clip, "disappearing": disappearing_clip}
    clips = {kind: [make(sprites, seed) for seed in range(args.seeds)] for kind, make in kinds.items()}
    started = time.perf_counter()
    detected = {kind: [detect(localizer, clip) for clip in group] for kind, group in clips.items()}
    took = time.perf_counter() - started
    config = TrackerConfig()
    lines = ["| clips | detections: tracker | recall | precision | IDF1 | ID switches | tracks through a cut | RMSE px | jitter |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]

    def add(name: str, tracker: str, group: list[PetClip], runs: list[Tracks]) -> None:
        s = score(group, runs)
        lines.append(f"| {name} | {tracker} | {s['recall']:.3f} | {s['precision']:.3f} | {s['idf1']:.3f} | "
                     f"{s['switches']} | {s['through_cuts']} | {s['rmse']:.2f} | {s['jitter']:.2f} |")

    everything = [c for group in clips.values() for c in group]
    truthful = {kind: [(from_truth(c, seed), cuts) for seed, (c, (_, cuts)) in enumerate(zip(group, detected[kind]))]
                for kind, group in clips.items()}
    for source, detections in (("model", detected), ("truth + 2 px noise", truthful)):
        for name, group in [*clips.items(), ("all", everything)]:
            found = detections[name] if name != "all" else [d for g in detections.values() for d in g]
            as_tracks = [[{i: (n.x, n.y) for i, n in enumerate(d.noses)} for d in f] for f, _ in found]
            add(name, f"{source}: detections alone (id = rank)", group, as_tracks)
            add(name, f"{source}: pettrack", group,
                [run_pettrack(c, f, cuts, config) for c, (f, cuts) in zip(group, found)])
            add(name, f"{source}: Norfair", group,
                [run_norfair(c, f, 0.05 * min(c.frames[0].shape[:2])) for c, (f, _) in zip(group, found)])
    # How long a track keeps its id without detections, and how much of that its coasted point is
    # written: identity through a hiding against points where no pet is.
    lines += ["", "Coasting (all clips, model detections / truth + noise):", "",
              "| keep_id_s | max_coast_s | recall | precision | IDF1 | ID switches | precision (truth) | IDF1 (truth) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    model_found = [d for g in detected.values() for d in g]
    truth_found = [d for g in truthful.values() for d in g]
    for keep, coast in ((0.3, 0.2), (0.8, 0.2), (0.8, 0.8), (1.5, 0.0), (1.5, 0.1), (1.5, 0.2), (1.5, 0.4)):
        swept = replace(config, keep_id_s=keep, max_coast_s=coast)
        m = score(everything, [run_pettrack(c, f, cuts, swept) for c, (f, cuts) in zip(everything, model_found)])
        t = score(everything, [run_pettrack(c, f, cuts, swept) for c, (f, cuts) in zip(everything, truth_found)])
        lines.append(f"| {keep:g} | {coast:g} | {m['recall']:.3f} | {m['precision']:.3f} | {m['idf1']:.3f} | "
                     f"{m['switches']} | {t['precision']:.3f} | {t['idf1']:.3f} |")
    frames = sum(len(c.frames) for c in everything)
    lines += ["", f"{len(everything)} clips ({args.seeds} seeds of each kind), {frames} frames of 640x360 at 15 fps; "
              f"detection {took:.0f} s ({localizer.backend.name}); model {localizer.size} px, presence threshold "
              f"{localizer.min_confidence:.2f}. Matching radius: 5% of the short side (18 px). Norfair 2.3.0: "
              "euclidean distance, threshold 18 px, its other settings default. Detections from the truth use "
              "the cuts pettrack's own detector found in the frames."]
    publish("\n".join(lines), "Several pets: pettrack and Norfair on generated clips", args.write)


if __name__ == "__main__":
    main()
