"""What a localizer is asked for, as plain values: the choices the command line offers and the
settings Localizer.load takes.

Nothing here imports torch: the command line builds its options from these names and answers
--help and usage errors before any model code loads. The Localizer itself (model/localizer.py,
`Localizer.from_settings`) is imported only when a model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Where the network runs (model/backends.py): auto picks OpenVINO on a CPU when it is installed.
BACKENDS = ("auto", "torch", "openvino")
# Numeric precisions; int8 runs the weights' quantized OpenVINO model (model/quantize.py).
PRECISION_NAMES = ("auto", "fp32", "bf16", "fp16", "int8")
# Most noses reported per image unless --max-pets says otherwise: a litter fits, a textured rug's
# hundred weak maxima do not.
MAX_PETS = 16


@dataclass(frozen=True)
class LocalizerSettings:
    """What Localizer.load needs, as plain values: the CLI loads its model from them, and so does
    every worker of a distributed job (a Ray actor), each in its own process."""

    weights: Path | None = None
    device: str = "auto"
    precision: str = "auto"
    min_confidence: float | None = None
    backend: str = "auto"
    max_pets: int = MAX_PETS
