"""Inference speed-ups (reduced precision, folded BatchNorm) keep the points where fp32 puts them."""

import numpy as np
import pytest
import torch

from conftest import SAMPLES
from pettrack.model.images import load_image
from pettrack.model.devices import cpu_supports_bf16, resolve_precision
from pettrack.model.localizer import Localizer


def sample_inputs(localizer):
    images = [load_image(p).rgb for p in sorted((SAMPLES / "images").glob("*.jpg"))]
    return np.stack([localizer.prepare(image).input for image in images])


def test_auto_precision_on_this_cpu():
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_supports_bf16() else "fp32")


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16; auto uses fp32")
def test_bf16_points_stay_within_half_a_pixel_of_fp32():
    fp32 = Localizer.load(device="cpu", precision="fp32")
    bf16 = Localizer.load(device="cpu", precision="bf16")
    inputs = sample_inputs(fp32)
    a, b = fp32.infer(inputs), bf16.infer(inputs)
    assert np.hypot(*(a.points - b.points).T).max() < 0.5  # model pixels
    assert np.abs(a.confidence - b.confidence).max() < 0.02


def test_folding_batchnorm_keeps_the_heatmaps():
    from pettrack.model.net import fold_batchnorm
    from pettrack.model.weights import load_model

    model, _ = load_model(None, torch.device("cpu"))
    model.eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.randn(2, 3, 128, 128)
    with torch.inference_mode():
        assert torch.allclose(model(x), folded(x), atol=1e-5)
