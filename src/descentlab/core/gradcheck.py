"""Finite-difference verification of :meth:`MLP.loss_and_grad`.

Every checked entry θ_i gets a fourth-order central difference in float64,

.. math:: n_i = \\frac{-L(θ + 2h_i e_i) + 8L(θ + h_i e_i) - 8L(θ - h_i e_i) + L(θ - 2h_i e_i)}{12 h_i},
          \\qquad h_i = η \\max(1, |θ_i|),\\ η = 3·10^{-4},

whose truncation error is O(h⁴) and whose rounding error is about ε·|L|/h_i (ε = 2.2·10⁻¹⁶, times a small
factor for the summation inside L). On standardised data with parameters of order 1 both are ≈ 10⁻¹²
relative to the scale of L, so an exact gradient agrees with it to ~10⁻¹⁰ relative, while a real mistake (a
wrong sign, a missing factor, a transposed index) is off by order 1.

**The step adapts to each entry.** A fixed step cannot suit every scale: with large parameters (``--init-sigma
5``) or large features (raw data in the thousands) the loss is so curved along θ_i that the truncation error at
h_i reaches 10⁻⁶ while the gradient is right. So every entry is estimated at h_i and h_i/4, then h_i/16, … (at
most ``STEP_ROUNDS`` times) until two consecutive estimates agree to half the threshold; the finer of the two
is kept (its truncation error is 256 times smaller than their difference). An entry whose estimates never
agree is *not judged*: no float64 difference quotient resolves its derivative.

Relative error of an entry: ``|a − n| / max(|a|, |n|, floor_i)`` with the noise floor
``floor_i = 100·ε·max(1, |L|) / (h_i · 10⁻⁶)`` at the step kept: an entry so small that the rounding error of
the difference quotient (bounded generously by 100·ε·|L|/h_i) would exceed 10⁻⁶ of it is judged by its
absolute error instead, because no float64 difference quotient resolves it better. The step η is refused
outside [``MIN_ETA``, ``MAX_ETA``]: below, rounding alone (≈ ε·|L|/h) swamps any gradient; above, the
stencil is not local (and overflows).

**Kinks.** Where the hidden activation is not differentiable (relu at 0), a stencil whose points lie on both
sides of a kink measures neither one-sided slope, and a correct gradient fails by ~10⁻³. Such a stencil is
recognised exactly: some pre-activation z (of some hidden unit, for some sample) is on another side of a kink
at one of the stencil's points than at θ. Those entries are checked again with the step divided by 4, up to
``KINK_ROUNDS`` times, until their stencil stays on one side; the noise floor above grows with 1/h_i, so the
verdict stays honest at the smaller step. An entry whose stencil still crosses at the smallest step (θ within
~10⁻⁷ of a kink along that coordinate, where the loss has no derivative to speak of) is reported as such and
not judged. Smooth activations have no kinks.

**Verdict.** ``FAIL`` when a judged entry's relative error reaches ``threshold`` (default 10⁻⁶: about three
orders of magnitude above what rounding gives, six below what a bug gives); otherwise ``INCOMPLETE`` when some
entry could not be judged (a kink, or estimates that never settle): a check that did not look at every entry
it was asked to is never a pass; otherwise ``PASS``.

All perturbed copies of θ are evaluated together as one stack of models (the network's kernels broadcast
over a leading model axis), so a full check costs a few batched forward passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.dataset import DataError
from .engines.reference import forward
from .network import MLP
from .params import Params

DEFAULT_ETA = 3e-4
NOISE_FACTOR = 100.0
RESOLUTION = 1e-6
THRESHOLD = 1e-6
STEP_ROUNDS = 4  # steps h, h/4, …, h/4⁴ until two consecutive estimates agree
MIN_ETA, MAX_ETA = 1e-8, 0.1
_CHUNK_ROWS = 2048  # perturbed models evaluated per batched forward pass
_SIDES_BUDGET = 1 << 23  # pre-activations (models × hidden units × samples) held at once by the kink test
KINK_ROUNDS = 6  # a stencil crossing a kink is retried with h/4, h/16, …, h/4⁶
_OFFSETS = np.array([2.0, 1.0, -1.0, -2.0])
_WEIGHTS = np.array([-1.0, 8.0, -8.0, 1.0])


@dataclass(frozen=True)
class TensorCheck:
    """Outcome for one parameter tensor: ``checked`` entries judged, ``kink_skipped`` left unjudged at a kink and
    ``unsettled`` left unjudged because their difference quotients never agreed across steps."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic_at_worst: float
    numeric_at_worst: float
    kink_rechecked: int = 0
    kink_skipped: int = 0
    unsettled: int = 0

    @property
    def unjudged(self) -> int:
        return self.kink_skipped + self.unsettled


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
    def kink_rechecked(self) -> int:
        """Entries whose default stencil crossed a kink and that were checked with a smaller step."""
        return sum(t.kink_rechecked for t in self.tensors)

    @property
    def kink_skipped(self) -> int:
        """Entries within the smallest step of a kink: not differentiable there, not judged."""
        return sum(t.kink_skipped for t in self.tensors)

    @property
    def unsettled(self) -> int:
        """Entries whose difference quotients never agreed across the steps tried: not judged."""
        return sum(t.unsettled for t in self.tensors)

    @property
    def verdict(self) -> str:
        """``"FAIL"`` (a judged entry is off), ``"INCOMPLETE"`` (none is, but some entry was not judged) or
        ``"PASS"``."""
        if self.max_rel_error >= self.threshold:
            return "FAIL"
        return "INCOMPLETE" if any(t.unjudged for t in self.tensors) else "PASS"

    @property
    def ok(self) -> bool:
        return self.verdict == "PASS"

    def __getitem__(self, name: str) -> TensorCheck:
        for tensor in self.tensors:
            if tensor.name == name:
                return tensor
        raise KeyError(name)


def numeric_gradient(
    net: MLP, params: Params, X: np.ndarray, y: np.ndarray, indices: np.ndarray, eta: float = DEFAULT_ETA
) -> np.ndarray:
    """Fourth-order central differences of the loss for the flat entries ``indices`` (see module doc)."""
    theta = params.flat
    return _difference_quotients(net.objective(X, y), theta, indices, eta * np.maximum(1.0, np.abs(theta[indices])))


def _stencils(
    theta: np.ndarray, indices: np.ndarray, h: np.ndarray, rows: int = _CHUNK_ROWS
) -> Iterator[tuple[int, np.ndarray]]:
    """Chunks ``(start, stack)`` of at most ``rows`` rows ``θ + o·h_i e_i`` for o in 2, 1, −1, −2, four per entry."""
    per_chunk = max(1, rows // _OFFSETS.size)
    for start in range(0, indices.size, per_chunk):
        idx, hh = indices[start : start + per_chunk], h[start : start + per_chunk]
        stack = np.repeat(theta[None, :], idx.size * _OFFSETS.size, axis=0)
        which = np.arange(stack.shape[0])
        stack[which, np.repeat(idx, _OFFSETS.size)] += np.tile(_OFFSETS, idx.size) * np.repeat(hh, _OFFSETS.size)
        yield start, stack


def _difference_quotients(objective: Any, theta: np.ndarray, indices: np.ndarray, h: np.ndarray) -> np.ndarray:
    result = np.empty(indices.size)
    for start, stack in _stencils(theta, indices, h):
        losses = objective.evaluate(stack).loss.reshape(-1, _OFFSETS.size)
        result[start : start + losses.shape[0]] = (losses @ _WEIGHTS) / (12.0 * h[start : start + losses.shape[0]])
    return result


def _sides(net: MLP, flat: np.ndarray, A0: np.ndarray) -> np.ndarray:
    """Per model, on which side of each kink every hidden pre-activation lies: ``Σ_c 2[z > c] + [z = c]``."""
    zs = forward(net, flat, A0)[0][1:-1]  # z_1 … z_{L−1}
    lead = flat.shape[:-1]
    codes = [sum(2 * (z > c).astype(np.int8) + (z == c) for c in net.activation.kinks) for z in zs]
    return np.concatenate([np.reshape(code, lead + (-1,)) for code in codes], axis=-1)


def crosses_kink(net: MLP, theta: np.ndarray, X: np.ndarray, indices: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Whether the stencil of each entry (steps ``h``) puts some pre-activation on another side of a kink
    than θ does; all False for an activation without kinks."""
    if not net.activation.kinks or net.n_layers < 2:
        return np.zeros(indices.size, dtype=bool)
    A0 = np.asarray(X, dtype=np.float64).T
    centre = _sides(net, theta, A0)
    crossed = np.empty(indices.size, dtype=bool)
    rows = min(_CHUNK_ROWS, _SIDES_BUDGET // (sum(net.sizes[1:-1]) * A0.shape[1]))  # z and h(z) of every layer
    for start, stack in _stencils(theta, indices, h, rows):
        moved = np.any(_sides(net, stack, A0) != centre, axis=-1).reshape(-1, _OFFSETS.size)
        crossed[start : start + moved.shape[0]] = moved.any(axis=1)
    return crossed


def kink_free_steps(
    net: MLP, theta: np.ndarray, X: np.ndarray, indices: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Steps whose stencils cross no kink: ``h_i / 4^r`` with the smallest r ≤ ``KINK_ROUNDS`` that works.

    Returns the steps and a mask of the entries whose stencil crosses a kink even at ``h_i / 4^KINK_ROUNDS``.
    """
    steps = np.array(h, dtype=np.float64)
    pending = np.flatnonzero(crosses_kink(net, theta, X, indices, steps))
    for _ in range(KINK_ROUNDS):
        if pending.size == 0:
            break
        steps[pending] /= 4.0
        pending = pending[crosses_kink(net, theta, X, indices[pending], steps[pending])]
    unresolved = np.zeros(indices.size, dtype=bool)
    unresolved[pending] = True
    return steps, unresolved


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


def _finite_loss_and_grad(net: MLP, params: Params, X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
    """The loss and gradient at the point checked, or a :class:`DataError` saying which input is not finite:
    finite differences of a non-finite loss are NaN, which would wrongly blame the gradient."""
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        row, column = np.argwhere(~np.isfinite(X))[0]
        raise DataError(f"the data are not finite (row {row}, column {column} holds {X[row, column]}): "
                        "a gradient check needs finite data")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss, grads = net.loss_and_grad(params, X, y)
    if not (np.isfinite(loss) and np.isfinite(grads.flat).all()):
        raise DataError(
            f"the loss or its gradient is not finite at the point checked (loss {float(loss):.6g}; features up "
            f"to |x| = {np.abs(X).max(initial=0.0):.3g}, parameters up to |θ| = "
            f"{np.abs(params.flat).max(initial=0.0):.3g}): a gradient check needs a finite loss"
        )
    return loss, grads


def check_eta(eps: float | None) -> float:
    """The relative step η for ``eps`` (None: the default), or ValueError when no float64 difference quotient
    could resolve a gradient at it (below ``MIN_ETA``) or its stencil is not local (above ``MAX_ETA``)."""
    eta = DEFAULT_ETA if eps is None else float(eps)
    if not MIN_ETA <= eta <= MAX_ETA:
        raise ValueError(
            f"eps {eps:g} is outside [{MIN_ETA:g}, {MAX_ETA:g}]: "
            + ("at so small a step the float64 difference quotient cannot resolve the gradient (rounding in the "
               "loss alone is about 2e-16·|L| / step)" if eta < MIN_ETA else
               "so large a step is not local: the difference quotient measures the loss far from the point checked")
            + f"; the default is {DEFAULT_ETA:g}"
        )
    return eta


def gradcheck(net: MLP, params: Params, X: np.ndarray, y: np.ndarray, *, eps: float | None = None,
              max_entries: int | None = None, seed: int = 0, threshold: float = THRESHOLD) -> GradcheckReport:
    """Compare ``net.loss_and_grad`` with finite differences, tensor by tensor.

    Parameters
    ----------
    net, params : the network and the point to check at (not modified)
    X : (S, d) array, y : (S,) int array — the batch whose mean loss is differentiated
    eps : relative first step η in [``MIN_ETA``, ``MAX_ETA``] (default 3·10⁻⁴; the first step of entry i is
        ``η·max(1, |θ_i|)``, smaller ones follow until the estimates agree, see the module doc)
    max_entries : check at most this many entries per tensor: its largest analytic gradients plus a
        seeded random draw of the rest (default: every entry)
    seed : seed of that draw
    threshold : maximum relative error that passes (default 10⁻⁶)
    """
    eta = check_eta(eps)
    if max_entries is not None and max_entries < 1:
        raise ValueError(f"max_entries must be at least 1, got {max_entries}")
    loss, grads = _finite_loss_and_grad(net, params, X, y)
    analytic, theta = grads.flat, params.flat
    rng = np.random.default_rng(seed)
    chosen = [_entries(analytic, s.start, s.size, max_entries, rng) for s in net.slots]
    indices = np.concatenate(chosen)
    default_steps = eta * np.maximum(1.0, np.abs(theta[indices]))
    kink_steps, skipped = kink_free_steps(net, theta, X, indices, default_steps)
    numeric, steps, unsettled = settled_quotients(net.objective(X, y), theta, indices, kink_steps, loss,
                                                  threshold / 2)
    floor = _noise_floor(loss, steps)
    checks = []
    offset = 0
    for slot, idx in zip(net.slots, chosen, strict=True):
        part = slice(offset, offset + idx.size)
        offset += idx.size
        checks.append(_tensor_check(slot.name, slot.shape, idx - slot.start, analytic[idx], numeric[part],
                                    floor[part], kink_steps[part] < default_steps[part], skipped[part],
                                    unsettled[part] & ~skipped[part]))
    return GradcheckReport(tuple(checks), threshold, float(loss), int(np.shape(y)[0]))


def _noise_floor(loss: float, steps: np.ndarray) -> np.ndarray:
    return NOISE_FACTOR * np.finfo(np.float64).eps * max(1.0, abs(loss)) / (steps * RESOLUTION)


def settled_quotients(
    objective: Any, theta: np.ndarray, indices: np.ndarray, steps: np.ndarray, loss: float, agreement: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference quotients at ``steps``, ``steps``/4, … (``STEP_ROUNDS`` times at most) until two consecutive
    ones agree to ``agreement`` relative (of the finer one, or of the noise floor at its step).

    Returns the finer estimate of the first agreeing pair (the last one computed for an entry that never
    agreed), the step it was taken at, and a mask of the entries that never agreed.
    """
    previous = _difference_quotients(objective, theta, indices, steps)
    numeric, used = previous.copy(), np.array(steps, dtype=np.float64)
    pending = np.arange(indices.size)
    for _ in range(STEP_ROUNDS):
        h = used[pending] / 4.0
        finer = _difference_quotients(objective, theta, indices[pending], h)
        scale = np.maximum(np.abs(finer), _noise_floor(loss, h))
        agree = np.abs(finer - previous[pending]) <= agreement * scale
        numeric[pending], used[pending], previous[pending] = finer, h, finer
        pending = pending[~agree]
        if pending.size == 0:
            break
    unsettled = np.zeros(indices.size, dtype=bool)
    unsettled[pending] = True
    return numeric, used, unsettled


def _tensor_check(
    name: str, shape: tuple[int, ...], local: np.ndarray, a: np.ndarray, n: np.ndarray, floor: np.ndarray,
    rechecked: np.ndarray, skipped: np.ndarray, unsettled: np.ndarray,
) -> TensorCheck:
    """One tensor's row: errors of the entries judged (an entry at a kink, or whose estimates never settled, is
    not), worst entry by relative error."""
    unjudged = skipped | unsettled
    abs_err = np.where(unjudged, 0.0, np.abs(a - n))
    rel_err = abs_err / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    worst = int(np.argmax(rel_err))
    return TensorCheck(
        name=name, shape=shape, checked=int(local.size - unjudged.sum()), max_abs_error=float(abs_err.max()),
        max_rel_error=float(rel_err.max()), worst_index=tuple(int(i) for i in np.unravel_index(local[worst], shape)),
        analytic_at_worst=float(a[worst]), numeric_at_worst=float(n[worst]), kink_skipped=int(skipped.sum()),
        kink_rechecked=int(np.sum(rechecked & ~skipped)), unsettled=int(unsettled.sum()),
    )
