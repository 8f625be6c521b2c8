"""The oracle the optimisers call during training: it counts their evaluations and caches the last point."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..core.objective import Evaluation, Objective, Want

LOSS, GRADIENT, ALL = Want.LOSS, Want.GRADIENT, Want.GRADIENT | Want.CORRECT


class CountingOracle:
    """The oracle given to the optimiser: counts its calls and remembers the last point evaluated.

    ``oracle(x) -> (loss (M,), gradient (M, P))`` counts a gradient evaluation, ``oracle.loss(x) -> (M,)`` a
    function-only one (the ``Oracle`` protocol of :mod:`descentlab.optim`); ``func_evals`` is a number, or an
    ``(M,)`` array once a call counted some models only (their counts then differ). The training loop measures the
    loss (and, with all metrics, gradient and accuracy) at every exported iterate through :meth:`measure`,
    which is not counted; when the optimiser then asks for the gradient at that same array (GD always does), the
    stored result is handed back instead of being computed twice, and the other way round. Points are matched
    by identity: optimiser steps never write into an array they returned, so the same object means the same
    values, and nothing is copied.

    Parameters
    ----------
    objective : the loss the optimiser minimises (the training set, or the current mini-batch)
    serves_steps : whether the optimiser's steps call this oracle. Measuring then also computes the gradient
        when the last step took its gradient at the exported iterate, since the next step asks for exactly that.
    """

    def __init__(self, objective: Objective, serves_steps: bool = True) -> None:
        self.objective = objective
        self.point: np.ndarray | None = None
        self.value: Any = None
        self.grad: np.ndarray | None = None
        self.correct: Any = None
        self.grad_evals = 0
        self.func_evals: Any = 0
        self.asks_at_exported = serves_steps  # did the last step take its gradient at the exported iterate?
        self.cost = 0.0  # seconds of the evaluation measure() keeps, until a step reuses it
        self.reused = 0.0

    def retarget(self, objective: Objective) -> None:
        """Serve another objective (the next mini-batch) from now on; the counts carry on."""
        self.objective, self.point, self.value, self.grad, self.correct = objective, None, None, None, None

    def measure(self, x: np.ndarray, full: bool = True) -> None:
        """The loss at ``x`` (with ``full``, gradient and correct counts too), not counted as a method's call.
        Its seconds are kept until a step reuses the result (:meth:`take_reused`)."""
        if x is self.point and (not full or self.correct is not None):
            return
        started = time.perf_counter()
        self._keep(x, self.objective.evaluate(x, ALL if full else GRADIENT if self.asks_at_exported else LOSS))
        self.cost = time.perf_counter() - started

    def take_reused(self) -> float:
        """The seconds of measuring evaluations that steps reused since the last call: the method's own work,
        done early (GD's gradient at the iterate just measured)."""
        reused, self.reused = self.reused, 0.0
        return reused

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.grad_evals += 1
        self.asks_at_exported = x is self.point
        if x is not self.point or self.grad is None:
            self._keep(x, self.objective.evaluate(x, GRADIENT))
        else:
            self._reuse()
        assert self.grad is not None
        return self.value, self.grad

    def loss(self, x: np.ndarray, models: np.ndarray | None = None) -> np.ndarray:
        """The loss at ``x``, counted for every model, or for those ``models`` marks (``(M,)`` booleans) when
        only they need it: a line search whose other models are done asks for the whole stack anyway."""
        self.func_evals = self.func_evals + (1 if models is None else np.asarray(models, dtype=np.int64))
        if x is self.point:
            self._reuse()
            return self.value  # type: ignore[no-any-return]
        return self.objective.evaluate(x, LOSS).loss

    def _reuse(self) -> None:
        self.reused, self.cost = self.reused + self.cost, 0.0

    def _keep(self, x: np.ndarray, values: Evaluation) -> None:
        self.point, self.value, self.grad, self.correct = x, values.loss, values.gradient, values.correct
        self.cost = 0.0  # a step's own evaluation; measure sets the seconds of its own
