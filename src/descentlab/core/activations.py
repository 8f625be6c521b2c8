"""Hidden-layer activations h, each with its derivative h′ side by side.

Every formula here is finite for every finite input: no ``exp`` of a positive argument is ever taken, so
nothing overflows (``exp(−|z|)`` may underflow to 0, which is exact to float64 rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def softplus(z: np.ndarray) -> np.ndarray:
    r"""Softplus, eq. (2) of the derivation, in a form that cannot overflow.

    .. math:: h(z) = \ln(1 + e^{z}) = \max(z, 0) + \ln(1 + e^{-|z|})
    """
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid(z: np.ndarray) -> np.ndarray:
    r"""Logistic sigmoid, the derivative of softplus, in a form that cannot overflow.

    .. math:: \sigma(z) = \frac{1}{1 + e^{-z}} = \begin{cases} 1/(1+e^{-|z|}) & z \ge 0 \\
              e^{-|z|}/(1+e^{-|z|}) & z < 0 \end{cases}
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0.0, 1.0, e) / (1.0 + e)


def _softplus_both(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # One exp(−|z|) serves the value and the derivative.
    e = np.exp(-np.abs(z))
    value = np.maximum(z, 0.0) + np.log1p(e)
    derivative = np.where(z >= 0.0, 1.0, e) / (1.0 + e)
    return value, derivative


def _sigmoid_both(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # σ′ = σ(z)σ(−z) = e/(1+e)² with e = e^{−|z|}: no 1 − σ, which loses every digit as σ → 1.
    e = np.exp(-np.abs(z))
    r = 1.0 / (1.0 + e)
    return np.where(z >= 0.0, 1.0, e) / (1.0 + e), e * r * r


def tanh_derivative(z: np.ndarray) -> np.ndarray:
    r"""tanh′(z) = sech²(z), accurate to a few ulps for every z (no 1 − tanh², which cancels).

    .. math:: \tanh'(z) = \frac{4}{(e^{z} + e^{-z})^2} = \frac{4 e}{(1 + e)^2}, \qquad e = e^{-2|z|} \le 1

    1 − tanh²(z) keeps no correct digit once tanh(z) rounds to ±1 (|z| ≳ 19) and only a few before; this form
    keeps full relative accuracy until sech²(z) itself leaves the normal floats (|z| > 354).
    """
    e = np.exp(-2.0 * np.abs(z))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def _tanh_both(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.tanh(z), tanh_derivative(z)


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _relu_both(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # h′(0) := 0, the subgradient most libraries pick.
    return np.maximum(z, 0.0), (z > 0.0).astype(z.dtype)


def _identity(z: np.ndarray) -> np.ndarray:
    return z


def _identity_both(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return z, np.ones_like(z)


# -- in-place forms for the training kernel ---------------------------------------------------------------
# ``fill(z, a, d)`` writes h(z) into ``a`` and, when ``d`` is given, h′(z) into ``d``; it may overwrite ``z``.
# Same formulas as above, arranged so that each is a handful of ufunc calls on preallocated buffers.


def _softplus_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray | None) -> None:
    np.maximum(z, 0.0, out=a)  # max(z, 0)
    if d is None:
        np.abs(z, out=z)
        np.negative(z, out=z)
        np.exp(z, out=z)  # e = exp(−|z|) ≤ 1
        np.log1p(z, out=z)
        np.add(a, z, out=a)
        return
    np.minimum(z, 0.0, out=z)  # min(z, 0)
    np.subtract(z, a, out=d)  # −|z| = min(z, 0) − max(z, 0)
    np.exp(d, out=d)
    np.log1p(d, out=d)  # ln(1 + e^{−|z|})
    np.add(a, d, out=a)  # softplus
    # σ(z) = e^{z − softplus(z)} = exp(min(z, 0) − ln(1 + e^{−|z|})): the exponent is ≤ 0.
    np.subtract(z, d, out=z)
    np.exp(z, out=d)


def _sigmoid_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray | None) -> None:
    e = d if d is not None else np.empty_like(z)
    np.abs(z, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(−|z|)
    np.add(e, 1.0, out=a)
    np.reciprocal(a, out=a)  # r = 1/(1 + e)
    np.minimum(z, 0.0, out=z)
    np.exp(z, out=z)  # e^{min(z, 0)}
    if d is not None:
        np.multiply(e, a, out=d)
        np.multiply(d, a, out=d)  # σ′ = e r²
    np.multiply(z, a, out=a)  # σ = e^{min(z, 0)} r


def _tanh_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray | None) -> None:
    np.tanh(z, out=a)
    if d is not None:
        np.abs(z, out=d)
        np.multiply(d, -2.0, out=d)
        np.exp(d, out=d)  # e = e^{−2|z|} ≤ 1
        np.add(d, 1.0, out=z)
        np.multiply(z, z, out=z)  # (1 + e)²
        np.divide(d, z, out=d)
        np.multiply(d, 4.0, out=d)  # tanh′ = 4e/(1 + e)²


def _relu_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray | None) -> None:
    np.maximum(z, 0.0, out=a)
    if d is not None:
        np.greater(z, 0.0, out=d)


def _identity_fill(z: np.ndarray, a: np.ndarray, d: np.ndarray | None) -> None:
    np.copyto(a, z)
    if d is not None:
        d.fill(1.0)


@dataclass(frozen=True)
class Activation:
    """A hidden activation: ``value(z) = h(z)`` and ``value_and_derivative(z) = (h(z), h′(z))``.

    ``fill(z, a, d)`` is the in-place form the training kernel uses: h(z) into ``a``, h′(z) into ``d``
    (skipped when ``d`` is None), with ``z`` free to be overwritten. ``kinks`` are the points where h is not
    differentiable (relu: 0); finite differences must not straddle them (see :mod:`descentlab.core.gradcheck`).
    """

    name: str
    formula: str
    value: Callable[[np.ndarray], np.ndarray]
    value_and_derivative: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    fill: Callable[[np.ndarray, np.ndarray, np.ndarray | None], None]
    kinks: tuple[float, ...] = ()

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """h′(z) alone."""
        return self.value_and_derivative(z)[1]


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("softplus", "ln(1 + e^z)", softplus, _softplus_both, _softplus_fill),
        Activation("relu", "max(z, 0)", _relu, _relu_both, _relu_fill, kinks=(0.0,)),
        Activation("tanh", "tanh(z)", np.tanh, _tanh_both, _tanh_fill),
        Activation("sigmoid", "1 / (1 + e^-z)", sigmoid, _sigmoid_both, _sigmoid_fill),
        Activation("identity", "z", _identity, _identity_both, _identity_fill),
    )
}


def get_activation(name: str | Activation) -> Activation:
    """Look an activation up by name, with a message that lists the choices."""
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except KeyError:
        choices = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; choose one of: {choices}") from None
