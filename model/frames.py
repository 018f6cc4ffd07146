"""Hand-labelled video frames: the footage labels format, loading its frames, training views of
them, the split by clip, and scoring by the footage rule.

The format is that of ../shared/data/footage-train/ (and of `pettrack label`): a CSV with the
columns `file,clip,frame,width,height,visible,noses` (more columns, such as `labellers`, are
ignored).

- `file`: the frame as an image (optional): absolute, or relative to the labels file's folder or
  to its `frames/` subfolder.
- `clip`: the video: absolute, or relative to the labels file's folder, else looked up in the
  folder given as `videos`. A frame is read from `file` when that exists, else decoded from `clip`.
- `frame`: the 0-based index in decode order (the number `pettrack video` writes).
- `visible`: `yes` (every visible nose is given), `no` (no nose visible) or `disputed` (left out).
- `noses`: `x y` in the frame's original pixels, `;`-separated when several.

A bad row never stops the file: it is reported with its line number and skipped, as is a frame
that cannot be read (a frame index past the clip's end names the clip and its length).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .footage import View, adjust_colour, degrade, to_view
from .geometry import PAD_RGB
from .images import ImageReadError, fit_within, load_image
from .labels import LabelProblem

COLUMNS = ("file", "clip", "frame", "width", "height", "visible", "noses")
VISIBILITY = ("yes", "no", "disputed")
# The footage scoring rule: a point is right within this share of the frame's short side of a nose.
HIT_SHARE = 0.05


class FrameLabelsError(Exception):
    """A labels file that cannot be read at all (missing, not a CSV with the columns)."""


@dataclass(frozen=True)
class FrameLabel:
    line: int  # 1-based line of the labels file (the header is line 1)
    file: str  # "" when the row names no image
    clip: str
    frame: int
    width: int
    height: int
    visible: str  # yes, no or disputed
    noses: tuple[tuple[float, float], ...]

    @property
    def name(self) -> str:
        """How messages and splits name this frame: its image file, else CLIP#FRAME."""
        return self.file or f"{self.clip}#{self.frame}"


@dataclass
class FrameLabelFile:
    path: Path
    labels: list[FrameLabel]
    problems: list[LabelProblem]


def parse_noses(text: str) -> tuple[tuple[float, float], ...]:
    """'x y;x y' -> ((x, y), (x, y)); raises ValueError saying what is wrong."""
    noses = []
    for pair in text.split(";"):
        if not pair.strip():
            continue
        values = pair.split()
        if len(values) != 2:
            raise ValueError(f"a nose is 'x y', got {pair.strip()!r}")
        x, y = (float(v) for v in values)
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"a nose coordinate is not a number: {pair.strip()!r}")
        noses.append((x, y))
    return tuple(noses)


def _parse_row(row: dict[str, str], line: int) -> FrameLabel:
    try:
        frame, width, height = int(row["frame"]), int(row["width"]), int(row["height"])
    except (TypeError, ValueError) as exc:
        raise ValueError("frame, width and height must be whole numbers") from exc
    if frame < 0 or width < 1 or height < 1:
        raise ValueError("frame must be 0 or more, width and height above 0")
    visible = (row["visible"] or "").strip().lower()
    if visible not in VISIBILITY:
        raise ValueError(f"visible must be yes, no or disputed, got {row['visible']!r}")
    noses = parse_noses(row["noses"] or "")
    if visible == "yes" and not noses:
        raise ValueError("visible is yes but no nose is given")
    if visible == "no" and noses:
        raise ValueError("visible is no but noses are given")
    for x, y in noses:
        if not (0 <= x < width and 0 <= y < height):
            raise ValueError(f"nose ({x:g}, {y:g}) is outside the {width}x{height} frame")
    clip, file = (row["clip"] or "").strip(), (row["file"] or "").strip()
    if not clip and not file:
        raise ValueError("the row names neither a clip nor a file")
    return FrameLabel(line, file, clip, frame, width, height, visible, noses)


def read_frame_labels(path: Path) -> FrameLabelFile:
    """Every good row of a footage labels file, and a problem record for each bad one."""
    path = Path(path)
    try:
        text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    except OSError as exc:
        raise FrameLabelsError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise FrameLabelsError(f"{path}: not a footage labels file (no column {', '.join(missing)}; "
                               f"expected {','.join(COLUMNS)})")
    labels, problems = [], []
    for row in reader:
        line = reader.line_num
        shown = ",".join(str(row.get(c) or "") for c in COLUMNS)
        if None in row or any(row.get(c) is None for c in COLUMNS):
            problems.append(LabelProblem(line, shown, f"expected {len(reader.fieldnames)} columns"))
            continue
        try:
            labels.append(_parse_row(row, line))
        except ValueError as exc:
            problems.append(LabelProblem(line, shown, str(exc)))
    return FrameLabelFile(path, labels, problems)


def frame_image_path(label: FrameLabel, labels_dir: Path) -> Path | None:
    """The frame's image when the row names one that exists (absolute, beside the labels file or
    in its frames/ folder), else None."""
    if not label.file:
        return None
    for candidate in (Path(label.file), labels_dir / label.file, labels_dir / "frames" / label.file):
        if candidate.is_file():
            return candidate
    return None


def clip_path(label: FrameLabel, labels_dir: Path, videos_dir: Path | None) -> Path | None:
    """The row's video: absolute, beside the labels file, else in `videos_dir`; None when none exists."""
    return find_clip(label.clip, labels_dir, videos_dir)


def find_clip(name: str, labels_dir: Path, videos_dir: Path | None) -> Path | None:
    """A clip a labels file names: absolute, beside the labels file, else in `videos_dir`."""
    if not name:
        return None
    candidates = [Path(name), labels_dir / name]
    if videos_dir is not None:
        candidates.append(Path(videos_dir) / name)
    return next((c for c in candidates if c.is_file()), None)


def unlabelled_frames(clips: dict[str, Path], labelled: dict[str, set[int]], per_clip: int,
                      max_side: int = 768) -> list[RealFrame]:
    """About `per_clip` evenly spaced frames of each clip that are not labelled, reduced to
    `max_side`, with no nose marked (their targets come from elsewhere: a teacher model)."""
    import av

    found = []
    for name, path in clips.items():
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count = stream.frames or int(float(stream.duration * stream.time_base) * float(stream.average_rate or 25)
                                         if stream.duration else 0)
        every = max(1, count // per_clip) if count else 10
        for index, rgb in clip_frames(path, every):
            if index in labelled.get(name, set()):
                continue
            image = fit_within(rgb, max_side)
            found.append(RealFrame(f"{name}#{index}", name, image, np.zeros((0, 2)), image.shape[1] / rgb.shape[1],
                                   rgb.shape[1], rgb.shape[0], index))
    return found


@dataclass(frozen=True)
class RealFrame:
    """A labelled frame in memory, possibly reduced; noses in `image` pixels."""

    name: str
    clip: str  # the clip it comes from: frames of one clip stay on one side of a split
    image: np.ndarray  # HxWx3 uint8 RGB
    noses: np.ndarray  # (K, 2) float64, K = 0 on a no-nose frame
    scale: float  # image pixels per original pixel
    width: int  # original size
    height: int
    frame: int = 0  # index in its clip (0 for a frame given only as an image)

    @property
    def has_nose(self) -> bool:
        return len(self.noses) > 0

    @property
    def original_noses(self) -> np.ndarray:
        return (self.noses + 0.5) / self.scale - 0.5


@dataclass(frozen=True)
class SkippedFrame:
    name: str
    line: int
    reason: str

    def describe(self, labels: Path) -> str:
        return f"{labels}:{self.line}: {self.name}: {self.reason}"


def clip_frames(clip: Path, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB) of every `every`-th frame of a clip (0-based decode order, as `pettrack video`
    counts), upright: a rotation tag is applied as `pettrack video` applies it, so labels and
    tracks share one pixel space."""
    import av

    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            rotation = int(getattr(frame, "rotation", 0) or 0) % 360
            if rotation:
                rgb = np.ascontiguousarray(np.rot90(rgb, rotation // 90))
            yield index, rgb


def decode_frames(clip: Path, indices: set[int]) -> tuple[dict[int, np.ndarray], int]:
    """The frames at `indices` (0-based, decode order) of a clip as upright RGB, and how many
    frames it decoded in all (the clip's length when an index lies past its end)."""
    found: dict[int, np.ndarray] = {}
    count = 0
    last = max(indices)
    for index, rgb in clip_frames(clip):
        count = index + 1
        if index in indices:
            found[index] = rgb
        if index >= last:
            break
    return found, count


def load_frames(
    label_file: FrameLabelFile, videos_dir: Path | None = None, max_side: int = 768, keep_disputed: bool = False,
) -> tuple[list[RealFrame], list[SkippedFrame]]:
    """Decode every usable labelled frame once (disputed ones are left out unless asked for).
    Frames that cannot be had (no image and no clip, an unreadable clip, an index past the clip's
    end, an image of another size than its row says) are skipped with the reason."""
    labels_dir = label_file.path.parent
    loaded: dict[int, tuple[np.ndarray, int, int]] = {}  # by line: pixels (maybe decoded reduced), full size
    skipped: list[SkippedFrame] = []
    from_clips: dict[Path, list[FrameLabel]] = defaultdict(list)
    chosen = [label for label in label_file.labels if keep_disputed or label.visible != "disputed"]
    for label in chosen:
        image_path = frame_image_path(label, labels_dir)
        if image_path is not None:
            try:
                image = load_image(image_path, min_side=max_side)
                loaded[label.line] = image.rgb, image.width, image.height
            except ImageReadError as exc:
                skipped.append(SkippedFrame(label.name, label.line, f"{image_path}: {exc}"))
            continue
        video = clip_path(label, labels_dir, videos_dir)
        if video is None:
            where = f"beside {label_file.path.name}" + (f" or in {videos_dir}" if videos_dir else " (give --videos DIR)")
            what = f"clip {label.clip!r} not found {where}" if label.clip else f"image {label.file!r} not found"
            skipped.append(SkippedFrame(label.name, label.line, what))
            continue
        from_clips[video].append(label)
    for video, rows in from_clips.items():
        try:
            frames, count = decode_frames(video, {r.frame for r in rows})
        except Exception as exc:  # noqa: BLE001 - PyAV raises many kinds; any of them means this clip is unreadable
            for r in rows:
                skipped.append(SkippedFrame(r.name, r.line, f"clip {video} cannot be decoded ({exc})"))
            continue
        for r in rows:
            if r.frame in frames:
                loaded[r.line] = frames[r.frame], frames[r.frame].shape[1], frames[r.frame].shape[0]
            else:
                skipped.append(SkippedFrame(r.name, r.line, f"frame {r.frame} is past the end of clip {video} "
                                                            f"({count} frames)"))
    results = []
    for label in chosen:
        if label.line not in loaded:
            continue
        rgb, width, height = loaded[label.line]
        if (width, height) != (label.width, label.height):
            skipped.append(SkippedFrame(label.name, label.line, f"the frame is {width}x{height}, "
                                                                f"its row says {label.width}x{label.height}"))
            continue
        image = fit_within(rgb, max_side)
        scale = image.shape[1] / width
        noses = (np.array(label.noses, dtype=np.float64).reshape(-1, 2) + 0.5) * scale - 0.5
        results.append(RealFrame(label.name, label.clip or label.file, image, noses, scale, label.width, label.height,
                                  label.frame))
    return results, sorted(skipped, key=lambda s: s.line)


def split_by_clip(
    frames: list[RealFrame], val_fraction: float, seed: int = 0, train_clips: int = 0,
) -> tuple[list[RealFrame], list[RealFrame]]:
    """Training and validation frames, whole clips on one side (frames of a clip are near
    duplicates). Deterministic: a clip's side depends on its name and the seed only.

    `train_clips` > 0 trains on that many of the training clips only (the first in hash order),
    for learning curves against the amount of real footage; the validation side is unchanged."""
    from .data import hash_order, split_names

    clips = sorted({f.clip for f in frames})
    if len(clips) < 2:
        return list(frames), []
    train_side, val_side = split_names(clips, val_fraction, seed)
    if train_clips > 0:
        train_side = set(hash_order(list(train_side), seed)[:train_clips])
    return [f for f in frames if f.clip in train_side], [f for f in frames if f.clip in val_side]


# --- Training views of real frames -------------------------------------------------------------

@dataclass(frozen=True)
class RealAugment:
    """How a real frame is varied: a crop around the pet (zoom), flip, small rotation, colour,
    and the footage degradations (blur, compression, noise, low light, overlays)."""

    zoom_max: float = 3.0  # crop down to 1/zoom of the frame's size
    whole_frame: float = 0.25  # chance of the whole frame, unzoomed
    keep_nose: float = 0.85  # chance that a zoomed crop keeps a nose of a nose frame in view
    rotate_deg: float = 10.0
    brightness: float = 0.3
    contrast: float = 0.3
    degrade: float = 0.5


def _between(rng: np.random.Generator, low: float, high: float, most: float) -> float:
    """A uniform draw in [low, high] kept inside [0, most]; `low` when the range is empty (a nose
    at the frame's edge: the crop then lies against that edge)."""
    value = rng.uniform(low, high) if high > low else low
    return float(np.clip(value, 0.0, max(0.0, most)))


def _crop_window(frame: RealFrame, rng: np.random.Generator, config: RealAugment) -> tuple[float, float, float, float]:
    """(x0, y0, w, h) of a crop in image pixels, at the frame's aspect."""
    height, width = frame.image.shape[:2]
    if rng.random() < config.whole_frame:
        return 0.0, 0.0, float(width), float(height)
    zoom = float(np.exp(rng.uniform(0.0, np.log(config.zoom_max))))
    w, h = width / zoom, height / zoom
    if frame.has_nose and rng.random() < config.keep_nose:
        nx, ny = frame.noses[int(rng.integers(len(frame.noses)))]
        margin = 0.08  # of the crop: the nose lands at least this far inside it, where the frame allows
        x0 = _between(rng, max(0.0, nx - (1 - margin) * w), min(width - w, nx - margin * w), width - w)
        y0 = _between(rng, max(0.0, ny - (1 - margin) * h), min(height - h, ny - margin * h), height - h)
        return x0, y0, w, h
    return float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)), w, h


def real_view(frame: RealFrame, size: int, rng: np.random.Generator, config: RealAugment = RealAugment(),
              margin: float = 2.0, tries: int = 8) -> View:
    """A random training view of a real frame: every nose that lands inside it is a target. A
    window that cuts a nose at its edge is drawn again (up to `tries` times, then kept)."""
    height, width = frame.image.shape[:2]
    x0, y0, w, h = _crop_window(frame, rng, config)
    # The crop (rotated about its centre, maybe mirrored) drawn onto a canvas of its size whose
    # longer side is the model input: one warp, so the nose is mapped by the same matrix.
    factor = size / max(w, h)
    cw, ch = max(1, round(w * factor)), max(1, round(h * factor))
    angle = math.radians(rng.uniform(-config.rotate_deg, config.rotate_deg))
    flip = rng.random() < 0.5
    centre_src = np.array([x0 + w / 2 - 0.5, y0 + h / 2 - 0.5])
    centre_dst = np.array([(cw - 1) / 2, (ch - 1) / 2])
    cos, sin = math.cos(angle) * factor, math.sin(angle) * factor
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.diag([-1.0 if flip else 1.0, 1.0])
    matrix = np.hstack([linear, (centre_dst - linear @ centre_src)[:, None]])
    shrinking = factor < 1
    canvas = cv2.warpAffine(frame.image, matrix, (cw, ch), flags=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_RGB)
    noses = []
    for nose in frame.noses:
        u, v = matrix @ np.array([nose[0], nose[1], 1.0])
        if margin <= u <= cw - 1 - margin and margin <= v <= ch - 1 - margin:
            noses.append((float(u), float(v)))
        elif -margin * 4 <= u <= cw - 1 + margin * 4 and -margin * 4 <= v <= ch - 1 + margin * 4:
            # A nose cut by the crop's edge is neither a clear target nor a negative.
            if tries > 0:
                return real_view(frame, size, rng, config, margin, tries - 1)
            noses.append((float(np.clip(u, 0, cw - 1)), float(np.clip(v, 0, ch - 1))))
    canvas = adjust_colour(canvas, rng.uniform(1 - config.brightness, 1 + config.brightness),
                           rng.uniform(1 - config.contrast, 1 + config.contrast))
    if rng.random() < config.degrade:
        canvas = degrade(canvas, rng)
    return to_view(canvas, noses, size)


# --- Scoring by the footage rule --------------------------------------------------------------

@dataclass(frozen=True)
class FrameResult:
    """The model's peaks on one labelled frame, in original pixels, highest first."""

    frame: RealFrame
    peaks: np.ndarray  # (K, 2)
    heights: np.ndarray  # (K,), -1 for absent peaks

    @property
    def short_side(self) -> int:
        return min(self.frame.width, self.frame.height)

    def reported(self, threshold: float) -> np.ndarray:
        return self.peaks[self.heights >= threshold]

    def right(self, threshold: float) -> bool:
        """The footage rule on the highest peak: within HIT_SHARE of the short side of a nose, or
        no point on a no-nose frame."""
        if not self.frame.has_nose:
            return not self.heights[0] >= threshold
        if not self.heights[0] >= threshold:
            return False
        return bool(np.min(np.hypot(*(self.frame.original_noses - self.peaks[0]).T)) <= HIT_SHARE * self.short_side)

    def matched(self, threshold: float) -> tuple[int, int]:
        """(noses found, points reported): each reported point matched to at most one nose, the
        closest pairs first, within HIT_SHARE of the short side."""
        points = self.reported(threshold)
        noses = self.frame.original_noses
        if not len(points) or not len(noses):
            return 0, len(points)
        distance = np.hypot(*(points[:, None, :] - noses[None, :, :]).transpose(2, 0, 1))
        found, used_p, used_n = 0, set(), set()
        for flat in np.argsort(distance, axis=None):
            p, n = np.unravel_index(flat, distance.shape)
            if distance[p, n] > HIT_SHARE * self.short_side:
                break
            if p not in used_p and n not in used_n:
                used_p.add(p)
                used_n.add(n)
                found += 1
        return found, len(points)


def predict_frames(localizer, frames: list[RealFrame], batch_size: int = 16) -> list[FrameResult]:
    from .localizer import batched

    results = []
    for chunk in batched(frames, batch_size):
        found = localizer.detect([localizer.prepare(f.image, f.scale) for f in chunk])
        for frame, detections in zip(chunk, found):
            peaks = [detections.peak, *[d for d in detections.noses if d != detections.peak]]
            results.append(FrameResult(frame, np.array([[d.x, d.y] for d in peaks]),
                                       np.array([d.confidence for d in peaks])))
    return results


@dataclass(frozen=True)
class FrameScore:
    threshold: float
    frames: int
    right: float  # share of frames right
    nose_hit: float  # share of nose frames whose point is right
    no_nose_pointed: float  # share of no-nose frames given a point (nan without any)
    several_found: float  # share of the noses in frames with several pets that were found (nan without such frames)
    several_precision: float  # share of the points reported on those frames that are on a nose
    per_clip: dict[str, dict[str, float]] = field(default_factory=dict)  # clip -> frames, right

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def score_frames(results: list[FrameResult], threshold: float) -> FrameScore:
    nan = float("nan")
    yes = [r for r in results if r.frame.has_nose]
    no = [r for r in results if not r.frame.has_nose]
    several = [r for r in yes if len(r.frame.noses) > 1]
    matched = [r.matched(threshold) for r in several]
    noses = sum(len(r.frame.noses) for r in several)
    per_clip: dict[str, dict[str, float]] = {}
    for clip in sorted({r.frame.clip for r in results}):
        mine = [r for r in results if r.frame.clip == clip]
        per_clip[clip] = {"frames": len(mine), "right": float(np.mean([r.right(threshold) for r in mine]))}
    return FrameScore(
        threshold, len(results),
        float(np.mean([r.right(threshold) for r in results])) if results else nan,
        float(np.mean([r.right(threshold) for r in yes])) if yes else nan,
        float(np.mean([r.heights[0] >= threshold for r in no])) if no else nan,
        sum(f for f, _ in matched) / noses if noses else nan,
        sum(f for f, _ in matched) / max(1, sum(p for _, p in matched)) if several else nan,
        per_clip,
    )


def choose_threshold(results: list[FrameResult], portrait_confidences: np.ndarray, portraits_kept: float = 0.995,
                     prefer: float | None = None) -> float:
    """The presence threshold with the most real frames right, among those that keep a point on at
    least `portraits_kept` of the clear portraits (a clear portrait must get a point). Midway
    between neighbouring confidences; among equals the one nearest `prefer` (a fine-tune keeps its
    base model's threshold when a few frames cannot tell), else the middle of the best run."""
    heights = [r.heights[0] for r in results]
    values = np.unique(np.concatenate([heights, portrait_confidences, [0.0, 1.0]]))
    candidates = (values[:-1] + values[1:]) / 2
    if prefer is not None:
        candidates = np.unique(np.append(candidates, prefer))
    if portrait_confidences.size:
        ceiling = float(np.quantile(portrait_confidences, 1.0 - portraits_kept, method="lower"))
        allowed = candidates[candidates <= ceiling]
        candidates = allowed if allowed.size else candidates[:1]
    if not results:
        return float(candidates[-1]) if prefer is None else float(prefer)
    rights = np.array([np.mean([r.right(t) for r in results]) for t in candidates])
    best = candidates[rights == rights.max()]
    if prefer is not None:
        return float(best[np.argmin(np.abs(best - prefer))])
    return float(best[len(best) // 2])


class RealFrameDataset:
    """A torch Dataset of real frames: (SxSx3 uint8 tensor, (MAX_NOSES, 2) noses in model pixels,
    padded with footage.NO_POINT), a fresh random view each time. Randomness is drawn from torch's
    RNG so DataLoader workers get distinct, reproducible streams."""

    def __init__(self, frames: list[RealFrame], size: int, config: RealAugment = RealAugment()):
        self.frames = frames
        self.size = size
        self.config = config

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int):
        import torch

        from .footage import padded_points

        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        view = real_view(self.frames[index], self.size, rng, self.config)
        return torch.from_numpy(np.ascontiguousarray(view.image)), torch.from_numpy(padded_points(view.points))
