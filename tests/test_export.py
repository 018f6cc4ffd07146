"""Exported models find the same nose as PyTorch (within 0.5 model px) on the samples."""

import numpy as np
import pytest
import torch

from conftest import SAMPLES, run_cli
from pettrack.model.peaks import decode_peaks
from pettrack.model.images import load_image
from pettrack.model.localizer import Localizer
from pettrack.model.net import normalize


@pytest.fixture(scope="module")
def sample_batch():
    localizer = Localizer.load(device="cpu")
    images = [load_image(p).rgb for p in sorted((SAMPLES / "images").glob("*.jpg"))]
    inputs = np.stack([localizer.prepare(image).input for image in images])
    reference = localizer.infer(inputs).points
    return normalize(torch.from_numpy(inputs)), reference


def test_torchscript_export_matches(tmp_path, sample_batch):
    x, reference = sample_batch
    out = tmp_path / "nose.pt"
    result = run_cli("export", "--format", "torchscript", "--out", out)
    assert result.returncode == 0, result.stderr
    extra = {"pettrack.json": ""}
    model = torch.jit.load(str(out), _extra_files=extra)
    assert b'"architecture": "resnet18-upsample5"' in extra["pettrack.json"]
    with torch.no_grad():
        points, _ = decode_peaks(model(x).numpy())
    assert np.abs(points[:, 0] - reference).max() < 0.5


def test_onnx_export_matches(tmp_path, sample_batch):
    ort = pytest.importorskip("onnxruntime")
    x, reference = sample_batch
    out = tmp_path / "nose.onnx"
    result = run_cli("export", "--format", "onnx", "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "[torch.onnx]" not in result.stderr  # no progress lines: they are --debug's
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert "pettrack.json" in session.get_modelmeta().custom_metadata_map
    (heatmaps,) = session.run(None, {"image": x.contiguous().numpy()})
    points, _ = decode_peaks(heatmaps)
    assert np.abs(points[:, 0] - reference).max() < 0.5


def test_unknown_format_is_a_usage_error(tmp_path):
    result = run_cli("export", "--format", "tflite", "--out", tmp_path / "x")
    assert result.returncode == 2 and "tflite" in result.stderr and "onnx, torchscript" in result.stderr
    assert not (tmp_path / "x").exists()
