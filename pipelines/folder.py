"""`pettrack folder`: every image in a folder through the localizer, in batches, streaming.

The folder is a source for the one runner (`runner.localize`/`drive`): decoding and letterboxing
run in a worker pool ahead of the model; results come out in file order. Memory is bounded by the
batch size and the pool's look-ahead, not by the folder size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from pettrack.model.files import (
    OutputError, atomic_bytes, check_outputs, os_reason, same_file, undecodable_as_escapes,
)
from pettrack.model.images import ImageReadError, LoadedImage, is_image_path, load_image
from pettrack.model.localizer import Detection, Localizer

from .draw import draw_nose, encode_image, overlay_heatmap, track_colour
from .parallel import ordered_map
from .runner import CPU_BATCH, CPU_WORKERS, FrameInput, FrameResult, RunSummary, drive, localize

# Huge JPEGs are decoded at a reduced scale with at least this many pixels on the longer side
# (plenty for the 256 px model; annotated copies of such photos come out at that size).
DECODE_MIN_SIDE = 2048

# One row per nose (nose 0 is the most confident); an image without one has one row with empty
# nose, x and y, and its highest peak as the confidence.
CSV_COLUMNS = ("file", "nose", "x", "y", "confidence", "width", "height")


@dataclass(frozen=True)
class ImageResult:
    file: str  # relative to the folder, with forward slashes
    noses: tuple[Detection, ...]  # original pixels, display orientation, best first; empty: no nose
    peak_confidence: float  # the highest heat-map peak, also when it is below the threshold
    width: int
    height: int

    def csv_rows(self) -> list[list[str]]:
        size = [str(self.width), str(self.height)]
        if not self.noses:
            return [[self.file, "", "", "", f"{self.peak_confidence:.4f}", *size]]
        return [[self.file, str(i), f"{n.x:.2f}", f"{n.y:.2f}", f"{n.confidence:.4f}", *size]
                for i, n in enumerate(self.noses)]


@dataclass(frozen=True)
class ImageFailure:
    file: str
    reason: str


@dataclass(frozen=True)
class FolderOptions:
    batch_size: int = CPU_BATCH
    workers: int = CPU_WORKERS
    annotate_dir: Path | None = None
    heatmap: bool = False

    def check(self, root: Path) -> None:
        """Refuse, before any work, an annotation folder that would overwrite the originals or
        cannot be written."""
        if self.annotate_dir is None:
            return
        if same_file(self.annotate_dir, root):
            raise OutputError("--annotate must be a different folder from the input (originals are never overwritten)")
        if self.annotate_dir.exists() and not self.annotate_dir.is_dir():
            raise OutputError(f"--annotate {self.annotate_dir}: is a file, not a folder")
        check_outputs([self.annotate_dir / "probe.png"])  # its folder exists or can be made, and is writable


@dataclass
class FolderSummary(RunSummary):
    failures: list[ImageFailure] = field(default_factory=list)  # unreadable images: no result
    unwritten: list[ImageFailure] = field(default_factory=list)  # annotated copies that could not be written

    @property
    def processed(self) -> int:
        """Images with a result (the unreadable ones are in `failures`)."""
        return self.frames - len(self.failures)


@dataclass(frozen=True)
class FolderListing:
    images: list[Path]  # sorted, to be processed
    others: list[ImageFailure]  # everything else found, with why it is skipped (relative names)


# Image formats pettrack does not read, named as such rather than called "not an image".
UNSUPPORTED_IMAGES = {".gif": "GIF", ".heic": "HEIC", ".heif": "HEIF", ".avif": "AVIF", ".svg": "SVG", ".jxl": "JPEG XL"}


def _not_an_image(path: Path) -> str:
    kind = UNSUPPORTED_IMAGES.get(path.suffix.lower())
    if kind:
        return f"{kind} images are not supported (JPEG, PNG, WebP, BMP and TIFF are)"
    return "not an image file type"


def find_files(root: Path, recursive: bool) -> FolderListing:
    """The images under root, sorted, and every other entry with the reason it is skipped (other
    file types, broken links, FIFOs and devices, unreadable folders, links to folders, which are
    not followed so a link loop cannot trap the walk). Hidden files and folders are ignored."""
    images: list[Path] = []
    others: list[ImageFailure] = []

    def relative(path: Path) -> str:
        return csv_name(path.relative_to(root))

    def walk(folder: Path) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            others.append(ImageFailure(relative(folder) + "/", f"cannot read the folder: {os_reason(exc)}"))
            return
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not path.exists():
                others.append(ImageFailure(relative(path), "broken link"))
            elif entry.is_dir():
                if entry.is_symlink():
                    others.append(ImageFailure(relative(path) + "/", "a link to a folder, not followed"))
                elif recursive:
                    walk(path)
            elif not entry.is_file():
                others.append(ImageFailure(relative(path), "not a regular file (a FIFO, socket or device)"))
            elif is_image_path(path):
                images.append(path)
            else:
                others.append(ImageFailure(relative(path), _not_an_image(path)))

    walk(Path(root))
    images.sort()
    return FolderListing(images, others)


def csv_name(relative: Path) -> str:
    """A file's name for the CSV and messages: forward slashes, and any bytes of the name that
    are not UTF-8 written as \\xNN (the CSV stays UTF-8; the file is still processed)."""
    return undecodable_as_escapes(relative.as_posix())


@dataclass(frozen=True)
class _Photo:
    relative: Path  # where it is under the folder (and its annotated copy under --annotate)
    image: LoadedImage | None  # None when it could not be read

    @property
    def name(self) -> str:
        return csv_name(self.relative)


def folder_frames(localizer: Localizer, root: Path, paths: list[Path], workers: int, window: int) -> Iterator[FrameInput]:
    """The folder as a source: each file decoded and letterboxed by a worker pool, in file order."""

    def read(numbered: tuple[int, Path]) -> FrameInput:
        index, path = numbered
        relative = path.relative_to(root)
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
    on_unwritten: Callable[[ImageFailure], None] = lambda failure: None,
) -> FolderSummary:
    """Localize the nose in each path; callbacks fire in file order as results are made:
    on_result or on_failure (unreadable) once per path, on_unwritten when an annotated copy could
    not be written. Ctrl-C ends the run early with `interrupted` set in the summary."""
    options.check(root)
    summary = FolderSummary()

    def consume(result: FrameResult) -> None:
        photo: _Photo = result.frame.payload
        if result.found is None:
            failure = ImageFailure(photo.name, result.frame.error or "unreadable")
            summary.failures.append(failure)
            on_failure(failure)
            return
        image = photo.image
        row = ImageResult(photo.name, result.found.noses, result.found.peak.confidence, image.width, image.height)
        if options.annotate_dir is not None:
            try:
                _write_annotated(image, result, row, options.annotate_dir / photo.relative)
            except (OSError, ValueError) as exc:
                reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
                failure = ImageFailure(photo.name, f"annotated copy not written: {reason}")
                summary.unwritten.append(failure)
                on_unwritten(failure)
        on_result(row)

    window = options.batch_size + 2 * options.workers
    frames = folder_frames(localizer, root, paths, options.workers, window)
    return drive(localize(localizer, frames, options.batch_size, options.heatmap), consume, summary)


def _write_annotated(image: LoadedImage, result: FrameResult, row: ImageResult, target: Path) -> None:
    pixels = image.rgb.copy()
    if result.found.heatmap is not None:
        pixels = overlay_heatmap(pixels, result.frame.prepared.box.heatmap_to_image(result.found.heatmap))
    scale = image.decode_scale
    for i, nose in enumerate(row.noses):
        draw_nose(pixels, nose.x * scale, nose.y * scale, nose.confidence, colour=track_colour(i))
    atomic_bytes(target, encode_image(pixels, target.suffix.lower()))
