"""`pettrack folder`: every image in a folder through the localizer, in batches, streaming.

The folder is a source for the one runner (`runner.localize`/`drive`): decoding and letterboxing
run in a worker pool ahead of the model; results come out in file order. Memory is bounded by the batch size and the pool's look-ahead, not by the folder size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from pettrack.model.files import atomic_bytes, same_file
from pettrack.model.images import ImageReadError, LoadedImage, is_image_path, load_image
from pettrack.model.localizer import Localizer

from .draw import draw_nose, encode_image, overlay_heatmap
from .parallel import ordered_map
from .runner import FrameInput, FrameResult, RunSummary, drive, localize

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
class FolderSummary(RunSummary):
    failures: list[ImageFailure] = field(default_factory=list)

    @property
    def processed(self) -> int:
        """Images with a result (the unreadable ones are in `failures`)."""
        return self.frames - len(self.failures)


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


@dataclass(frozen=True)
class _Photo:
    relative: str  # the CSV's file column
    image: LoadedImage | None  # None when it could not be read


def folder_frames(localizer: Localizer, root: Path, paths: list[Path], workers: int, window: int) -> Iterator[FrameInput]:
    """The folder as a source: each file decoded and letterboxed by a worker pool, in file order."""

    def read(numbered: tuple[int, Path]) -> FrameInput:
        index, path = numbered
        relative = path.relative_to(root).as_posix()
        try:
            image = load_image(path, min_side=DECODE_MIN_SIDE)
        except ImageReadError as exc:
            return FrameInput(index, None, None, str(exc), _Photo(relative, None))
        return FrameInput(index, None, localizer.prepare(image.rgb, image.decode_scale), payload=_Photo(relative, image))

    decoded = ordered_map(read, enumerate(paths), workers, window)
    try:
        for _, frame in decoded:
            yield frame
    finally:
        decoded.close()


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

    def consume(result: FrameResult) -> None:
        photo: _Photo = result.frame.payload
        if result.found is None:
            failure = ImageFailure(photo.relative, result.frame.error or "unreadable")
            summary.failures.append(failure)
            on_failure(failure)
            return
        nose = result.nose
        image = photo.image
        row = ImageResult(photo.relative, nose.x if nose else None, nose.y if nose else None,
                          result.found.peak.confidence, image.width, image.height)
        if options.annotate_dir is not None:
            try:
                _write_annotated(image, result, row, options.annotate_dir / photo.relative)
            except (OSError, ValueError) as exc:
                on_failure(ImageFailure(photo.relative, f"annotated copy not written: {exc}"))
        on_result(row)

    window = options.batch_size + 2 * options.workers
    frames = folder_frames(localizer, root, paths, options.workers, window)
    return drive(localize(localizer, frames, options.batch_size, options.heatmap), consume, summary)


def _write_annotated(image: LoadedImage, result: FrameResult, row: ImageResult, target: Path) -> None:
    pixels = image.rgb.copy()
    if result.found.heatmap is not None:
        pixels = overlay_heatmap(pixels, result.frame.prepared.box.heatmap_to_image(result.found.heatmap))
    scale = image.decode_scale
    if row.x is not None:
        draw_nose(pixels, row.x * scale, row.y * scale, row.confidence)
    atomic_bytes(target, encode_image(pixels, target.suffix.lower()))
