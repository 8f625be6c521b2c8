from pathlib import Path

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
    assert meta["class_names"] == ["a", "b", "c"] and meta["format_version"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary file left behind


def test_the_file_is_plain_safetensors_without_pickle(tmp_path):
    from safetensors.numpy import load_file

    net = dl.MLP([4, 2, 3])
    dl.save_model(tmp_path / "m.safetensors", net, net.init())
    tensors = load_file(tmp_path / "m.safetensors")
    assert sorted(tensors) == ["0.bias", "0.weight", "2.bias", "2.weight"]  # torch.nn.Sequential's names
    assert tensors["0.weight"].shape == (2, 4) and tensors["0.bias"].shape == (2,) and tensors["2.bias"].shape == (3,)


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
    dropped = {k: v for k, v in tensors.items() if k != "2.bias"}
    _refused(_craft(tmp_path / "dropped.safetensors", dropped, meta),
             r"tensors \['0.bias', '0.weight', '2.weight'\] do not match")
    reshaped = {**tensors, "0.weight": np.ascontiguousarray(tensors["0.weight"].T)}
    _refused(_craft(tmp_path / "shape.safetensors", reshaped, meta), r"0.weight has shape \(4, 5\), expected \(5, 4\)")
    column = {**tensors, "0.bias": tensors["0.bias"].reshape(5, 1)}  # format 1's bias shape under format 2's name
    _refused(_craft(tmp_path / "column.safetensors", column, meta), r"0.bias has shape \(5, 1\), expected \(5,\)")
    with_nan = {**tensors, "2.weight": tensors["2.weight"].copy()}
    with_nan["2.weight"][0, 0] = np.nan
    _refused(_craft(tmp_path / "nan.safetensors", with_nan, meta), "2.weight holds non-finite values")
    single = {**tensors, "0.bias": tensors["0.bias"].astype(np.float32)}
    _refused(_craft(tmp_path / "f32.safetensors", single, meta), "0.bias is float32, expected float64")
    future = dict(meta, format_version=3)
    _refused(_craft(tmp_path / "future.safetensors", tensors, future), "format version 3.*upgrade descentlab")
    _refused(_craft(tmp_path / "boolean.safetensors", tensors, dict(meta, format_version=True)), "format version True")
    old_names = dict(meta, format_version=1)  # format 2's tensors declared as format 1
    _refused(_craft(tmp_path / "v1.safetensors", tensors, old_names), r"do not match the architecture's \['W0'"),
    bad_names = dict(meta, class_names=["a", "b"])
    _refused(_craft(tmp_path / "names.safetensors", tensors, bad_names), "class_names must be 3 strings")
    unsigned = {k: v for k, v in meta.items() if k != "checksum"}
    _refused(_craft(tmp_path / "unsigned.safetensors", tensors, unsigned), "has no checksum")
    other = _craft(tmp_path / "other.safetensors", tensors, {"format": "something-else"})
    _refused(other, "not a descentlab model file")
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04\x95" + b"\x00" * 40)
    _refused(tmp_path / "pickle.safetensors")
    expected = np.concatenate([tensors[key].ravel() for key in ("0.weight", "0.bias", "2.weight", "2.bias")])
    assert np.array_equal(dl.load_model(path)[1].flat, expected)  # the original still loads


WRITER = """
import sys
from descentlab.formats.atomic import atomic_write_bytes
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


# -- the file is a torch state_dict; format 1 files still load ---------------------------------------------------
FORMAT_1 = Path(__file__).parent / "data" / "model-format-1.safetensors"  # written by descentlab 0.1 (format 1)


def test_a_format_1_file_still_loads_predicts_and_converts(tmp_path, iris):
    from safetensors.numpy import load_file

    old = load_file(FORMAT_1)
    assert sorted(old) == ["W0", "W1", "b0", "b1"] and old["b0"].shape == (5, 1)  # the layout of format 1
    net, params, meta = dl.load_model(FORMAT_1)
    assert meta["format_version"] == 1 and net.sizes == (4, 5, 3)
    for name in ("W0", "b0", "W1", "b1"):
        assert np.array_equal(params[name], old[name])
    dl.save_model(tmp_path / "new.safetensors", net, params, metadata=meta)
    net2, params2, meta2 = dl.load_model(tmp_path / "new.safetensors")
    assert meta2["format_version"] == 2 and np.array_equal(params2.flat, params.flat)
    assert meta2["standardization"] == meta["standardization"] and meta2["feature_names"] == meta["feature_names"]
    new = load_file(tmp_path / "new.safetensors")
    assert np.array_equal(new["0.bias"], old["b0"][:, 0]) and np.array_equal(new["2.weight"], old["W1"])


def test_cli_info_and_predict_read_both_formats_alike(tmp_path, iris, capsys):
    from descentlab.cli.main import main

    net, params, meta = dl.load_model(FORMAT_1)
    dl.save_model(tmp_path / "new.safetensors", net, params, metadata=meta)
    csv = tmp_path / "flowers.csv"
    header = ",".join(meta["feature_names"])
    csv.write_text(header + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in iris.X[::10]) + "\n")
    outputs = []
    for model, version, bias in ((FORMAT_1, 1, "b0 (5×1)"), (tmp_path / "new.safetensors", 2, "0.bias (5)")):
        assert main(["info", "--model", str(model)]) == 0
        text = capsys.readouterr().out
        assert f"format {version}," in text and bias in text
        assert main(["predict", "--model", str(model), "--data", str(csv)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 16  # header + 15 rows
    assert "setosa" in outputs[0] and "virginica" in outputs[0]


TORCH_ACTIVATIONS = {"softplus": "Softplus", "relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
                     "identity": "Identity"}


def torch_sequential(torch, net):
    """``Sequential(Linear, activation, …, Linear)`` of the same sizes, as a PyTorch user writes it."""
    modules = []
    for layer, (n_in, n_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:], strict=True)):
        modules.append(torch.nn.Linear(n_in, n_out))
        if layer < net.n_layers - 1:
            modules.append(getattr(torch.nn, TORCH_ACTIVATIONS[net.activation.name])())
    return torch.nn.Sequential(*modules)


@pytest.mark.parametrize("activation", sorted(dl.ACTIVATIONS))
@pytest.mark.parametrize("hidden", HIDDEN, ids=[f"{len(h)}-hidden" for h in HIDDEN])
def test_torch_loads_the_file_as_it_is_and_gives_the_same_probabilities(tmp_path, iris, activation, hidden):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    net = dl.MLP([4, *hidden, 3], activation)
    params = net.init(seed=7, sigma=0.5)
    path = tmp_path / "m.safetensors"
    dl.save_model(path, net, params)
    model = torch_sequential(torch, net).double()
    model.load_state_dict(load_file(path))  # strict: every key and shape must match torch's own
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.tensor(iris.X)), dim=1).numpy()
    np.testing.assert_allclose(probabilities, net.predict_proba(params, iris.X), rtol=0, atol=1e-12)
    single = torch_sequential(torch, net)  # float32, torch's default: load_state_dict converts
    single.load_state_dict(load_file(path))
    assert torch.equal(single[0].weight, torch.from_numpy(params["W0"]).float())


def test_a_torch_state_dict_comes_back_to_the_same_file(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    net = dl.MLP([4, 6, 3], "relu")
    path = tmp_path / "m.safetensors"
    dl.save_model(path, net, net.init(seed=1), metadata={"class_names": ["a", "b", "c"]})
    model = torch_sequential(torch, net).double()
    model.load_state_dict(load_file(path))
    state = {key: value.detach().numpy() for key, value in model.state_dict().items()}
    back = net.params({"W0": state["0.weight"], "b0": state["0.bias"][:, None],
                       "W1": state["2.weight"], "b1": state["2.bias"][:, None]})
    dl.save_model(tmp_path / "back.safetensors", net, back, metadata={"class_names": ["a", "b", "c"]})
    assert (tmp_path / "back.safetensors").read_bytes() == path.read_bytes()


def test_the_tutorials_torch_snippet_runs_and_agrees_with_descentlab(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    import re

    from descentlab.cli.main import main

    tutorial = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "export-serve.md"  # README's until issue 24
    (snippet,) = [block for block in re.findall(r"```python\n(.*?)```", tutorial.read_text(encoding="utf-8"), re.S)
                  if "load_state_dict" in block]
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--out", "runs/default", "--quiet"]) == 0
    scope: dict = {}
    exec(snippet, scope)
    net, params, meta = dl.load_model("runs/default/models/nag.safetensors")
    assert not meta.get("standardization")  # the snippet feeds raw features, as this model saw them
    expected = net.predict_proba(params, np.array([[5.1, 3.5, 1.4, 0.2]]))
    assert scope["probabilities"].dtype == torch.float32
    np.testing.assert_allclose(scope["probabilities"].detach().numpy(), expected, rtol=0, atol=1e-6)


def test_a_damaged_format_1_file_is_refused_too(tmp_path):
    raw = bytearray(FORMAT_1.read_bytes())
    damaged = tmp_path / "old.safetensors"
    for position in range(0, len(raw), 5):
        flipped = raw.copy()
        flipped[position] ^= 0x01
        damaged.write_bytes(bytes(flipped))
        _refused(damaged)
