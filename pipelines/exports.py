"""Tracks in the formats the field reads, written by the field's own libraries.

    slp  NAME.pettrack.slp      SLEAP labels (sleap-io): one skeleton with one node, `nose`;
                                one SLEAP track per pettrack track; point and instance scores
                                are the detection confidences.
    nwb  NAME.pettrack.nwb      NWB with ndx-pose, laid out as sleap-io writes it: one
                                PoseEstimation per track, a row for every frame with that frame's
                                time from the video (NaN where the track has no point), the source
                                video referenced.
    dlc  NAME.pettrack.dlc.csv  a DeepLabCut-style predictions table (movement's writer): one
                                individual per track, x, y and likelihood, a row per frame index.

`pip install "pettrack[export]"` installs sleap-io and movement. Reading them back:
`sleap_io.load_file` reads .slp and .nwb; `movement.io.load_poses.from_file` reads all three
(.nwb one track at a time: the first track without arguments, any track by name, see `nwb_keys`).
Coasting points (state `predicted`: the track's position without a detection that frame) are
exported with confidence 0; frames without a track have no instances.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from pettrack.model.files import atomic_path

from .tables import RunRecord, TrackArrays, track_arrays

EXPORT_FORMATS = ("slp", "nwb", "dlc")
SUFFIXES = {"slp": ".slp", "nwb": ".nwb", "dlc": ".dlc.csv"}
INSTALL_EXPORT = 'exports need sleap-io and movement: pip install "pettrack[export]"'
NODE = "nose"


class TrackExportError(Exception):
    """An export that cannot be made (library missing, nothing to export)."""


def export_path(csv_path: Path, fmt: str) -> Path:
    """NAME.pettrack.csv -> NAME.pettrack.slp / .nwb / .dlc.csv."""
    return Path(csv_path).with_suffix(SUFFIXES[fmt])


def parse_formats(text: str) -> tuple[str, ...]:
    """'slp,nwb' -> ('slp', 'nwb'); raises ValueError naming an unknown format."""
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise ValueError(f"{', '.join(unknown) or repr(text)}: export formats are {', '.join(EXPORT_FORMATS)}")
    return formats


def exports_available() -> bool:
    try:
        import movement  # noqa: F401
        import sleap_io  # noqa: F401
    except ImportError:
        return False
    return True


def nwb_keys(record: RunRecord | None, csv_path: Path, track: int) -> dict[str, str]:
    """The names under which track `track` lies in an exported .nwb, as movement's
    `load_poses.from_file(path, "NWB", **keys)` takes them."""
    return {"processing_module_key": f"SLEAP_VIDEO_000_{_video_path(record, csv_path).stem}",
            "pose_estimation_key": f"track={_track_name(track)}"}


def export_track(csv_path: Path, table, record: RunRecord | None, formats: tuple[str, ...]) -> list[Path]:
    """Write each format of the track `table` (read from `csv_path`) beside the CSV, atomically;
    returns the files written."""
    if not exports_available():
        raise TrackExportError(INSTALL_EXPORT)
    arrays = track_arrays(table)
    # A coasting point has a position but no detection: confidence 0 (NaN is kept for "no point").
    arrays = replace(arrays, confidence=np.where(np.isnan(arrays.xy[:, :, 0]), np.nan, np.nan_to_num(arrays.confidence)))
    if not arrays.tracks:
        raise TrackExportError(f"{csv_path}: no track to export (no nose was tracked)")
    written = []
    for fmt in formats:
        path = export_path(csv_path, fmt)
        with atomic_path(path) as tmp:
            {"slp": _write_slp, "nwb": _write_nwb, "dlc": _write_dlc}[fmt](arrays, record, csv_path, tmp)
        written.append(path)
    return written


def _track_name(track: int) -> str:
    return f"track_{track}"


def _video_path(record: RunRecord | None, csv_path: Path) -> Path:
    # Without a run record the source is unknown; the CSV's own name stands in for it.
    return Path(record.source) if record else Path(csv_path)


def _labels(arrays: TrackArrays, record: RunRecord | None, csv_path: Path):
    import sleap_io as sio

    skeleton = sio.Skeleton([NODE], name="pettrack-nose")
    video = sio.Video(filename=str(_video_path(record, csv_path)), open_backend=False)
    tracks = [sio.Track(name=_track_name(t)) for t in arrays.tracks]
    frames = []
    for row, frame in enumerate(arrays.frames):
        instances = []
        for column, track in enumerate(tracks):
            xy = arrays.xy[row, column]
            if np.isnan(xy).any():
                continue
            score = arrays.confidence[row, column]
            instances.append(sio.PredictedInstance.from_numpy(
                xy[None, :], skeleton, point_scores=np.array([score]),
                score=float(score) if not np.isnan(score) else 0.0, track=track))
        if instances:
            frames.append(sio.LabeledFrame(video=video, frame_idx=int(frame), instances=instances))
    return sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton], tracks=tracks)


def _write_slp(arrays: TrackArrays, record: RunRecord | None, csv_path: Path, out: Path) -> None:
    import sleap_io as sio

    sio.save_slp(_labels(arrays, record, csv_path), str(out))


def _write_nwb(arrays: TrackArrays, record: RunRecord | None, csv_path: Path, out: Path) -> None:
    """NWB with ndx-pose, laid out as sleap-io writes it (a processing module per video, a
    PoseEstimation per track), but on the video's timeline: every track's series has a row for
    every frame of the run, with that frame's own timestamp, and NaN where the track has no point.
    movement reads a series as evenly spaced in time, so a series of only the frames with a point
    would shift every point after a gap to a wrong time."""
    from datetime import datetime, timezone

    from ndx_pose import Skeleton, Skeletons
    from pynwb import NWBHDF5IO, NWBFile

    video = _video_path(record, csv_path)
    nwbfile = NWBFile(session_description=f"pettrack nose tracks of {video.name}", identifier=f"pettrack-{video.stem}",
                      session_start_time=datetime.now(timezone.utc))
    skeleton = Skeleton(name="pettrack-nose", nodes=[NODE], edges=np.zeros((0, 2), dtype="uint8"))
    behavior = nwbfile.create_processing_module(name="behavior", description="pettrack: the skeleton, and the first track")
    behavior.add(Skeletons(skeletons=[skeleton]))
    module = nwbfile.create_processing_module(name=f"SLEAP_VIDEO_000_{video.stem}", description="pettrack nose tracks")
    for column, track in enumerate(arrays.tracks):
        module.add(_pose_estimation(f"track={_track_name(track)}", arrays, column, skeleton, video, record,
                                    f"The nose of pettrack track {track} in {video.name}."))
    # movement's NWB reader looks for one PoseEstimation named "PoseEstimation" in "behavior" unless
    # told otherwise: the first track is repeated there, so a one-pet file opens without arguments
    # (other tracks are read by name, see nwb_keys).
    behavior.add(_pose_estimation("PoseEstimation", arrays, 0, skeleton, video, record,
                                  f"track={_track_name(arrays.tracks[0])} of {module.name}, repeated where movement's "
                                  "NWB reader looks by default."))
    with NWBHDF5IO(str(out), "w") as io:
        io.write(nwbfile)


def _pose_estimation(name: str, arrays: TrackArrays, column: int, skeleton, video: Path, record: RunRecord | None,
                     description: str):
    from ndx_pose import PoseEstimation, PoseEstimationSeries

    series = PoseEstimationSeries(
        name=NODE, description="The nose, smoothed by pettrack's tracker; NaN on frames without the track.",
        data=arrays.xy[:, column], unit="pixels",
        reference_frame="(x, y) in the video's pixels, the centre of the top-left pixel at (0, 0)",
        timestamps=arrays.times, confidence=arrays.confidence[:, column],
        confidence_definition="The heat-map peak height of the detection the track took (0 while it coasts).",
    )
    extra = {"dimensions": np.array([[record.width, record.height]], dtype="uint16")} if record else {}
    return PoseEstimation(name=name, pose_estimation_series=[series], description=description,
                          original_videos=[str(video)], skeleton=skeleton, source_software="pettrack",
                          scorer=record.model if record else "pettrack", **extra)


def _write_dlc(arrays: TrackArrays, record: RunRecord | None, csv_path: Path, out: Path) -> None:
    from movement.io import load_poses, save_poses

    # A DeepLabCut table's row is a frame index: a run that started later (--start) is padded with
    # empty rows from frame 0, so every row keeps its frame's number.
    before = int(arrays.frames[0]) if len(arrays.frames) else 0
    xy = np.concatenate([np.full((before, *arrays.xy.shape[1:]), np.nan), arrays.xy])
    scores = np.concatenate([np.full((before, arrays.confidence.shape[1]), np.nan), arrays.confidence])
    position = xy.transpose(0, 2, 1)[:, :, None, :]  # (time, space, keypoints, individuals)
    confidence = scores[:, None, :]
    dataset = load_poses.from_numpy(position, confidence, individual_names=[_track_name(t) for t in arrays.tracks],
                                    keypoint_names=[NODE], fps=record.fps if record else None,
                                    source_software="pettrack")
    save_poses.to_dlc_file(dataset, out, split_individuals=False)
