"""Interrupted runs to a checkpoint file and back: each method's exported parameters, history, optimiser state
(:mod:`descentlab.optim.state`, generic) and mini-batch sampler state become named arrays and JSON, which
:mod:`descentlab.formats.model_io` writes and reads without knowing what they mean."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core.network import MLP
from ..core.params import Params
from ..formats.model_io import ModelFileError, read_checkpoint_file, save_checkpoint_file
from ..optim.base import Optimizer
from ..optim.state import state_from_arrays, state_to_arrays
from .results import HISTORY_FIELDS, FitResult, History


def _method_arrays(prefix: str, name: str, result: FitResult, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """One method's arrays into ``tensors`` (names under ``prefix``); returns its JSON description."""
    tensors[f"{prefix}.params"] = np.ascontiguousarray(result.params.flat)
    for field in HISTORY_FIELDS:
        tensors[f"{prefix}.history.{field}"] = np.ascontiguousarray(getattr(result.history, field))
    state = None
    if result.state is not None:
        arrays, state = state_to_arrays(result.state)
        tensors.update({f"{prefix}.state.{key}": value for key, value in arrays.items()})
    return {"name": name, "iterations": result.iterations, "stopped": result.stopped, "seconds": result.seconds,
            "interrupted": result.interrupted, "batches": result.batches, "state": state}


def save_checkpoint(folder: str | Path, info: dict[str, Any], results: Mapping[str, FitResult]) -> Path:
    """Write an interrupted run to ``folder/checkpoint.safetensors`` (atomically): for every method begun, its
    exported parameters, history, optimiser state and mini-batch sampler state; ``info`` (JSON) says what run
    it was (command, configuration, data digest, pending methods)."""
    tensors: dict[str, np.ndarray] = {}
    methods = [_method_arrays(f"m{index}", name, result, tensors)
               for index, (name, result) in enumerate(results.items())]
    return save_checkpoint_file(folder, {**info, "methods": methods}, tensors)


def _method_result(prefix: str, method: dict[str, Any], tensors: dict[str, np.ndarray], net: MLP,
                   optimizer: Optimizer[Any]) -> FitResult:
    flat = tensors[f"{prefix}.params"]
    if flat.shape != (net.n_params,):
        raise ValueError(f"parameters of shape {flat.shape} do not fit {net!r}")
    history = History(*(tensors[f"{prefix}.history.{field}"] for field in HISTORY_FIELDS))
    state = None
    if method["state"] is not None:
        arrays = {key: tensors[f"{prefix}.state.{key}"] for key in method["state"]["shapes"]}
        state = state_from_arrays(optimizer, method["state"], arrays)
    return FitResult(
        params=Params(flat, net.slots), history=history, optimizer=None, iterations=int(method["iterations"]),
        stopped=method["stopped"], seconds=float(method["seconds"]), state=state,
        interrupted=bool(method["interrupted"]), batches=method["batches"],
    )


def load_checkpoint(
    folder: str | Path, net: MLP, optimizers: Mapping[str, Optimizer[Any]]
) -> tuple[dict[str, Any], dict[str, FitResult]]:
    """Read what :func:`save_checkpoint` wrote: ``(info, {name: FitResult})``, the results without their
    optimiser (the caller has it: ``optimizers`` maps each method's name to it, and rebuilds its state);
    shapes are checked against ``net``.

    Raises
    ------
    ModelFileError
        for a damaged or inconsistent checkpoint, or one whose methods ``optimizers`` does not name.
    """
    info, tensors, path = read_checkpoint_file(folder)
    results: dict[str, FitResult] = {}
    try:
        for index, method in enumerate(info["methods"]):
            if method["name"] not in optimizers:
                raise ValueError(f"method {method['name']!r} is not one of this run's {list(optimizers)}")
            results[method["name"]] = _method_result(f"m{index}", method, tensors, net, optimizers[method["name"]])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: inconsistent checkpoint ({error})") from None
    return info, results
