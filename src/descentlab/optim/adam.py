"""Adam (Kingma & Ba 2015)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import POSITIVE, UNIT, Oracle, check, hyper, start


@dataclass(frozen=True, slots=True)
class AdamState:
    """Iterate ``x``, first and second moment estimates ``m``, ``v`` (all ``(M, P)``), and the count k."""

    x: np.ndarray
    m: np.ndarray
    v: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class Adam:
    r"""Adam (Kingma & Ba 2015) with bias correction (docs/derivation.md, A1–A3), ``g_k = ∇L(x_k)``.

    .. math::
        m_{k+1} &= \beta_1 m_k + (1-\beta_1) g_k, \qquad v_{k+1} = \beta_2 v_k + (1-\beta_2) g_k^2\\
        x_{k+1} &= x_k - \mathrm{lr}\,\frac{m_{k+1}/(1-\beta_1^{k+1})}{\sqrt{v_{k+1}/(1-\beta_2^{k+1})} + \epsilon}
    """

    name: ClassVar[str] = "adam"
    label: ClassVar[str] = "adaptive moments, Kingma & Ba"

    lr: float | np.ndarray = hyper(0.01, POSITIVE)
    beta1: float = hyper(0.9, UNIT)
    beta2: float = hyper(0.999, UNIT)
    eps: float = hyper(1e-8, POSITIVE)

    def __post_init__(self) -> None:
        check(self)

    def init(self, x0: np.ndarray) -> AdamState:
        x = start(x0)
        return AdamState(x=x, m=np.zeros_like(x), v=np.zeros_like(x))

    def step(self, state: AdamState, oracle: Oracle) -> AdamState:
        _, g = oracle(state.x)
        k = state.k + 1
        m = self.beta1 * state.m + (1.0 - self.beta1) * g  # (A1)
        v = self.beta2 * state.v + (1.0 - self.beta2) * g * g  # (A2)
        m_hat = m / (1.0 - self.beta1**k)  # (A3)
        v_hat = v / (1.0 - self.beta2**k)  # (A3)
        return AdamState(x=state.x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps), m=m, v=v, k=k)  # (A3)
