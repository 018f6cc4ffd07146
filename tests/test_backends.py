"""The OpenVINO backend gives PyTorch fp32's points (model/backends.py)."""

import csv
import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import SAMPLES, run_cli
from pettrack.model.backends import BackendError, choose_backend, openvino_available
from pettrack.model.data import load_samples
from pettrack.model.evaluate import footage_cases
from pettrack.model.labels import read_labels
from pettrack.model.localizer import Localizer
from pettrack.model.weights import weights_file

needs_openvino = pytest.mark.skipif(not openvino_available(), reason='OpenVINO is not installed (pip install "pettrack[openvino]")')


def _inputs(localizer: Localizer) -> np.ndarray:
    """The sample photos, and the footage set made from them (each photo small and large on
    video-aspect canvases, degraded, and as many views with no nose), as eval builds it."""
    samples, _ = load_samples(SAMPLES / "images", read_labels(SAMPLES / "noses.txt").labels, 2 * localizer.size)
    photos = [localizer.prepare(sample.image).input for sample in samples]
    return np.stack(photos + [case.view.image for case in footage_cases(samples, localizer.size)])


@needs_openvino
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_openvino_points_match_torch_fp32(tmp_path, monkeypatch, precision):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a fresh model cache
    reference = Localizer.load("default", device="cpu", precision="fp32", backend="torch")
    inputs = _inputs(reference)
    expected = reference.infer(inputs)
    for attempt in ("converted", "from the cache"):
        openvino = Localizer.load("default", device="cpu", precision=precision, backend="openvino")
        assert openvino.backend.name == "openvino", attempt
        got = openvino.infer(inputs)
        # Where there is a nose: where there is none, the highest point of a flat, low map is
        # anywhere, and which pixel wins there differs between CPUs' bf16 (seen on an Intel Xeon).
        noses = expected.present[:, 0]
        distance = np.hypot(*(got.points - expected.points)[noses].T)
        assert noses.sum() >= 8 and distance.max() <= 0.5, (attempt, distance.max())
        # fp32 is the same network: confidences within 0.01. bf16 rounds activations: PyTorch's own
        # bf16 is 0.011 from its fp32 on this set (0.49 px), OpenVINO's bf16 0.0106 (0.28 px).
        limit = 0.01 if precision == "fp32" else 0.015
        assert np.abs(got.confidence - expected.confidence).max() <= limit, attempt
        assert (got.present == expected.present).all(), attempt
    assert list((tmp_path / "pettrack" / "openvino").glob("*.xml"))


@needs_openvino
def test_shipped_int8_model_stays_near_fp32():
    """The int8 model shipped beside `default` (model/quantize.py). Its accuracy on the validation
    split is in docs/benchmarks.md (mean error +0.05 px, footage hit rates within 0.6 points);
    here: it is loadable, made from the shipped weights, and quantization moves a nose by little."""
    reference = Localizer.load("default", device="cpu", precision="fp32", backend="torch")
    inputs = _inputs(reference)
    expected = reference.infer(inputs)
    int8 = Localizer.load("default", device="cpu", precision="int8")
    assert (int8.backend.name, int8.backend.precision) == ("openvino", "int8")
    got = int8.infer(inputs)
    noses = expected.present[:, 0]
    distance = np.hypot(*(got.points - expected.points)[noses].T)
    # Measured: median 0.74, at most 1.61 model px; confidences within 0.07; 1 presence flip in 56.
    assert noses.sum() >= 8 and np.median(distance) <= 1.0 and distance.max() <= 2.5, distance
    assert np.abs(got.confidence - expected.confidence).max() <= 0.1
    assert (got.present[:, 0] == expected.present[:, 0]).mean() >= 0.9


@needs_openvino
def test_int8_export_through_the_cli_and_its_refusals(tmp_path):
    """A user quantizes their own weights, runs them in int8, and gets a clear refusal for an
    int8 model that no longer matches its weights, or int8 where it cannot run."""
    weights = tmp_path / "pet.safetensors"
    shutil.copyfile(weights_file("default"), weights)
    int8 = tmp_path / "pet.int8.xml"
    made = run_cli("export", "--format", "openvino", "--int8", "--weights", weights, "--out", int8,
                   "--images", SAMPLES / "images", "--labels", SAMPLES / "noses.txt")
    assert made.returncode == 0, made.stderr
    assert int8.is_file() and int8.with_suffix(".bin").stat().st_size > 5_000_000
    found = run_cli("folder", SAMPLES / "images", "--csv", "--weights", weights, "--precision", "int8")
    assert found.returncode == 0, found.stderr
    # Each photo's most confident nose is found. (Calibrated on these 8 photos only, the int8 model
    # may also report a weak second peak; the shipped one is calibrated on 300.)
    firsts = [row for row in csv.DictReader(io.StringIO(found.stdout)) if row["nose"] == "0"]
    assert len(firsts) == 8 and all(row["x"] for row in firsts) and "no nose" not in found.stderr

    refused = run_cli("folder", SAMPLES / "images", "--csv", "--weights", weights, "--precision", "int8",
                      "--backend", "torch")
    assert refused.returncode == 2 and "int8 runs on the OpenVINO backend" in refused.stderr
    shutil.copyfile(weights_file("portrait"), weights)  # retrained weights, the old int8 model beside them
    stale = run_cli("folder", SAMPLES / "images", "--csv", "--weights", weights, "--precision", "int8")
    assert stale.returncode == 2 and "not made from these weights" in stale.stderr
    missing = run_cli("folder", SAMPLES / "images", "--csv", "--weights", "portrait", "--precision", "int8")
    assert missing.returncode == 2 and "no int8 model beside the weights" in missing.stderr
    wrong_format = run_cli("export", "--format", "onnx", "--int8", "--out", tmp_path / "x.onnx")
    assert wrong_format.returncode == 2 and "--format openvino" in wrong_format.stderr
    no_images = run_cli("export", "--format", "openvino", "--int8", "--out", tmp_path / "x.xml")
    assert no_images.returncode == 2 and "--images" in no_images.stderr


def test_backend_choice():
    cpu, cuda = "cpu", "cuda"
    assert choose_backend("auto", cuda) == "torch"
    assert choose_backend("auto", cpu) == ("openvino" if openvino_available() else "torch")
    assert choose_backend("torch", cpu) == "torch"
    with pytest.raises(BackendError, match="CPU"):
        choose_backend("openvino", cuda)
    with pytest.raises(BackendError, match="unknown backend"):
        choose_backend("tensorrt", cpu)
    with pytest.raises(BackendError, match="int8 runs on the OpenVINO backend"):
        choose_backend("torch", cpu, "int8")
    with pytest.raises(BackendError, match="int8 runs on the OpenVINO backend"):
        choose_backend("auto", cuda, "int8")


def test_without_openvino_the_cli_says_how_to_install_it_and_auto_is_torch():
    hide = ("import sys; sys.modules['openvino'] = None\n"
            "from pettrack.pipelines.entry import main\nmain()\n")
    command = [sys.executable, "-c", hide, "folder", str(SAMPLES / "images"), "--csv", "--weights", "fast"]
    refused = subprocess.run([*command, "--backend", "openvino"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and 'pip install "pettrack[openvino]"' in refused.stderr
    auto = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert auto.returncode == 0 and len(auto.stdout.splitlines()) == 9


@needs_openvino
def test_folder_with_either_backend_finds_the_same_noses():
    rows = {}
    for backend in ("torch", "openvino"):
        result = run_cli("folder", SAMPLES / "images", "--csv", "--backend", backend)
        assert result.returncode == 0, result.stderr
        rows[backend] = [line.split(",") for line in result.stdout.splitlines()[1:]]
    assert len(rows["torch"]) == len(rows["openvino"]) == 8
    for a, b in zip(rows["torch"], rows["openvino"]):
        assert a[0] == b[0]
        assert abs(float(a[1]) - float(b[1])) < 2.0 and abs(float(a[2]) - float(b[2])) < 2.0  # image pixels


def test_device_and_precision_choices_without_a_gpu(monkeypatch):
    from pettrack.model import devices
    from pettrack.model.devices import resolve_device, resolve_precision

    monkeypatch.setattr(devices, "cuda_possible", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == "cuda:0" and resolve_device("auto") == "cuda"
    with pytest.raises(ValueError, match="1 CUDA device"):
        resolve_device("cuda:3")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # a pre-Ampere GPU
    assert resolve_precision("auto", "cuda") == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda:0") == "bf16"
    monkeypatch.setattr(devices, "cuda_possible", lambda: False)  # no NVIDIA device nodes: CPU, no PyTorch asked
    monkeypatch.setattr(torch.cuda, "is_available", lambda: 1 / 0)
    assert resolve_device("auto") == "cpu"


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@cuda
def test_cuda_points_match_the_cpu_on_the_samples():
    cpu = Localizer.load("default", device="cpu", precision="fp32", backend="torch")
    gpu = Localizer.load("default", device="cuda", precision="fp32", backend="auto")
    assert gpu.backend.name == "torch"
    inputs = _inputs(cpu)
    a, b = cpu.infer(inputs, heatmaps=True), gpu.infer(inputs, heatmaps=True)
    assert np.hypot(*(a.points - b.points).T).max() <= 0.1  # fp32 is pinned: no TF32
    assert np.abs(a.heatmaps - b.heatmaps).max() <= 1e-3


@cuda
def test_cuda_pipeline_with_pinned_double_buffers_matches_one_batch_at_a_time():
    """Batches of changing size through the two pinned buffers, launched ahead of collection,
    give what each batch gives alone."""
    from pettrack.pipelines.runner import FrameInput, localize

    gpu = Localizer.load("default", device="cuda", precision="fp32")
    assert gpu.asynchronous
    inputs = _inputs(gpu)
    prepared = [gpu.prepare(image) for image in inputs]
    frames = [FrameInput(i, None, p) for i, p in enumerate(prepared)]
    for batch_size in (1, 5, 16):
        results = list(localize(gpu, iter(frames), batch_size))
        alone = [found for start in range(0, len(prepared), batch_size)
                 for found in gpu.detect(prepared[start:start + batch_size])]
        assert [r.frame.index for r in results] == list(range(len(frames)))
        for result, expected in zip(results, alone):
            assert abs(result.found.peak.x - expected.peak.x) <= 1e-3 and abs(result.found.peak.y - expected.peak.y) <= 1e-3
