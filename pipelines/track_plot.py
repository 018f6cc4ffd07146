"""A picture of one video run: NAME.pettrack.png, made from the track CSV and the run record.

    ┌────────────────────────┬──────────────────────────────┐
    │ trajectory over a      │ x against time                │
    │ representative frame   ├──────────────────────────────┤
    │ (coloured by time, one │ y against time                │
    │ colour family a track) ├──────────────────────────────┤
    │                        │ confidence and the threshold  │
    │                        ├──────────────────────────────┤
    │                        │ states: tracked/predicted/lost│
    └────────────────────────┴──────────────────────────────┘

Raw detections are dots, the smoothed track a line; scene cuts are red lines on every time axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pettrack.model.files import atomic_path

from .tables import RunRecord, representative_frame

# One colour family per track (cycled): the trajectory runs from its light to its dark end over time.
FAMILIES = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys", "YlOrBr", "PuRd")
STATE_COLOURS = {"tracked": "#2ca02c", "predicted": "#ff9f1c", "lost": "#c7c7c7"}
CUT_COLOUR = "#d62728"


def frame_states(table) -> tuple[np.ndarray, np.ndarray]:
    """(times, state per frame): tracked if any track took a detection, else predicted if one
    coasts, else lost."""
    rank = {"lost": 0, "predicted": 1, "tracked": 2}
    best = table.assign(rank=table["state"].map(rank)).groupby("frame", sort=True).agg(
        time_s=("time_s", "first"), rank=("rank", "max"))
    names = np.array(["lost", "predicted", "tracked"])
    return best["time_s"].to_numpy(), names[best["rank"].to_numpy(dtype=int)]


def plot_track(table, record: RunRecord | None, out: Path, title: str, frame: np.ndarray | None = None) -> Path:
    """Draw the picture of a run and write it (atomically) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if frame is None:
        frame = representative_frame(table, record.source if record else None)
    if frame is None:  # the source cannot be read: the trajectory over a grey canvas of its size
        frame = np.full((record.height, record.width, 3) if record else (360, 640, 3), 200, dtype=np.uint8)
    figure = plt.figure(figsize=(14, 7.5), dpi=100, layout="constrained")
    grid = figure.add_gridspec(4, 2, width_ratios=[1.15, 1], height_ratios=[1, 1, 1, 0.35])
    picture = figure.add_subplot(grid[:, 0])
    ax_x = figure.add_subplot(grid[0, 1])
    ax_y = figure.add_subplot(grid[1, 1], sharex=ax_x)
    ax_c = figure.add_subplot(grid[2, 1], sharex=ax_x)
    ax_s = figure.add_subplot(grid[3, 1], sharex=ax_x)

    picture.imshow(frame)
    picture.set_title("trajectory (light: early, dark: late)", fontsize=10)
    picture.set_xticks([])
    picture.set_yticks([])
    times = table["time_s"].to_numpy()
    start, end = (float(times.min()), float(times.max())) if len(times) else (0.0, 1.0)
    rows = table[table["track"].notna()]
    tracks = sorted(int(t) for t in rows["track"].unique())
    every_frame = table.groupby("frame", sort=True)["time_s"].first()
    for i, track in enumerate(tracks):
        family = plt.get_cmap(FAMILIES[i % len(FAMILIES)])
        mine = rows[rows["track"] == track]
        # Over every frame, NaN where the track is not written: lines break where the track was hidden.
        line = mine.set_index("frame")[["x", "y"]].reindex(every_frame.index).assign(time_s=every_frame.to_numpy())
        shade = 0.35 + 0.6 * (mine["time_s"].to_numpy() - start) / max(end - start, 1e-9)
        picture.plot(line["x"], line["y"], color=family(0.6), linewidth=0.8, alpha=0.6)
        picture.scatter(mine["x"], mine["y"], c=family(shade), s=9, linewidths=0)
        line_colour = family(0.75)
        for axis, column in ((ax_x, "x"), (ax_y, "y")):
            axis.plot(line["time_s"], line[column], color=line_colour, linewidth=1.4, label=f"track {track}")
            axis.scatter(mine["time_s"], mine[f"{column}_raw"], color=line_colour, s=7, alpha=0.45, linewidths=0)
        ax_c.scatter(mine["time_s"], mine["confidence"], color=line_colour, s=7, linewidths=0)
    lost = table[table["track"].isna()]
    ax_c.scatter(lost["time_s"], lost["confidence"], color="#999999", s=5, linewidths=0, label="no track (best peak)")
    threshold = record.presence_threshold if record else None
    if threshold:
        ax_c.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"presence threshold {threshold:.2f}")
    ax_x.set_ylabel("x (px)")
    ax_y.set_ylabel("y (px)")
    ax_y.invert_yaxis()  # image rows grow downwards: up on the plot is up in the picture
    ax_c.set_ylabel("confidence")
    ax_c.set_ylim(0, 1.02)
    if tracks:
        ax_x.legend(loc="upper right", fontsize=8, ncols=min(4, len(tracks)))
    ax_c.legend(loc="lower right", fontsize=8)

    state_times, states = frame_states(table)
    codes = np.array([list(STATE_COLOURS).index(s) for s in states])[None, :]
    half = (state_times[1] - state_times[0]) / 2 if len(state_times) > 1 else 0.5
    ax_s.imshow(codes, aspect="auto", interpolation="nearest", cmap=ListedColormap(list(STATE_COLOURS.values())),
                vmin=0, vmax=len(STATE_COLOURS) - 1, extent=(start - half, end + half, 0, 1))
    ax_s.set_yticks([])
    ax_s.set_ylabel("state")
    ax_s.set_xlabel("time (s)")
    handles = [Patch(color=c, label=s) for s, c in STATE_COLOURS.items()]
    cuts = record.cuts_s if record else []
    for cut in cuts:
        for axis in (ax_x, ax_y, ax_c, ax_s):
            axis.axvline(cut, color=CUT_COLOUR, linewidth=1.2)
    if cuts:
        handles.append(Patch(color=CUT_COLOUR, label="scene cut"))
    ax_s.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.9), ncols=len(handles), fontsize=8,
                frameon=False)
    for axis in (ax_x, ax_y, ax_c):
        axis.grid(alpha=0.3)
        axis.tick_params(labelbottom=False)
    summary = (f"{len(tracks)} track(s), nose tracked on {record.tracked_fraction:.0%} of {record.frames} frames, "
               f"{len(cuts)} cut(s)" if record else f"{len(tracks)} track(s)")
    figure.suptitle(f"{title}: {summary}", fontsize=12)
    out = Path(out)
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return out
