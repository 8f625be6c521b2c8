"""Finite-difference verification of :meth:`MLP.loss_and_grad`.

Every checked entry θ_i gets a fourth-order central difference in float64,

.. math:: n_i = \\frac{-L(θ + 2h_i e_i) + 8L(θ + h_i e_i) - 8L(θ - h_i e_i) + L(θ - 2h_i e_i)}{12 h_i},
          \\qquad h_i = η \\max(1, |θ_i|),\\ η = 3·10^{-4},

whose truncation error is O(h⁴) and whose rounding error is about ε·|L|/h_i (ε = 2.2·10⁻¹⁶, times a small
factor for the summation inside L). Both are ≈ 10⁻¹² relative to the scale of L, so an exact gradient
agrees with it to ~10⁻¹⁰ relative, while a real mistake (a wrong sign, a missing factor, a transposed index)
is off by order 1.

Relative error of an entry: ``|a − n| / max(|a|, |n|, floor_i)`` with the noise floor
``floor_i = 100·ε·max(1, |L|) / (h_i · 10⁻⁶)``: an entry so small that the rounding error of the
difference quotient (bounded generously by 100·ε·|L|/h_i) would exceed 10⁻⁶ of it is judged by its
absolute error instead (≈ 10⁻¹⁰·|L|), because no float64 difference quotient resolves it better.
The check passes when every tensor's maximum relative error is below ``threshold`` (default 10⁻⁶: about
three orders of magnitude above what rounding gives, six below what a bug gives).

All perturbed copies of θ are evaluated together as one stack of models (the network's kernels broadcast
over a leading model axis), so a full check costs a few batched forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import MLP
from .params import Params

DEFAULT_ETA = 3e-4
NOISE_FACTOR = 100.0
RESOLUTION = 1e-6
THRESHOLD = 1e-6
_CHUNK_ROWS = 2048  # perturbed models evaluated per batched forward pass


@dataclass(frozen=True)
class TensorCheck:
    """Outcome for one parameter tensor."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic_at_worst: float
    numeric_at_worst: float


@dataclass(frozen=True)
class GradcheckReport:
    """Outcome of :func:`gradcheck`: one :class:`TensorCheck` per tensor and the overall verdict."""

    tensors: tuple[TensorCheck, ...]
    threshold: float
    loss: float
    samples: int

    @property
    def max_rel_error(self) -> float:
        return max(t.max_rel_error for t in self.tensors)

    @property
    def ok(self) -> bool:
        return self.max_rel_error < self.threshold

    def __getitem__(self, name: str) -> TensorCheck:
        for tensor in self.tensors:
            if tensor.name == name:
                return tensor
        raise KeyError(name)


def numeric_gradient(
    net: MLP, params: Params, X: np.ndarray, y: np.ndarray, indices: np.ndarray, eta: float = DEFAULT_ETA
) -> np.ndarray:
    """Fourth-order central differences of the loss for the flat entries ``indices`` (see module doc)."""
    objective = net.objective(X, y)
    theta = params.flat
    h = eta * np.maximum(1.0, np.abs(theta[indices]))
    offsets = np.array([2.0, 1.0, -1.0, -2.0])
    weights = np.array([-1.0, 8.0, -8.0, 1.0])
    result = np.empty(indices.size)
    per_chunk = max(1, _CHUNK_ROWS // offsets.size)
    for start in range(0, indices.size, per_chunk):
        idx = indices[start : start + per_chunk]
        hh = h[start : start + per_chunk]
        stack = np.repeat(theta[None, :], idx.size * offsets.size, axis=0)
        rows = np.arange(stack.shape[0])
        stack[rows, np.repeat(idx, offsets.size)] += np.tile(offsets, idx.size) * np.repeat(hh, offsets.size)
        losses = np.asarray(objective.loss_and_correct(stack)[0]).reshape(idx.size, offsets.size)
        result[start : start + idx.size] = (losses @ weights) / (12.0 * hh)
    return result


def _entries(
    analytic: np.ndarray, start: int, size: int, max_entries: int | None, rng: np.random.Generator
) -> np.ndarray:
    if max_entries is None or max_entries >= size:
        return np.arange(start, start + size)
    # The largest gradients are where a scaling mistake shows most: always check a few of them.
    n_top = max(1, min(max_entries // 4, size))
    top = np.argsort(-np.abs(analytic[start : start + size]), kind="stable")[:n_top]
    rest = np.setdiff1d(np.arange(size), top)
    drawn = rng.choice(rest, size=max(0, max_entries - n_top), replace=False)
    return start + np.sort(np.concatenate([top, drawn]).astype(np.int64))


def gradcheck(
    net: MLP,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    *,
    eps: float | None = None,
    max_entries: int | None = None,
    seed: int = 0,
    threshold: float = THRESHOLD,
) -> GradcheckReport:
    """Compare ``net.loss_and_grad`` with finite differences, tensor by tensor.

    Parameters
    ----------
    net, params : the network and the point to check at (not modified)
    X : (S, d) array, y : (S,) int array — the batch whose mean loss is differentiated
    eps : relative step η (default 3·10⁻⁴; the step of entry i is ``η·max(1, |θ_i|)``)
    max_entries : check at most this many entries per tensor: its largest analytic gradients plus a
        seeded random draw of the rest (default: every entry)
    seed : seed of that draw
    threshold : maximum relative error that passes (default 10⁻⁶)
    """
    eta = DEFAULT_ETA if eps is None else float(eps)
    if not eta > 0.0:
        raise ValueError(f"eps must be positive, got {eps}")
    if max_entries is not None and max_entries < 1:
        raise ValueError(f"max_entries must be at least 1, got {max_entries}")
    loss, grads = net.loss_and_grad(params, X, y)
    analytic = grads.flat
    rng = np.random.default_rng(seed)
    chosen = [_entries(analytic, s.start, s.size, max_entries, rng) for s in net.slots]
    numeric = numeric_gradient(net, params, X, y, np.concatenate(chosen), eta)
    checks = []
    offset = 0
    for slot, idx in zip(net.slots, chosen, strict=True):
        n = numeric[offset : offset + idx.size]
        offset += idx.size
        a = analytic[idx]
        abs_err = np.abs(a - n)
        h = eta * np.maximum(1.0, np.abs(params.flat[idx]))
        floor = NOISE_FACTOR * np.finfo(np.float64).eps * max(1.0, abs(loss)) / (h * RESOLUTION)
        rel_err = abs_err / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
        worst = int(np.argmax(rel_err))
        checks.append(
            TensorCheck(
                name=slot.name,
                shape=slot.shape,
                checked=int(idx.size),
                max_abs_error=float(abs_err.max()),
                max_rel_error=float(rel_err.max()),
                worst_index=tuple(int(i) for i in np.unravel_index(idx[worst] - slot.start, slot.shape)),
                analytic_at_worst=float(a[worst]),
                numeric_at_worst=float(n[worst]),
            )
        )
    return GradcheckReport(tuple(checks), threshold, float(loss), int(np.shape(y)[0]))
