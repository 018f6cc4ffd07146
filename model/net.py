"""NoseNet: a ResNet18 trunk and a 5-stage upsampling head that outputs a nose heat-map."""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn
from torchvision.models import resnet18

from .architecture import MEAN_RGB, STD_RGB, NetConfig


def _up_stage(in_ch: int, out_ch: int, batchnorm: bool, activation: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=not batchnorm),
    ]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(activation)
    return nn.Sequential(*layers)


class NoseNet(nn.Module):
    """(N, 3, S, S) normalised RGB -> (N, 1, S, S) heat-map in [0, 1]."""

    HEAD_CHANNELS = (512, 256, 128, 64, 32, 1)

    def __init__(self, config: NetConfig = NetConfig()):
        super().__init__()
        self.config = config
        trunk = resnet18(weights=None)  # no downloads at run time, ever
        self.trunk = nn.Sequential(*list(trunk.children())[:-2])  # drop avgpool and fc
        ch = self.HEAD_CHANNELS
        stages = [_up_stage(ch[i], ch[i + 1], True, nn.ReLU(inplace=True)) for i in range(4)]
        stages.append(_up_stage(ch[4], ch[5], config.final_batchnorm, nn.Sigmoid()))
        self.head = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head[:-1](self.trunk(x))
        # The last stage (32->1 conv, sigmoid) always runs in fp32, also under bf16/fp16 autocast:
        # a heat-map stored with an 8-bit mantissa is too coarse for sub-pixel peak fitting
        # (measured: up to 0.62 px off fp32 on the samples; the stage is ~1% of the compute).
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.head[-1](features.float())


def fold_batchnorm(model: NoseNet) -> NoseNet:
    """An inference copy with every BatchNorm folded into the conv before it.

    Same outputs (within 1e-6 in fp32), one memory pass less per layer: ~10% more images/s on
    the CPU (benchmarks/performance.py). Only for eval mode: the folded model cannot train.
    """
    from torch.fx.experimental.optimization import fuse  # conv->bn pattern matching on an FX graph

    folded = copy.deepcopy(model).eval()  # one copy; fusing then works on it in place
    folded.trunk = fuse(folded.trunk, inplace=True)
    # Stage by stage, so the last stage stays separately addressable for its fp32 island.
    folded.head = nn.Sequential(*[fuse(stage, inplace=True) for stage in folded.head])
    return folded


def normalize(batch_uint8: torch.Tensor, dtype: torch.dtype = torch.float32,
              stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(N, S, S, 3) uint8 RGB -> (N, 3, S, S) normalised, channels_last in memory.

    Done on the model's device so the CPU ships compact uint8 frames, not floats. stats: (mean,
    std) from normalization_stats, for a module that keeps them as buffers (a traced export).
    """
    x = batch_uint8.permute(0, 3, 1, 2).to(dtype)
    mean, std = stats if stats is not None else _device_stats(x.device, dtype)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def normalization_stats(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet mean and std in 0..255 units, shaped (1, 3, 1, 1)."""
    mean = torch.tensor(MEAN_RGB, dtype=dtype).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(STD_RGB, dtype=dtype).view(1, 3, 1, 1) * 255.0
    return mean, std


@functools.lru_cache(maxsize=8)
def _device_stats(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """normalization_stats made once per device: building them per call was a blocking
    host-to-device copy on every CUDA batch."""
    mean, std = normalization_stats(dtype)
    return mean.to(device), std.to(device)
