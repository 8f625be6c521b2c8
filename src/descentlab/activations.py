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
    s = sigmoid(z)
    return s, s * (1.0 - s)


def _tanh_both(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(z)
    return t, 1.0 - t * t


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _relu_both(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # h′(0) := 0, the subgradient most libraries pick.
    return np.maximum(z, 0.0), (z > 0.0).astype(z.dtype)


def _identity(z: np.ndarray) -> np.ndarray:
    return z


def _identity_both(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return z, np.ones_like(z)


@dataclass(frozen=True)
class Activation:
    """A hidden activation: ``value(z) = h(z)`` and ``value_and_derivative(z) = (h(z), h′(z))``."""

    name: str
    formula: str
    value: Callable[[np.ndarray], np.ndarray]
    value_and_derivative: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """h′(z) alone."""
        return self.value_and_derivative(z)[1]


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("softplus", "ln(1 + e^z)", softplus, _softplus_both),
        Activation("relu", "max(z, 0)", _relu, _relu_both),
        Activation("tanh", "tanh(z)", np.tanh, _tanh_both),
        Activation("sigmoid", "1 / (1 + e^-z)", sigmoid, _sigmoid_both),
        Activation("identity", "z", _identity, _identity_both),
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
