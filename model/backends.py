"""Where the network runs: PyTorch (CPU or CUDA) or OpenVINO (CPUs), behind one small interface.

A backend takes a batch of letterboxed uint8 RGB model inputs, (N, S, S, 3), and returns the
heat-maps, (N, 1, S, S) float32, as a torch tensor on the device where the peaks are decoded.
Normalisation is part of the backend, so callers only ever ship compact uint8 frames.

OpenVINO is optional (`pip install "pettrack[openvino]"`). Its backend converts the folded
network (normalisation included) to OpenVINO's format once per weights file, keeps the converted
model in a cache folder keyed by the weights' SHA-256, and lets OpenVINO cache the compiled model
there too, so later start-ups take a fraction of a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .net import NoseNet, normalization_stats, normalize
from .settings import BACKENDS

INSTALL_OPENVINO = 'the OpenVINO backend needs OpenVINO: pip install "pettrack[openvino]"'


class BackendError(ValueError):
    """A backend that cannot be used here (not installed, wrong device)."""


class Backend(Protocol):
    name: str
    device: torch.device

    def upload(self, inputs: list[np.ndarray]) -> np.ndarray | torch.Tensor: ...
    def heatmaps(self, batch: np.ndarray | torch.Tensor) -> torch.Tensor: ...


def openvino_available() -> bool:
    try:
        importlib.import_module("openvino")
    except ImportError:
        return False
    return True


def choose_backend(name: str, device: torch.device, precision: torch.dtype | None = None) -> str:
    """'auto': OpenVINO on a CPU where it is installed, PyTorch otherwise (CUDA always).
    precision torch.int8 (a quantized model) runs on OpenVINO only."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r} (use {', '.join(BACKENDS)})")
    if precision == torch.int8:
        if name == "torch" or device.type != "cpu":
            raise BackendError(f"int8 runs on the OpenVINO backend on the CPU, not on {name} on {device}")
        name = "openvino"
    if name == "openvino":
        if device.type != "cpu":
            raise BackendError(f"the OpenVINO backend runs on the CPU, not on {device}")
        if not openvino_available():
            raise BackendError(INSTALL_OPENVINO)
    if name == "auto":
        return "openvino" if device.type == "cpu" and openvino_available() else "torch"
    return name


class TorchBackend:
    name = "torch"

    def __init__(self, model: NoseNet, device: torch.device, autocast: torch.dtype | None):
        self.model = model.to(device).to(memory_format=torch.channels_last).eval()
        self.device = device
        self.autocast = autocast
        if device.type == "cuda":
            configure_cuda(fp32=autocast is None)
        self._staging = PinnedStaging() if device.type == "cuda" else None

    def upload(self, inputs: list[np.ndarray]) -> torch.Tensor:
        """A batch of uint8 inputs on the device. On CUDA the batch is stacked straight into a
        page-locked buffer and copied without blocking, so the host can prepare the next one."""
        if self._staging is None:
            return torch.from_numpy(np.stack(inputs))
        return self._staging.upload(inputs, self.device)

    @torch.inference_mode()
    def heatmaps(self, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
        batch = torch.as_tensor(batch)
        if self.device.type == "cuda" and batch.device.type == "cpu":
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        x = normalize(batch.to(self.device))
        with torch.autocast(self.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
            maps = self.model(x)
        return maps.float()


class PinnedStaging:
    """Two page-locked host buffers used in turn for host->GPU copies: batch k+1 is stacked into
    one while batch k's copy may still be reading the other. A buffer is reused only after the
    copy out of it has finished (a CUDA event), and grows when a bigger batch comes."""

    def __init__(self):
        self._buffers: list[torch.Tensor | None] = [None, None]
        self._copied: list[torch.cuda.Event | None] = [None, None]
        self._turn = 0

    def upload(self, inputs: list[np.ndarray], device: torch.device) -> torch.Tensor:
        turn, self._turn = self._turn, 1 - self._turn
        if self._copied[turn] is not None:
            self._copied[turn].synchronize()
        shape = (len(inputs), *inputs[0].shape)
        buffer = self._buffers[turn]
        if buffer is None or buffer.shape[0] < shape[0] or buffer.shape[1:] != shape[1:]:
            buffer = self._buffers[turn] = torch.empty(shape, dtype=torch.uint8).pin_memory()
        staged = buffer[: shape[0]]
        np.stack(inputs, out=staged.numpy())
        on_device = staged.to(device, non_blocking=True)
        self._copied[turn] = torch.cuda.Event()
        self._copied[turn].record()
        return on_device


def configure_cuda(fp32: bool) -> None:
    """cuDNN picks the fastest convolution for the (fixed) input size; and fp32 means fp32:
    without this cuDNN and cuBLAS silently run "fp32" in TF32 on Ampere and newer."""
    torch.backends.cudnn.benchmark = True
    if fp32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


class _FromUint8(torch.nn.Module):
    """The network with its input normalisation, as OpenVINO receives it."""

    def __init__(self, model: NoseNet):
        super().__init__()
        self.model = model
        mean, std = normalization_stats()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, batch_uint8: torch.Tensor) -> torch.Tensor:
        return self.model(normalize(batch_uint8, stats=(self.mean, self.std)))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pettrack" / "openvino"


def weights_digest(model: NoseNet) -> str:
    """A digest of the network's tensors: the cache key of its converted model."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


# Where an int8 IR says which weights it was made from (model/quantize.py writes it).
DIGEST_KEY = ["pettrack", "weights_digest"]


class QuantizeError(Exception):
    """No int8 model could be made or used."""


def read_int8_model(core, path: Path, weights_digest: str):
    """The int8 IR at `path`, checked against the weights it must have been made from."""
    if not path.is_file():
        raise QuantizeError(
            f"no int8 model beside the weights ({path}): make one with "
            f"pettrack export --format openvino --int8 --images DIR --labels FILE --out {path}"
        )
    try:
        quantized = core.read_model(path)
    except RuntimeError as exc:
        raise QuantizeError(f"{path}: not a readable OpenVINO model ({str(exc).strip().splitlines()[0]})") from exc
    made_from = quantized.get_rt_info(DIGEST_KEY).astype(str) if quantized.has_rt_info(DIGEST_KEY) else None
    if made_from != weights_digest:
        raise QuantizeError(
            f"{path}: this int8 model was not made from these weights (they changed since); make it again "
            "with pettrack export --format openvino --int8"
        )
    return quantized


class OpenVINOBackend:
    name = "openvino"

    def __init__(self, model: NoseNet, input_size: int, precision: torch.dtype | None, cache_dir: Path | None = None,
                 int8_model: Path | None = None):
        """precision: the torch backend's autocast dtype (None: fp32), mapped to OpenVINO's
        inference precision hint; torch.int8 runs the quantized model at `int8_model` instead
        (model/quantize.py), which must have been made from `model`'s weights."""
        import openvino as ov

        self.device = torch.device("cpu")
        self.precision = {None: "f32", torch.bfloat16: "bf16", torch.float16: "f16", torch.int8: "int8"}[precision]
        cache = Path(cache_dir or default_cache_dir())
        core = ov.Core()
        digest = weights_digest(model)
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if precision == torch.int8:
            if int8_model is None:
                raise BackendError("int8 needs a quantized model (pettrack export --format openvino --int8)")
            converted = read_int8_model(core, Path(int8_model), digest)
        else:
            config["INFERENCE_PRECISION_HINT"] = self.precision
            xml = cache / f"{digest}-{input_size}.xml"
            converted = None
            if xml.is_file():
                try:
                    converted = core.read_model(xml)
                except RuntimeError:
                    converted = None  # a damaged cache entry: convert again and replace it
            if converted is None:
                converted = convert_to_openvino(model, input_size)
                with contextlib.suppress(OSError, RuntimeError):  # no writable cache: convert again next time
                    save_openvino_model(converted, xml)
        if cache.is_dir() and os.access(cache, os.W_OK):
            config["CACHE_DIR"] = str(cache)
        self._compiled = core.compile_model(converted, "CPU", config)

    def upload(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def heatmaps(self, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(batch.numpy() if isinstance(batch, torch.Tensor) else batch)
        return torch.from_numpy(self._compiled(batch)[0])


def convert_to_openvino(model: NoseNet, input_size: int):
    """The network with its normalisation as an openvino.Model: (N, S, S, 3) uint8 RGB in,
    (N, 1, S, S) heat-maps out, any batch size."""
    import openvino as ov

    model = model.cpu().float().eval()
    example = torch.zeros(1, input_size, input_size, 3, dtype=torch.uint8)
    with warnings.catch_warnings():  # torch.jit.trace's deprecation notes, not the user's business
        warnings.simplefilter("ignore")
        return ov.convert_model(_FromUint8(model), example_input=example,
                                input=[([-1, input_size, input_size, 3], ov.Type.u8)])


def save_openvino_model(converted, xml: Path) -> None:
    """Write an OpenVINO model (xml + bin) so that another process never reads half of it: into a
    private folder first, then the weights (.bin) and last the description (.xml) renamed into
    place. Raises OSError or RuntimeError when it cannot be written."""
    import openvino as ov

    xml = Path(xml)
    xml.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=xml.parent, prefix=".converting-") as tmp:
        ov.save_model(converted, Path(tmp) / "model.xml", compress_to_fp16=False)
        os.replace(Path(tmp) / "model.bin", xml.with_suffix(".bin"))
        os.replace(Path(tmp) / "model.xml", xml)
