"""Compiled kernels (numba) for the small-matrix path of one float64 model.

On a small network one evaluation is dominated by the fixed cost of each NumPy call, not by arithmetic: the
output layer alone (product, log-sum-exp, loss, accuracy, ``(Ŷ − Y)/S`` and three gradient products) is
about fifteen calls. These kernels fuse such runs of calls into one compiled loop nest each. The hidden
activations' ``exp`` and ``log1p`` stay in NumPy, whose SIMD versions no scalar loop can match; softplus is
split around them (:func:`linear` writes ``max(z, 0)`` and ``−|z|``, :func:`softplus_join` finishes). Same
equations, same labels as :mod:`descentlab.core.network`; only the order of floating-point additions differs
(agreement to ~1e-15 is tested).

Parameters are read straight from the flat vector: ``W`` (rows × cols) at ``flat[w0:]``, row-major, and ``b``
right after it, as :class:`descentlab.core.params.Params` lays them out.

numba is an optional dependency (``pip install numba``; in a clone, ``pip install -e '.[fast]'``); importing this
module without it raises
ImportError, and :mod:`descentlab.core.network` then keeps to NumPy.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# reassoc lets the compiler vectorise the sums (a different but equally valid order of additions); NaN and
# infinity keep their IEEE meaning, so divergence is still detected.
_FLAGS = {"reassoc", "contract"}


@numba.njit(cache=True, fastmath=_FLAGS, boundscheck=False, nogil=True)
def linear(
    flat: np.ndarray, w0: int, n: int, m: int, A: np.ndarray, Z: np.ndarray, split: bool, P: np.ndarray
) -> None:  # pragma: no cover - compiled
    """(F1) ``Z = W A + b`` for ``W`` (n, m). With ``split`` (softplus): ``P = max(z, 0)`` and ``Z = −|z|``."""
    S = A.shape[1]
    b0 = w0 + n * m
    for i in range(n):
        bias = flat[b0 + i]
        for s in range(S):
            Z[i, s] = bias
        for j in range(m):
            w = flat[w0 + i * m + j]
            for s in range(S):
                Z[i, s] += w * A[j, s]
        if split:
            for s in range(S):
                z = Z[i, s]
                P[i, s] = max(z, 0.0)
                Z[i, s] = -abs(z)


@numba.njit(cache=True, fastmath=_FLAGS, boundscheck=False, nogil=True)
def output_layer(
    flat: np.ndarray, w0: int, k: int, n: int, A: np.ndarray, y: np.ndarray, Z: np.ndarray,
    gradient: bool, grad: np.ndarray, dA: np.ndarray,
) -> tuple[float, int]:  # pragma: no cover - compiled; covered through Objective's engine tests
    """Last layer of one model, column layout: ``A`` (n, S) are the inputs a_{L−1}, ``W`` (k, n) and ``b``
    (k,) live at ``flat[w0:]``. Returns ``(Σ_s loss_s, number correct)``; with ``gradient`` it writes
    ∂L/∂W, ∂L/∂b into ``grad`` at the same offsets and, when ``dA`` has rows, ∂L/∂a_{L−1} into ``dA``."""
    S = A.shape[1]
    b0 = w0 + k * n
    linear(flat, w0, k, n, A, Z, False, Z)  # (F1) z = W a + b
    inv_S = 1.0 / S
    total = 0.0
    correct = 0
    for s in range(S):  # (F3, L1) log-sum-exp per sample; the first maximum is the prediction
        m = Z[0, s]
        best = 0
        for c in range(1, k):
            if Z[c, s] > m:
                m = Z[c, s]
                best = c
        correct += best == y[s]
        picked = Z[y[s], s]
        sum_exp = 0.0
        for c in range(k):
            e = math.exp(Z[c, s] - m)
            Z[c, s] = e
            sum_exp += e
        total += m + math.log(sum_exp) - picked
        if gradient:  # (B1) dZ = (Ŷ − Y)/S
            scale = inv_S / sum_exp
            for c in range(k):
                Z[c, s] *= scale
            Z[y[s], s] -= inv_S
    if gradient:
        for c in range(k):
            acc_b = 0.0
            for s in range(S):
                acc_b += Z[c, s]
            grad[b0 + c] = acc_b  # (B3)
            for i in range(n):
                acc = 0.0
                for s in range(S):
                    acc += Z[c, s] * A[i, s]
                grad[w0 + c * n + i] = acc  # (B2)
        for i in range(dA.shape[0]):  # (B4) dA = Wᵀ dZ
            for s in range(S):
                dA[i, s] = 0.0
            for c in range(k):
                w = flat[w0 + c * n + i]
                for s in range(S):
                    dA[i, s] += w * Z[c, s]
    return total, correct


@numba.njit(cache=True, fastmath=_FLAGS, boundscheck=False, nogil=True)
def softplus_join(P: np.ndarray, E: np.ndarray, D: np.ndarray) -> None:  # pragma: no cover - compiled
    """(F2) Softplus from its parts: on entry ``P = max(z, 0)``, ``E = e^{−|z|}``, ``D = ln(1 + E)``; on exit
    ``P = h(z) = P + D`` and ``D = h′(z) = σ(z)``, which is ``1/(1 + e)`` for z > 0 and ``e/(1 + e)`` otherwise."""
    n, S = P.shape
    for i in range(n):
        for s in range(S):
            e = E[i, s]
            positive = P[i, s] > 0.0
            P[i, s] += D[i, s]
            D[i, s] = (1.0 if positive else e) / (1.0 + e)


@numba.njit(cache=True, fastmath=_FLAGS, boundscheck=False, nogil=True)
def hidden_backward(
    flat: np.ndarray, w0: int, n: int, m: int, A: np.ndarray, dA: np.ndarray, dh: np.ndarray,
    grad: np.ndarray, dA_prev: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Backward through hidden layer l (``W`` (n, m)): ``dA`` holds ∂L/∂a_{l+1} and becomes ∂L/∂z_{l+1} = dA ⊙ h′
    (B5); writes ∂L/∂W (B2) and ∂L/∂b (B3) into ``grad`` and, when ``dA_prev`` has rows, ∂L/∂a_l = Wᵀ dZ (B4)."""
    S = A.shape[1]
    b0 = w0 + n * m
    for i in range(n):
        acc_b = 0.0
        for s in range(S):
            dA[i, s] *= dh[i, s]
            acc_b += dA[i, s]
        grad[b0 + i] = acc_b
        for j in range(m):
            acc = 0.0
            for s in range(S):
                acc += dA[i, s] * A[j, s]
            grad[w0 + i * m + j] = acc
    if dA_prev.shape[0]:
        for j in range(m):
            for s in range(S):
                dA_prev[j, s] = 0.0
        for i in range(n):
            for j in range(m):
                w = flat[w0 + i * m + j]
                for s in range(S):
                    dA_prev[j, s] += w * dA[i, s]


@numba.njit(cache=True, fastmath=_FLAGS, boundscheck=False, nogil=True)
def softplus_split(Z: np.ndarray, B: np.ndarray, P: np.ndarray) -> None:  # pragma: no cover - compiled
    """For (M, n, S) products ``Z`` and biases ``B`` (M, n, 1), in one pass: z = Z + B (F1), then
    ``P = max(z, 0)`` and ``Z = −|z|`` (the parts :func:`softplus_join` needs)."""
    M, n, S = Z.shape
    for m in range(M):
        for i in range(n):
            bias = B[m, i, 0]
            for s in range(S):
                z = Z[m, i, s] + bias
                P[m, i, s] = max(z, 0.0)
                Z[m, i, s] = -abs(z)


@numba.njit(cache=True, fastmath=_FLAGS, boundscheck=False, nogil=True)
def scale_and_sum(dA: np.ndarray, dh: np.ndarray, db: np.ndarray) -> None:  # pragma: no cover - compiled
    """(B5) ``dA ⊙= h′`` for (M, n, S) arrays and, in the same pass, (B3) ``db[m, i, 0] = Σ_s dA[m, i, s]``."""
    M, n, S = dA.shape
    for m in range(M):
        for i in range(n):
            acc = 0.0
            for s in range(S):
                value = dA[m, i, s] * dh[m, i, s]
                dA[m, i, s] = value
                acc += value
            db[m, i, 0] = acc
