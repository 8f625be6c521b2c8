"""The compiled engine's kernels (numba), for stacks of small models.

On a small network one evaluation is dominated by the fixed cost of each NumPy call, not by arithmetic: the
output layer alone (product, log-sum-exp, loss, accuracy, ``(Ŷ − Y)/S`` and three gradient products) is about
fifteen calls. Three kernels fuse those runs of calls into one compiled loop nest each, over all M models: the
product plus bias (:func:`linear`), the whole output layer (:func:`output_layer`) and each hidden layer's backward
pass (:func:`hidden_backward`); each is built from small jitted pieces that numba inlines. An activation's
formula is :class:`descentlab.core.activations.Activation`'s, whose ``exp`` and ``log1p`` run in NumPy's SIMD
loops, which no scalar loop matches; for softplus, kernels fuse the elementwise lines around them (the same
operations in the same order): :func:`linear_softplus_parts` or, after BLAS's products of a large stack,
:func:`bias_softplus_parts` before them, :func:`softplus_join` after. Same equations,
same labels as the reference engine; only the order of floating-point additions differs.

Parameters are read straight from the stack ``x`` (M, P): model k's ``W`` (rows × cols) at ``x[k, w0:]``,
row-major, and ``b`` right after it, as :class:`descentlab.core.params.Params` lays them out. Arrays of
activations are (M, n, S); the data may be one shared (1, d, S) array.

Import this module only through :func:`descentlab.core.engines.compiled.kernels`, which first points numba's cache
outside the package folder.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

# reassoc lets the compiler vectorise the sums (a different but equally valid order of additions); NaN and
# infinity keep their IEEE meaning, so divergence is still detected. error_model="numpy": a division by zero
# gives inf or NaN as in NumPy instead of a check per division, which kept loops from being vectorised.
_FLAGS = {"reassoc", "contract"}
_jit = numba.njit(cache=True, fastmath=_FLAGS, boundscheck=False, nogil=True, error_model="numpy")
# the simd engine's scalar pieces, inlined by numba itself: left to LLVM, the calls stayed and no loop vectorised
_inline = numba.njit(cache=True, fastmath=_FLAGS, boundscheck=False, nogil=True, error_model="numpy",
                     inline="always")


@_jit
def _product_row(x: np.ndarray, k: int, row: int, m: int, A: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out += Σ_j W[i, j] A[j, :] for the row i of W starting at ``x[k, row]``."""
    S = A.shape[1]
    for j in range(m):
        w = x[k, row + j]
        for s in range(S):
            out[s] += w * A[j, s]


@_jit
def linear(x: np.ndarray, w0: int, A: np.ndarray, Z: np.ndarray) -> None:  # pragma: no cover - compiled
    """(F1) ``Z[k] = W_k A[k] + b_k`` for every model k, ``W`` (n, m) at ``x[k, w0:]``; ``A`` may be shared."""
    M, n, S = Z.shape
    m = A.shape[1]
    b0 = w0 + n * m
    for k in range(M):
        Ak = A[k if A.shape[0] > 1 else 0]
        for i in range(n):
            bias = x[k, b0 + i]
            for s in range(S):
                Z[k, i, s] = bias
            _product_row(x, k, w0 + i * m, m, Ak, Z[k, i])


@_jit
def _softplus_parts(z: float) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """The first lines of softplus's one formula (``descentlab.core.activations._log_parts``), operation for
    operation: ``max(z, 0)``, ``min(z, 0)`` and ``min(z, 0) − max(z, 0) = −|z|``, the exponent NumPy's ``exp``
    takes next. NaN stays NaN, as in NumPy's ``maximum`` and ``minimum``."""
    high = z if z > 0.0 or z != z else 0.0
    low = z if z < 0.0 or z != z else 0.0
    return high, low, low - high


@_jit
def linear_softplus_parts(x: np.ndarray, w0: int, A: np.ndarray, Z: np.ndarray, P: np.ndarray,
                          D: np.ndarray) -> None:  # pragma: no cover - compiled
    """(F1) as :func:`linear`, then, in the same pass, :func:`_softplus_parts` of every z: ``P = max(z, 0)``,
    ``Z = min(z, 0)``, ``D = −|z|``."""
    linear(x, w0, A, Z)
    M, n, S = Z.shape
    for k in range(M):
        for i in range(n):
            for s in range(S):
                P[k, i, s], Z[k, i, s], D[k, i, s] = _softplus_parts(Z[k, i, s])


@_jit
def bias_softplus_parts(Z: np.ndarray, B: np.ndarray, P: np.ndarray, D: np.ndarray) -> None:  # pragma: no cover
    """(F1)'s bias ``z = Z + B`` for products ``Z`` (M, n, S) and biases ``B`` (M, n, 1) that BLAS left
    without, then, in the same pass, :func:`_softplus_parts` of every z into ``P``, ``Z`` and ``D``."""
    M, n, S = Z.shape
    for k in range(M):
        for i in range(n):
            bias = B[k, i, 0]
            for s in range(S):
                P[k, i, s], Z[k, i, s], D[k, i, s] = _softplus_parts(Z[k, i, s] + bias)


@_jit
def softplus_join(P: np.ndarray, Z: np.ndarray, D: np.ndarray, derivative: bool) -> None:  # pragma: no cover
    """The middle lines of softplus's one formula (``_softplus_fill``) with ``D = ln(1 + e^{−|z|})``:
    ``P = max(z, 0) + D`` = h(z) and, with ``derivative``, ``Z = min(z, 0) − D`` = ln σ(z), whose ``exp`` NumPy
    takes next."""
    M, n, S = P.shape
    for k in range(M):
        for i in range(n):
            for s in range(S):
                d = D[k, i, s]
                P[k, i, s] += d
                if derivative:
                    Z[k, i, s] -= d


@_jit
def _column_loss(Z: np.ndarray, s: int, label: int) -> tuple[float, float, int]:  # pragma: no cover
    """(F3, L1) for sample s of one model: ``Z[:, s]`` becomes e^{z − m}; returns the sample's loss
    m + ln Σ_j e^{z_j − m} − z_{y_s}, Σ_j e^{z_j − m}, and the first index of the maximum (the prediction)."""
    k = Z.shape[0]
    m = Z[0, s]
    best = 0
    for c in range(1, k):
        if Z[c, s] > m or (Z[c, s] != Z[c, s] and m == m):  # the first NaN is the maximum, as in np.argmax
            m = Z[c, s]
            best = c
    picked = Z[label, s]
    sum_exp = 0.0
    for c in range(k):
        e = math.exp(Z[c, s] - m)
        Z[c, s] = e
        sum_exp += e
    return m + math.log(sum_exp) - picked, sum_exp, best


@_jit
def _softmax_loss(Z: np.ndarray, y: np.ndarray, gradient: bool) -> tuple[float, int]:  # pragma: no cover
    """Σ_s loss_s (L1) and the number correct for one model's z_L ``Z`` (k, S); with ``gradient``, ``Z`` becomes
    dZ_L = (Ŷ − Y)/S (B1), else e^{z − m}."""
    S = Z.shape[1]
    inv_S = 1.0 / S
    total = 0.0
    correct = 0
    for s in range(S):
        loss_s, sum_exp, best = _column_loss(Z, s, y[s])
        total += loss_s
        correct += best == y[s]
        if gradient:  # (B1) dZ = (Ŷ − Y)/S
            scale = inv_S / sum_exp
            for c in range(Z.shape[0]):
                Z[c, s] *= scale
            Z[y[s], s] -= inv_S
    return total, correct


@_jit
def _weight_gradient(x_grad: np.ndarray, k: int, w0: int, dZ: np.ndarray, A: np.ndarray) -> None:  # pragma: no cover
    """(B2, B3) ∂L/∂W = dZ Aᵀ and ∂L/∂b = Σ_s dZ of model k into ``x_grad[k]`` at W's and b's offsets."""
    n, S = dZ.shape
    m = A.shape[0]
    b0 = w0 + n * m
    for i in range(n):
        acc_b = 0.0
        for s in range(S):
            acc_b += dZ[i, s]
        x_grad[k, b0 + i] = acc_b  # (B3)
        for j in range(m):
            acc = 0.0
            for s in range(S):
                acc += dZ[i, s] * A[j, s]
            x_grad[k, w0 + i * m + j] = acc  # (B2)


@_jit
def _back_product(x: np.ndarray, k: int, w0: int, dZ: np.ndarray, dA: np.ndarray) -> None:  # pragma: no cover
    """(B4) ∂L/∂a = Wᵀ dZ for model k, ``W`` (n, m) at ``x[k, w0:]``, into ``dA`` (m, S)."""
    n = dZ.shape[0]
    m, S = dA.shape
    for j in range(m):
        for s in range(S):
            dA[j, s] = 0.0
    for i in range(n):
        for j in range(m):
            w = x[k, w0 + i * m + j]
            for s in range(S):
                dA[j, s] += w * dZ[i, s]


@_jit
def _products_back(x: np.ndarray, k: int, w0: int, A: np.ndarray, dZ: np.ndarray, x_grad: np.ndarray,
                   dA: np.ndarray) -> None:  # pragma: no cover - compiled
    """(B2–B4) of model k from its dZ (n, S): ∂L/∂W and ∂L/∂b into ``x_grad[k]`` and, when ``dA`` has rows,
    ∂L/∂a = Wᵀ dZ into ``dA[k]``; ``A`` may be shared."""
    _weight_gradient(x_grad, k, w0, dZ, A[k if A.shape[0] > 1 else 0])
    if dA.shape[1]:
        _back_product(x, k, w0, dZ, dA[k])


@_jit
def output_layer(
    x: np.ndarray, w0: int, A: np.ndarray, y: np.ndarray, Z: np.ndarray, gradient: bool, x_grad: np.ndarray,
    dA: np.ndarray, loss: np.ndarray, correct: np.ndarray,
) -> None:  # pragma: no cover - compiled; covered through the engine tests
    """The last layer of every model: z_L (F1) into ``Z`` (M, k, S) from its inputs ``A``, the loss (L1) into
    ``loss`` and the correct counts into ``correct``; with ``gradient``, ∂L/∂W, ∂L/∂b (B1–B3) into ``x_grad`` and,
    when ``dA`` has rows, ∂L/∂a_{L−1} (B4) into ``dA`` (M, n, S)."""
    linear(x, w0, A, Z)
    for k in range(Z.shape[0]):
        total, correct[k] = _softmax_loss(Z[k], y, gradient)
        loss[k] = total / Z.shape[2]  # (L1) the mean over the S samples
        if gradient:
            _products_back(x, k, w0, A, Z[k], x_grad, dA)


@_jit
def hidden_backward(
    x: np.ndarray, w0: int, A: np.ndarray, dZ: np.ndarray, dh: np.ndarray, x_grad: np.ndarray, dA: np.ndarray,
) -> None:  # pragma: no cover - compiled; covered through the engine tests
    """Backward through a hidden layer of every model: ``dZ`` holds ∂L/∂a_{l+1} and becomes dZ_{l+1} = ∂L/∂a ⊙ h′
    (B5); then ∂L/∂W, ∂L/∂b (B2, B3) into ``x_grad`` and, when ``dA`` has rows, ∂L/∂a_l = Wᵀ dZ (B4)."""
    M, n, S = dZ.shape
    for k in range(M):
        for i in range(n):
            for s in range(S):
                dZ[k, i, s] *= dh[k, i, s]  # (B5)
        _products_back(x, k, w0, A, dZ[k], x_grad, dA)


# -- the simd engine's softplus: exp and log1p as polynomials the compiler vectorises ----------------------------
# NumPy's exp and log1p are scalar libm calls on processors without AVX-512 (3-10 ns each); these are a few
# fused multiply-adds per lane, within 3 ulp of them (tests/test_engines.py), and not bit for bit: the simd
# engine is its own engine, the compiled engine keeps NumPy's formula.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (Cody & Waite): k · _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 · 2^52: x + _ROUND − _ROUND rounds x to an integer, kept in the low bits


@intrinsic
def _bits(typingctx, value):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The IEEE bits of a float64, as an int64 (an LLVM bitcast, which vectorises)."""
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], context.get_value_type(types.int64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, bits):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The float64 whose IEEE bits are ``bits``."""
    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], context.get_value_type(types.float64))
    return types.float64(types.int64), codegen


@_inline
def _exp_nonpositive(x: float) -> float:  # pragma: no cover - compiled
    """e^x for x ≤ 0: x = k ln 2 + r, |r| ≤ ln 2 / 2, e^r by its Taylor series to r^13 (error < 2^-56), times
    2^k built from its bits. Below −708 (e^x < 2^-1021) it gives 0, and so for NaN."""
    clamped = x if x > -708.0 else -708.0
    k = (clamped * _LOG2E + _ROUND) - _ROUND
    r = (clamped - k * _LN2_HI) - k * _LN2_LO
    # Horner's rule written out: a loop here would keep the compiler from vectorising the callers' loops
    p = ((((1 / 6227020800 * r + 1 / 479001600) * r + 1 / 39916800) * r + 1 / 3628800) * r + 1 / 362880) * r
    p = (((((p + 1 / 40320) * r + 1 / 5040) * r + 1 / 720) * r + 1 / 120) * r + 1 / 24) * r
    p = (((p + 1 / 6) * r + 0.5) * r + 1.0) * r + 1.0
    scale: float = _from_bits((_bits(k + _ROUND) + 1023) << 52)  # type: ignore[call-arg]  # 2^k: k in the low bits
    return p * scale if x > -708.0 else 0.0


@_inline
def _log1p_unit(u: float) -> float:  # pragma: no cover - compiled
    """ln(1 + u) for 0 ≤ u ≤ 1, as 2 atanh(s) = 2 (s + s³/3 + s⁵/5 + …) with s = u / (2 + u) ≤ 1/3 (to s^35)."""
    s = u / (2.0 + u)
    t = s * s
    p = (((((1 / 35 * t + 1 / 33) * t + 1 / 31) * t + 1 / 29) * t + 1 / 27) * t + 1 / 25) * t
    p = (((((p + 1 / 23) * t + 1 / 21) * t + 1 / 19) * t + 1 / 17) * t + 1 / 15) * t
    p = (((((p + 1 / 13) * t + 1 / 11) * t + 1 / 9) * t + 1 / 7) * t + 1 / 5) * t + 1 / 3
    return 2.0 * s + 2.0 * s * (t * p)


@_inline
def _softplus_simd(z: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """h(z) = max(z, 0) + ln(1 + e^{−|z|}) and σ(z) = h′(z) = (1 or e^{−|z|}) / (1 + e^{−|z|}); NaN gives NaN."""
    high, low, minus_abs = _softplus_parts(z)
    u = _exp_nonpositive(minus_abs)
    sigma = (1.0 if z >= 0.0 else u) / (1.0 + u)
    return high + _log1p_unit(u), sigma if z == z else z


@_jit
def _softplus_row_simd(z: np.ndarray, bias: float, a: np.ndarray, d: np.ndarray,
                       derivative: bool) -> None:  # pragma: no cover - compiled
    """``a = h(z + bias)`` and, with ``derivative``, ``d = h′(z + bias)`` along one row: a branch-free loop
    body, which the compiler vectorises (the test of ``derivative`` stays outside it)."""
    if derivative:
        for s in range(z.shape[0]):
            a[s], d[s] = _softplus_simd(z[s] + bias)
    else:
        for s in range(z.shape[0]):
            a[s] = _softplus_simd(z[s] + bias)[0]


@_jit
def bias_softplus_simd(Z: np.ndarray, B: np.ndarray, A: np.ndarray, D: np.ndarray,
                       derivative: bool) -> None:  # pragma: no cover - compiled
    """``A = h(Z + B)`` and, with ``derivative``, ``D = h′(Z + B)`` for stacks (M, n, S), biases ``B`` (M, n, 1)
    (the products BLAS made have no bias yet) or (M, n, 0) (they have it)."""
    M, n, S = Z.shape
    biased = B.shape[2] > 0
    for k in range(M):
        for i in range(n):
            _softplus_row_simd(Z[k, i], B[k, i, 0] if biased else 0.0, A[k, i], D[k, i], derivative)


@_jit
def exp_nonpositive(Z: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out = e^Z`` for a stack ``Z`` (M, k, S) of numbers ≤ 0 (the output layer's z − max), vectorised; NaN
    stays NaN."""
    M, k, S = Z.shape
    for m in range(M):
        for c in range(k):
            for s in range(S):
                z = Z[m, c, s]
                out[m, c, s] = _exp_nonpositive(z) if z == z else z
