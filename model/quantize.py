"""int8: a post-training quantized copy of a model for OpenVINO on CPUs (`--precision int8`).

NNCF measures the range of every activation on calibration images and rewrites the network
with 8-bit integer weights and activations; on CPUs with VNNI or AMX the convolutions then run on
the integer units. The quantized model is an OpenVINO IR (.xml + .bin) that lives beside the
weights it was made from: `NAME.safetensors` -> `NAME.int8.xml`. `pettrack export --format
openvino --int8` makes one; the shipped `default` has one.

Running an int8 model is the OpenVINO backend's (model/backends.py reads and checks the IR);
this module makes one, so the import order stays one way: backends <- quantize.

The weights file stays the source of truth: its metadata (input size, sigma, presence
threshold) is read from it, and the IR records the digest of the weights it was quantized from,
so an IR that no longer matches its weights (they were retrained) is refused, not silently used.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from .backends import DIGEST_KEY, QuantizeError
from .data import Sample, model_view
from .evaluate import footage_cases
from .net import NoseNet

# Calibration images: enough for stable activation ranges (NNCF's default subset is 300).
CALIBRATION_COUNT = 300
# The footage views of the calibration set are drawn with this seed, not the validation set's 0.
CALIBRATION_SEED = 1
INSTALL_NNCF = 'int8 quantization needs OpenVINO and NNCF: pip install "pettrack[quantize]"'


def calibration_views(samples: list[Sample], size: int, count: int = CALIBRATION_COUNT) -> list[np.ndarray]:
    """`count` model inputs shaped like what pettrack meets: half plain portraits, half footage
    views (the pet filling, at 1/2 and at 1/8 of a video-aspect canvas, degraded, and as many
    views with no nose). Deterministic: photos are taken in the order of a hash of their names."""
    ordered = sorted(samples, key=lambda s: hashlib.sha256(s.name.encode()).hexdigest())
    portraits = [model_view(sample, size)[0] for sample in ordered[: count // 2]]
    wanted = count - len(portraits)
    footage_photos = ordered[count // 2:][: math.ceil(wanted / 6)] or ordered[: math.ceil(wanted / 6)]
    footage = [case.view.image for case in footage_cases(footage_photos, size, seed=CALIBRATION_SEED)]
    return portraits + footage[:wanted]


def frame_calibration_views(frames: list, size: int, count: int = CALIBRATION_COUNT) -> list[np.ndarray]:
    """`count` model inputs from hand-labelled video frames (model/frames.py RealFrame, e.g. a
    user's own from `pettrack label`): each frame whole, then augmented views of them as training
    draws them (crops, flips, colour, degradations). Deterministic (a fixed seed)."""
    from .footage import to_view
    from .frames import real_view

    rng = np.random.default_rng(CALIBRATION_SEED)
    views = [to_view(frame.image, [], size).image for frame in frames[:count]]
    while frames and len(views) < count:
        views.append(real_view(frames[len(views) % len(frames)], size, rng).image)
    return views


def quantize_int8(folded: NoseNet, views: list[np.ndarray], weights_digest: str):
    """An inference network with BatchNorm folded (model/net.py fold_batchnorm), with its
    normalisation (uint8 NHWC in, as the OpenVINO backend runs it), quantized to int8 on `views`:
    an openvino.Model that records `weights_digest`, the digest of the weights file it was made
    from (model/weights.py), which the backend checks before running it."""
    from .openvino_convert import convert_to_openvino

    try:
        import nncf
    except ImportError as exc:
        raise QuantizeError(INSTALL_NNCF) from exc
    if not views:
        raise QuantizeError("no calibration images")
    converted = convert_to_openvino(folded, views[0].shape[0])
    dataset = nncf.Dataset(views, lambda view: view[None])
    quantized = nncf.quantize(converted, dataset, subset_size=len(views))
    quantized.set_rt_info(weights_digest, DIGEST_KEY)
    return quantized
