"""`pettrack export`: the model for other runtimes, and int8 models calibrated on labelled images or frames."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pettrack.model.files import check_outputs

from ..console import err, fail, warn
from .common import EXIT_FAILED, outputs_refused, read_label_file


def run(
    *,
    fmt: str,
    out_file: Path,
    weights: Optional[Path],
    int8: bool,
    images: Optional[Path],
    labels: Optional[Path],
    videos: Optional[Path],
) -> None:
    """Export the model. onnx/torchscript: letterboxed, normalised NCHW float in; openvino:
    letterboxed uint8 NHWC RGB in (normalisation inside). Out: the heat-map."""
    from pettrack.model.export import ExportError, export_model
    from pettrack.model.weights import WeightsError, read_info, weights_file

    if int8 and fmt != "openvino":
        raise typer.BadParameter("int8 quantization is for --format openvino", param_hint="--int8")
    frame_labels = int8 and labels is not None and _is_frame_labels(labels)
    if int8 and (labels is None or (images is None and not frame_labels)):
        raise typer.BadParameter("--int8 calibrates on labelled images: give --images and --labels, or --labels with "
                                 "your labelled video frames", param_hint="--int8")
    outputs = [out_file, out_file.with_suffix(".bin")] if fmt == "openvino" else [out_file]
    try:
        source = weights_file(weights)
        with outputs_refused():
            check_outputs(outputs, [source])
        size = read_info(source).net.input_size
    except WeightsError as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    calibration = None
    if frame_labels:
        calibration = _frame_calibration_views(labels, videos, size)
    elif int8:
        calibration = _calibration_views(images, labels, size)
    try:
        export_model(source, fmt, out_file, calibration)
    except (ExportError, WeightsError) as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    shape = f"1..N x {size} x {size} x 3 uint8" if fmt == "openvino" else f"1..N x 3 x {size} x {size}"
    err.print(f"wrote {out_file} ({fmt}{', int8' if int8 else ''}, input {shape})", highlight=False)


def _calibration_views(images: Path, labels: Path, size: int) -> list:
    """The int8 calibration inputs: from the training side of train's deterministic split, so the
    validation images that measure the int8 model's accuracy are never seen by it."""
    from pettrack.model.data import load_samples, split_names
    from pettrack.model.quantize import calibration_views

    label_file = read_label_file(labels)
    train_side, _ = split_names([label.name for label in label_file.labels], 0.1)
    chosen = [label for label in label_file.labels if label.name in train_side]
    samples, skipped = load_samples(images, chosen, max_side=2 * size)
    for sample in skipped:
        warn(f"{labels}:{sample.line}", f"{sample.name}: {sample.reason}")
    if not samples:
        fail(f"{images}: no labelled image could be read for calibration")
        raise typer.Exit(EXIT_FAILED)
    return calibration_views(samples, size)


def _is_frame_labels(labels: Path) -> bool:
    """Whether a label file is in the footage format (a CSV header starting file,clip,frame)."""
    try:
        with labels.open("rb") as handle:
            return handle.readline().removeprefix(b"\xef\xbb\xbf").startswith(b"file,clip,frame")
    except OSError:
        return False


def _frame_calibration_views(labels: Path, videos: Optional[Path], size: int) -> list:
    """The int8 calibration inputs from labelled video frames (a user's own, from pettrack label)."""
    from pettrack.model.frames import FrameLabelsError, load_frames, read_frame_labels
    from pettrack.model.quantize import frame_calibration_views

    try:
        label_file = read_frame_labels(labels)
    except FrameLabelsError as exc:
        fail(str(exc))
        raise typer.Exit(EXIT_FAILED) from exc
    for problem in label_file.problems:
        warn(f"{labels}:{problem.line}", problem.reason)
    frames, skipped = load_frames(label_file, videos, keep_disputed=True)
    for frame in skipped:
        warn(f"{labels}:{frame.line}", f"{frame.name}: {frame.reason}")
    if not frames:
        fail(f"{labels}: no labelled frame could be read for calibration")
        raise typer.Exit(EXIT_FAILED)
    return frame_calibration_views(frames, size)
