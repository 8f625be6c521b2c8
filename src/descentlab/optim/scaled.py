"""Steps scaled per coordinate by past squared gradients: AdaGrad (Duchi, Hazan & Singer 2011) and RMSProp
(Tieleman & Hinton 2012), in the form ``torch.optim.Adagrad`` and ``torch.optim.RMSprop`` compute them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import POSITIVE, UNIT, Oracle, check, hyper, start


@dataclass(frozen=True, slots=True)
class ScaledState:
    """The iterate ``x`` and the accumulated squared gradients ``v`` (both ``(M, P)``), and the count k."""

    x: np.ndarray
    v: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class AdaGrad:
    r"""AdaGrad (docs/derivation.md, D1–D2), ``g_k = ∇L(x_k)``, ``v_0 = 0``.

    .. math:: v_{k+1} = v_k + g_k^2, \qquad x_{k+1} = x_k - \mathrm{lr}\,\frac{g_k}{\sqrt{v_{k+1}} + \epsilon}
    """

    name: ClassVar[str] = "adagrad"
    label: ClassVar[str] = "AdaGrad, Duchi, Hazan & Singer"

    lr: float | np.ndarray = hyper(0.01, POSITIVE)
    eps: float = hyper(1e-10, POSITIVE)

    def __post_init__(self) -> None:
        check(self)

    def init(self, x0: np.ndarray) -> ScaledState:
        x = start(x0)
        return ScaledState(x=x, v=np.zeros_like(x))

    def step(self, state: ScaledState, oracle: Oracle) -> ScaledState:
        _, g = oracle(state.x)
        v = state.v + g * g  # (D1)
        return ScaledState(x=state.x - self.lr * (g / (np.sqrt(v) + self.eps)), v=v, k=state.k + 1)  # (D2)


@dataclass(frozen=True)
class RMSProp:
    r"""RMSProp (docs/derivation.md, P1–P2), ``g_k = ∇L(x_k)``, ``v_0 = 0``.

    .. math:: v_{k+1} = \alpha v_k + (1-\alpha) g_k^2, \qquad
        x_{k+1} = x_k - \mathrm{lr}\,\frac{g_k}{\sqrt{v_{k+1}} + \epsilon}
    """

    name: ClassVar[str] = "rmsprop"
    label: ClassVar[str] = "RMSProp, Tieleman & Hinton"

    lr: float | np.ndarray = hyper(0.01, POSITIVE)
    alpha: float = hyper(0.99, UNIT)
    eps: float = hyper(1e-8, POSITIVE)

    def __post_init__(self) -> None:
        check(self)

    def init(self, x0: np.ndarray) -> ScaledState:
        x = start(x0)
        return ScaledState(x=x, v=np.zeros_like(x))

    def step(self, state: ScaledState, oracle: Oracle) -> ScaledState:
        _, g = oracle(state.x)
        v = state.v * self.alpha + (1.0 - self.alpha) * g * g  # (P1), in torch's order of operations
        return ScaledState(x=state.x - self.lr * (g / (np.sqrt(v) + self.eps)), v=v, k=state.k + 1)  # (P2)
