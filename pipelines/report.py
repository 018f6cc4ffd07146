"""The batch report: DIR/pettrack-report.html, one self-contained page for every run in a folder.

One row per NAME.pettrack.csv found under DIR: a thumbnail, duration, frames, the share of frames
with a nose tracked, mean confidence, number of tracks and cuts, a confidence timeline, and links
to the CSV, the annotated video (playable in the page) and the plot. No server and no network:
CSS and the sorting script are inline, thumbnails and timelines are embedded, other files are
linked by relative paths. Rows start sorted worst first (least tracked); any column header sorts.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pettrack.model.files import atomic_bytes

from .tables import TRACK_SUFFIX, RunRecord, TrackFileError, load_track, plot_path, representative_frame

REPORT_NAME = "pettrack-report.html"
# A run is flagged (red) when its nose is tracked on less than this share of its frames.
POOR_TRACKED = 0.5
THUMB_WIDTH = 160
TIMELINE_POINTS = 240


@dataclass(frozen=True)
class ReportRow:
    name: str
    csv: str  # relative to the report
    video: str | None
    plot: str | None
    source: str | None
    duration_s: float
    frames: int
    tracked: float
    mean_confidence: float
    tracks: int
    cuts: int
    threshold: float | None
    thumbnail: str | None  # a data: URI
    timeline: str  # inline SVG

    @property
    def poor(self) -> bool:
        return self.tracked < POOR_TRACKED


def find_runs(folder: Path) -> list[Path]:
    """Every track CSV under `folder`, in name order."""
    return sorted(p for p in Path(folder).rglob(f"*{TRACK_SUFFIX}") if not p.name.startswith("."))


def report_row(csv: Path, root: Path) -> ReportRow:
    table = load_track(csv)
    record = RunRecord.beside(csv)
    frames = table.groupby("frame", sort=True)
    times = frames["time_s"].first().to_numpy()
    peak = frames["confidence"].max().to_numpy(dtype=float)
    with_track = frames["track"].count().to_numpy() > 0
    taken = table.loc[table["state"] == "tracked", "confidence"].to_numpy(dtype=float)
    video = csv.with_suffix(".mp4")
    plot = plot_path(csv)
    fps = record.fps if record and record.fps else (1 / np.median(np.diff(times)) if len(times) > 1 else 30.0)
    return ReportRow(
        name=csv.name.removesuffix(TRACK_SUFFIX),
        csv=_relative(csv, root),
        video=_relative(video, root) if video.is_file() else None,
        plot=_relative(plot, root) if plot.is_file() else None,
        source=record.source if record else None,
        duration_s=record.duration_s if record else float(times[-1] - times[0] + 1 / fps) if len(times) else 0.0,
        frames=len(times),
        tracked=float(with_track.mean()) if len(times) else 0.0,
        mean_confidence=float(taken.mean()) if taken.size else float("nan"),
        tracks=int(table["track"].nunique()),
        cuts=len(record.cuts_s) if record else 0,
        threshold=record.presence_threshold if record else None,
        thumbnail=_thumbnail(representative_frame(table, video if video.is_file() else record.source if record else None)),
        timeline=_timeline(times, peak, with_track, record.presence_threshold if record else None,
                           record.cuts_s if record else []),
    )


def write_report(folder: Path, on_skip=lambda path, reason: None) -> tuple[Path, int]:
    """Write DIR/pettrack-report.html; returns its path and the number of rows. Track files
    that cannot be read are skipped (and reported through on_skip)."""
    folder = Path(folder)
    rows = []
    for csv in find_runs(folder):
        try:
            rows.append(report_row(csv, folder))
        except TrackFileError as exc:
            on_skip(csv, str(exc))
    path = folder / REPORT_NAME
    atomic_bytes(path, render(rows, folder.name or str(folder)).encode("utf-8"))
    return path, len(rows)


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _thumbnail(rgb: np.ndarray | None) -> str | None:
    """A small JPEG of a frame, as a data: URI."""
    import cv2

    if rgb is None:
        return None
    height = max(1, round(rgb.shape[0] * THUMB_WIDTH / rgb.shape[1]))
    small = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode() if ok else None


def _timeline(times: np.ndarray, peak: np.ndarray, with_track: np.ndarray, threshold: float | None,
              cuts: list[float], width: int = 220, height: int = 40) -> str:
    """An inline SVG: each frame's highest peak over time (green where a track is written, grey
    where not), the presence threshold dashed, scene cuts red."""
    if times.size == 0:
        return ""
    span = max(float(times[-1] - times[0]), 1e-9)
    step = max(1, len(times) // TIMELINE_POINTS)
    x = (times - times[0]) / span * width
    y = height - np.nan_to_num(peak, nan=0.0).clip(0, 1) * height
    marks = []
    for i in range(0, len(times), step):
        colour = "#2ca02c" if with_track[i] else "#b0b0b0"
        marks.append(f'<rect x="{x[i]:.1f}" y="{y[i]:.1f}" width="{max(width / len(times) * step, 1):.1f}" '
                     f'height="{height - y[i]:.1f}" fill="{colour}"/>')
    if threshold:
        ty = height - threshold * height
        marks.append(f'<line x1="0" x2="{width}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#000" stroke-dasharray="3,2"/>')
    for cut in cuts:
        cx = (cut - times[0]) / span * width
        marks.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="0" y2="{height}" stroke="#d62728" stroke-width="1.5"/>')
    return (f'<svg class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="confidence over time">{"".join(marks)}</svg>')


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.summary { margin-top: 0; color: #555; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 6px 8px; border-bottom: 1px solid #ddd; text-align: right; vertical-align: middle; }
th { background: #f3f3f3; cursor: pointer; user-select: none; position: sticky; top: 0; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td.name, th.name { text-align: left; }
td.name { min-width: 160px; max-width: 260px; overflow-wrap: anywhere; }  /* long clip names wrap: the page fits a 1366 px screen */
tr.poor { background: #fde8e8; }
tr.poor td.tracked { color: #b00020; font-weight: bold; }
td img.thumb { width: 160px; border-radius: 3px; display: block; }
td.links a { margin-right: 0.6em; }
video { width: 200px; display: block; margin-top: 4px; }
td.name small { display: inline-block; max-width: 240px; word-break: break-all; color: #666; }
.legend span { display: inline-block; margin-right: 1em; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
"""

SCRIPT = """
(function () {
  const table = document.getElementById("runs");
  const body = table.tBodies[0];
  const headers = Array.from(table.tHead.rows[0].cells);
  function sortBy(index, ascending) {
    const rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      const x = a.cells[index].dataset.value, y = b.cells[index].dataset.value;
      const nx = parseFloat(x), ny = parseFloat(y);
      const both = !isNaN(nx) && !isNaN(ny);
      const order = both ? nx - ny : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    headers.forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
    headers[index].classList.add(ascending ? "sorted-asc" : "sorted-desc");
    table.dataset.sortedBy = headers[index].dataset.key + (ascending ? ":asc" : ":desc");
  }
  headers.forEach(function (header, index) {
    if (!header.dataset.key) { return; }
    header.addEventListener("click", function () {
      sortBy(index, !header.classList.contains("sorted-asc"));
    });
  });
  const worstFirst = headers.findIndex(function (h) { return h.dataset.key === "tracked"; });
  sortBy(worstFirst, true);
  document.body.dataset.ready = "yes";
})();
"""

COLUMNS = (  # (key, heading, class)
    ("thumbnail", "", "thumb"), ("name", "video", "name"), ("duration", "duration (s)", ""), ("frames", "frames", ""),
    ("tracked", "nose tracked", "tracked"), ("confidence", "mean confidence", ""), ("tracks", "tracks", ""),
    ("cuts", "cuts", ""), ("timeline", "confidence over time", "timeline"), ("links", "files", "links name"),
)


def render(rows: list[ReportRow], title: str) -> str:
    poor = sum(r.poor for r in rows)
    head = "".join(
        f'<th class="{cls}"' + (f' data-key="{key}"' if key not in ("thumbnail", "timeline", "links") else "")
        + f">{html.escape(text)}</th>" for key, text, cls in COLUMNS)
    body = "\n".join(_render_row(r) for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pettrack report: {html.escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>pettrack report: {html.escape(title)}</h1>
<p class="summary">{len(rows)} video(s); {poor} with a nose tracked on less than {POOR_TRACKED:.0%} of their frames
(red). Sorted worst first; click a heading to sort by it.</p>
<p class="legend"><span><i class="swatch" style="background:#2ca02c"></i>frame with a track</span>
<span><i class="swatch" style="background:#b0b0b0"></i>no track (bar: the frame's highest peak)</span>
<span>- - presence threshold</span><span><i class="swatch" style="background:#d62728"></i>scene cut</span></p>
<table id="runs">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _render_row(row: ReportRow) -> str:
    def cell(key: str, value, text: str, cls: str = "") -> str:
        return f'<td class="{cls}" data-key="{key}" data-value="{html.escape(str(value), quote=True)}">{text}</td>'

    thumb = f'<img class="thumb" src="{row.thumbnail}" alt="{html.escape(row.name)}">' if row.thumbnail else ""
    links = [f'<a class="csv" href="{html.escape(row.csv, quote=True)}">CSV</a>']
    if row.plot:
        links.append(f'<a class="plot" href="{html.escape(row.plot, quote=True)}">plot</a>')
    if row.video:
        links.append(f'<a class="video" href="{html.escape(row.video, quote=True)}">video</a>')
        links.append(f'<video controls preload="metadata" src="{html.escape(row.video, quote=True)}"></video>')
    confidence = "" if np.isnan(row.mean_confidence) else f"{row.mean_confidence:.2f}"
    source = f'<br><small>{html.escape(row.source)}</small>' if row.source else ""
    cells = [
        cell("thumbnail", "", thumb, "thumb"),
        cell("name", row.name, html.escape(row.name) + source, "name"),
        cell("duration", f"{row.duration_s:.3f}", f"{row.duration_s:.1f}"),
        cell("frames", row.frames, str(row.frames)),
        cell("tracked", f"{row.tracked:.4f}", f"{row.tracked:.0%}", "tracked"),
        cell("confidence", confidence or "-1", confidence),
        cell("tracks", row.tracks, str(row.tracks)),
        cell("cuts", row.cuts, str(row.cuts)),
        cell("timeline", "", row.timeline, "timeline"),
        cell("links", "", " ".join(links), "links name"),
    ]
    return f'<tr class="run{" poor" if row.poor else ""}" data-name="{html.escape(row.name, quote=True)}">{"".join(cells)}</tr>'
