"""Export the localizer for other runtimes: TorchScript or ONNX.

The exported graph takes what NoseNet takes, a (N, 3, S, S) float tensor of letterboxed,
ImageNet-normalised RGB, and returns the (N, 1, S, S) heat-map; the batch size is dynamic. The
pettrack metadata (input size, sigma, training, metrics) travels inside the file.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from .files import atomic_path
from .net import NoseNet
from .weights import ModelInfo

FORMATS = ("onnx", "torchscript")
METADATA_NAME = "pettrack.json"


class ExportError(Exception):
    pass


def export_model(model: NoseNet, info: ModelInfo, fmt: str, out: Path) -> Path:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    out = Path(out)
    model = copy.deepcopy(model).float().cpu().eval()  # a copy: the caller's model stays where it is
    example = torch.zeros(2, 3, info.net.input_size, info.net.input_size)
    with atomic_path(out) as tmp:
        if fmt == "torchscript":
            with torch.no_grad():
                traced = torch.jit.trace(model, example)
            traced.save(str(tmp), _extra_files={METADATA_NAME: info.to_json()})
        else:
            _export_onnx(model, info, example, tmp)
    return out


def _export_onnx(model: NoseNet, info: ModelInfo, example: torch.Tensor, path: Path) -> None:
    try:
        import onnx
    except ImportError as exc:
        raise ExportError("ONNX export needs the onnx and onnxscript packages: pip install 'pettrack[onnx]'") from exc
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(
        model, (example,), str(path), input_names=["image"], output_names=["heatmap"],
        dynamic_shapes={"x": {0: batch}}, dynamo=True, external_data=False,
    )
    graph = onnx.load(str(path))
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_NAME, info.to_json()
    onnx.save(graph, str(path))
