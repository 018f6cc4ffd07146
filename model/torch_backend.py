"""The PyTorch backend: the network on the CPU or a CUDA device (model/backends.py has the
interface and the OpenVINO backend). Training and evaluation always run here: their model
changes every step."""

from __future__ import annotations

import numpy as np
import torch

from .devices import device_type
from .net import NoseNet, normalize

# The autocast dtype of each precision; None runs fp32.
AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str) -> torch.dtype | None:
    """bf16/fp16 -> their dtype, fp32 -> None (autocast off). int8 has none: it is OpenVINO's."""
    if precision not in AUTOCAST:
        raise ValueError(f"{precision} runs on the OpenVINO backend only")
    return AUTOCAST[precision]


class TorchBackend:
    name = "torch"

    def __init__(self, model: NoseNet, device: str, precision: str):
        """model: an inference network (BatchNorm folded, model/net.py fold_batchnorm)."""
        self.device = device
        self.precision = precision
        self._device = torch.device(device)
        self._autocast = autocast_dtype(precision)
        self.model = model.to(self._device).to(memory_format=torch.channels_last).eval()
        if device_type(device) == "cuda":
            configure_cuda(fp32=self._autocast is None)
        self._staging = PinnedStaging() if device_type(device) == "cuda" else None

    @torch.inference_mode()
    def submit(self, inputs: list[np.ndarray] | np.ndarray) -> torch.Tensor:
        """Start a forward pass over (N, S, S, 3) uint8 inputs; returns the heat-maps on the
        device. On CUDA the batch is stacked straight into a page-locked buffer and copied without
        blocking, and the pass is queued: the host can prepare the next batch meanwhile."""
        if self._staging is not None:
            batch = self._staging.upload(list(inputs), self._device)
        else:
            batch = torch.from_numpy(np.ascontiguousarray(np.stack(inputs) if isinstance(inputs, list) else inputs))
        x = normalize(batch.to(self._device))
        with torch.autocast(self._device.type, dtype=self._autocast or torch.float32, enabled=self._autocast is not None):
            return self.model(x)[:, 0]

    def heatmaps(self, submitted: torch.Tensor) -> np.ndarray:
        """(N, S, S) float32 heat-maps on the host (waits for the pass)."""
        return submitted.float().cpu().numpy()

    def peak_memory_mib(self) -> float | None:
        if self._device.type != "cuda":
            return None
        return torch.cuda.max_memory_allocated(self._device) / 2**20


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
