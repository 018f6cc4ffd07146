"""The localizer: a loaded NoseNet on a backend, from RGB images to nose points in image pixels.

Split in two so pipelines can spread the work: `prepare` (letterbox, pure numpy, safe to run in
worker threads) and `detect` (one batched forward pass on the backend, the heat-maps decoded on
the host, points mapped back to each image's pixels). `infer` is the model-space step under
`detect`, for evaluation and training, which measure errors in model pixels.

Nothing here imports PyTorch: a model loaded onto the OpenVINO backend from its cached conversion
runs without it (model/backends.py); the PyTorch backend imports it when it is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from .backends import Backend, OpenVINOBackend, choose_backend
from .devices import device_type, resolve_device, resolve_precision
from .geometry import Letterbox
from .peaks import decode_peaks, nms_radius
from .settings import MAX_PETS, LocalizerSettings
from .weights import ModelInfo, int8_model_path, read_info, weights_file

if TYPE_CHECKING:
    from .net import NoseNet

T = TypeVar("T")


@dataclass(frozen=True)
class Detection:
    """A heat-map peak in original image pixels; confidence is its height (0..1)."""

    x: float
    y: float
    confidence: float


@dataclass(frozen=True)
class Detections:
    """What the model found in one image, in that image's pixels: the Localizer's only public output.

    noses: the peaks that reach the presence threshold, best first; empty means "no nose".
    peak: the highest peak, reported even when it is below the threshold (its height is the
    confidence pettrack writes for an image or frame without a nose).
    """

    peak: Detection
    noses: tuple[Detection, ...]
    heatmap: np.ndarray | None = None  # (S, S) float32 in model space, only when asked for


@dataclass(frozen=True)
class Prepared:
    """A model input and the geometry needed to map its output back."""

    input: np.ndarray  # SxSx3 uint8
    box: Letterbox  # fitted to the decoded image
    decode_scale: float = 1.0  # decoded pixels per original pixel

    def to_original(self, uv: np.ndarray) -> np.ndarray:
        """Model pixels -> original image pixels, kept inside the image."""
        return self.box.to_image(uv, clip=True) / self.decode_scale


@dataclass(frozen=True)
class Launched:
    """A batch on its way through the model: its inputs' geometry and the backend's pass, whose
    heat-maps `Localizer.collect` waits for."""

    prepared: list[Prepared]
    submitted: Any
    heatmaps: bool  # keep each heat-map in the results


@dataclass(frozen=True)
class BatchOutput:
    """Peaks of a batch in model pixels, highest first; peak 0 is each image's highest point."""

    peaks: np.ndarray  # (N, K, 2) model pixels
    heights: np.ndarray  # (N, K); -1 where an image has fewer than K local maxima
    present: np.ndarray  # (N, K) bool: a nose (height >= the presence threshold, within max_pets)
    heatmaps: np.ndarray | None  # (N, S, S) float32, only when asked for

    @property
    def points(self) -> np.ndarray:
        """(N, 2): each image's highest peak (what evaluation scores)."""
        return self.peaks[:, 0]

    @property
    def confidence(self) -> np.ndarray:
        """(N,): the height of each image's highest peak."""
        return self.heights[:, 0]


def batched(items: Iterable[T], size: int, counts: Callable[[T], bool] = lambda item: True,
            first: int | None = None) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter): the one batcher of the project.

    counts: which items fill a batch; the others ride along in it (the folder pipeline's
    unreadable files, which stay in order with the images around them).
    first: the size of the first batch only (a source's first result then comes as soon as its
    first item is read)."""
    batch: list[T] = []
    filled = 0
    wanted = first or size
    for item in items:
        batch.append(item)
        filled += bool(counts(item))
        if filled >= wanted:
            yield batch
            batch, filled, wanted = [], 0, size
    if batch:
        yield batch


class Localizer:
    def __init__(self, backend: Backend, info: ModelInfo, min_confidence: float | None = None,
                 max_pets: int = MAX_PETS, weights_name: str = ""):
        """backend: where the network runs (model/backends.py); `load` and `from_model` make one.
        min_confidence: peaks below it are "no nose"; None takes the model's own presence
        threshold (chosen on validation footage and stored in its weights file).
        max_pets: most noses reported per image (1: only the highest peak, the single-pet mode)."""
        self.backend = backend
        self.info = info
        self.weights_name = weights_name  # the --weights it was loaded from, for run records
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"the minimum confidence must be between 0 and 1, got {min_confidence:g}")
        self.min_confidence = info.presence_threshold if min_confidence is None else min_confidence
        if not 1 <= max_pets <= 256:
            raise ValueError(f"max_pets must be between 1 and 256, got {max_pets}")
        # A model without a presence threshold (trained on portraits only) cannot tell a second nose
        # from any other bump of its heat-map: unless told a threshold, it reports its best peak only.
        self.max_pets = max_pets if self.min_confidence > 0 else 1
        # Maxima closer than this are one nose (see peaks.nms_radius).
        self.peak_radius = nms_radius(info.sigma)
        # One pass now, so the first real frame does not pay for lazy set-up (CUDA context, cuDNN's
        # algorithm search, OpenVINO's first inference): a live stream's first latency is a real one.
        self.infer(np.zeros((1, self.size, self.size, 3), dtype=np.uint8))

    @classmethod
    def load(cls, weights: Path | str | None = None, device: str = "auto", precision: str = "auto",
             min_confidence: float | None = None, backend: str = "auto", max_pets: int = MAX_PETS) -> "Localizer":
        """The model of a weights file (None: the default; a shipped model's name) where it runs
        best. On a CPU with OpenVINO and its converted model cached, no PyTorch is imported."""
        path, name = weights_file(weights), str(weights or "default")
        device = resolve_device(device)
        precision = resolve_precision(precision, device)
        if choose_backend(backend, device, precision) == "openvino":
            info = read_info(path)
            int8_model = int8_model_path(path) if precision == "int8" else None
            runs = OpenVINOBackend(path, info.net.input_size, precision, int8_model=int8_model)
            return cls(runs, info, min_confidence, max_pets, weights_name=name)
        from .weights import load_model

        model, info = load_model(path, "cpu")
        return cls.from_model(model, info, device, precision, min_confidence, max_pets, weights_name=name)

    @classmethod
    def from_settings(cls, settings: LocalizerSettings) -> "Localizer":
        """`load` with the settings a command or a distributed job's worker was given."""
        return cls.load(settings.weights, settings.device, settings.precision, settings.min_confidence,
                        settings.backend, settings.max_pets)

    @classmethod
    def from_model(cls, model: "NoseNet", info: ModelInfo, device: str = "cpu", precision: str = "fp32",
                   min_confidence: float | None = None, max_pets: int = MAX_PETS, weights_name: str = "") -> "Localizer":
        """A network in memory (training, evaluation, or loaded for the PyTorch backend), on the
        PyTorch backend. A folded copy is run: later changes to `model` (training) do not reach
        this Localizer."""
        from .net import fold_batchnorm
        from .torch_backend import TorchBackend

        return cls(TorchBackend(fold_batchnorm(model), str(device), precision), info, min_confidence, max_pets,
                   weights_name)

    @property
    def size(self) -> int:
        return self.info.net.input_size

    @property
    def device(self) -> str:
        return self.backend.device

    def prepare(self, rgb: np.ndarray, decode_scale: float = 1.0) -> Prepared:
        box = Letterbox.fit(rgb.shape[1], rgb.shape[0], self.size)
        return Prepared(box.apply(rgb), box, decode_scale)

    @property
    def asynchronous(self) -> bool:
        """True where `launch` returns before the work is done (CUDA): a pipeline can then launch
        the next batch before it collects this one, and the GPU never waits for the host."""
        return device_type(self.device) == "cuda"

    def infer(self, inputs: np.ndarray, heatmaps: bool = False) -> BatchOutput:
        """inputs: (N, S, S, 3) uint8. One forward pass (on the backend); peaks in model pixels."""
        return self._decode(self.backend.heatmaps(self.backend.submit(inputs)), heatmaps)

    def launch(self, prepared: list[Prepared], heatmaps: bool = False) -> Launched:
        """Start one forward pass over prepared images; `collect` gives its results."""
        return Launched(prepared, self.backend.submit([p.input for p in prepared]), heatmaps)

    def collect(self, launched: Launched) -> list[Detections]:
        """The results of a launched batch, each mapped back with its own letterbox (waits for it)."""
        output = self._decode(self.backend.heatmaps(launched.submitted), launched.heatmaps)
        found = []
        for i, p in enumerate(launched.prepared):
            xy = p.to_original(output.peaks[i])
            peaks = [Detection(float(x), float(y), float(h)) for (x, y), h in zip(xy, output.heights[i])]
            noses = tuple(peak for peak, present in zip(peaks, output.present[i]) if present)
            heatmap = output.heatmaps[i] if output.heatmaps is not None else None
            found.append(Detections(peaks[0], noses, heatmap))
        return found

    def detect(self, prepared: list[Prepared], heatmaps: bool = False) -> list[Detections]:
        """One forward pass over prepared images; each result mapped back with its own letterbox."""
        return self.collect(self.launch(prepared, heatmaps))

    def _decode(self, maps: np.ndarray, heatmaps: bool) -> BatchOutput:
        peaks, heights = decode_peaks(maps, self.max_pets, self.peak_radius)
        return BatchOutput(peaks, heights, heights >= self.min_confidence, maps if heatmaps else None)

    def locate(self, images: list[np.ndarray]) -> list[Detections]:
        """Convenience for small batches of RGB images already in memory."""
        return self.detect([self.prepare(image) for image in images])
