"""PyTorch -> OpenVINO: the network with its input normalisation as an OpenVINO model.

The one step of the OpenVINO path that needs PyTorch. It runs once per weights file (the
backend caches the result, model/backends.py) and when exporting or quantizing (model/export.py,
model/quantize.py).
"""

from __future__ import annotations

import warnings

import torch

from .net import NoseNet, normalization_stats, normalize


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


def convert_weights(weights, input_size: int):
    """A weights file's network, BatchNorm folded (as every backend runs it), converted."""
    from .net import fold_batchnorm
    from .weights import load_model

    model, _ = load_model(weights, "cpu")
    return convert_to_openvino(fold_batchnorm(model), input_size)
