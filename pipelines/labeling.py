"""`pettrack label`: frames worth labelling, the labels file they are saved to, and the local page
that shows them.

- `analyse_clip` runs the model over a clip (at most `max_frames` frames, evenly spread) and on
  each frame's mirror image; `pick_frames` chooses the frames to label: where the model is unsure
  (a peak near the presence threshold, a mirror image that disagrees, a track that jumps) plus
  evenly spaced ones, each with its reason.
- `LabelStore` is the labels file, in the footage format that `train` and `finetune` read
  (model/frames.py). Every answer rewrites it atomically; rows it does not manage (other clips,
  extra columns, rows it cannot parse) are kept as they were.
- `LabelServer` serves the page (label_page.html), the picked frames and the answers, on
  127.0.0.1 only. Nothing is read from disk by a path the browser gives: frames are addressed by
  their number in the list of picks.

The picks are kept beside the labels file (LABELS.picks.json), so running `label` again shows the
same frames and opens at the first one without an answer.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import threading
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from pettrack.model.files import atomic_bytes
from pettrack.model.frames import COLUMNS, clip_frames, decode_frames, parse_noses

PICKS_VERSION = 1
MAX_BODY = 64 * 1024  # an answer is a few hundred bytes
# A model peak within this share of the threshold is "unsure"; mirror disagreement and track
# jumps are measured in shares of the frame's short side.
NEAR_THRESHOLD = 0.15
MIRROR_GAP = 0.08
TRACK_JUMP = 0.15
LOWEST_PEAK = 0.05  # peaks under this are not shown as guesses


class LabelingError(Exception):
    """A clip that cannot be analysed or a picks file that cannot be used."""


# --- Which frames to label ----------------------------------------------------------------------

@dataclass(frozen=True)
class Guess:
    x: float
    y: float
    confidence: float


@dataclass(frozen=True)
class FrameCheck:
    """The model on one frame: its guesses (highest first; at least the highest peak), and how much
    its mirror image and the previous checked frame disagree, in shares of the short side."""

    index: int
    guesses: tuple[Guess, ...]
    mirror_gap: float
    jump: float  # nan when this or the previous checked frame has no nose above the threshold
    breaks: bool = False  # a nose above the threshold in the previous checked frame, none here


@dataclass(frozen=True)
class Pick:
    clip: str  # as the labels file names it: relative to its folder when inside it, else absolute
    frame: int
    width: int
    height: int
    reason: str
    guesses: tuple[Guess, ...]

    @property
    def key(self) -> tuple[str, int]:
        return (self.clip, self.frame)


def clip_name(clip: Path, labels: Path) -> str:
    """How the labels file names a clip: relative to the labels file's folder when inside it."""
    clip, folder = Path(clip).resolve(), Path(labels).resolve().parent
    try:
        return clip.relative_to(folder).as_posix()
    except ValueError:
        return str(clip)


def _short_side_gap(a: Guess, b: Guess, width: int, height: int) -> float:
    return math.hypot(a.x - b.x, a.y - b.y) / min(width, height)


def analyse_clip(localizer, clip: Path, frame_count: int, max_frames: int,
                 on_frame: Callable[[], None] = lambda: None) -> tuple[list[FrameCheck], int, int]:
    """The model's view of up to `max_frames` frames of `clip`, evenly spread, and the frame size.
    `frame_count` is a hint (0 when unknown: every frame is then a candidate)."""
    every = max(1, math.ceil(frame_count / max_frames)) if frame_count else 1
    threshold = localizer.min_confidence
    checks: list[FrameCheck] = []
    width = height = 0
    previous: Guess | None = None
    batch: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        nonlocal previous
        prepared = []
        for _, rgb in batch:
            prepared += [localizer.prepare(rgb), localizer.prepare(np.ascontiguousarray(rgb[:, ::-1]))]
        found = localizer.detect(prepared)
        for (index, _), plain, mirrored in zip(batch, found[0::2], found[1::2]):
            guesses = tuple(Guess(d.x, d.y, d.confidence) for d in (plain.noses or (plain.peak,)))
            flipped = Guess(width - 1 - mirrored.peak.x, mirrored.peak.y, mirrored.peak.confidence)
            top = guesses[0]
            gap = _short_side_gap(top, flipped, width, height)
            if max(top.confidence, flipped.confidence) < threshold - NEAR_THRESHOLD:
                gap = 0.0  # both see no nose: where their weak peaks lie says nothing
            present = top.confidence >= threshold
            jump = _short_side_gap(top, previous, width, height) if present and previous else float("nan")
            breaks = previous is not None and not present
            previous = top if present else None
            checks.append(FrameCheck(index, guesses, gap, jump, breaks))
            on_frame()
        batch.clear()

    for index, rgb in clip_frames(clip, every):
        height, width = rgb.shape[:2]
        batch.append((index, rgb))
        if len(batch) == 8:
            flush()
        if frame_count and len(checks) + len(batch) >= max_frames:
            break
    if batch:
        flush()
    if not checks:
        raise LabelingError(f"{clip}: no frame could be decoded")
    return checks, width, height


def unsureness(check: FrameCheck, threshold: float) -> tuple[float, str]:
    """How much a label of this frame would teach the model (0..1), and why, in words."""
    top = check.guesses[0]
    near = max(0.0, 1.0 - abs(top.confidence - threshold) / NEAR_THRESHOLD)
    mirror = min(1.0, check.mirror_gap / MIRROR_GAP) if check.mirror_gap >= MIRROR_GAP / 2 else 0.0
    jump = 0.0 if math.isnan(check.jump) else min(1.0, check.jump / TRACK_JUMP) if check.jump >= TRACK_JUMP / 2 else 0.0
    score, reason = max(
        (near, f"unsure: its peak {top.confidence:.2f} is near the threshold {threshold:.2f}"),
        (mirror, f"the mirror image disagrees by {check.mirror_gap:.0%} of the frame's short side"),
        (jump, f"the track jumps {check.jump:.0%} of the frame's short side since the previous checked frame"),
        (0.6 if check.breaks else 0.0, "the track breaks here: a nose in the previous checked frame, none here"),
        key=lambda pair: pair[0],
    )
    return score, reason


def pick_frames(checks: list[FrameCheck], count: int, threshold: float,
                taken: Iterable[int] = ()) -> list[tuple[FrameCheck, str]]:
    """`count` frames of one clip, in time order: about two thirds where the model is most unsure
    (no two closer than half the even spacing), the rest evenly spaced. Frames in `taken` (picked
    by an earlier round) are not picked again, and new picks keep apart from them too."""
    taken = set(taken)
    positions = sorted(c.index for c in checks if c.index not in taken)
    count = min(count, len(positions))
    if count <= 0:
        return []
    span = checks[-1].index - checks[0].index + 1
    min_gap = span / (2 * (count + len(taken)))
    chosen: dict[int, str] = {}

    def apart(i: int) -> float:
        return min((abs(i - other) for other in (*chosen, *taken)), default=float("inf"))

    ranked = sorted(((unsureness(c, threshold), c) for c in checks if c.index not in taken), key=lambda pair: -pair[0][0])
    for (score, reason), check in ranked:
        if len(chosen) >= count - max(1, count // 3) or score < 0.2:
            break
        if apart(check.index) >= min_gap:
            chosen[check.index] = reason
    even = count - len(chosen)
    for k in range(even):  # evenly spaced ones, where they keep apart from the others
        target = checks[0].index + (k + 0.5) * span / even
        free = [i for i in positions if i not in chosen and apart(i) >= min_gap]
        if free:
            chosen[min(free, key=lambda i: abs(i - target))] = "evenly spaced"
    while len(chosen) < count:  # what is left: the frames farthest from every pick
        chosen[max((i for i in positions if i not in chosen), key=apart)] = "evenly spaced"
    by_index = {c.index: c for c in checks}
    return [(by_index[i], chosen[i]) for i in sorted(chosen)]


def share_frames(total: int, clips: int) -> list[int]:
    """`total` picks shared between clips as evenly as possible."""
    return [total // clips + (1 if k < total % clips else 0) for k in range(clips)]


def plan_picks(videos: list[Path], labels: Path, count: int, make_localizer: Callable[[], object],
               answered: Callable[[Pick], bool] = lambda pick: False, max_checked: int = 150,
               on_clip: Callable[[Path, int], Callable[[], None]] | None = None) -> tuple[list[Pick], float, int]:
    """The picks for `videos`: those an earlier run saved beside the labels file, plus new ones
    chosen now (the model is loaded only then): `count`, shared between the clips, for each clip
    no earlier run covered, or, once every earlier pick of these clips is answered, `count` more
    for every clip (the refine loop: label, fine-tune, label again with --weights of the result).
    Writes the picks file. Returns the picks of `videos` in clip and time order, the threshold,
    and how many are new."""
    from pettrack.pipelines.video_io import probe

    path = picks_path(labels)
    saved, threshold = read_picks(path)
    names = {clip_name(v, labels): Path(v) for v in videos}
    earlier = [p for p in saved if p.clip in names]
    if earlier and all(answered(p) for p in earlier):
        to_pick = list(names)  # another round over every clip
    else:
        to_pick = [name for name in names if name not in {p.clip for p in earlier}]
    added: list[Pick] = []
    if to_pick:
        localizer = make_localizer()
        threshold = localizer.min_confidence
        shares = dict(zip(names, share_frames(count, len(names))))
        for name in to_pick:
            info = probe(names[name])
            hint = info.frame_count or info.estimated_frames
            ticker = on_clip(names[name], min(hint, max_checked) if hint else 0) if on_clip else (lambda: None)
            checks, width, height = analyse_clip(localizer, names[name], hint, max_checked, ticker)
            taken = [p.frame for p in earlier if p.clip == name]
            for check, reason in pick_frames(checks, shares[name], threshold, taken):
                guesses = tuple(g for g in check.guesses if g.confidence >= LOWEST_PEAK) or check.guesses[:1]
                added.append(Pick(name, check.index, width, height, reason, guesses))
        write_picks(path, saved + added, threshold)
    order = list(names)
    picks = sorted(earlier + added, key=lambda p: (order.index(p.clip), p.frame))
    return picks, float(threshold or 0.0), len(added)


# --- The picks file -----------------------------------------------------------------------------

def picks_path(labels: Path) -> Path:
    return labels.with_name(labels.name + ".picks.json") if labels.suffix != ".csv" else labels.with_suffix(".picks.json")


def read_picks(path: Path) -> tuple[list[Pick], float | None]:
    """Picks saved by an earlier `label` run and the threshold they were made at ([], None when
    there is no file). A JSON file only: never anything that would run code."""
    if not path.is_file():
        return [], None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("version") != PICKS_VERSION:
            raise ValueError(f"version {record.get('version')!r}, expected {PICKS_VERSION}")
        return [Pick(p["clip"], int(p["frame"]), int(p["width"]), int(p["height"]), str(p["reason"]),
                     tuple(Guess(float(g["x"]), float(g["y"]), float(g["confidence"])) for g in p["guesses"]))
                for p in record["picks"]], float(record["threshold"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabelingError(f"{path}: not a picks file pettrack can use ({exc}); remove it to pick again") from exc


def write_picks(path: Path, picks: list[Pick], threshold: float) -> None:
    record = {"version": PICKS_VERSION, "threshold": threshold, "picks": [asdict(p) for p in picks]}
    atomic_bytes(path, json.dumps(record, indent=1).encode("utf-8"))


# --- The labels file ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    visible: str  # yes or no
    noses: tuple[tuple[float, float], ...]


def format_noses(noses: Iterable[tuple[float, float]]) -> str:
    return ";".join(f"{x:.1f} {y:.1f}" for x, y in noses)


class LabelStore:
    """The labels file. Answers are keyed by (clip, frame); every change rewrites the whole file
    atomically, so a crash or Ctrl-C leaves the previous or the new file, never half of one."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock = threading.Lock()
        self.fieldnames = list(COLUMNS)
        self.rows: list[dict[str, str]] = []
        if self.path.is_file():
            text = self.path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
            reader = csv.DictReader(io.StringIO(text, newline=""))
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise LabelingError(f"{self.path}: not a footage labels file (no column {', '.join(missing)}); "
                                    "give another --labels")
            self.fieldnames += [c for c in reader.fieldnames or [] if c and c not in COLUMNS]
            self.rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
        self._reindex()

    def _reindex(self) -> None:
        """Row positions by (clip, frame): the page asks for every pick's answer on each load."""
        self._positions = {((row.get("clip") or ""), (row.get("frame") or "").strip()): position
                           for position, row in reversed(list(enumerate(self.rows)))}

    def _find(self, key: tuple[str, int]) -> int | None:
        return self._positions.get((key[0], str(key[1])))

    def answer(self, key: tuple[str, int]) -> Answer | None:
        position = self._find(key)
        if position is None:
            return None
        row = self.rows[position]
        try:
            return Answer((row.get("visible") or "").strip().lower(), parse_noses(row.get("noses") or ""))
        except ValueError:
            return None

    def save(self, pick: Pick, answer: Answer | None) -> None:
        """Record (or, with None, remove) the answer for a pick, and rewrite the file."""
        with self.lock:
            position = self._find(pick.key)
            if answer is None:
                if position is not None:
                    del self.rows[position]
            else:
                row = {"file": "", "clip": pick.clip, "frame": str(pick.frame), "width": str(pick.width),
                       "height": str(pick.height), "visible": answer.visible, "noses": format_noses(answer.noses)}
                if position is None:
                    self.rows.append(row)
                else:
                    self.rows[position] = {**self.rows[position], **row}
            self._reindex()
            self._write()

    def _write(self) -> None:
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=self.fieldnames, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_bytes(self.path, buffer.getvalue().encode("utf-8"))


def check_answer(pick: Pick, body: dict) -> Answer | None:
    """The answer a page sent, checked: None clears the frame's answer; ValueError says what is wrong."""
    if body.get("clear"):
        return None
    visible = body.get("visible")
    noses = body.get("noses") or []
    if visible not in ("yes", "no"):
        raise ValueError("visible must be yes or no")
    if not isinstance(noses, list) or len(noses) > 64:
        raise ValueError("noses must be a list of [x, y]")
    points = []
    for point in noses:
        if not (isinstance(point, list) and len(point) == 2 and all(isinstance(v, (int, float)) for v in point)):
            raise ValueError("a nose is [x, y]")
        x, y = float(point[0]), float(point[1])
        if not (0 <= x < pick.width and 0 <= y < pick.height):
            raise ValueError(f"nose ({x:g}, {y:g}) is outside the {pick.width}x{pick.height} frame")
        points.append((round(x, 1), round(y, 1)))
    if (visible == "yes") != bool(points):
        raise ValueError("a frame with a nose needs at least one point; 'no' takes none")
    return Answer(visible, tuple(points))


# --- The session and its server -----------------------------------------------------------------

class LabelSession:
    """What the page works on: the picks, the frame images and the labels file."""

    def __init__(self, picks: list[Pick], images: list[bytes], store: LabelStore, threshold: float):
        self.picks = picks
        self.images = images
        self.store = store
        self.threshold = threshold
        self.done = threading.Event()

    def state(self) -> dict:
        answers = {}
        for number, pick in enumerate(self.picks):
            answer = self.store.answer(pick.key)
            if answer is not None:
                answers[str(number)] = {"visible": answer.visible, "noses": [list(n) for n in answer.noses]}
        return {
            "labels": str(self.store.path), "threshold": self.threshold, "answers": answers,
            "frames": [{"id": n, "clip": Path(p.clip).name, "frame": p.frame, "width": p.width, "height": p.height,
                        "reason": p.reason, "guesses": [asdict(g) for g in p.guesses]} for n, p in enumerate(self.picks)],
        }

    def counts(self) -> tuple[int, int]:
        """(frames with a nose, frames with none) answered among the picks."""
        answers = [self.store.answer(p.key) for p in self.picks]
        return (sum(1 for a in answers if a and a.visible == "yes"), sum(1 for a in answers if a and a.visible == "no"))


def encode_frames(picks: list[Pick], clips: dict[str, Path]) -> list[bytes]:
    """Each pick's frame as a JPEG (decoded once per clip, upright, at its full size)."""
    import cv2

    images: dict[tuple[str, int], bytes] = {}
    for name in sorted({p.clip for p in picks}):
        wanted = {p.frame for p in picks if p.clip == name}
        found, count = decode_frames(clips[name], wanted)
        for index in wanted:
            if index not in found:
                raise LabelingError(f"{clips[name]}: frame {index} is past the end of the clip ({count} frames)")
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(found[index], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            images[(name, index)] = data.tobytes()
    return [images[p.key] for p in picks]


def page_html() -> bytes:
    return resources.files("pettrack.pipelines").joinpath("label_page.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: "LabelServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # the command's own lines say what happens; a request log would bury them

    def _host_allowed(self) -> bool:
        # A page from another site cannot reach the server through DNS rebinding: the Host must be ours.
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, record: dict) -> None:
        self._send(status, json.dumps(record).encode("utf-8"), "application/json")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        session = self.server.session
        if not self._host_allowed():
            return self._json(HTTPStatus.FORBIDDEN, {"error": "unknown host"})
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, page_html(), "text/html; charset=utf-8")
        if path == "/api/session":
            return self._json(HTTPStatus.OK, session.state())
        if path.startswith("/frame/") and path.endswith(".jpg"):
            number = path[len("/frame/"):-len(".jpg")]
            if number.isdigit() and int(number) < len(session.images):
                return self._send(HTTPStatus.OK, session.images[int(number)], "image/jpeg")
        self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        session = self.server.session
        if not self._host_allowed():
            return self._json(HTTPStatus.FORBIDDEN, {"error": "unknown host"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "too large"})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "not JSON"})
        if self.path == "/api/done":
            self._json(HTTPStatus.OK, {"ok": True})
            session.done.set()
            return None
        if self.path != "/api/answer" or not isinstance(body, dict):
            return self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        number = body.get("id")
        if not isinstance(number, int) or not 0 <= number < len(session.picks):
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "no such frame"})
        try:
            answer = check_answer(session.picks[number], body)
            session.store.save(session.picks[number], answer)
        except ValueError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except OSError as exc:
            return self._json(HTTPStatus.INSUFFICIENT_STORAGE, {"error": f"cannot write {session.store.path}: {exc.strerror}"})
        self._json(HTTPStatus.OK, {"saved": str(number)})


class LabelServer(ThreadingHTTPServer):
    """The page's server, on 127.0.0.1 only (port 0: any free port)."""

    daemon_threads = True

    def __init__(self, session: LabelSession, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.session = session

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def run_until_done(self) -> None:
        """Serve until the page says it is done (or Ctrl-C, which the caller sees)."""
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        try:
            while not self.session.done.wait(0.2):
                pass
        finally:
            self.shutdown()
            self.server_close()


def browser_available() -> bool:
    """Whether `webbrowser` would open a graphical browser (on a headless machine it may pick a
    text browser that takes over the terminal the server's messages go to)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
