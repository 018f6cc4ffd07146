"""`pettrack folder`: every image in a folder through the localizer, in batches, streaming.

Decoding and letterboxing run in a worker pool ahead of the model; results come out in file
order. Memory is bounded by the batch size and the pool's look-ahead, not by the folder size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pettrack.model.files import atomic_bytes, same_file
from pettrack.model.images import ImageReadError, LoadedImage, is_image_path, load_image
from pettrack.model.localizer import Localizer, Prepared, batched

from .draw import draw_nose, encode_image, overlay_heatmap
from .parallel import ordered_map

# Huge JPEGs are decoded at a reduced scale with at least this many pixels on the longer side
# (plenty for the 256 px model; annotated copies of such photos come out at that size).
DECODE_MIN_SIDE = 2048

CSV_COLUMNS = ("file", "x", "y", "confidence", "width", "height")


@dataclass(frozen=True)
class ImageResult:
    file: str  # relative to the folder, with forward slashes
    x: float | None  # original pixels, display orientation; None: no nose (peak below the threshold)
    y: float | None
    confidence: float  # the heat-map peak, also when it is below the threshold
    width: int
    height: int

    def csv_row(self) -> list[str]:
        xy = ["", ""] if self.x is None else [f"{self.x:.2f}", f"{self.y:.2f}"]
        return [self.file, *xy, f"{self.confidence:.4f}", str(self.width), str(self.height)]


@dataclass(frozen=True)
class ImageFailure:
    file: str
    reason: str


@dataclass(frozen=True)
class FolderOptions:
    batch_size: int = 16
    workers: int = 2
    annotate_dir: Path | None = None
    heatmap: bool = False

    def check(self, root: Path) -> None:
        """Refuse, before any work, an annotation folder that would overwrite the originals."""
        if self.annotate_dir is not None and same_file(self.annotate_dir, root):
            raise ValueError("--annotate must be a different folder from the input (originals are never overwritten)")


@dataclass
class FolderSummary:
    processed: int = 0
    failures: list[ImageFailure] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C: the results so far were all delivered


def find_files(root: Path, recursive: bool) -> tuple[list[Path], list[Path]]:
    """(image files, other files) under root, sorted; hidden files and folders are ignored."""
    candidates = root.rglob("*") if recursive else root.iterdir()
    images, others = [], []
    for path in sorted(candidates):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        (images if is_image_path(path) else others).append(path)
    return images, others


@dataclass
class _Decoded:
    path: Path
    image: LoadedImage | None = None
    prepared: Prepared | None = None
    error: str | None = None


def _decoder(localizer: Localizer) -> Callable[[Path], _Decoded]:
    def decode(path: Path) -> _Decoded:
        try:
            image = load_image(path, min_side=DECODE_MIN_SIDE)
        except ImageReadError as exc:
            return _Decoded(path, error=str(exc))
        return _Decoded(path, image, localizer.prepare(image.rgb, image.decode_scale))

    return decode


def run_folder(
    localizer: Localizer,
    root: Path,
    paths: list[Path],
    options: FolderOptions,
    on_result: Callable[[ImageResult], None],
    on_failure: Callable[[ImageFailure], None],
) -> FolderSummary:
    """Localize the nose in each path; callbacks fire in file order as results are made. Ctrl-C
    ends the run early with `interrupted` set in the summary."""
    options.check(root)
    summary = FolderSummary()
    try:
        _localize_all(localizer, root, paths, options, summary, on_result, on_failure)
    except KeyboardInterrupt:
        summary.interrupted = True
    return summary


def _localize_all(
    localizer: Localizer, root: Path, paths: list[Path], options: FolderOptions, summary: FolderSummary,
    on_result: Callable[[ImageResult], None], on_failure: Callable[[ImageFailure], None],
) -> None:
    decoded = ordered_map(_decoder(localizer), paths, options.workers, window=options.batch_size + 2 * options.workers)
    for batch in batched((item for _, item in decoded), options.batch_size, counts=lambda item: item.error is None):
        good = [item for item in batch if item.error is None]
        output = localizer.infer(np.stack([item.prepared.input for item in good]), heatmaps=options.heatmap) if good else None
        good_index = {id(item): i for i, item in enumerate(good)}
        for item in batch:
            relative = item.path.relative_to(root).as_posix()
            if item.error is not None:
                failure = ImageFailure(relative, item.error)
                summary.failures.append(failure)
                on_failure(failure)
                continue
            i = good_index[id(item)]
            x, y = (float(v) for v in item.prepared.to_original(output.points[i]))
            if not output.present[i]:
                x = y = None
            result = ImageResult(relative, x, y, float(output.confidence[i]), item.image.width, item.image.height)
            if options.annotate_dir is not None:
                heat = output.heatmaps[i] if output.heatmaps is not None else None
                try:
                    _write_annotated(item, result, heat, options.annotate_dir / relative)
                except (OSError, ValueError) as exc:
                    on_failure(ImageFailure(relative, f"annotated copy not written: {exc}"))
            summary.processed += 1
            on_result(result)


def _write_annotated(item: _Decoded, result: ImageResult, heatmap: np.ndarray | None, target: Path) -> None:
    image = item.image.rgb.copy()
    if heatmap is not None:
        image = overlay_heatmap(image, item.prepared.box.heatmap_to_image(heatmap))
    scale = item.image.decode_scale
    if result.x is not None:
        draw_nose(image, result.x * scale, result.y * scale, result.confidence)
    atomic_bytes(target, encode_image(image, target.suffix.lower()))
