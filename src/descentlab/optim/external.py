"""torch.optim and optax by name: ``torch:CLASS[:KEY=VALUE…]`` and ``optax:NAME[:KEY=VALUE…]`` step on
descentlab's exact gradients, through the same oracle as the built-in methods (docs/optimizers.md).

The library's own state (torch's per-parameter tensors, optax's pytree) travels in the descentlab state as one
flat float64 vector, so checkpoints and resume need nothing new: its layout is the library's, read from a
template (torch: one step on zeros; optax: ``init``), and every value round-trips exactly (float32 and integer
counts are exact in float64). torch gets one parameter group per stacked model (each with its own learning
rate); optax updates the whole stack at once with the learning rate as an ``(M, 1)`` column.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .base import POSITIVE, Oracle, check, hyper, start

LIBRARIES = ("torch", "optax")
_INSTALL = {"torch": "pip install torch==2.13.0", "optax": "pip install optax"}


def _value(text: str) -> object:
    """A setting's value: true/false, a whole number, a number, or the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_external(spec: str) -> tuple[str, str, tuple[tuple[str, object], ...], object]:
    """``(library, target, options, lr)`` of ``torch:CLASS[:KEY=VALUE…]`` or ``optax:NAME[:KEY=VALUE…]``; ``lr``
    (torch) or ``learning_rate`` (optax) is kept apart (None when not given)."""
    library, _, rest = spec.strip().partition(":")
    target, *texts = rest.split(":")
    if not target.strip():
        example = "torch:Adam" if library == "torch" else "optax:adam"
        raise ValueError(f"{spec!r}: name the {library} optimiser, e.g. {example}")
    options: dict[str, object] = {}
    for text in texts:
        key, sep, value = (part.strip() for part in text.partition("="))
        if not sep or not key:
            raise ValueError(f"{spec!r}: expected KEY=VALUE after ':', got {text!r}")
        if key in options:
            raise ValueError(f"{spec!r}: {key} is set twice")
        options[key] = _value(value)
    lr = options.pop("lr" if library == "torch" else "learning_rate", None)
    return library, target.strip(), tuple(options.items()), lr


def _library(name: str, spec: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise ValueError(f"{spec!r} needs {name}, which is not installed: {_INSTALL[name]}") from None


@dataclass(frozen=True, slots=True)
class ExternalState:
    """The iterate ``x`` ``(M, P)``, the library's state flattened (empty before the first step), the count k."""

    x: np.ndarray
    flat: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class External:
    """One torch.optim or optax optimiser, built from its ``target`` name and ``options`` (keyword arguments)."""

    name: ClassVar[str] = "external"
    label: ClassVar[str] = "torch.optim or optax on descentlab's gradients"

    library: str = "torch"
    target: str = "SGD"
    options: tuple[tuple[str, Any], ...] = ()
    lr: float | np.ndarray = hyper(0.01, POSITIVE)

    def __post_init__(self) -> None:
        check(self, ("lr",))

    def init(self, x0: np.ndarray) -> ExternalState:
        x = start(x0)
        return ExternalState(x=x, flat=np.zeros(0))

    def step(self, state: ExternalState, oracle: Oracle) -> ExternalState:
        _, gradient = oracle(state.x)
        lrs = np.broadcast_to(np.asarray(self.lr, dtype=np.float64).reshape(-1, 1), (state.x.shape[0], 1))
        run = _torch_step if self.library == "torch" else _optax_step
        x, flat = run(self, state, np.array(gradient), lrs)
        return ExternalState(x=x, flat=flat, k=state.k + 1)


def check_external(spec: str, optimizer: External) -> None:
    """Build the library's optimiser once, so that a missing library, a wrong name or a wrong keyword is said in
    one line before any work."""
    _library(optimizer.library, spec)
    try:
        if optimizer.library == "torch":
            _torch_layout(optimizer.target, optimizer.options, 2)
        else:
            transform, zero = _optax_transform(optimizer.target, optimizer.options, 0.01), np.zeros((1, 2))
            transform.update(zero, transform.init(zero), zero)
    except (AttributeError, TypeError, ValueError) as error:
        where = "torch.optim" if optimizer.library == "torch" else "optax"
        raise ValueError(f"{spec!r}: {where} cannot make {optimizer.target!r}: {error}") from None


# -- torch ---------------------------------------------------------------------------------------------------------
def _torch_class(target: str) -> Any:
    import torch

    cls = getattr(torch.optim, target, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)) or target == "LBFGS":
        raise ValueError("not a torch.optim.Optimizer that steps without a closure (use descentlab's lbfgs for "
                         "L-BFGS)")
    return cls


@functools.cache
def _torch_layout(target: str, options: tuple[tuple[str, Any], ...], size: int) -> tuple[tuple[str, Any, tuple], ...]:
    """The state one parameter of ``size`` entries has after a step: ``(key, dtype, shape)`` in torch's order."""
    import torch

    p = torch.zeros(size, dtype=torch.float64)
    p.grad = torch.zeros(size, dtype=torch.float64)
    optimizer = _torch_class(target)([p], **dict(options))
    optimizer.step()
    layout = []
    for key, value in optimizer.state[p].items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"its state {key!r} is a {type(value).__name__}, not a tensor")
        layout.append((key, value.dtype, tuple(value.shape)))
    return tuple(layout)


def _torch_step(method: External, state: ExternalState, g: np.ndarray, lrs: np.ndarray) -> tuple[Any, Any]:
    import torch

    models, size = state.x.shape
    params = [torch.tensor(state.x[m]) for m in range(models)]
    groups = [{"params": [p], "lr": float(lrs[m, 0])} for m, p in enumerate(params)]
    optimizer = _torch_class(method.target)(groups, **dict(method.options))
    layout = _torch_layout(method.target, method.options, size)
    if state.k:
        chunks = iter(np.split(state.flat, np.cumsum([int(np.prod(s)) for _, _, s in layout] * models)[:-1]))
        for p in params:
            optimizer.state[p] = {key: torch.tensor(next(chunks).reshape(shape), dtype=dtype)
                                  for key, dtype, shape in layout}
    for m, p in enumerate(params):
        p.grad = torch.from_numpy(g[m])
    with torch.no_grad():
        optimizer.step()
    flat = [optimizer.state[p][key].detach().to(torch.float64).reshape(-1).numpy() for p in params
            for key, _, _ in layout]
    x = np.stack([p.detach().numpy() for p in params])
    return x, np.concatenate(flat) if flat else np.zeros(0)


# -- optax ---------------------------------------------------------------------------------------------------------
def _optax_transform(target: str, options: tuple[tuple[str, Any], ...], lr: Any) -> Any:
    import jax
    import optax

    jax.config.update("jax_enable_x64", True)  # descentlab's numbers are float64
    make = getattr(optax, target, None)
    if not callable(make):
        raise ValueError("not an optax optimiser")
    return make(learning_rate=lr, **dict(options))


@functools.cache
def _optax_update(target: str, options: tuple[tuple[str, Any], ...]) -> Any:
    """One compiled step of the optax optimiser, the learning rates an argument (compiled once per stack shape)."""
    import jax
    import optax

    def update(g: Any, state: Any, x: Any, lrs: Any) -> Any:
        updates, after = _optax_transform(target, options, lrs).update(g, state, x)
        return optax.apply_updates(x, updates), after

    return jax.jit(update)


def _optax_step(method: External, state: ExternalState, g: np.ndarray, lrs: np.ndarray) -> tuple[Any, Any]:
    import jax

    template = _optax_transform(method.target, method.options, lrs).init(state.x)
    leaves, tree = jax.tree_util.tree_flatten(template)
    if state.k and leaves:
        sizes = np.cumsum([np.size(leaf) for leaf in leaves])[:-1]
        leaves = [np.asarray(chunk).reshape(np.shape(leaf)).astype(np.asarray(leaf).dtype)
                  for chunk, leaf in zip(np.split(state.flat, sizes), leaves, strict=True)]
    moved, after = _optax_update(method.target, method.options)(g, jax.tree_util.tree_unflatten(tree, leaves),
                                                                  state.x, lrs)
    x = np.array(moved, dtype=np.float64)
    flat = [np.asarray(leaf, dtype=np.float64).reshape(-1) for leaf in jax.tree_util.tree_leaves(after)]
    return x, np.concatenate(flat) if flat else np.zeros(0)
