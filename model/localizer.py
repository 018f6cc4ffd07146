"""The localizer: a loaded NoseNet on a device, from RGB images to nose points in image pixels.

Split in two so pipelines can spread the work: `prepare` (letterbox, pure numpy, safe to run in
worker threads) and `detect` (one batched forward pass, heat-map decoding on the device, points
mapped back to each image's pixels). `infer` is the model-space step under `detect`, for
evaluation and training, which measure errors in model pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch

from .geometry import Letterbox
from .heatmap import decode_peaks, nms_radius
from .backends import Backend, OpenVINOBackend, TorchBackend, choose_backend
from .net import NoseNet, fold_batchnorm
from .settings import MAX_PETS
from .weights import ModelInfo, int8_model_path, load_model, weights_file

T = TypeVar("T")
# int8 is not an autocast dtype: it runs the weights' quantized OpenVINO model (model/quantize.py).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.int8}


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
    """A batch on its way through the model: its inputs' geometry and the decoded peaks (and
    heat-maps, when asked for) still on the device."""

    prepared: list[Prepared]
    peaks: tuple[torch.Tensor, ...]  # (points, heights[, heat-maps])


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


def batched(items: Iterable[T], size: int, counts: Callable[[T], bool] = lambda item: True) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter): the one batcher of the project.

    counts: which items fill a batch; the others ride along in it (the folder pipeline's
    unreadable files, which stay in order with the images around them)."""
    batch: list[T] = []
    filled = 0
    for item in items:
        batch.append(item)
        filled += bool(counts(item))
        if filled >= size:
            yield batch
            batch, filled = [], 0
    if batch:
        yield batch


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA on a machine without it is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 (AVX512-BF16, AMX), where oneDNN runs bf16 fast."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype, or None for fp32.

    'auto': bf16 on CUDA (fp16 before Ampere); on the CPU bf16 where it is native (1.7x faster here, points within
    0.07 px of fp32 on the samples, see tests/test_precision.py), else fp32.
    """
    if name == "auto":
        if device.type == "cuda":
            # bf16 needs Ampere or newer; older GPUs run fp16 natively and emulate bf16 slowly.
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_supports_bf16() else None
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r} (use auto, {', '.join(PRECISIONS)})")
    return PRECISIONS[name]


class Localizer:
    def __init__(self, model: NoseNet, info: ModelInfo, device: torch.device, autocast: torch.dtype | None = None,
                 min_confidence: float | None = None, backend: str = "torch", max_pets: int = MAX_PETS,
                 int8_model: Path | None = None, weights_name: str = ""):
        """autocast: bf16/fp16, None for fp32, or torch.int8 for the quantized OpenVINO model at
        `int8_model` (made from these weights; see model/quantize.py).
        min_confidence: peaks below it are "no nose"; None takes the model's own presence
        threshold (chosen on validation footage and stored in its weights file).
        backend: torch, openvino (CPU only) or auto (see model/backends.py).
        max_pets: most noses reported per image (1: only the highest peak, the single-pet mode)."""
        # A folded copy: later changes to `model` (training) do not reach this Localizer. The
        # backend puts it where it runs.
        self.model = fold_batchnorm(model)
        self.info = info
        self.weights_name = weights_name  # the --weights it was loaded from, for run records
        self.device = device
        self.autocast = autocast
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"the minimum confidence must be between 0 and 1, got {min_confidence:g}")
        self.min_confidence = info.presence_threshold if min_confidence is None else min_confidence
        if not 1 <= max_pets <= 256:
            raise ValueError(f"max_pets must be between 1 and 256, got {max_pets}")
        # A model without a presence threshold (trained on portraits only) cannot tell a second nose
        # from any other bump of its heat-map: unless told a threshold, it reports its best peak only.
        self.max_pets = max_pets if self.min_confidence > 0 else 1
        # Maxima closer than this are one nose (see heatmap.nms_radius).
        self.peak_radius = nms_radius(info.sigma)
        self.backend: Backend
        if choose_backend(backend, device, autocast) == "openvino":
            self.backend = OpenVINOBackend(self.model, info.net.input_size, autocast, int8_model=int8_model)
        else:
            self.backend = TorchBackend(self.model, device, autocast)
        # One pass now, so the first real frame does not pay for lazy set-up (CUDA context, cuDNN's
        # algorithm search, OpenVINO's first inference): a live stream's first latency is a real one.
        self.infer(np.zeros((1, self.size, self.size, 3), dtype=np.uint8))

    @classmethod
    def load(cls, weights: Path | None = None, device: str = "auto", precision: str = "auto",
             min_confidence: float | None = None, backend: str = "auto", max_pets: int = MAX_PETS) -> "Localizer":
        torch_device = resolve_device(device)
        model, info = load_model(weights, torch_device)
        autocast = resolve_precision(precision, torch_device)
        int8_model = int8_model_path(weights_file(weights)) if autocast == torch.int8 else None
        return cls(model, info, torch_device, autocast, min_confidence, backend, max_pets, int8_model,
                   weights_name=str(weights or "default"))

    @property
    def size(self) -> int:
        return self.info.net.input_size

    def prepare(self, rgb: np.ndarray, decode_scale: float = 1.0) -> Prepared:
        box = Letterbox.fit(rgb.shape[1], rgb.shape[0], self.size)
        return Prepared(box.apply(rgb), box, decode_scale)

    @property
    def asynchronous(self) -> bool:
        """True where `launch` returns before the work is done (CUDA): a pipeline can then launch
        the next batch before it collects this one, and the GPU never waits for the host."""
        return self.device.type == "cuda"

    @torch.inference_mode()
    def infer(self, inputs: np.ndarray | torch.Tensor, heatmaps: bool = False) -> BatchOutput:
        """inputs: (N, S, S, 3) uint8. One forward pass (on the backend); peaks decoded on the device."""
        return self._to_host(self._peaks(self.backend.heatmaps(inputs), heatmaps))

    @torch.inference_mode()
    def launch(self, prepared: list[Prepared], heatmaps: bool = False) -> "Launched":
        """Start one forward pass over prepared images; `collect` gives its results. The inputs go
        to the device through the backend's upload (pinned, double-buffered on CUDA)."""
        maps = self.backend.heatmaps(self.backend.upload([p.input for p in prepared]))
        return Launched(prepared, self._peaks(maps, heatmaps))

    def collect(self, launched: "Launched") -> list[Detections]:
        """The results of a launched batch, each mapped back with its own letterbox (waits for it)."""
        output = self._to_host(launched.peaks)
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

    def _peaks(self, maps: torch.Tensor, heatmaps: bool) -> tuple[torch.Tensor, ...]:
        peaks, heights = decode_peaks(maps, self.max_pets, self.peak_radius)
        return (peaks, heights, maps[:, 0]) if heatmaps else (peaks, heights)

    def _to_host(self, on_device: tuple[torch.Tensor, ...]) -> BatchOutput:
        peaks, heights = (t.cpu().numpy().astype(np.float64) for t in on_device[:2])
        maps = on_device[2].cpu().numpy() if len(on_device) > 2 else None
        return BatchOutput(peaks, heights, heights >= self.min_confidence, maps)

    def locate(self, images: list[np.ndarray]) -> list[Detections]:
        """Convenience for small batches of RGB images already in memory."""
        return self.detect([self.prepare(image) for image in images])
