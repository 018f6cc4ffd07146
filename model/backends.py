"""Where the network runs: PyTorch (CPU or CUDA, model/torch_backend.py) or OpenVINO (CPUs, here),
behind one small interface.

A backend takes a batch of letterboxed uint8 RGB model inputs, (N, S, S, 3): `submit` starts the
forward pass, `heatmaps` waits for it and returns the (N, S, S) float32 heat-maps on the host,
where model/peaks.py decodes them. Normalisation is part of the backend, so callers only ever
ship compact uint8 frames.

OpenVINO is optional (`pip install "pettrack[openvino]"`). Its backend converts the folded
network (normalisation included) to OpenVINO's format once per weights file, keeps the converted
model in a cache folder keyed by the weights file's digest, and lets OpenVINO cache the compiled
model there too. A later start-up reads the converted model from the cache: no PyTorch at all.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .devices import device_type
from .settings import BACKENDS

INSTALL_OPENVINO = 'the OpenVINO backend needs OpenVINO: pip install "pettrack[openvino]"'
# Part of every cached model's name: a change to what conversion makes (model/openvino_convert.py)
# bumps it, so an older cache entry is never read as a current one.
CONVERSION_VERSION = 2
# Where an OpenVINO model says which weights file it was made from (its digest, model/weights.py).
DIGEST_KEY = ["pettrack", "weights_digest"]
# OpenVINO's inference precision hint for each precision pettrack names.
OPENVINO_PRECISION = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


class BackendError(ValueError):
    """A backend that cannot be used here (not installed, wrong device)."""


class QuantizeError(Exception):
    """No int8 model could be made or used."""


class Backend(Protocol):
    name: str
    device: str  # "cpu", "cuda", "cuda:1"
    precision: str  # fp32, bf16, fp16 or int8

    def submit(self, inputs: list[np.ndarray] | np.ndarray) -> Any: ...
    def heatmaps(self, submitted: Any) -> np.ndarray: ...
    def peak_memory_mib(self) -> float | None: ...


def openvino_available() -> bool:
    try:
        importlib.import_module("openvino")
    except ImportError:
        return False
    return True


def choose_backend(name: str, device: str, precision: str = "fp32") -> str:
    """'auto': OpenVINO on a CPU where it is installed, PyTorch otherwise (CUDA always).
    int8 (a quantized model) runs on OpenVINO only."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r} (use {', '.join(BACKENDS)})")
    on_cpu = device_type(device) == "cpu"
    if precision == "int8":
        if name == "torch" or not on_cpu:
            raise BackendError(f"int8 runs on the OpenVINO backend on the CPU, not on {name} on {device}")
        name = "openvino"
    if name == "openvino":
        if not on_cpu:
            raise BackendError(f"the OpenVINO backend runs on the CPU, not on {device}")
        if not openvino_available():
            raise BackendError(INSTALL_OPENVINO)
    if name == "auto":
        return "openvino" if on_cpu and openvino_available() else "torch"
    return name


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pettrack" / "openvino"


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
    device = "cpu"

    def __init__(self, weights: Path, input_size: int, precision: str, cache_dir: Path | None = None,
                 int8_model: Path | None = None):
        """weights: the safetensors file; its converted model is read from the cache, or made
        (with PyTorch) and cached when missing or damaged. precision int8 runs the quantized model
        at `int8_model` instead (model/quantize.py), which must have been made from `weights`."""
        import openvino as ov

        from .weights import weights_digest

        self.precision = precision
        cache = Path(cache_dir or default_cache_dir())
        core = ov.Core()
        digest = weights_digest(weights)
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if precision == "int8":
            if int8_model is None:
                raise BackendError("int8 needs a quantized model (pettrack export --format openvino --int8)")
            converted = read_int8_model(core, Path(int8_model), digest)
        else:
            config["INFERENCE_PRECISION_HINT"] = OPENVINO_PRECISION[precision]
            converted = _cached_conversion(core, weights, input_size, cache / f"{digest}-{input_size}-v{CONVERSION_VERSION}.xml")
        if cache.is_dir() and os.access(cache, os.W_OK):
            config["CACHE_DIR"] = str(cache)
        self._compiled = core.compile_model(converted, "CPU", config)

    def submit(self, inputs: list[np.ndarray] | np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(np.stack(inputs) if isinstance(inputs, list) else inputs)
        return self._compiled(batch)[0][:, 0]

    def heatmaps(self, submitted: np.ndarray) -> np.ndarray:
        return submitted

    def peak_memory_mib(self) -> float | None:
        return None


def _cached_conversion(core, weights: Path, input_size: int, xml: Path):
    """The converted model of `weights` from the cache; converted (with PyTorch) and cached when it
    is not there or cannot be read."""
    if xml.is_file():
        with contextlib.suppress(RuntimeError):  # a damaged cache entry: convert again and replace it
            return core.read_model(xml)
    from .openvino_convert import convert_weights

    converted = convert_weights(weights, input_size)
    with contextlib.suppress(OSError, RuntimeError):  # no writable cache: convert again next time
        save_openvino_model(converted, xml)
    return converted


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
