"""Adam (Kingma & Ba 2015) and AdamW, Adam with decoupled weight decay (Loshchilov & Hutter 2019)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import NONNEGATIVE, POSITIVE, UNIT, Oracle, check, hyper, start


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


@dataclass(frozen=True)
class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter 2019; docs/derivation.md, W1–W2), as
    ``torch.optim.AdamW`` computes it: the decay shrinks the iterate before the Adam step, apart from the gradient.

    .. math::
        y_k &= (1 - \mathrm{lr}\,\lambda)\,x_k\\
        x_{k+1} &= y_k - \frac{\mathrm{lr}}{1-\beta_1^{k+1}}\,\frac{m_{k+1}}{\sqrt{v_{k+1}}/\sqrt{1-\beta_2^{k+1}}
        + \epsilon}

    with ``m``, ``v`` as in :class:`Adam` (A1–A2), whose hyper-parameters, checks and state it shares.
    """

    name: ClassVar[str] = "adamw"
    label: ClassVar[str] = "Adam with decoupled weight decay, Loshchilov & Hutter"

    weight_decay: float = hyper(0.01, NONNEGATIVE)  # after Adam's lr, beta1, beta2, eps

    def step(self, state: AdamState, oracle: Oracle) -> AdamState:
        _, g = oracle(state.x)
        k = state.k + 1
        m = state.m + (1.0 - self.beta1) * (g - state.m)  # (A1) as torch's lerp computes it
        v = state.v * self.beta2 + (1.0 - self.beta2) * g * g  # (A2), in torch's order of operations
        decayed = state.x * (1.0 - self.lr * self.weight_decay)  # (W1)
        denominator = np.sqrt(v) / (1.0 - self.beta2**k) ** 0.5 + self.eps  # (W2)
        return AdamState(x=decayed - (self.lr / (1.0 - self.beta1**k)) * (m / denominator), m=m, v=v, k=k)  # (W2)
