"""Nesterov's accelerated gradient (1983, as Beck & Teboulle 2009 state it), plain (:class:`NAG`) and with
adaptive restart (:class:`RestartedNAG`, O'Donoghue & Candès 2015)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import POSITIVE, Oracle, Variants, check, hyper, per_model, start, words

# ``nag:restart=gradient`` is nag-restart, ``nag-restart:restart=none`` is nag (the spec key of one class)
RESTART = Variants("restart", {"none": "nag", "function": "nag-restart", "gradient": "nag-restart"})


def next_t(t: np.ndarray | float) -> np.ndarray:
    r""":math:`t_{k+1} = (1 + \sqrt{1 + 4 t_k^2}) / 2` (eq. N2), elementwise.

    Computed as :math:`1/2 + \sqrt{1/4 + t_k^2}`, the same floating-point number (scaling by a power of two
    commutes with rounding, and √(4a) = 2√a exactly) in four array operations instead of six: t is an (M, 1)
    column, where the cost of each operation is its call.
    """
    return 0.5 + np.sqrt(0.25 + t * t)  # (N2)


def nag_momentum(n: int) -> np.ndarray:
    """The first n momentum factors ``(t_k − 1)/t_{k+1}``, k = 0 … n−1, from ``t_0 = 1``.

    They start 0, 0.281754, 0.434043, 0.531064, … : the first factor multiplies ``p_1 − p_0`` in ``q_1``,
    the second ``p_2 − p_1`` in ``q_2``, and so on.
    """
    factors = np.empty(n)
    t = 1.0
    for k in range(n):
        t_new = float(next_t(t))
        factors[k] = (t - 1.0) / t_new
        t = t_new
    return factors


def nesterov_step(
    p: np.ndarray, q: np.ndarray, t: np.ndarray, gradient: np.ndarray, lr: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p_{k+1}, q_{k+1}, t_{k+1})`` from ``p_k, q_k, t_k`` and ``∇L(q_k)`` (N1–N3)."""
    p_new = q - lr * gradient  # (N1) the gradient at the look-ahead point q_k
    t_new = next_t(t)  # (N2)
    q_new = p_new + ((t - 1.0) / t_new) * (p_new - p)  # (N3) p is p_k, the iterate before the step
    return p_new, q_new, t_new


@dataclass(frozen=True, slots=True)
class NAGState:
    """Exported iterate ``x = p_k`` ``(M, P)``, look-ahead ``q = q_k`` ``(M, P)``, ``t = t_k`` ``(M, 1)``, count k."""

    x: np.ndarray
    q: np.ndarray
    t: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class NAG:
    r"""Nesterov's accelerated gradient (1983), as Beck & Teboulle (2009) state it (task 8).

    With ``p_0 = q_0 = θ_0`` and ``t_0 = 1``, for k = 0, 1, … (docs/derivation.md):

    .. math::
        p_{k+1} &= q_k - \mathrm{lr}\,\nabla L(q_k)                          \quad (N1)\\
        t_{k+1} &= \bigl(1 + \sqrt{1 + 4 t_k^2}\bigr)/2                      \quad (N2)\\
        q_{k+1} &= p_{k+1} + \frac{t_k - 1}{t_{k+1}}\,(p_{k+1} - p_k)        \quad (N3)

    The gradient is taken at the look-ahead point q, never at p; ``p_k`` in (N3) is the iterate before
    the step. The first two steps are plain gradient steps (the factor is 0 at k = 0, and q_1 = p_1).
    ``state.x`` is ``p_k``, the iterate that is exported.

    Parameters
    ----------
    lr : float or (M, 1) array, > 0; ``1/L`` for an L-smooth convex loss gives the O(1/k²) bound.
    """

    name: ClassVar[str] = "nag"
    label: ClassVar[str] = "accelerated gradient, Nesterov 1983"
    variants: ClassVar[Variants] = RESTART

    lr: float | np.ndarray = hyper(0.01, POSITIVE)

    def __post_init__(self) -> None:
        check(self)

    def init(self, x0: np.ndarray) -> NAGState:
        p0 = start(x0)
        return NAGState(x=p0, q=p0.copy(), t=per_model(p0, 1.0))

    def step(self, state: NAGState, oracle: Oracle) -> NAGState:
        _, gradient = oracle(state.q)
        p_new, q_new, t_new = nesterov_step(state.x, state.q, state.t, gradient, self.lr)
        return NAGState(x=p_new, q=q_new, t=t_new, k=state.k + 1)


@dataclass(frozen=True, slots=True)
class RestartedNAGState:
    """NAG's state, the loss at ``p_k`` ``(M,)`` when a function restart keeps it, and the restarts so far
    per model ``(M, 1)``."""

    x: np.ndarray
    q: np.ndarray
    t: np.ndarray
    restarts: np.ndarray
    k: int = 0
    loss: np.ndarray | None = None


@dataclass(frozen=True)
class RestartedNAG:
    r"""NAG with adaptive restart (O'Donoghue & Candès 2015; docs/derivation.md, N1–N3 and R1–R3).

    After each NAG step, the momentum of a model is reset, ``t_{k+1} = 1`` and ``q_{k+1} = p_{k+1}`` (R3),
    when its restart condition holds:

    * ``restart="gradient"``: ``∇L(q_k)ᵀ(p_{k+1} − p_k) > 0`` (R1), free (the gradient is at hand);
    * ``restart="function"``: ``L(p_{k+1}) > L(p_k)`` (R2), one function evaluation per step.

    Parameters
    ----------
    lr : float or (M, 1) array, > 0
    restart : "gradient" or "function"
    """

    name: ClassVar[str] = "nag-restart"
    label: ClassVar[str] = "NAG with gradient restart"
    variants: ClassVar[Variants] = RESTART

    lr: float | np.ndarray = hyper(0.01, POSITIVE)
    restart: str = hyper("gradient", words("function", "gradient"))

    def __post_init__(self) -> None:
        check(self)

    def init(self, x0: np.ndarray) -> RestartedNAGState:
        p0 = start(x0)
        return RestartedNAGState(x=p0, q=p0.copy(), t=per_model(p0, 1.0),
                                 restarts=np.zeros(p0.shape[:-1] + (1,), dtype=np.int64))

    def step(self, state: RestartedNAGState, oracle: Oracle) -> RestartedNAGState:
        loss_q, gradient = oracle(state.q)
        p_new, q_new, t_new = nesterov_step(state.x, state.q, state.t, gradient, self.lr)
        loss_new = None
        if self.restart == "gradient":
            reset = np.sum(gradient * (p_new - state.x), axis=-1, keepdims=True) > 0.0  # (R1)
        else:
            # no stored loss means the first step, where q_0 = p_0: the gradient call gave L(p_0) already
            loss_old = np.array(loss_q) if state.loss is None else state.loss
            loss_new = np.asarray(oracle.loss(p_new))
            reset = (loss_new > np.asarray(loss_old))[..., None]  # (R2)
        return RestartedNAGState(
            x=p_new,
            q=np.where(reset, p_new, q_new),  # (R3)
            t=np.where(reset, 1.0, t_new),  # (R3)
            restarts=state.restarts + reset.astype(np.int64),
            k=state.k + 1,
            loss=loss_new,
        )
