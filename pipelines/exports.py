"""Tracks in the formats the field reads, written by the field's own libraries.

    slp  NAME.pettrack.slp      SLEAP labels (sleap-io): one skeleton with one node, `nose`;
                                one SLEAP track per pettrack track; point and instance scores
                                are the detection confidences.
    nwb  NAME.pettrack.nwb      NWB with ndx-pose (sleap-io's writer): one PoseEstimation per
                                track, with each frame's time from the video and the source video
                                referenced.
    dlc  NAME.pettrack.dlc.csv  a DeepLabCut-style predictions table (movement's writer): one
                                individual per track, x, y and likelihood.

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
    # A coasting point has a position but no detection: confidence 0 (NaN would make sleap-io's
    # NWB writer drop the point).
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
    from datetime import datetime, timezone

    from sleap_io.io import nwb_predictions

    labels = _labels(arrays, record, csv_path)
    # sleap-io looks each point's time up by its frame index.
    times = np.full(int(arrays.frames.max()) + 1, np.nan)
    times[arrays.frames] = arrays.times
    nwb_predictions.write_nwb(
        labels, str(out),
        nwb_file_kwargs={
            "session_description": f"pettrack nose tracks of {_video_path(record, csv_path).name}",
            "identifier": f"pettrack-{_video_path(record, csv_path).stem}",
            "session_start_time": datetime.now(timezone.utc),
        },
        pose_estimation_metadata={"video_timestamps": times, "source_software": "pettrack",
                                  "scorer": record.model if record else "pettrack"},
    )
    _first_track_where_movement_looks(out)


def _first_track_where_movement_looks(path: Path) -> None:
    """sleap-io files each track under its video's processing module; movement's NWB reader looks
    for one PoseEstimation named "PoseEstimation" in the "behavior" module unless told otherwise.
    The first track is repeated there (with the same timestamps), so `load_poses.from_file(path,
    "NWB")` opens a one-pet file without arguments; other tracks are read by name (`nwb_keys`)."""
    import pynwb
    from ndx_pose import PoseEstimation, PoseEstimationSeries

    with pynwb.NWBHDF5IO(str(path), "a") as io:
        nwbfile = io.read()
        module = next(m for name, m in nwbfile.processing.items() if name.startswith("SLEAP_VIDEO"))
        first = min(module.data_interfaces, key=lambda name: int(name.rsplit("_", 1)[1]))
        series = module[first].pose_estimation_series[NODE]
        behavior = nwbfile.processing["behavior"]
        copy = PoseEstimationSeries(
            name=NODE, description=series.description, data=series.data[:], unit=series.unit,
            reference_frame=series.reference_frame, timestamps=series.get_timestamps(),
            confidence=series.confidence[:], confidence_definition=series.confidence_definition)
        behavior.add(PoseEstimation(
            name="PoseEstimation", pose_estimation_series=[copy],
            skeleton=next(iter(behavior["Skeletons"].skeletons.values())), source_software="pettrack",
            description=f"{first} of {module.name}, repeated where movement's NWB reader looks by default"))
        io.write(nwbfile)


def _write_dlc(arrays: TrackArrays, record: RunRecord | None, csv_path: Path, out: Path) -> None:
    from movement.io import load_poses, save_poses

    position = arrays.xy.transpose(0, 2, 1)[:, :, None, :]  # (time, space, keypoints, individuals)
    confidence = arrays.confidence[:, None, :]
    dataset = load_poses.from_numpy(position, confidence, individual_names=[_track_name(t) for t in arrays.tracks],
                                    keypoint_names=[NODE], fps=record.fps if record else None,
                                    source_software="pettrack")
    save_poses.to_dlc_file(dataset, out, split_individuals=False)
