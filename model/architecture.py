"""What the network is, as plain values: its name, its input, and the normalisation it expects.

Stored in every weights file (model/weights.py) and read before any tensor is: nothing here
imports PyTorch, so the OpenVINO path can describe a model without it. model/net.py builds the
network from these values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ARCHITECTURE = "resnet18-upsample5"
# ImageNet statistics: the trunk is a standard ResNet18 and expects this normalisation.
MEAN_RGB = (0.485, 0.456, 0.406)
STD_RGB = (0.229, 0.224, 0.225)
TRUNK_STRIDE = 32


@dataclass(frozen=True)
class NetConfig:
    """What is needed to rebuild the network; stored in every weights file."""

    input_size: int = 256
    # A BatchNorm right before the sigmoid made training unstable in our measurements
    # (identical runs gave 16 px and 54 px mean error), so the last stage has none by default.
    final_batchnorm: bool = False

    def __post_init__(self) -> None:
        if self.input_size < TRUNK_STRIDE or self.input_size % TRUNK_STRIDE:
            raise ValueError(f"input_size must be a positive multiple of {TRUNK_STRIDE}")

    def to_dict(self) -> dict:
        return {"architecture": ARCHITECTURE, **asdict(self)}
