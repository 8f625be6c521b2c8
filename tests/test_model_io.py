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


HIDDEN = [(), (8,), (8, 6), (7, 6, 5)]


@pytest.mark.parametrize("activation", sorted(dl.ACTIVATIONS))
@pytest.mark.parametrize("hidden", HIDDEN, ids=[f"{len(h)}-hidden" for h in HIDDEN])
def test_onnx_export_gives_descentlabs_probabilities_in_onnxruntime(tmp_path, iris_split, activation, hidden):
    ort = pytest.importorskip("onnxruntime")
    import json

    train, test = iris_split
    standardizer = dl.Standardizer.fit(train.X)
    net = dl.MLP([4, *hidden, 3], activation)
    result = dl.fit(net, net.init(seed=1, sigma=0.5), standardizer.apply(train), dl.NAG(lr=0.05), iterations=40)
    path = dl.export_onnx(net, result.params, tmp_path / "m.onnx", class_names=list(train.class_names),
                          feature_names=list(train.feature_names), standardization=standardizer.to_json())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["probabilities", "label"]
    probabilities, label = session.run(None, {"input": test.X.astype(np.float32)})  # raw features: folded in
    expected = net.predict_proba(result.params, standardizer.transform(test.X))
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, np.argmax(probabilities, axis=1))
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == list(train.class_names)
    assert json.loads(meta["architecture"]) == {"sizes": [4, *hidden, 3], "activation": activation}
    ops = [node.op_type for node in __import__("onnx").load(str(path)).graph.node]
    assert ops.count("Gemm") == len(hidden) + 1 and ops[-2:] == ["Softmax", "ArgMax"]


# -- damaged, hand-made and foreign files ------------------------------------------------------------------------
def _saved(tmp_path):
    net = dl.MLP([4, 5, 3])
    path = tmp_path / "good.safetensors"
    dl.save_model(path, net, net.init(seed=2), metadata={"class_names": ["a", "b", "c"], "metrics": {"acc": 0.9}})
    return net, path


def _craft(path, tensors, metadata):
    """A file written by hand with safetensors, bypassing save_model's own checks."""
    import json

    from safetensors.numpy import save

    path.write_bytes(save(tensors, metadata={"descentlab": json.dumps(metadata)}))
    return path


def _refused(path, match=None):
    with pytest.raises(dl.ModelFileError, match=match) as info:
        dl.load_model(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_a_truncated_file_is_refused_wherever_it_is_cut(tmp_path):
    _, path = _saved(tmp_path)
    raw = path.read_bytes()
    header = 8 + int.from_bytes(raw[:8], "little")
    cuts = sorted({0, 1, 7, 8, 9, header // 2, header - 1, header, header + 1, (header + len(raw)) // 2, len(raw) - 1})
    for cut in cuts:
        damaged = tmp_path / f"cut{cut}.safetensors"
        damaged.write_bytes(raw[:cut])
        _refused(damaged)


def test_every_flipped_byte_is_noticed(tmp_path):
    _, path = _saved(tmp_path)
    raw = bytearray(path.read_bytes())
    damaged = tmp_path / "flipped.safetensors"
    for position in range(len(raw)):  # the length prefix, every byte of the JSON header, every data byte
        for bit in (0x01, 0x80):
            flipped = raw.copy()
            flipped[position] ^= bit
            damaged.write_bytes(bytes(flipped))
            _refused(damaged)


def test_hand_made_files_get_a_message_that_says_what_is_wrong(tmp_path):
    net, path = _saved(tmp_path)
    from safetensors.numpy import load_file

    _, _, meta = dl.load_model(path)
    tensors = load_file(path)
    edited = dict(meta, metrics={"acc": 0.99})
    _refused(_craft(tmp_path / "edited.safetensors", tensors, edited), "does not match its checksum")
    dropped = {k: v for k, v in tensors.items() if k != "b1"}
    _refused(_craft(tmp_path / "dropped.safetensors", dropped, meta), r"tensors \['W0', 'W1', 'b0'\] do not match")
    reshaped = dict(tensors, W0=np.ascontiguousarray(tensors["W0"].T))
    _refused(_craft(tmp_path / "shape.safetensors", reshaped, meta), r"W0 has shape \(4, 5\), expected \(5, 4\)")
    with_nan = dict(tensors, W1=tensors["W1"].copy())
    with_nan["W1"][0, 0] = np.nan
    _refused(_craft(tmp_path / "nan.safetensors", with_nan, meta), "W1 holds non-finite values")
    single = dict(tensors, b0=tensors["b0"].astype(np.float32))
    _refused(_craft(tmp_path / "f32.safetensors", single, meta), "b0 is float32, expected float64")
    future = dict(meta, format_version=2)
    _refused(_craft(tmp_path / "future.safetensors", tensors, future), "format version 2.*upgrade descentlab")
    bad_names = dict(meta, class_names=["a", "b"])
    _refused(_craft(tmp_path / "names.safetensors", tensors, bad_names), "class_names must be 3 strings")
    unsigned = {k: v for k, v in meta.items() if k != "checksum"}
    _refused(_craft(tmp_path / "unsigned.safetensors", tensors, unsigned), "has no checksum")
    other = _craft(tmp_path / "other.safetensors", tensors, {"format": "something-else"})
    _refused(other, "not a descentlab model file")
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04\x95" + b"\x00" * 40)
    _refused(tmp_path / "pickle.safetensors")
    assert np.array_equal(dl.load_model(path)[1].flat, net.params(tensors).flat)  # the original still loads


WRITER = """
import sys
from descentlab.model_io import atomic_write_bytes
blobs = [b"a" * 3_000_000, b"b" * 5_000_000]
atomic_write_bytes(sys.argv[1], blobs[0])
print("ready", flush=True)
i = 0
while True:
    i += 1
    atomic_write_bytes(sys.argv[1], blobs[i % 2])
"""


def test_a_writer_killed_at_any_moment_leaves_the_old_file_or_the_new_one(tmp_path):
    import subprocess
    import sys
    import time

    target = tmp_path / "file.bin"
    whole = {(3_000_000, b"a"), (5_000_000, b"b")}
    for delay in np.linspace(0.0, 0.06, 16):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE)
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        time.sleep(delay)
        writer.kill()  # SIGKILL: no handler, no cleanup
        writer.wait()
        writer.stdout.close()
        data = target.read_bytes()
        assert (len(data), bytes(set(data))) in whole, f"partial file after a kill at {delay:.3f} s"
