"""Resuming an interrupted run: checks that it can be resumed, then restores the training loop's parts."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..optim.base import Optimizer, same_optimizer
from .batches import FullBatch, MiniBatches
from .guard import DivergenceGuard
from .recorder import Recorder
from .results import FitResult


def restore(resume: FitResult, optimizer: Optimizer, fresh_state: Any, recorder: Recorder,
            sampler: FullBatch | MiniBatches, guard: DivergenceGuard) -> tuple[Any, int]:
    """Give ``recorder`` the interrupted run's history, ``sampler`` its evaluation counts and batch position and
    ``guard`` its last finite parameters and the models still alive (a model that went non-finite has NaN
    history); returns the optimiser state to continue from and the first iteration still to do."""
    if resume.state is not None:
        _check_same_optimizer(resume, optimizer, fresh_state)
    if not resume.interrupted or resume.state is None:
        raise ValueError("only an interrupted run (FitResult.interrupted) can be resumed")
    first = recorder.restore(resume.history)
    sampler.oracle.grad_evals = int(recorder.history.grad_evals[first - 1, 0])  # one count for all models
    sampler.oracle.func_evals = recorder.history.func_evals[first - 1].astype(np.int64)  # one per model
    sampler.restore(resume.batches)
    last_finite = resume.params.flat.reshape(len(recorder.history.train_loss[0]), -1)  # a stack, as inside fit
    guard.restore(last_finite, np.isfinite(recorder.history.train_loss[first - 1]))
    return resume.state, first


def _check_same_optimizer(resume: FitResult, optimizer: Optimizer, fresh_state: Any) -> None:
    """A run continues with the optimiser it was interrupted with: same state type and, when the interrupted
    result still knows its optimiser, the same hyper-parameters."""
    known = resume.optimizer is not None
    was = repr(resume.optimizer) if known else f"an optimiser whose state is {type(resume.state).__name__}"
    if type(resume.state) is not type(fresh_state) or (known and not same_optimizer(resume.optimizer, optimizer)):
        raise ValueError(f"cannot resume a run interrupted with {was} with another optimiser, {optimizer!r}: "
                         f"resume it with the optimiser it was started with")
