"""The loss of one network on fixed data, evaluated for a stack of models: the oracle training calls.

Users pass samples as rows ``X`` of shape ``(S, d)``; the engines work in the derivation's column layout, and
the transpose happens once, here. Parameters are a stack of M models, ``x`` of shape ``(M, P)`` (one model is
M = 1): losses come back with shape ``(M,)``, gradients ``(M, P)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .engines import DEFAULT_ENGINE, engine_factory
from .engines.base import Batch, Evaluation, Network, Want

__all__ = ["Evaluation", "Objective", "Want"]


def _batch(net: Network, X: np.ndarray, y: np.ndarray, dtype: np.dtype) -> Batch:
    """The data in columns and the labels one-hot, checked against the network."""
    # The columns are a transposed view of the rows (BLAS reads either order): no copy of the data, which on a
    # large problem is as big as all activations together.
    rows = np.ascontiguousarray(X, dtype=dtype)
    if rows.ndim != 2 or rows.shape[1] != net.sizes[0]:
        raise ValueError(f"X must have shape (S, {net.sizes[0]}), got {rows.shape}")
    y = np.asarray(y)
    S, k = rows.shape[0], net.sizes[-1]
    if y.shape != (S,):
        raise ValueError(f"y must have shape ({S},), got {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k):
        raise ValueError(f"y must hold class indices in 0..{k - 1}")
    if y.size == 0:
        raise ValueError("the loss needs at least one sample")
    Y = np.zeros((k, S), dtype)  # one-hot, column s is e_{y_s}
    Y[y, np.arange(S)] = 1.0
    return Batch(rows.T, Y, y.astype(np.int64))


class Objective:
    """Mean cross-entropy of one network on fixed data, for a stack of models: the oracle the optimisers call.

    Parameters
    ----------
    net : the network
    X : (S, d) array of samples (rows)
    y : (S,) int array of class indices
    weight_decay : λ ≥ 0 of the L2 penalty ``(λ/2) Σ_l ‖W_l‖²_F`` on the weights (biases are not penalised),
        added to the loss (L2) and ``λ W_l`` to the weight gradients (B6).
    dtype : float64 (default) or float32; parameters passed in must have the same dtype.
    engine : ``"numpy"`` (buffered NumPy), ``"compiled"`` (numba kernels for small networks, needs
        ``descentlab[fast]``), ``"reference"`` (the derivation written out, slow) or ``"auto"`` (the default:
        here ``"numpy"``; :func:`descentlab.fit` resolves it for the length of its run, see
        :func:`descentlab.core.engines.choose_engine`). All compute the same equations; results agree to rounding.
    """

    def __init__(
        self, net: Network, X: np.ndarray, y: np.ndarray, weight_decay: float = 0.0, dtype: Any = np.float64,
        engine: str = DEFAULT_ENGINE,
    ) -> None:
        if not (np.isfinite(weight_decay) and weight_decay >= 0.0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype}")
        self.net = net
        self._P = net.n_params
        self.weight_decay = float(weight_decay)
        self.batch = _batch(net, X, y, self.dtype)
        self.y = self.batch.y
        self.S = self.batch.S
        self._engine = engine_factory(engine)(net, self.batch)
        self._gradient_buffer: np.ndarray | None = None
        self._gradient_views: list[tuple[np.ndarray, np.ndarray]] = []

    def evaluate(self, x: np.ndarray, want: Want = Want.LOSS) -> Evaluation:
        """Loss of every model of the stack ``x`` (M, P) and, as ``want`` asks, gradient and correct counts.

        The gradient lives in a buffer that the next evaluation overwrites; copy it to keep it.
        """
        if x.ndim != 2 or x.shape[1] != self._P:
            raise ValueError(f"evaluate takes a stack of models of shape (M, {self._P}), got {x.shape}")
        if x.dtype is not self.dtype and x.dtype != self.dtype:
            raise ValueError(f"parameters are {x.dtype} but this objective computes in {self.dtype}")
        result = self._engine.evaluate(x, want)
        return self._penalised(x, result) if self.weight_decay else result

    def _gradient_layers(self, gradient: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Views (dW_l, db_l) into ``gradient``, made once per buffer: the engines hand back the same one."""
        if gradient is not self._gradient_buffer:
            self._gradient_buffer, self._gradient_views = gradient, self.net.layers(gradient)
        return self._gradient_views

    def _penalised(self, x: np.ndarray, result: Evaluation) -> Evaluation:
        layers = self.net.layers(x)
        decay = self.weight_decay
        loss = result.loss + 0.5 * decay * sum(np.sum(W * W, axis=(-2, -1)) for W, _ in layers)  # (L2)
        if result.gradient is not None:
            for (W, _), (dW, _) in zip(layers, self._gradient_layers(result.gradient), strict=True):
                dW += decay * W  # (B6) the penalty's gradient λ W_l
        return Evaluation(loss, result.gradient, result.correct)
