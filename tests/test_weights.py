import pickle

import pytest
import torch
from safetensors.torch import save_file

from pettrack.model.architecture import NetConfig
from pettrack.model.net import NoseNet
from pettrack.model.weights import ModelInfo, WeightsError, load_model, read_info, save_weights


def test_save_and_load_keep_tensors_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = NoseNet(NetConfig(input_size=64)).eval()
    info = ModelInfo(net=NetConfig(input_size=64), sigma=2.0, training={"seed": 3}, metrics={"mean": 1.5})
    path = tmp_path / "m.safetensors"
    save_weights(path, model, info)
    loaded, loaded_info = load_model(path)
    assert loaded_info.net.input_size == 64 and loaded_info.sigma == 2.0
    assert loaded_info.training == {"seed": 3} and loaded_info.metrics == {"mean": 1.5}
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=2e-3)  # fp16 storage
    assert read_info(path).net == info.net
    assert not list(tmp_path.glob(".*partial*"))  # the temp file was renamed away


def test_network_shape():
    model = NoseNet().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 256, 256))
    assert out.shape == (2, 1, 256, 256) and out.min() >= 0 and out.max() <= 1


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(WeightsError, match="bad.safetensors"):
        load_model(path)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "m.safetensors"
    save_weights(path, NoseNet(NetConfig(64)), ModelInfo(net=NetConfig(64)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError):
        load_model(path)


def test_pickle_is_never_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(WeightsError):
        load_model(path)


def test_safetensors_of_another_model_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(WeightsError, match="not a pettrack model"):
        load_model(path)
    save_file({"w": torch.zeros(3)}, str(path), metadata={"pettrack": ModelInfo().to_json()})
    with pytest.raises(WeightsError, match="do not match"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        load_model(tmp_path / "nope.safetensors")


def test_averaged_weights_are_the_mean_of_their_parts_and_name_them(tmp_path):
    """model/average.py, which made the shipped default from two fine-tunes of one start."""
    from pettrack.model.average import average_models

    parts = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = NoseNet(NetConfig(input_size=64))
        path = tmp_path / f"part{seed}.safetensors"
        save_weights(path, model, ModelInfo(net=NetConfig(input_size=64), training={"seed": seed}))
        parts.append(path)
    mean, info = average_models(parts)
    a, b = (load_model(p)[0].state_dict() for p in parts)
    for name, tensor in mean.state_dict().items():
        if tensor.is_floating_point():
            assert torch.allclose(tensor, (a[name] + b[name]) / 2, atol=1e-6), name
    assert info.training["parts"] == [{"seed": 0}, {"seed": 1}]
    assert [p.endswith(f"part{i}.safetensors") for i, p in enumerate(info.training["averaged"])] == [True, True]

    other = tmp_path / "other.safetensors"
    save_weights(other, NoseNet(NetConfig(input_size=96)), ModelInfo(net=NetConfig(input_size=96)))
    with pytest.raises(WeightsError, match="different input sizes"):
        average_models([parts[0], other])
    with pytest.raises(WeightsError, match="at least two"):
        average_models(parts[:1])


def test_average_command_writes_the_mean_with_its_threshold_and_refuses_bad_input(tmp_path):
    """`python -m pettrack.model.average`, as the model card runs it (small networks, the samples)."""
    import subprocess
    import sys

    from conftest import SAMPLES

    parts = []
    for seed, size in ((0, 64), (1, 64), (2, 96)):
        torch.manual_seed(seed)
        path = tmp_path / f"part{seed}.safetensors"
        save_weights(path, NoseNet(NetConfig(input_size=size)), ModelInfo(net=NetConfig(input_size=size)))
        parts.append(path)
    data = ["--images", str(SAMPLES / "images"), "--labels", str(SAMPLES / "noses.txt"), "--val-fraction", "0.5"]

    def average(*args):
        return subprocess.run([sys.executable, "-m", "pettrack.model.average", *map(str, args), *data],
                              capture_output=True, text=True, timeout=300)

    mean = tmp_path / "mean.safetensors"
    made = average(parts[0], parts[1], "--out", mean)
    assert made.returncode == 0, made.stderr
    info = read_info(mean)
    assert 0.0 <= info.presence_threshold <= 1.0
    assert info.metrics["footage"]["threshold"] == info.presence_threshold
    assert len(info.training["averaged"]) == 2

    before = parts[0].read_bytes()
    for bad, words in (((parts[0], parts[2], "--out", tmp_path / "x.safetensors"), "different input sizes"),
                       ((parts[0], parts[1], "--out", parts[0]), "part0.safetensors")):
        refused = average(*bad)
        assert refused.returncode == 1 and words in refused.stderr
        assert "Traceback" not in refused.stderr
    assert parts[0].read_bytes() == before and not (tmp_path / "x.safetensors").exists()
