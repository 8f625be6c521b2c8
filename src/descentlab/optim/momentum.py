"""Constant-momentum methods: Polyak's heavy ball (:class:`Momentum`) and Nesterov's method in the form of
Sutskever et al. 2013 (:class:`SutskeverNAG`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import POSITIVE, UNIT, Oracle, Rule, check, hyper, per_model, start
from .nag import next_t


@dataclass(frozen=True, slots=True)
class MomentumState:
    """Iterate ``x`` ``(M, P)``, velocity ``v = x_k − x_{k−1}`` ``(M, P)``, count k."""

    x: np.ndarray
    v: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class Momentum:
    r"""Polyak's heavy ball (docs/derivation.md, M1–M2).

    .. math:: v_{k+1} = \mu v_k - \mathrm{lr}\,\nabla L(x_k), \qquad x_{k+1} = x_k + v_{k+1},\quad v_0 = 0

    Parameters
    ----------
    lr : float or (M, 1) array, > 0
    mu : float in [0, 1), the momentum; ``mu = 0`` is GD.
    """

    name: ClassVar[str] = "momentum"
    label: ClassVar[str] = "heavy-ball momentum"

    lr: float | np.ndarray = hyper(0.01, POSITIVE)
    mu: float = hyper(0.9, UNIT)

    def __post_init__(self) -> None:
        check(self)

    def init(self, x0: np.ndarray) -> MomentumState:
        x = start(x0)
        return MomentumState(x=x, v=np.zeros_like(x))

    def step(self, state: MomentumState, oracle: Oracle) -> MomentumState:
        _, gradient = oracle(state.x)
        v = self.mu * state.v - self.lr * gradient  # (M1)
        return MomentumState(x=state.x + v, v=v, k=state.k + 1)  # (M2)


def _mu_or_nesterov(word: str) -> object:
    return "nesterov" if word.lower() == "nesterov" else UNIT.parse(word)


MU_OR_NESTEROV = Rule("a number in [0, 1) or nesterov", _mu_or_nesterov,
                      lambda value: value == "nesterov" or UNIT.accepts(value))


@dataclass(frozen=True, slots=True)
class SutskeverState:
    """Iterate ``x`` ``(M, P)``, velocity ``v`` ``(M, P)``, count k and, for the Nesterov schedule, ``t_{k−1}``
    ``(M, 1)``."""

    x: np.ndarray
    v: np.ndarray
    t: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class SutskeverNAG:
    r"""Nesterov's method in the constant-momentum form of Sutskever et al. (2013) (docs/derivation.md, S1–S2).

    .. math:: v_{k+1} = \mu_k v_k - \mathrm{lr}\,\nabla L(x_k + \mu_k v_k), \qquad x_{k+1} = x_k + v_{k+1}

    With ``mu`` a number, μ_k = mu. With ``mu="nesterov"``, μ_k = (t_{k−1} − 1)/t_k (0 for k = 0, 1): then
    ``x_k = p_k`` and ``x_k + μ_k v_k = q_k`` of :class:`~descentlab.optim.nag.NAG` exactly, because
    ``v_k = p_k − p_{k−1}``.

    PyTorch's ``SGD(nesterov=True)``, Keras and optax keep the look-ahead point ``θ_k = x_k + μ v_k`` as
    their variable and the buffer ``b_k = −v_k/lr``: ``b_{k+1} = μ b_k + ∇L(θ_k)``,
    ``θ_{k+1} = θ_k − lr(∇L(θ_k) + μ b_{k+1})`` — the same sequence, shifted to the look-ahead point
    (docs/optimizers.md has the algebra).
    """

    name: ClassVar[str] = "sutskever"
    label: ClassVar[str] = "Sutskever form of NAG, constant momentum"

    lr: float | np.ndarray = hyper(0.01, POSITIVE)
    mu: float | str = hyper(0.9, MU_OR_NESTEROV)

    def __post_init__(self) -> None:
        check(self)

    def init(self, x0: np.ndarray) -> SutskeverState:
        x = start(x0)
        return SutskeverState(x=x, v=np.zeros_like(x), t=per_model(x, 1.0))

    def _momentum(self, state: SutskeverState) -> tuple[float | np.ndarray, np.ndarray]:
        """``(μ_k, t to keep)``: the constant, or (t_{k−1} − 1)/t_k of the Nesterov schedule (N2)."""
        if self.mu != "nesterov":
            return float(self.mu), state.t
        if state.k == 0:  # t_{−1} = t_0 = 1: state.t holds t_{k−1} before the first update
            return 0.0, state.t
        t_now = next_t(state.t)  # (N2)
        return (state.t - 1.0) / t_now, t_now

    def step(self, state: SutskeverState, oracle: Oracle) -> SutskeverState:
        mu, t_keep = self._momentum(state)
        _, gradient = oracle(state.x + mu * state.v)
        v = mu * state.v - self.lr * gradient  # (S1)
        return SutskeverState(x=state.x + v, v=v, t=t_keep, k=state.k + 1)  # (S2)
