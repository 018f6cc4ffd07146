"""Export the localizer for other runtimes: TorchScript, ONNX or OpenVINO (fp32 or int8).

The TorchScript and ONNX graphs take what NoseNet takes, a (N, 3, S, S) float tensor of
letterboxed, ImageNet-normalised RGB; the OpenVINO model takes what pettrack's OpenVINO backend
gives it, (N, S, S, 3) uint8 letterboxed RGB, with the normalisation inside. All return the
(N, 1, S, S) heat-map; the batch size is dynamic. The pettrack metadata (input size, sigma,
presence threshold, training, metrics) travels inside the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .backends import INSTALL_OPENVINO
from .files import atomic_path
from .net import NoseNet, fold_batchnorm
from .weights import ModelInfo, load_model, weights_digest

FORMATS = ("onnx", "torchscript", "openvino")
METADATA_NAME = "pettrack.json"


class ExportError(Exception):
    pass


def export_model(weights: Path, fmt: str, out: Path, calibration: list[np.ndarray] | None = None) -> Path:
    """weights: a weights file; its network is exported as pettrack runs it, BatchNorm folded.
    calibration: model inputs for an int8 OpenVINO model (model/quantize.py); None: fp32."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    out = Path(out)
    model, info = load_model(weights, "cpu")
    model = fold_batchnorm(model)
    if fmt == "openvino":
        _export_openvino(model, info, weights_digest(weights), out, calibration)
        return out
    if calibration is not None:
        raise ExportError("int8 quantization is for the OpenVINO format")
    example = torch.zeros(2, 3, info.net.input_size, info.net.input_size)
    with atomic_path(out) as tmp:
        if fmt == "torchscript":
            with torch.no_grad():
                traced = torch.jit.trace(model, example)
            traced.save(str(tmp), _extra_files={METADATA_NAME: info.to_json()})
        else:
            _export_onnx(model, info, example, tmp)
    return out


def _export_openvino(model: NoseNet, info: ModelInfo, digest: str, out: Path,
                     calibration: list[np.ndarray] | None) -> None:
    if out.suffix != ".xml":
        raise ExportError(f"{out}: an OpenVINO model is NAME.xml (with NAME.bin written beside it)")
    try:
        from .backends import DIGEST_KEY, QuantizeError, save_openvino_model
        from .openvino_convert import convert_to_openvino
        from .quantize import quantize_int8

        if calibration is None:
            converted = convert_to_openvino(model, info.net.input_size)
            converted.set_rt_info(digest, DIGEST_KEY)
        else:
            converted = quantize_int8(model, calibration, digest)
        converted.set_rt_info(info.to_json(), ["pettrack", "info"])
        save_openvino_model(converted, out)
    except ImportError as exc:
        raise ExportError(INSTALL_OPENVINO) from exc
    except QuantizeError as exc:
        raise ExportError(str(exc)) from exc
    except (OSError, RuntimeError) as exc:
        raise ExportError(f"{out}: could not write it ({str(exc).strip().splitlines()[0]})") from exc


def _export_onnx(model: NoseNet, info: ModelInfo, example: torch.Tensor, path: Path) -> None:
    try:
        import onnx
    except ImportError as exc:
        raise ExportError("ONNX export needs the onnx and onnxscript packages: pip install 'pettrack[onnx]'") from exc
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(
        model, (example,), str(path), input_names=["image"], output_names=["heatmap"],
        dynamic_shapes={"x": {0: batch}}, dynamo=True, external_data=False,
        verbose=False,  # its progress lines went to stdout, where a user's data goes
    )
    graph = onnx.load(str(path))
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_NAME, info.to_json()
    onnx.save(graph, str(path))
