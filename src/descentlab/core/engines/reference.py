"""The reference engine: the derivation's equations as written, one NumPy expression per line, new arrays.

Every line cites its label in ``docs/derivation.md``. Indices follow the derivation: ``W[l], b[l]`` for
l = 0 … L−1, ``z[l]`` and ``a[l]`` for l = 1 … L (``a[0]`` is the data ``A0``), ``dZ[l]`` = ∂L/∂z_l. Every array
carries the stack of M models in front: ``W[l]`` is ``(M, n_{l+1}, n_l)``, ``z[l]`` is ``(M, n_l, S)``.
Written to be read and to check the fast engines against (they must agree with it to rounding), not for speed.
"""

from __future__ import annotations

import numpy as np

from .base import Batch, Evaluation, Network, Want


def _T(a: np.ndarray) -> np.ndarray:
    """ᵀ of every model's matrix."""
    return np.swapaxes(a, -1, -2)


def forward(net: Network, x: np.ndarray, A0: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations ``z[1 … L]`` and activations ``a[0 … L−1]`` (``z[0]`` is unused) of the models ``x``."""
    L = net.n_layers
    Wb = net.layers(x)
    z: list[np.ndarray] = [A0]
    a: list[np.ndarray] = [A0]
    for l in range(L):  # noqa: E741 - the derivation's layer index
        W, b = Wb[l]
        z.append(W @ a[l] + b)  # (F1) z_{l+1} = W_l a_l + b_l
        if l + 1 < L:
            a.append(net.activation.value(z[l + 1]))  # (F2) a_{l+1} = h(z_{l+1})
    return z, a


def softmax(z_L: np.ndarray) -> np.ndarray:
    """(F3) ŷ = softmax(z_L) per column, from e^{z − m}, m = max_j z_j: every exponent ≤ 0, nothing overflows."""
    e = np.exp(z_L - z_L.max(axis=-2, keepdims=True))
    return e / e.sum(axis=-2, keepdims=True)


def log_softmax(z_L: np.ndarray) -> np.ndarray:
    """(F3) ln ŷ = z − m − ln Σ_j e^{z_j − m} per column, m = max_j z_j: every exponent ≤ 0."""
    m = z_L.max(axis=-2, keepdims=True)
    return z_L - m - np.log(np.exp(z_L - m).sum(axis=-2, keepdims=True))


class ReferenceEngine:
    """The kernel in the derivation's symbols; see the module docstring."""

    def __init__(self, net: Network, batch: Batch) -> None:
        self.net, self.batch = net, batch

    def evaluate(self, x: np.ndarray, want: Want) -> Evaluation:
        net, A0, Y, y, S = self.net, self.batch.A0, self.batch.Y, self.batch.y, self.batch.S
        z, a = forward(net, x, A0)
        L = net.n_layers
        log_Y_hat = log_softmax(z[L])  # (F3)
        loss = -(log_Y_hat * Y).sum(axis=(-2, -1)) / S  # (L1) L = −(1/S) Σ_s ln ŷ_{y_s s}
        correct = (np.argmax(z[L], axis=-2) == y).sum(axis=-1) if Want.CORRECT in want else None
        if Want.GRADIENT not in want:
            return Evaluation(loss, None, correct)
        return Evaluation(loss, self._gradient(x, z, a, softmax(z[L])), correct)

    def _gradient(self, x: np.ndarray, z: list[np.ndarray], a: list[np.ndarray], Y_hat: np.ndarray) -> np.ndarray:
        net, Y, S, L = self.net, self.batch.Y, self.batch.S, self.net.n_layers
        gradient = np.empty_like(x)
        dWdb = net.layers(gradient)
        Wb = net.layers(x)
        dZ = (Y_hat - Y) / S  # (B1) dZ_L = (Ŷ − Y)/S
        for l in range(L - 1, -1, -1):  # noqa: E741 - the derivation's layer index
            dW, db = dWdb[l]
            dW[...] = dZ @ _T(a[l])  # (B2) ∂L/∂W_l = dZ_{l+1} a_lᵀ
            db[...] = dZ.sum(axis=-1, keepdims=True)  # (B3) ∂L/∂b_l = Σ_s dZ_{l+1}[:, s]
            if l > 0:
                dA = _T(Wb[l][0]) @ dZ  # (B4) ∂L/∂a_l = W_lᵀ dZ_{l+1}
                dZ = dA * net.activation.derivative(z[l])  # (B5) dZ_l = ∂L/∂a_l ⊙ h′(z_l)
        return gradient
