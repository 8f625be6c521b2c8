"""Model files (safetensors tensors + one JSON metadata entry) and atomic file writes.

A model file holds one tensor per parameter, named as in the network (``W0, b0, W1, b1, …``, float64, shaped
as in the math), and the safetensors metadata key ``descentlab`` holding a JSON object::

    {"format": "descentlab-model", "format_version": 1, "descentlab_version": "…",
     "architecture": {"sizes": [4, 16, 3], "activation": "softplus"},
     … whatever the caller passed as metadata (feature_names, class_names, standardization,
       training, metrics) …}

Nothing is ever unpickled: safetensors holds raw little-endian numbers and a JSON header.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .network import MLP
from .params import Params

FORMAT = "descentlab-model"
FORMAT_VERSION = 1
METADATA_KEY = "descentlab"


class ModelFileError(ValueError):
    """A model file that cannot be read, or is not what it claims to be."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of the new one.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is renamed over
    ``path`` (an atomic replacement on POSIX and Windows).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _version() -> str:
    from . import __version__

    return __version__


def save_model(
    path: str | Path, net: MLP, params: Params, metadata: dict[str, Any] | None = None
) -> None:
    """Write a trained model to ``path`` (safetensors + JSON metadata), atomically.

    Parameters
    ----------
    path : destination file, conventionally ``*.safetensors``
    net, params : the network and its parameters (one model, ``params.flat`` 1-D)
    metadata : JSON-serialisable dict stored alongside, e.g. ``feature_names``, ``class_names``,
        ``standardization``, ``training``, ``metrics``. The keys ``format``, ``format_version``,
        ``descentlab_version`` and ``architecture`` are descentlab's own.
    """
    from safetensors.numpy import save

    if params.slots != net.slots or params.flat.ndim != 1:
        raise ValueError(f"save_model needs the parameters of one model of {net!r}")
    if not np.all(np.isfinite(params.flat)):
        raise ValueError("refusing to save parameters that are not all finite")
    header: dict[str, Any] = dict(metadata or {})
    header.update(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "descentlab_version": _version(),
            "architecture": {"sizes": list(net.sizes), "activation": net.activation.name},
        }
    )
    tensors = {name: np.ascontiguousarray(params[name]) for name in params}
    blob = save(tensors, metadata={METADATA_KEY: json.dumps(header, sort_keys=True)})
    atomic_write_bytes(path, blob)


def _read_header(raw: bytes, path: Path) -> dict[str, Any]:
    if len(raw) < 8:
        raise ModelFileError(f"{path}: too short to be a model file ({len(raw)} bytes)")
    n = int.from_bytes(raw[:8], "little")
    if n <= 0 or 8 + n > len(raw):
        raise ModelFileError(f"{path}: truncated or not a safetensors file (header of {n} bytes)")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: the file header is not valid JSON (corrupted?)") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the file header is not a JSON object")
    return header


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
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read the model file ({error.strerror})") from None
    header = _read_header(raw, path)
    text = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if not isinstance(text, str):
        raise ModelFileError(f"{path}: not a descentlab model (no {METADATA_KEY!r} metadata)")
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError:
        raise ModelFileError(f"{path}: the descentlab metadata is not valid JSON") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a descentlab model file")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path}: model format version {version!r}; this descentlab ({_version()}) reads "
            f"version {FORMAT_VERSION} — upgrade descentlab to read it"
        )
    arch = metadata.get("architecture")
    try:
        assert isinstance(arch, dict)
        net = MLP(arch["sizes"], arch["activation"])
    except (AssertionError, KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: invalid architecture in the metadata ({error})") from None
    try:
        tensors = load(raw)
    except (SafetensorError, ValueError, OverflowError) as error:
        raise ModelFileError(f"{path}: corrupted tensor data ({error})") from None
    expected = {slot.name: slot.shape for slot in net.slots}
    if set(tensors) != set(expected):
        raise ModelFileError(
            f"{path}: tensors {sorted(tensors)} do not match the architecture's {sorted(expected)}"
        )
    for name, shape in expected.items():
        value = tensors[name]
        if value.dtype != np.float64:
            raise ModelFileError(f"{path}: tensor {name} is {value.dtype}, expected float64")
        if value.shape != shape:
            raise ModelFileError(f"{path}: tensor {name} has shape {value.shape}, expected {shape}")
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"{path}: tensor {name} holds non-finite values")
    return net, net.params(tensors), metadata
