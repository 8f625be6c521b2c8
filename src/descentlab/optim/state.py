"""Optimiser states to arrays and numbers and back, with no per-class code: any state that is a dataclass of
arrays, numbers and None is written (:func:`state_to_arrays`) and read back (:func:`state_from_arrays`)
through the optimiser that made it, so a registered optimiser is checkpointed as a built-in one is."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .base import Optimizer


def state_to_arrays(state: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, description)`` of a dataclass state: its array fields by name (flattened, contiguous), and
    for JSON its class name, number and None fields, and the arrays' shapes (safetensors has no 0-d tensors).

    Raises
    ------
    TypeError
        for a field that is neither an array nor a number nor None.
    """
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    shapes: dict[str, list[int]] = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if isinstance(value, np.ndarray):
            arrays[f.name] = np.ascontiguousarray(value).reshape(-1)
            shapes[f.name] = list(value.shape)
        elif value is None or isinstance(value, bool | int | float | np.integer | np.floating):
            # float → JSON → float is exact (shortest repr round-trips)
            scalars[f.name] = value.item() if isinstance(value, np.generic) else value
        else:
            raise TypeError(f"cannot checkpoint field {f.name} of {type(state).__name__}: {type(value).__name__}")
    return arrays, {"class": type(state).__name__, "scalars": scalars, "shapes": shapes}


def _check_scalars(scalars: dict[str, Any]) -> None:
    """A hand-made checkpoint: the count k is a whole number >= 0, the rest numbers, booleans (as saved) or None."""
    for name, value in scalars.items():
        whole = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        number = value is None or isinstance(value, bool) or (isinstance(value, int | float)
                                                              and bool(np.isfinite(value)))
        if not (whole if name == "k" else number):
            raise ValueError(f"optimiser state field {name} holds {value!r}")


def state_from_arrays(optimizer: Optimizer[Any], description: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """The state :func:`state_to_arrays` described, rebuilt as ``optimizer.init`` builds one (from the stored
    iterate ``x``) with every stored field put back.

    Raises
    ------
    ValueError
        when the description is not of a state of ``optimizer`` (another class, unknown or missing fields).
    """
    shapes, scalars = description["shapes"], description["scalars"]
    _check_scalars(scalars)
    shaped = {name: arrays[name].reshape(shape) for name, shape in shapes.items()}
    if "x" not in shaped:
        raise ValueError("the optimiser state has no iterate x")
    template = optimizer.init(shaped["x"])
    names = {f.name for f in dataclasses.fields(template)}
    if description["class"] != type(template).__name__ or set(shaped) | set(scalars) != names:
        raise ValueError(f"a state {description['class']!r} with fields {sorted({*shaped, *scalars})} is not "
                         f"a state of {optimizer!r} ({type(template).__name__})")
    return dataclasses.replace(template, **shaped, **scalars)
