"""Hidden-layer activations h, each written once, with its derivative h′ beside it.

Each activation is one in-place formula, ``fill(z, a, d, derivative)``: h(z) into ``a`` and, with ``derivative``,
h′(z) into ``d``; ``z`` and ``d`` serve as scratch. Every engine calls it (the arithmetic around it is the
engines' business; the activation's is here only), and :meth:`Activation.value` and
:meth:`Activation.value_and_derivative` are the same formula on fresh arrays.

Every formula is finite for every finite input: no ``exp`` of a positive argument is ever taken, so nothing
overflows (``exp(−|z|)`` may underflow to 0, which is exact to float64 rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Fill = Callable[[np.ndarray, np.ndarray, np.ndarray, bool], None]


def _log_parts(z: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """The parts softplus and the sigmoid share: ``a = max(z, 0)``, ``z = min(z, 0)``, ``d = ln(1 + e^{−|z|})``."""
    np.maximum(z, 0.0, out=a)
    np.minimum(z, 0.0, out=z)
    np.subtract(z, a, out=d)  # −|z| = min(z, 0) − max(z, 0), exact: one of the two is 0
    np.exp(d, out=d)  # e^{−|z|} ≤ 1
    np.log1p(d, out=d)


def _softplus_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray, derivative: bool) -> None:
    r"""(F2) :math:`h(z) = \ln(1 + e^{z}) = \max(z, 0) + \ln(1 + e^{-|z|})` and
    :math:`h'(z) = \sigma(z) = e^{\min(z, 0) - \ln(1 + e^{-|z|})}` (every exponent ≤ 0)."""
    _log_parts(z, a, d)
    np.add(a, d, out=a)
    if derivative:
        np.subtract(z, d, out=z)  # ln σ(z) = z − h(z) = min(z, 0) − ln(1 + e^{−|z|})
        np.exp(z, out=d)


def _sigmoid_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray, derivative: bool) -> None:
    r""":math:`\sigma(z) = 1/(1 + e^{-z}) = e^{\min(z, 0) - \ln(1 + e^{-|z|})}` (softplus's derivative) and
    :math:`\sigma'(z) = \sigma(z)\,\sigma(-z) = e^{\ln\sigma(z) - \max(z, 0) - \ln(1 + e^{-|z|})}`: no 1 − σ,
    which loses every digit as σ → 1."""
    _log_parts(z, a, d)
    np.subtract(z, d, out=z)  # ln σ(z)
    if derivative:
        np.subtract(z, a, out=a)
        np.subtract(a, d, out=a)  # ln σ(z) + ln σ(−z)
        np.exp(a, out=d)
    np.exp(z, out=a)


def _tanh_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray, derivative: bool) -> None:
    r""":math:`\tanh(z)` and :math:`\tanh'(z) = \mathrm{sech}^2 z = 4e/(1 + e)^2` with :math:`e = e^{-2|z|} \le 1`.

    1 − tanh²(z) keeps no correct digit once tanh(z) rounds to ±1 (|z| ≳ 19) and only a few before; this form
    keeps full relative accuracy until sech²(z) itself leaves the normal floats (|z| > 354).
    """
    np.tanh(z, out=a)
    if derivative:
        np.abs(z, out=d)
        np.multiply(d, -2.0, out=d)
        np.exp(d, out=d)  # e = e^{−2|z|} ≤ 1
        np.add(d, 1.0, out=z)
        np.multiply(z, z, out=z)  # (1 + e)²
        np.divide(d, z, out=d)
        np.multiply(d, 4.0, out=d)


def _relu_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray, derivative: bool) -> None:
    """max(z, 0), with h′(0) := 0, the subgradient most libraries pick."""
    np.maximum(z, 0.0, out=a)
    if derivative:
        np.greater(z, 0.0, out=d)


def _identity_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray, derivative: bool) -> None:
    np.copyto(a, z)
    if derivative:
        d.fill(1.0)


@dataclass(frozen=True)
class Activation:
    """A hidden activation h, given by its in-place formula ``fill(z, a, d, derivative)``.

    ``fill`` writes h(z) into ``a`` and, when ``derivative`` is true, h′(z) into ``d``; it may overwrite ``z``
    and ``d``. ``kinks`` are the points where h is not differentiable (relu: 0); finite differences must not
    straddle them (see :mod:`descentlab.core.gradcheck`).
    """

    name: str
    formula: str
    fill: Fill
    kinks: tuple[float, ...] = ()

    def value_and_derivative(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(h(z), h′(z))`` as new arrays; ``z`` is left alone."""
        z = np.array(z, dtype=np.result_type(z, 0.0))
        a, d = np.empty_like(z), np.empty_like(z)
        self.fill(z, a, d, True)
        return a, d

    def value(self, z: np.ndarray) -> np.ndarray:
        """h(z) as a new array."""
        z = np.array(z, dtype=np.result_type(z, 0.0))
        a, d = np.empty_like(z), np.empty_like(z)
        self.fill(z, a, d, False)
        return a

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """h′(z) alone."""
        return self.value_and_derivative(z)[1]


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("softplus", "ln(1 + e^z)", _softplus_fill),
    Activation("relu", "max(z, 0)", _relu_fill, kinks=(0.0,)),
    Activation("tanh", "tanh(z)", _tanh_fill),
    Activation("sigmoid", "1 / (1 + e^-z)", _sigmoid_fill),
    Activation("identity", "z", _identity_fill),
)}
"""The hidden activations by name (``--activation``, ``MLP(..., activation=NAME)``): softplus, relu, tanh, sigmoid,
identity, each an `Activation` with its derivative beside it."""


def softplus(z: np.ndarray) -> np.ndarray:
    r"""Softplus, eq. (2) of the derivation, in a form that cannot overflow.

    .. math:: h(z) = \ln(1 + e^{z}) = \max(z, 0) + \ln(1 + e^{-|z|})
    """
    return ACTIVATIONS["softplus"].value(z)


def sigmoid(z: np.ndarray) -> np.ndarray:
    r"""Logistic sigmoid, the derivative of softplus, in a form that cannot overflow.

    .. math:: \sigma(z) = \frac{1}{1 + e^{-z}} = e^{\min(z, 0) - \ln(1 + e^{-|z|})}
    """
    return ACTIVATIONS["sigmoid"].value(z)


def get_activation(name: str | Activation) -> Activation:
    """Look an activation up by name, with a message that lists the choices."""
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except KeyError:
        choices = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; choose one of: {choices}") from None
