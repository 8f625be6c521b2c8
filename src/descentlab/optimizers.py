"""First-order optimisers on flat parameter vectors.

Each optimiser is a frozen dataclass of hyper-parameters with two methods:

* ``init(x0) -> state``: a state whose ``x`` is an independent copy of ``x0``;
* ``step(state, oracle) -> state``: one iteration, where ``oracle(point) -> (loss, grad)`` is evaluated at
  points the optimiser chooses. The gradient it returns may live in a buffer that the next call overwrites,
  so an optimiser copies what it keeps (here: nothing but the new iterates, which are new arrays anyway).

``state.x`` is always the iterate the method would export. States are frozen and steps never write into an
existing array, so a state handed out earlier stays valid. All arithmetic broadcasts, so ``x`` may be one
model ``(P,)`` or M models ``(M, P)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Oracle = Callable[[np.ndarray], tuple[Any, np.ndarray]]


class State(Protocol):
    x: np.ndarray
    k: int


class Optimizer(Protocol):
    @property
    def name(self) -> str: ...

    def init(self, x0: np.ndarray) -> Any: ...

    def step(self, state: Any, oracle: Oracle) -> Any: ...


def _check_lr(lr: float) -> None:
    if not (math.isfinite(lr) and lr > 0.0):
        raise ValueError(f"the learning rate must be a positive number, got {lr}")


@dataclass(frozen=True)
class GDState:
    """Steepest descent: the iterate ``x = θ_k`` and the iteration count k."""

    x: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class GD:
    r"""Steepest descent with a constant step (task 7; eq. (G1) of docs/derivation.md).

    .. math:: \theta_{k+1} = \theta_k - \mathrm{lr}\,\nabla L(\theta_k)

    Parameters
    ----------
    lr : float
        Step size, > 0.
    """

    lr: float = 0.01
    name: str = "gd"

    def __post_init__(self) -> None:
        _check_lr(self.lr)

    def init(self, x0: np.ndarray) -> GDState:
        return GDState(x=np.array(x0, dtype=np.float64, copy=True), k=0)

    def step(self, state: GDState, oracle: Oracle) -> GDState:
        _, grad = oracle(state.x)
        return GDState(x=state.x - self.lr * grad, k=state.k + 1)  # (G1)


@dataclass(frozen=True)
class NAGState:
    """Nesterov's method: exported iterate ``x = p_k``, look-ahead ``q = q_k``, ``t = t_k``, count k."""

    x: np.ndarray
    q: np.ndarray
    t: float
    k: int = 0


def next_t(t: float) -> float:
    r""":math:`t_{k+1} = (1 + \sqrt{1 + 4 t_k^2}) / 2` (eq. N2)."""
    return (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0


def nag_momentum(n: int) -> np.ndarray:
    """The first n momentum factors ``(t_k − 1)/t_{k+1}``, k = 0 … n−1, from ``t_0 = 1``.

    They start 0, 0.281754, 0.434043, 0.531064, … : the first factor multiplies ``p_1 − p_0`` in ``q_1``,
    the second ``p_2 − p_1`` in ``q_2``, and so on.
    """
    factors = np.empty(n)
    t = 1.0
    for k in range(n):
        t_new = next_t(t)
        factors[k] = (t - 1.0) / t_new
        t = t_new
    return factors


@dataclass(frozen=True)
class NAG:
    r"""Nesterov's accelerated gradient (1983), as Beck & Teboulle (2009) state it (task 8).

    With ``p_0 = q_0 = θ_0`` and ``t_0 = 1``, for k = 0, 1, …:

    .. math::
        p_{k+1} &= q_k - \mathrm{lr}\,\nabla L(q_k)                          \quad (N1)\\
        t_{k+1} &= \bigl(1 + \sqrt{1 + 4 t_k^2}\bigr)/2                      \quad (N2)\\
        q_{k+1} &= p_{k+1} + \frac{t_k - 1}{t_{k+1}}\,(p_{k+1} - p_k)        \quad (N3)

    The gradient is taken at the look-ahead point q, never at p; ``p_k`` in (N3) is the iterate before
    the step. The first two steps are plain gradient steps (the factor is 0 at k = 0, and q_1 = p_1).
    ``state.x`` is ``p_k``, the iterate that is exported.

    Parameters
    ----------
    lr : float
        Step size, > 0; ``1/L`` for an L-smooth convex loss gives the O(1/k²) bound.
    """

    lr: float = 0.01
    name: str = "nag"

    def __post_init__(self) -> None:
        _check_lr(self.lr)

    def init(self, x0: np.ndarray) -> NAGState:
        p0 = np.array(x0, dtype=np.float64, copy=True)
        return NAGState(x=p0, q=p0.copy(), t=1.0, k=0)

    def step(self, state: NAGState, oracle: Oracle) -> NAGState:
        _, grad = oracle(state.q)
        p_new = state.q - self.lr * grad  # (N1) gradient at the look-ahead point q_k
        t_new = next_t(state.t)  # (N2)
        q_new = p_new + ((state.t - 1.0) / t_new) * (p_new - state.x)  # (N3) state.x is p_k
        return NAGState(x=p_new, q=q_new, t=t_new, k=state.k + 1)


OPTIMIZERS: dict[str, Callable[..., Any]] = {"gd": GD, "nag": NAG}


def make_optimizer(name: str, **hyper: float) -> Any:
    """An optimiser by its command-line name (``gd``, ``nag``) with keyword hyper-parameters."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimiser {name!r}; choose one of: {', '.join(OPTIMIZERS)}") from None
    return cls(**hyper)
