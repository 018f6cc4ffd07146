"""Where and in what precision the network runs: `--device` and `--precision` resolved to names.

PyTorch is imported only where the answer needs it (a machine that may have a CUDA device, a
CUDA device's precision). On a CPU-only machine the OpenVINO path resolves both without it.
"""

from __future__ import annotations

import functools
import glob
import re
import sys

from .settings import PRECISION_NAMES

# What each precision runs as; int8 runs the weights' quantized OpenVINO model (model/quantize.py).
PRECISIONS = tuple(name for name in PRECISION_NAMES if name != "auto")


def cuda_possible() -> bool:
    """False only where no CUDA device can exist: a Linux machine without NVIDIA's device nodes
    (/dev/nvidia0 ..., or WSL's /dev/dxg). Elsewhere PyTorch has to be asked."""
    if sys.platform.startswith("linux"):
        return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/dxg"))
    return True


def resolve_device(name: str = "auto") -> str:
    """'auto' picks CUDA when present ('cuda'), else 'cpu'; asking for CUDA on a machine without
    it is an error (ValueError)."""
    if name == "cpu" or (name == "auto" and not cuda_possible()):
        return "cpu"
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return str(device)


def device_type(device: str) -> str:
    """'cuda:1' -> 'cuda'."""
    return device.split(":")[0]


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 (AVX512-BF16, AMX), where oneDNN and OpenVINO run bf16 fast.
    Read from the CPU's flags on Linux; elsewhere PyTorch's oneDNN is asked."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            flags = re.search(r"^flags\s*:(.*)$", handle.read(), re.MULTILINE)
        if flags is not None:
            return bool({"avx512_bf16", "amx_bf16"} & set(flags.group(1).split()))
    except OSError:
        pass
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(name: str, device: str) -> str:
    """The precision a run uses: fp32, bf16, fp16 or int8.

    'auto': bf16 on CUDA (fp16 before Ampere); on the CPU bf16 where it is native (1.7x faster here,
    points within 0.07 px of fp32 on the samples, see tests/test_precision.py), else fp32.
    """
    if name == "auto":
        if device_type(device) == "cuda":
            import torch

            # bf16 needs Ampere or newer; older GPUs run fp16 natively and emulate bf16 slowly.
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_supports_bf16() else "fp32"
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r} (use auto, {', '.join(PRECISIONS)})")
    return name
