"""Model files (safetensors tensors + one JSON metadata entry).

A model file holds one float64 tensor per parameter, named and shaped as PyTorch names the state of
``torch.nn.Sequential(Linear, activation, Linear, …, Linear)``: layer l's ``W_l`` is ``"{2l}.weight"`` of shape
(out, in) and ``b_l`` is ``"{2l}.bias"`` of shape (out,) (the activations sit at the odd indices and hold no
tensors), so ``model.load_state_dict(safetensors.torch.load_file(path))`` loads it as it is. In memory the
derivation's layout stays (``b_l`` a column (out, 1)); only the file follows torch. Format version 1, written
before, named the tensors ``W0, b0, W1, …`` with biases (out, 1); it is still read. The safetensors metadata
key ``descentlab`` holds a JSON object::

    {"format": "descentlab-model", "format_version": 2, "descentlab_version": "…",
     "architecture": {"sizes": [4, 16, 3], "activation": "softplus"},
     "checksum": "sha256:…",
     … whatever the caller passed as metadata (feature_names, class_names, standardization,
       training, metrics) …}

The checksum covers the metadata (without the checksum itself) and every tensor's name, shape and bytes, so a
file changed after it was written, by damage or by hand, is refused. Nothing is ever unpickled: safetensors
holds raw little-endian numbers and a JSON header.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..core.network import MLP
from ..core.params import Params
from .atomic import atomic_write_bytes


class Fitted(Protocol):
    """What :func:`save_model` takes from a fit result (:class:`~descentlab.training.fit.FitResult`): its
    parameters and the names of the data it was fitted on. A protocol, so file formats need no training code."""

    @property
    def params(self) -> Params: ...

    @property
    def feature_names(self) -> tuple[str, ...]: ...

    @property
    def class_names(self) -> tuple[str, ...]: ...

FORMAT = "descentlab-model"
FORMAT_VERSION = 1  # of checkpoints
MODEL_FORMAT_VERSION = 2  # of model files: 2 names and shapes the tensors as torch does, 1 as the derivation
METADATA_KEY = "descentlab"


class ModelFileError(ValueError):
    """A model file that cannot be read, or is not what it claims to be."""


def _version() -> str:
    from .. import __version__

    return __version__


MODEL_SUFFIX = ".safetensors"
NAME_MAX = 200  # bytes: file systems allow 255 per name, less the atomic writer's '.NAME.<8 random characters>.tmp'


def model_file_name(method: str) -> str:
    """The file name of a method's model: the spec as typed (``adagrad:lr=0.1.safetensors``) wherever a file
    system allows it, else the spec made safe (``/`` and the like to ``_``, ``=`` to ``-``), cut to fit."""
    import re

    name = method + MODEL_SUFFIX
    if method not in ("", ".", "..") and not set(method) & set('/\\\0') and len(name.encode()) <= NAME_MAX:
        return name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", method.replace("=", "-")).strip(".") or "model"
    return stem[: NAME_MAX - len(MODEL_SUFFIX)] + MODEL_SUFFIX


def save_model(
    path: str | Path, net: MLP, params: Params | Fitted, metadata: dict[str, Any] | None = None
) -> None:
    """Write a trained model to ``path`` (safetensors + JSON metadata), atomically.

    Parameters
    ----------
    path : destination file, conventionally ``*.safetensors``
    net : the network
    params : its parameters (one model, ``params.flat`` 1-D), or what :func:`~descentlab.fit` returned: then the
        training data's ``feature_names`` and ``class_names`` are stored too, so that ``descentlab predict``
        finds the columns by name
    metadata : JSON-serialisable dict stored alongside, e.g. ``feature_names``, ``class_names``,
        ``standardization``, ``training``, ``metrics`` (it wins over names taken from a fit result). The keys
        ``format``, ``format_version``, ``descentlab_version`` and ``architecture`` are descentlab's own.
    """
    from safetensors.numpy import save

    if not isinstance(params, Params):  # a FitResult: its parameters, and the names of the data it was fitted on
        names = {"feature_names": list(params.feature_names), "class_names": list(params.class_names)}
        metadata = {**{key: value for key, value in names.items() if value}, **(metadata or {})}
        params = params.params
    if params.slots != net.slots or params.flat.ndim != 1:
        raise ValueError(f"save_model needs the parameters of one model of {net!r}")
    if not np.all(np.isfinite(params.flat)):
        raise ValueError("refusing to save parameters that are not all finite")
    header: dict[str, Any] = dict(metadata or {})
    header.pop("checksum", None)
    header.update({"format": FORMAT, "format_version": MODEL_FORMAT_VERSION, "descentlab_version": _version(),
                   "architecture": {"sizes": list(net.sizes), "activation": net.activation.name}})
    _check_schema(header, net, Path(path))
    tensors = {key: np.ascontiguousarray(params[slot]).reshape(shape)
               for key, (slot, shape) in file_layout(net, MODEL_FORMAT_VERSION).items()}
    header["checksum"] = _checksum(header, tensors)
    blob = save(tensors, metadata={METADATA_KEY: json.dumps(header, sort_keys=True)})
    atomic_write_bytes(path, blob)


def file_layout(net: MLP, version: int = MODEL_FORMAT_VERSION) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{name in the file: (parameter name, shape in the file)}`` for a model file of format ``version``.

    Version 2 is the state_dict of ``torch.nn.Sequential(Linear, activation, …, Linear)``: ``W_l`` as
    ``"{2l}.weight"`` (out, in), ``b_l`` as ``"{2l}.bias"`` (out,). Version 1 stored ``W_l, b_l`` as in memory.
    """
    if version == 1:
        return {slot.name: (slot.name, slot.shape) for slot in net.slots}
    layout: dict[str, tuple[str, tuple[int, ...]]] = {}
    for layer, (n_in, n_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:], strict=True)):
        layout[f"{2 * layer}.weight"] = (f"W{layer}", (n_out, n_in))
        layout[f"{2 * layer}.bias"] = (f"b{layer}", (n_out,))
    return layout


def _checksum(metadata: dict[str, Any], tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 of the metadata (canonical JSON, without the checksum) and of each tensor's name, shape and
    little-endian float64 bytes, in name order."""
    digest = hashlib.sha256()
    body = {key: value for key, value in metadata.items() if key != "checksum"}
    digest.update(json.dumps(body, sort_keys=True).encode("utf-8"))
    for name in sorted(tensors):
        value = np.ascontiguousarray(tensors[name], dtype="<f8")
        digest.update(f"\0{name}\0{list(value.shape)}\0".encode())
        digest.update(value.tobytes())
    return "sha256:" + digest.hexdigest()


def _names(value: Any, count: int) -> bool:
    return isinstance(value, list) and len(value) == count and all(isinstance(v, str) for v in value)


def _numbers(value: Any, count: int) -> bool:
    return (isinstance(value, list) and len(value) == count
            and all(isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in value))


def _check_schema(metadata: dict[str, Any], net: MLP, path: Path) -> None:
    """The optional entries descentlab reads back must have the right types and sizes for this network."""
    d, k = net.sizes[0], net.sizes[-1]
    problems = []
    if "feature_names" in metadata and not _names(metadata["feature_names"], d):
        problems.append(f"feature_names must be {d} strings")
    if "class_names" in metadata and not _names(metadata["class_names"], k):
        problems.append(f"class_names must be {k} strings")
    std = metadata.get("standardization")
    if std is not None and not (isinstance(std, dict) and _numbers(std.get("mean"), d)
                                and _numbers(std.get("scale"), d) and all(v > 0 for v in std["scale"])):
        problems.append(f"standardization must hold {d} finite means and {d} positive scales")
    for key in ("training", "metrics"):
        if key in metadata and not isinstance(metadata[key], dict):
            problems.append(f"{key} must be an object")
    if problems:
        raise ModelFileError(f"{path}: invalid metadata: " + "; ".join(problems))


MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header


def _json(text: bytes | str, path: Path, what: str) -> Any:
    """Parse JSON, turning every way it can fail (syntax, bad UTF-8, 100,000-deep nesting, a 5,000-digit
    integer) into one :class:`ModelFileError` naming the file."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ModelFileError(f"{path}: {what} is nested too deeply to be a descentlab file") from None
    except (UnicodeDecodeError, ValueError):  # JSONDecodeError is a ValueError, so is an over-long integer
        raise ModelFileError(f"{path}: {what} is not valid JSON (corrupted?)") from None


def _data_length(header: dict[str, Any], path: Path) -> int:
    """Bytes of tensor data the safetensors header describes (the largest end offset)."""
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in offsets)):
            raise ModelFileError(f"{path}: the file header describes tensor {name!r} without valid data offsets")
        end = max(end, offsets[1])
    return end


def _read_safetensors(path: Path, missing: str) -> tuple[dict[str, Any], bytes]:
    """The parsed header and the whole content of a safetensors file, read only after the header has been
    checked against the file's size: a FIFO, a device (``/dev/zero``), a folder or a large file whose header
    is wrong is refused without reading more than its first bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # opening a FIFO must not wait
    except FileNotFoundError:
        raise ModelFileError(f"{path}: {missing}") from None
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read the file ({error.strerror})") from None
    mode = os.fstat(fd)
    if not stat.S_ISREG(mode.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode.st_mode) else "not a regular file"
        raise ModelFileError(f"{path}: is {kind}, not a model file")
    with os.fdopen(fd, "rb") as handle:
        size = mode.st_size
        try:
            head = handle.read(8)
            n = int.from_bytes(head, "little")
            if len(head) < 8:
                raise ModelFileError(f"{path}: too short to be a model file ({size} bytes)")
            if n <= 0 or n > MAX_HEADER_BYTES or 8 + n > size:
                raise ModelFileError(f"{path}: truncated or not a safetensors file (header of {n} bytes)")
            text = handle.read(n)
            header = _json(text, path, "the file header")
            if not isinstance(header, dict):
                raise ModelFileError(f"{path}: the file header is not a JSON object")
            expected = 8 + n + _data_length(header, path)
            if expected != size:
                raise ModelFileError(f"{path}: the file has {size} bytes but its header describes {expected} "
                                     "(truncated or damaged)")
            rest = handle.read(expected - 8 - n)
        except OSError as error:
            raise ModelFileError(f"{path}: cannot read the file ({error.strerror})") from None
    return header, head + text + rest


def _metadata_text(header: dict[str, Any], path: Path) -> str:
    """The descentlab JSON text inside the safetensors header (``__metadata__`` maps strings to strings)."""
    entries = header.get("__metadata__")
    text = entries.get(METADATA_KEY) if isinstance(entries, dict) else None
    if not isinstance(text, str):
        raise ModelFileError(f"{path}: not a descentlab file (no {METADATA_KEY!r} metadata)")
    return text


def _architecture(metadata: dict[str, Any], path: Path) -> MLP:
    """The network a model's metadata declares, its types checked before anything is built."""
    from ..core.activations import ACTIVATIONS

    arch = metadata.get("architecture")
    sizes = arch.get("sizes") if isinstance(arch, dict) else None
    activation = arch.get("activation") if isinstance(arch, dict) else None
    widths_ok = isinstance(sizes, list) and 2 <= len(sizes) <= 1000 and all(
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 10**9 for n in sizes)
    if not isinstance(sizes, list) or not widths_ok or not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ModelFileError(f"{path}: invalid architecture in the metadata (sizes must be 2 to 1000 whole "
                             f"widths >= 1, activation one of {', '.join(ACTIVATIONS)})")
    try:
        return MLP(sizes, activation)
    except ValueError as error:
        raise ModelFileError(f"{path}: invalid architecture in the metadata ({error})") from None


def load_model(path: str | Path) -> tuple[MLP, Params, dict[str, Any]]:
    """Read a model written by :func:`save_model`.

    Returns
    -------
    net : MLP rebuilt from the stored architecture
    params : Params, float64
    metadata : dict, the stored JSON object

    Raises
    ------
    ModelFileError
        with one message naming the file, when it is missing, truncated, corrupted, from another format
        version, or its tensors do not match the architecture it declares.
    """
    path = Path(path)
    header, raw = _read_safetensors(path, "no such model file")
    metadata = _json(_metadata_text(header, path), path, "the descentlab metadata")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a descentlab model file")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > MODEL_FORMAT_VERSION or version < 1:
        raise ModelFileError(f"{path}: model format version {version!r}; this descentlab ({_version()}) reads "
                             f"versions 1 to {MODEL_FORMAT_VERSION} — upgrade descentlab to read it")
    net = _architecture(metadata, path)
    layout = file_layout(net, version)
    tensors = _checked_tensors(raw, {name: shape for name, (_, shape) in layout.items()}, path)
    _check_schema(metadata, net, path)
    if not _checksum_matches(metadata, tensors, path, "the descentlab metadata"):
        what = "has no checksum" if "checksum" not in metadata else "does not match its checksum"
        raise ModelFileError(f"{path}: the file {what}: it was damaged or edited after descentlab wrote it")
    memory_shapes = {slot.name: slot.shape for slot in net.slots}  # biases back to columns (out, 1)
    params = net.params({slot: tensors[name].reshape(memory_shapes[slot]) for name, (slot, _) in layout.items()})
    return net, params, metadata


def _checksum_matches(metadata: dict[str, Any], tensors: dict[str, np.ndarray], path: Path, what: str) -> bool:
    try:
        return metadata.get("checksum") == _checksum(metadata, tensors)
    except RecursionError:  # json.dumps of a deep (but parseable) structure
        raise ModelFileError(f"{path}: {what} is nested too deeply") from None


def _tensors(raw: bytes, path: Path, what: str) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file's content, or a :class:`ModelFileError` saying ``what`` it is not."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        return load(raw)  # type: ignore[no-any-return]
    except (SafetensorError, ValueError, OverflowError) as error:
        raise ModelFileError(f"{path}: {what} ({error})") from None


def _checked_tensors(raw: bytes, expected: dict[str, tuple[int, ...]], path: Path) -> dict[str, np.ndarray]:
    """The tensors of a model file, refused unless they are exactly the ``expected`` names and shapes, float64
    and finite."""
    tensors = _tensors(raw, path, "corrupted tensor data")
    if set(tensors) != set(expected):
        raise ModelFileError(f"{path}: tensors {sorted(tensors)} do not match the architecture's {sorted(expected)}")
    for name, shape in expected.items():
        value = tensors[name]
        if value.dtype != np.float64:
            raise ModelFileError(f"{path}: tensor {name} is {value.dtype}, expected float64")
        if value.shape != shape:
            raise ModelFileError(f"{path}: tensor {name} has shape {value.shape}, expected {shape}")
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"{path}: tensor {name} holds non-finite values")
    return tensors


# -- ONNX ------------------------------------------------------------------------------------------------------
ONNX_OPSET = 18
_ONNX_ACTIVATIONS = {"softplus": "Softplus", "relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "identity": None}


def export_onnx(net: MLP, params: Params, path: str | Path, class_names: list[str] | None = None,
                feature_names: list[str] | None = None, standardization: dict[str, list[float]] | None = None,
                verify: bool = True) -> Path:
    """Write the network as an ONNX graph (float32), atomically; needs ``descentlab[onnx]``.

    The graph takes ``input`` (batch × d, float32) and returns ``probabilities`` (batch × k, each row sums to
    1) and ``label`` (batch, int64 index into the class names): one ``Gemm`` per layer (``x Wᵀ + b``), the hidden
    activation as its ONNX operator (Softplus, Relu, Tanh, Sigmoid; none for identity), then ``Softmax``.
    A standardisation ``(x − mean)/scale`` is folded into the first layer (``W0/scale``, ``b0 − (W0/scale)·mean``),
    so the graph takes raw features. Class and feature names go into the model's metadata as JSON.

    With ``verify`` (the default; needs onnxruntime) the graph is first run on sample rows and compared with the
    model (:func:`descentlab.formats.onnx_check.verify_onnx`): an export that float32 cannot represent faithfully raises
    :class:`~descentlab.formats.onnx_check.ExportMismatch` and nothing is written.
    """
    import onnx
    from onnx import helper

    if params.slots != net.slots or params.flat.ndim != 1:
        raise ValueError(f"export_onnx needs the parameters of one model of {net!r}")
    d, k = net.sizes[0], net.sizes[-1]
    layers = _folded_layers(net, params, standardization)
    model = helper.make_model(_onnx_graph(net, layers), opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              producer_name="descentlab", producer_version=_version())
    model.doc_string = f"{net!r}: softmax classifier exported by descentlab"
    names = {
        "class_names": list(class_names) if class_names is not None else [str(c) for c in range(k)],
        "feature_names": list(feature_names) if feature_names is not None else [f"x{j}" for j in range(d)],
        "architecture": {"sizes": list(net.sizes), "activation": net.activation.name},
        "standardization_folded": standardization is not None,
    }
    helper.set_model_props(model, {key: json.dumps(value) for key, value in names.items()})
    onnx.checker.check_model(model, full_check=True)
    blob = model.SerializeToString()
    if verify:
        from .onnx_check import verify_onnx

        verify_onnx(blob, net, params, standardization, layers[0][0])
    atomic_write_bytes(path, blob)
    return Path(path)


def _folded_layers(net: MLP, params: Params,
                   standardization: dict[str, list[float]] | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W_l, b_l)`` per layer (biases as rows), a standardisation folded into the first layer."""
    layers = [(np.array(params[f"W{layer}"]), np.array(params[f"b{layer}"])[:, 0]) for layer in range(net.n_layers)]
    if standardization is not None:
        mean = np.asarray(standardization["mean"], dtype=np.float64)
        scale = np.asarray(standardization["scale"], dtype=np.float64)
        W0 = layers[0][0] / scale  # column j divided by scale_j
        layers[0] = (W0, layers[0][1] - W0 @ mean)
    return layers


def _onnx_graph(net: MLP, layers: list[tuple[np.ndarray, np.ndarray]]) -> Any:
    """The ONNX graph of the network with these (float64) layers, stored as float32."""
    from onnx import TensorProto, helper, numpy_helper

    d, k = net.sizes[0], net.sizes[-1]
    nodes, initializers = [], []
    current = "input"
    for layer, (W, b) in enumerate(layers):
        with np.errstate(over="ignore"):  # float32 overflow is what verify finds and explains
            W32, b32 = W.astype(np.float32), b.astype(np.float32)
        initializers.append(numpy_helper.from_array(W32, f"W{layer}"))
        initializers.append(numpy_helper.from_array(b32, f"b{layer}"))
        z = f"z{layer + 1}"
        nodes.append(helper.make_node("Gemm", [current, f"W{layer}", f"b{layer}"], [z], transB=1, name=f"layer{layer}"))
        current = z
        op = _ONNX_ACTIVATIONS[net.activation.name]
        if layer < net.n_layers - 1 and op is not None:
            nodes.append(helper.make_node(op, [z], [f"a{layer + 1}"], name=f"{op.lower()}{layer + 1}"))
            current = f"a{layer + 1}"
    nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=1, name="softmax"))
    nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0, name="argmax"))
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", d])]
    outputs = [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", k]),
               helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"])]
    return helper.make_graph(nodes, "descentlab_mlp", inputs, outputs, initializers)


# -- checkpoints ---------------------------------------------------------------------------------------------------
CHECKPOINT_FORMAT = "descentlab-checkpoint"
CHECKPOINT_FILE = "checkpoint.safetensors"


def save_checkpoint_file(folder: str | Path, info: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """Write ``folder/checkpoint.safetensors`` atomically: named arrays, and ``info`` (JSON) with the format, its
    version and a checksum over both. What the names and ``info`` mean is the writer's business
    (:mod:`descentlab.training.checkpoint`)."""
    from safetensors.numpy import save

    header = {"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, "descentlab_version": _version(), **info}
    header["checksum"] = _checksum(header, tensors)
    path = Path(folder) / CHECKPOINT_FILE
    atomic_write_bytes(path, save(tensors, metadata={METADATA_KEY: json.dumps(header, sort_keys=True)}))
    return path


def read_checkpoint_file(folder: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray], Path]:
    """``(info, arrays, path)`` of what :func:`save_checkpoint_file` wrote, format, version and checksum verified
    (raises :class:`ModelFileError` otherwise)."""
    path = Path(folder) / CHECKPOINT_FILE
    header, raw = _read_safetensors(path, f"no checkpoint here ({CHECKPOINT_FILE} is missing)")
    info = _json(_metadata_text(header, path), path, "the checkpoint's metadata")
    tensors = _tensors(raw, path, "not a readable descentlab checkpoint")
    if not isinstance(info, dict) or info.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(f"{path}: not a descentlab checkpoint")
    if info.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: checkpoint format version {info.get('format_version')!r}; this descentlab "
                             f"reads version {FORMAT_VERSION}")
    if not _checksum_matches(info, tensors, path, "the checkpoint's metadata"):
        raise ModelFileError(f"{path}: the checkpoint does not match its checksum (damaged or edited)")
    return info, tensors, path


def checkpoint_info(folder: str | Path) -> dict[str, Any]:
    """The JSON a checkpoint holds about its run (command, configuration, …), checksum verified."""
    return read_checkpoint_file(folder)[0]
