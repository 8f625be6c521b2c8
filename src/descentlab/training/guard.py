"""The divergence guard: a model whose loss or gradient goes non-finite keeps its last finite parameters."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class NonFiniteStart(ValueError):
    """The initial parameters already give a non-finite loss or gradient: nothing can be trained from them."""


class DivergenceGuard:
    """Watches the loss (and gradient norm) of every model at every exported iterate.

    While every model is finite the guard only keeps a reference to the latest iterate (optimiser steps never
    write into an array they returned, so no copy is needed). A model that goes non-finite keeps its last
    finite parameters, its history turns NaN and the others carry on; when the caller gave one model as a
    ``(P,)`` vector, that model going non-finite ends the run instead (nothing is left to train), and its
    history stops at the last finite iterate. Non-finite values at k = 0 raise :class:`NonFiniteStart`.

    Parameters
    ----------
    x0 : (M, P) array, the initial parameters
    one_model : whether the caller gave one ``(P,)`` vector
    """

    def __init__(self, x0: np.ndarray, one_model: bool) -> None:
        self.last_finite = x0
        self.one_model = one_model
        self.alive = np.ones(x0.shape[0], dtype=bool)
        self.dead: np.ndarray | None = None  # ~alive, kept once a model has gone (the recorder reads it each step)
        self.ended: str | None = None  # why a one-model run ended; a run that ended cannot be resumed

    @property
    def stopped(self) -> str | None:
        """Why the run ended, or which models went non-finite (None: nothing went wrong)."""
        if self.ended is not None or self.dead is None:
            return self.ended
        gone = np.flatnonzero(self.dead).tolist()
        return (f"{len(gone)} of {self.alive.size} models went non-finite (learning rate too large?) and kept their "
                f"last finite parameters: models {gone}")

    def check(self, k: int, x: np.ndarray, loss: Any, grad_norm: Any) -> bool:
        """Whether training goes on after the iterate ``x`` of step k, whose loss is ``loss`` and gradient norm
        ``grad_norm`` (None when it is not measured)."""
        # Python's isfinite over the M values is cheaper than NumPy's for the few models trained at once
        if self.dead is None and all(map(math.isfinite, loss.tolist())) and (
            grad_norm is None or all(map(math.isfinite, grad_norm.tolist()))
        ):
            self.last_finite = x
            return True
        finite = np.isfinite(loss) if grad_norm is None else np.isfinite(loss) & np.isfinite(grad_norm)
        return self._diverged(k, x, loss, finite)

    def restore(self, last_finite: np.ndarray, alive: np.ndarray) -> None:
        """Take up an interrupted run's last finite parameters ``(M, P)`` and which of its models are alive."""
        self.last_finite = last_finite
        if not alive.all():
            self._mark(alive)

    def _diverged(self, k: int, x: np.ndarray, loss: Any, finite: np.ndarray) -> bool:
        if k == 0:
            models = "" if self.one_model else f" of models {np.flatnonzero(~finite).tolist()}"
            raise NonFiniteStart(f"the initial parameters{models} give a non-finite loss or gradient")
        if self.one_model:
            what = "gradient" if np.isfinite(loss).all() else "loss"
            self.ended = (f"the training {what} became non-finite at iteration {k} "
                          f"(learning rate too large?); kept the parameters of iteration {k - 1}")
            return False
        self._mark(self.alive & finite)
        np.copyto(self.last_finite, x, where=self.alive[:, None])
        return True

    def _mark(self, alive: np.ndarray) -> None:
        if self.dead is None:  # from now on last_finite is the guard's own, updated in place
            self.last_finite = np.array(self.last_finite, copy=True)
        if self.dead is None or not np.array_equal(alive, self.alive):
            self.alive, self.dead = alive, ~alive
