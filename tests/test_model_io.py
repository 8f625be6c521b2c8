import numpy as np
import pytest

import descentlab as dl


def test_round_trip_gives_identical_parameters_and_predictions(tmp_path, iris):
    net = dl.MLP([4, 7, 5, 3], "tanh")
    params = net.init(seed=4)
    path = tmp_path / "m.safetensors"
    dl.save_model(path, net, params, metadata={"class_names": ["a", "b", "c"]})
    net2, params2, meta = dl.load_model(path)
    assert net2.sizes == net.sizes and net2.activation.name == "tanh"
    assert np.array_equal(params2.flat, params.flat)
    assert np.array_equal(net2.predict_proba(params2, iris.X), net.predict_proba(params, iris.X))
    assert meta["class_names"] == ["a", "b", "c"] and meta["format_version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary file left behind


def test_the_file_is_plain_safetensors_without_pickle(tmp_path):
    from safetensors.numpy import load_file

    net = dl.MLP([4, 2, 3])
    dl.save_model(tmp_path / "m.safetensors", net, net.init())
    tensors = load_file(tmp_path / "m.safetensors")
    assert sorted(tensors) == ["W0", "W1", "b0", "b1"] and tensors["W0"].shape == (2, 4)


def test_damaged_files_are_refused_with_one_message(tmp_path):
    net = dl.MLP([4, 2, 3])
    path = tmp_path / "m.safetensors"
    dl.save_model(path, net, net.init())
    raw = path.read_bytes()
    (tmp_path / "short").write_bytes(raw[: len(raw) - 10])
    with pytest.raises(dl.ModelFileError, match="short"):
        dl.load_model(tmp_path / "short")
    with pytest.raises(dl.ModelFileError, match="no such model file"):
        dl.load_model(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="not all finite"):
        params = net.init()
        params.flat[0] = np.nan
        dl.save_model(tmp_path / "nan.safetensors", net, params)
