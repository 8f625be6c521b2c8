"""The training loop: run an optimiser for K iterations and record what it would export at every step."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.network import MLP
from ..core.objective import Objective
from ..core.params import Params
from ..data.dataset import Dataset
from ..optim.optimizers import Optimizer

HISTORY_FIELDS = (
    "train_loss", "train_accuracy", "test_loss", "test_accuracy", "grad_norm", "grad_evals", "func_evals"
)
# The history starts with room for this many entries and doubles when full (never beyond K + 1): memory follows
# the iterations actually run, so --iterations 1000000000 does not ask for 56 GB up front.
HISTORY_START = 1024


@dataclass
class History:
    """Per-iteration measurements, index k = 0 … K (k = 0 is the initial point).

    Every entry is measured at the iterate the method would export after k steps (``p_k`` for NAG, never
    the look-ahead point): ``train_loss`` (mean cross-entropy), ``train_accuracy``, ``test_loss``,
    ``test_accuracy`` (NaN when there is no test set) and ``grad_norm`` (‖∇L‖₂ on the training data).
    ``grad_evals`` and ``func_evals`` count, cumulatively, the gradient and function-only evaluations the
    method asked for to get there (the loop's own measurements are not counted), so that methods can be
    compared per evaluation as well as per iteration. ``train_loss`` is the objective minimised, including
    an L2 penalty when ``weight_decay`` is set; ``test_loss`` is the plain cross-entropy.
    """

    train_loss: np.ndarray
    train_accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray
    grad_norm: np.ndarray
    grad_evals: np.ndarray
    func_evals: np.ndarray

    @classmethod
    def empty(cls, shape: int | tuple[int, ...]) -> History:
        """All-NaN fields of ``shape``: ``K + 1`` entries, or ``(K + 1, M)`` for M stacked models."""
        return cls(*(np.full(shape, np.nan) for _ in HISTORY_FIELDS))

    def __len__(self) -> int:
        return int(self.train_loss.shape[0])

    @property
    def iterations(self) -> np.ndarray:
        """The iteration index k of every entry."""
        return np.arange(len(self))

    @property
    def evaluations(self) -> np.ndarray:
        """Oracle calls (gradient + function-only evaluations) spent to reach every entry."""
        return self.grad_evals + self.func_evals

    def grown(self, length: int) -> History:
        """A copy with room for ``length`` entries: these entries first, NaN after them."""
        bigger = History.empty((length,) + self.train_loss.shape[1:])
        for name in HISTORY_FIELDS:
            getattr(bigger, name)[: len(self)] = getattr(self, name)
        return bigger

    def truncated(self, length: int) -> History:
        return History(*(getattr(self, name)[:length].copy() for name in HISTORY_FIELDS))

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in HISTORY_FIELDS}

    def first_reaching(self, name: str, level: float, below: bool = False) -> int | None:
        """Smallest k with ``history.<name>[k] >= level`` (``<= level`` when ``below``), or None."""
        values = getattr(self, name)
        hits = np.flatnonzero(values <= level if below else values >= level)
        return int(hits[0]) if hits.size else None


@dataclass
class FitResult:
    """What :func:`fit` returns.

    ``params`` is the exported iterate after the last finite step (a new vector; the input is untouched),
    ``history`` its measurements, ``stopped`` None after a normal run or the reason training stopped early,
    ``seconds`` the wall time of the loop. ``state`` is the optimiser's state after the last iteration and
    ``batches`` the mini-batch sampler's state: with ``interrupted`` (``should_stop`` asked to stop before the
    last iteration) they are what :func:`fit` needs to ``resume`` exactly where it stopped.
    """

    params: Params
    history: History
    optimizer: Any
    iterations: int
    stopped: str | None = None
    seconds: float = 0.0
    state: Any = None
    interrupted: bool = False
    batches: dict[str, Any] | None = None
    feature_names: tuple[str, ...] = ()  # of the training Dataset: save_model stores them with the model
    class_names: tuple[str, ...] = ()

    @property
    def final(self) -> dict[str, float]:
        """The last history entry of every field (the metrics of ``params``)."""
        return {name: float(values[-1]) for name, values in self.history.as_dict().items()}


class NonFiniteStart(ValueError):
    """The initial parameters already give a non-finite loss or gradient: nothing can be trained from them."""


class _Oracle:
    """The oracle given to the optimiser: counts its calls and remembers the last point evaluated.

    The loop measures the loss (and, with all metrics, gradient and accuracy) at every exported iterate;
    when the optimiser then asks for the gradient at that same array (GD always does), the stored result is
    handed back instead of being computed twice, and the other way round. Points are matched by identity:
    optimiser steps never write into an array they returned, so the same object means the same values.
    """

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        self.point: np.ndarray | None = None
        self.value: Any = None
        self.grad: np.ndarray | None = None
        self.correct: Any = None
        self.grad_evals = 0
        self.func_evals = 0
        self.asks_at_exported = True  # did the last step take its gradient at the exported iterate?

    def measure(self, x: np.ndarray, full: bool = True) -> None:
        """The loss at ``x`` (with ``full``, gradient and correct count too); not counted as a method's call.

        Without ``full`` the gradient is still computed when the method's last gradient was taken at its
        exported iterate, since its next step will ask for exactly that.
        """
        if x is self.point and (not full or self.correct is not None):
            return
        if full:
            self.value, self.grad, self.correct = self.objective.loss_grad_and_correct(x)
        elif self.asks_at_exported:
            (self.value, self.grad), self.correct = self.objective.loss_and_grad(x), None
        else:
            self.value, self.grad, self.correct = self.objective.loss(x), None, None
        self.point = x

    def on(self, objective: Objective) -> _Oracle:
        """An oracle for another objective (a mini-batch) that carries these evaluation counts on."""
        other = _Oracle(objective)
        other.grad_evals, other.func_evals = self.grad_evals, self.func_evals
        return other

    def __call__(self, x: np.ndarray) -> tuple[Any, np.ndarray]:
        self.grad_evals += 1
        self.asks_at_exported = x is self.point
        if x is not self.point or self.grad is None:
            (self.value, self.grad), self.correct = self.objective.loss_and_grad(x), None
            self.point = x
        return self.value, self.grad

    def loss(self, x: np.ndarray) -> Any:
        self.func_evals += 1
        if x is self.point:
            return self.value
        return self.objective.loss(x)


class _Batches:
    """Row indices of consecutive mini-batches, a fresh seeded permutation every epoch; its state can be saved
    and restored, so that an interrupted run draws the same batches when it resumes."""

    def __init__(self, S: int, B: int, seed: int) -> None:
        self.S, self.B = S, B
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(S)
        self.position = S  # the first call draws the first permutation

    def __next__(self) -> np.ndarray:
        if self.position >= self.S:
            self.order = self.rng.permutation(self.S)
            self.position = 0
        rows = self.order[self.position : self.position + self.B]
        self.position += self.B
        return rows

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "order": self.order.tolist(), "position": self.position}

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order = np.asarray(state["order"], dtype=np.int64)
        self.position = int(state["position"])


def fit(
    net: MLP,
    params: Params,
    train: Dataset,
    optimizer: Optimizer,
    iterations: int = 350,
    test: Dataset | None = None,
    callback: Callable[[int, History], None] | None = None,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    seed: int = 0,
    metrics: str = "all",
    engine: str = "numpy",
    should_stop: Callable[[], bool] | None = None,
    resume: FitResult | None = None,
) -> FitResult:
    """Train ``net`` from ``params`` with full-batch steps of ``optimizer``.

    Parameters
    ----------
    net : MLP
    params : Params
        Initial point; never modified. ``params.flat`` of shape ``(M, P)`` trains M models at once (see
        Returns); float32 parameters train in float32.
    train, test : Dataset
        Training data (the loss that is minimised, mean over its S samples) and optional held-out data.
    optimizer : an optimiser from :mod:`descentlab.optim.optimizers`
    iterations : int
        Number of steps K ≥ 0.
    callback : callable(k, history), optional
        Called after iteration k has been recorded (for progress displays).
    weight_decay : float
        λ of the L2 penalty ``(λ/2) Σ ‖W_l‖²`` on the weights (not the biases) added to the training loss.
    batch_size : int, optional
        Mini-batch size B: every step sees B training rows, drawn without replacement from a permutation
        of the training set that ``numpy.random.default_rng(seed)`` redraws each epoch (a last, smaller
        batch ends an epoch). Default: full batch, the assignment's setting. The history is still measured
        on the whole training set.
    seed : int
        Seed of the mini-batch shuffle.
    metrics : "all" or "loss"
        ``"all"`` records every history field; ``"loss"`` records the training loss (and the evaluation
        counts) only, which saves the accuracy, gradient norm and test evaluations; the other fields stay NaN.
    engine : "numpy" or "compiled"
        Where the output layer of a single float64 model is computed (see :class:`Objective`); the compiled
        engine needs the optional numba (``descentlab[fast]``) and pays for itself on long runs.

    Returns
    -------
    FitResult
        A non-finite loss or gradient stops the loop: the history then holds the iterations done (+1 for
        the start), ``params`` is the last finite iterate and ``stopped`` says what happened. With M stacked
        models every history field has shape ``(K + 1, M)``; a model that goes non-finite keeps its last
        finite parameters, its history is NaN from then on, ``stopped`` names it, and the others carry on.
    """
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    if params.slots != net.slots:
        raise ValueError(f"the initial parameters do not belong to {net!r}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if metrics not in ("all", "loss"):
        raise ValueError(f"metrics must be 'all' or 'loss', got {metrics!r}")
    full = metrics == "all"
    dtype = params.flat.dtype
    objective = Objective(net, train.X, train.y, weight_decay, dtype, engine)
    minibatch = batch_size is not None and batch_size < train.n_samples
    batches = _Batches(train.n_samples, batch_size or train.n_samples, seed) if minibatch else None
    test_objective = (
        Objective(net, test.X, test.y, dtype=dtype, engine=engine) if full and test is not None and test.n_samples
        else None
    )
    oracle = _Oracle(objective)  # measures the exported iterates (and serves the steps in full batch)
    oracle.asks_at_exported = not minibatch
    step_oracle = oracle
    stacked = params.flat.ndim == 2
    if stacked and (resume is not None or should_stop is not None):
        raise ValueError("interrupting and resuming are for one model, not stacked models")
    history = History.empty((min(iterations + 1, HISTORY_START),) + params.flat.shape[:-1])
    state = optimizer.init(params.flat)
    first = 0
    if resume is not None:
        _check_same_optimizer(resume, optimizer, state)
        history, first = _resumed(resume, history, iterations)
        state = resume.state
        oracle.grad_evals = int(history.grad_evals[first - 1])
        oracle.func_evals = int(history.func_evals[first - 1])
        if batches is not None:
            assert resume.batches is not None, "the interrupted run had no mini-batches"
            batches.restore(resume.batches)
    last_finite = state.x.copy() if stacked else state.x
    alive = np.ones(params.flat.shape[:-1], dtype=bool)
    stopped: str | None = None
    interrupted = False
    done = first - 1
    grad_norm: Any = np.nan
    test_values: Any = None
    start = time.perf_counter()
    for k in range(first, iterations + 1):
        # Divergence shows up as inf/NaN and is caught by the checks below; the floating-point
        # warnings on the way there are expected, not errors.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if k > 0:
                if batches is not None:
                    rows = next(batches)
                    batch = Objective(net, train.X[rows], train.y[rows], weight_decay, dtype, engine)
                    step_oracle = step_oracle.on(batch)
                state = optimizer.step(state, step_oracle)
            oracle.measure(state.x, full)
            if full:
                assert oracle.grad is not None
                g = oracle.grad
                grad_norm = np.sqrt(np.einsum("mp,mp->m", g, g)) if stacked else math.sqrt(np.dot(g, g))
                test_values = test_objective.loss_and_correct(state.x) if test_objective is not None else None
            if stacked:
                finite = np.isfinite(oracle.value) & np.isfinite(grad_norm) if full else np.isfinite(oracle.value)
            else:
                finite = math.isfinite(oracle.value) and (not full or math.isfinite(grad_norm))
        if stacked:
            if k == 0 and not np.all(finite):
                raise NonFiniteStart(f"the initial parameters of models {np.flatnonzero(~finite).tolist()} give a "
                                     "non-finite loss or gradient")
            alive &= finite
            np.copyto(last_finite, state.x, where=alive[:, None])
        elif not finite:
            if k == 0:
                raise NonFiniteStart("the initial parameters give a non-finite loss or gradient")
            what = "loss" if not math.isfinite(float(oracle.value)) else "gradient"
            stopped = (
                f"the training {what} became non-finite at iteration {k} "
                f"(learning rate too large?); kept the parameters of iteration {k - 1}"
            )
            break
        if k == len(history):
            history = history.grown(min(iterations + 1, 2 * k))
        history.train_loss[k] = np.where(alive, oracle.value, np.nan) if stacked else oracle.value
        history.grad_evals[k] = step_oracle.grad_evals
        history.func_evals[k] = step_oracle.func_evals
        if full:
            measured = [(history.train_accuracy, oracle.correct / objective.S), (history.grad_norm, grad_norm)]
            if test_objective is not None and test_values is not None:
                measured.append((history.test_loss, test_values[0]))
                measured.append((history.test_accuracy, test_values[1] / test_objective.S))
            for field, value in measured:
                field[k] = np.where(alive, value, np.nan) if stacked else value
        if not stacked:
            last_finite = state.x
        done = k
        if callback is not None:
            callback(k, history)
        if should_stop is not None and k < iterations and should_stop():
            interrupted = True
            break
    seconds = time.perf_counter() - start + (resume.seconds if resume is not None else 0.0)
    if stopped is not None or interrupted:
        history = history.truncated(done + 1)
    if stacked and not alive.all():
        gone = np.flatnonzero(~alive).tolist()
        stopped = (
            f"{len(gone)} of {alive.size} models went non-finite (learning rate too large?) and kept their last "
            f"finite parameters: models {gone}"
        )
    return FitResult(
        params=Params(np.array(last_finite, copy=True), net.slots),
        history=history,
        optimizer=optimizer,
        iterations=done,
        stopped=stopped,
        seconds=seconds,
        state=state if stopped is None else None,
        interrupted=interrupted,
        batches=batches.state() if batches is not None else None,
        feature_names=tuple(train.feature_names),
        class_names=tuple(train.class_names),
    )


def _check_same_optimizer(resume: FitResult, optimizer: Optimizer, fresh_state: Any) -> None:
    """A run continues with the optimiser it was interrupted with: same state type and, when the interrupted
    result still knows its optimiser, the same hyper-parameters."""
    if resume.state is None:
        return  # _resumed says why this result cannot be resumed
    known = resume.optimizer is not None
    was = repr(resume.optimizer) if known else f"an optimiser whose state is {type(resume.state).__name__}"
    if type(resume.state) is not type(fresh_state) or (known and resume.optimizer != optimizer):
        raise ValueError(f"cannot resume a run interrupted with {was} with another optimiser, {optimizer!r}: "
                         f"resume it with the optimiser it was started with")


def _resumed(resume: FitResult, history: History, iterations: int) -> tuple[History, int]:
    """The new history holding an interrupted run's entries, and the first iteration still to do."""
    if not resume.interrupted or resume.state is None:
        raise ValueError("only an interrupted run (FitResult.interrupted) can be resumed")
    first = len(resume.history)
    if first > iterations:
        raise ValueError(f"the interrupted run already has {first - 1} iterations; asked for {iterations}")
    history = history.grown(max(len(history), first))
    for name in HISTORY_FIELDS:
        getattr(history, name)[:first] = getattr(resume.history, name)
    return history, first
