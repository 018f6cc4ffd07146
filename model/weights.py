"""Weights files: safetensors tensors plus a JSON metadata record; where the default model lives.

safetensors holds only raw tensors, so loading a file can never execute code (unlike pickle).
The metadata says how to rebuild the network and how it was trained and measured.

Reading the metadata, finding a file and its digest need no PyTorch (the OpenVINO path runs
without it); only loading and saving the tensors import it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError

from .architecture import ARCHITECTURE, NetConfig
from .files import atomic_path, os_reason

if TYPE_CHECKING:
    import torch

    from .net import NoseNet

METADATA_KEY = "pettrack"
FORMAT_VERSION = 1
# Input sizes a weights file may declare (the network is built from it before any tensor is read).
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 32, 1024
# Models shipped inside the package, by the name `--weights` accepts for them.
SHIPPED_MODELS = {
    "default": "default.safetensors",  # 256 px input, trained for footage; used unless told otherwise
    "portrait": "portrait.safetensors",  # 256 px, the earlier default: portraits only, no presence threshold
    "fast": "fast.safetensors",  # 128 px input: 1/4 of the compute, about 2x the video frames/s on a CPU
}


class WeightsError(Exception):
    """A weights file that is missing, corrupt or not a pettrack model."""


@dataclass
class ModelInfo:
    """Everything stored beside the tensors."""

    net: NetConfig = field(default_factory=NetConfig)
    sigma: float = 7.0  # heat-map Gaussian sigma in model pixels
    # Heat-map peaks below this are "no nose here". Chosen on validation footage by training
    # (model/evaluate.py best_threshold); 0.0 for models trained before there was one.
    presence_threshold: float = 0.0
    training: dict = field(default_factory=dict)  # data, recipe, seed, time, hardware
    metrics: dict = field(default_factory=dict)  # validation figures

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": FORMAT_VERSION,
                **self.net.to_dict(),
                "sigma": self.sigma,
                "presence_threshold": self.presence_threshold,
                "training": self.training,
                "metrics": self.metrics,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "ModelInfo":
        record = json.loads(text)
        if record.get("architecture") != ARCHITECTURE:
            raise WeightsError(
                f"architecture {record.get('architecture')!r} is not {ARCHITECTURE!r}"
            )
        input_size, sigma = int(record["input_size"]), float(record["sigma"])
        threshold = float(record.get("presence_threshold", 0.0))
        # Checked here so that a damaged or hostile file is refused before a network is built
        # (an input size of 10^6 would otherwise allocate until the machine gives up).
        if not (MIN_INPUT_SIZE <= input_size <= MAX_INPUT_SIZE and input_size % 32 == 0):
            raise WeightsError(f"input size {input_size} is not a multiple of 32 between {MIN_INPUT_SIZE} and {MAX_INPUT_SIZE}")
        if not 0.0 < sigma <= input_size:
            raise WeightsError(f"heat-map sigma {sigma:g} is out of range")
        if not 0.0 <= threshold <= 1.0:
            raise WeightsError(f"presence threshold {threshold:g} is not between 0 and 1")
        net = NetConfig(input_size=input_size, final_batchnorm=bool(record.get("final_batchnorm", False)))
        return cls(
            net=net,
            sigma=sigma,
            presence_threshold=threshold,
            training=record.get("training", {}),
            metrics=record.get("metrics", {}),
        )


def shipped_weights_path(name: str = "default") -> Path:
    """A model shipped inside the package (see SHIPPED_MODELS)."""
    return Path(str(resources.files("pettrack.model") / "weights" / SHIPPED_MODELS[name]))


def default_weights_path() -> Path:
    """The model every command uses unless `--weights` says otherwise."""
    return shipped_weights_path("default")


def save_weights(path: Path, model: "NoseNet", info: ModelInfo, dtype: "torch.dtype | None" = None) -> None:
    """Write tensors and metadata atomically (temp file, then rename); floating-point tensors
    as `dtype` (None: float16, half the file, and no measurable change in the points)."""
    import torch
    from safetensors.torch import save_file

    dtype = dtype or torch.float16
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        # Integer buffers (BatchNorm's num_batches_tracked) keep their type.
        tensors[name] = tensor.to(dtype).contiguous() if tensor.is_floating_point() else tensor
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", METADATA_KEY: info.to_json()})


def read_info(path: Path) -> ModelInfo:
    """The metadata of a weights file, without loading its tensors."""
    from safetensors import safe_open

    path = weights_file(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({_reason(exc)})") from exc
    return _parse_metadata(path, metadata)


def load_model(path: Path | None = None, device: "torch.device | str" = "cpu") -> tuple["NoseNet", ModelInfo]:
    """Build the network described by a weights file and load its tensors (fp32, eval mode)."""
    from safetensors.torch import load_file

    from .net import NoseNet

    path = weights_file(path)
    info = read_info(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: corrupt weights ({_reason(exc)})") from exc
    model = NoseNet(info.net)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise WeightsError(f"{path}: tensors do not match the network ({first_line})") from exc
    return model.to(device).eval(), info


def weights_digest(path: Path) -> str:
    """A digest of a weights file's bytes (tensors and metadata): the key of its converted
    OpenVINO model in the cache, and what an int8 model records it was made from. Reading 22 MB
    takes about 20 ms, and no PyTorch."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:24]


def int8_model_path(weights: Path) -> Path:
    """Where the int8 model of a weights file lives (model/quantize.py): beside it, NAME.int8.xml
    (and NAME.int8.bin)."""
    weights = Path(weights)
    return weights.with_name(weights.name.removesuffix(".safetensors") + ".int8.xml")


def weights_file(path: Path | str | None) -> Path:
    """The weights file meant by a path, or by a shipped model's name when no such file exists
    (None: the default model)."""
    if path is None:
        return default_weights_path()
    path = Path(path)
    if not path.is_file() and str(path) in SHIPPED_MODELS:
        path = shipped_weights_path(str(path))
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder; --weights takes a .safetensors file or a shipped model's name")
    if not path.is_file():
        if path.parent == default_weights_path().parent:
            raise WeightsError(f"the shipped model {path.name} is not installed ({path}); pass --weights FILE")
        raise WeightsError(
            f"{path}: no such weights file (shipped models: {', '.join(SHIPPED_MODELS)})"
        )
    return path


def _reason(exc: Exception) -> str:
    return os_reason(exc) if isinstance(exc, OSError) else str(exc).strip().splitlines()[0]


def _parse_metadata(path: Path, metadata: dict) -> ModelInfo:
    if METADATA_KEY not in metadata:
        raise WeightsError(f"{path}: a safetensors file, but not a pettrack model (no metadata)")
    try:
        return ModelInfo.from_json(metadata[METADATA_KEY])
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: unreadable pettrack metadata ({exc})") from exc
