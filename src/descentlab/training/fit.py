"""The training loop: run an optimiser for K iterations and record what it would export at every step.

The loop only sequences its parts, each in its own module: the batch sampler (:mod:`.batches`), the counting
oracle (:mod:`.oracle`), the recorder (:mod:`.recorder`), the divergence guard (:mod:`.guard`), the interrupt
(:mod:`.interrupt`); resuming restores them (:mod:`.resume`). Inside, parameters are always a stack ``(M, P)``;
one model is M = 1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import numpy as np

from ..core.engines import DEFAULT_ENGINE, choose_engine
from ..core.engines.fused import CHUNK_THREADS, models_per_chunk, samples_per_block
from ..core.network import MLP
from ..core.objective import Objective
from ..core.params import Params
from ..data.dataset import Dataset
from ..optim.base import Optimizer
from .batches import FullBatch, MiniBatches, sampler
from .guard import DivergenceGuard
from .interrupt import after_each
from .oracle import CountingOracle
from .recorder import Clock, Recorder
from .results import FitResult, History
from .resume import restore


def fit(
    net: MLP, params: Params, train: Dataset, optimizer: Optimizer, iterations: int = 350,
    test: Dataset | None = None, callback: Callable[[int, History], None] | None = None,
    weight_decay: float = 0.0, batch_size: int | None = None, seed: int = 0, metrics: str = "all",
    engine: str = DEFAULT_ENGINE, should_stop: Callable[[], bool] | None = None, resume: FitResult | None = None,
) -> FitResult:
    """Train ``net`` from ``params`` with K steps of ``optimizer``, measuring every exported iterate.

    Parameters
    ----------
    net : MLP
    params : Params
        Initial point, never modified: one model ``(P,)``, or M models ``(M, P)`` trained at once (float32
        parameters train in float32).
    train, test : Dataset
        Training data (the loss minimised, mean over its S samples) and optional held-out data.
    optimizer : an optimiser of :mod:`descentlab.optim`
    iterations : int, the number of steps K ≥ 0
    callback : callable(k, history), optional, called after iteration k has been recorded (progress displays)
    weight_decay : float, λ of the L2 penalty ``(λ/2) Σ ‖W_l‖²`` on the weights (not the biases), added to the loss
    batch_size, seed : int, optional
        Mini-batches of B rows, drawn without replacement from a permutation that ``default_rng(seed)`` redraws
        each epoch. Default: the full batch. The history is measured on the whole training set either way.
    metrics : "all" or "loss"
        ``"loss"`` records the training loss and the evaluation counts only (the other fields stay NaN).
    engine : "auto" (default: compiled when numba is there and the run pays for it), "numpy", "compiled", "reference"
    should_stop : callable() -> bool, optional
        Asked after each recorded iteration k < K; True ends the run early, ``interrupted``.
    resume : FitResult, optional, an interrupted result of the same call: continue it, bit for bit

    Returns
    -------
    FitResult
        ``params`` and ``history`` in the shape given: ``(K + 1,)`` fields for ``(P,)``, ``(K + 1, M)`` for
        ``(M, P)``. A non-finite loss or gradient ends a one-model run (the history holds the iterations done,
        +1 for the start, ``params`` the last finite iterate, ``stopped`` says why); among M models the one
        that goes non-finite keeps its last finite parameters and NaN history, and the others carry on.
    """
    run = _Run(net, params, train, test, iterations, weight_decay, batch_size, seed, metrics, engine)
    state, first = optimizer.init(run.x0), 0
    if resume is not None:  # the parts take up the interrupted run's history, counts and batch position
        state, first = restore(resume, optimizer, state, run.recorder, run.sampler, run.guard)
    after = after_each(callback, should_stop, iterations)  # before the loop's error state is set
    oracle, recorder, guard, sampler = run.oracle, run.recorder, run.guard, run.sampler
    clock = Clock(first, *((resume.step_seconds, resume.record_seconds) if resume is not None else ()))
    done, interrupted, start, measure = first - 1, False, time.perf_counter(), run.measuring(clock.measure)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), run.stepping_threads():  # the guard judges
        for k in range(first, iterations + 1):
            state = clock.step(optimizer, state, sampler) if k > 0 else state
            measure(recorder, k, oracle, state.x)
            if not guard.check(k, state.x, recorder.loss, recorder.grad_norm):
                break
            recorder.write(k, sampler.oracle, guard.dead)
            done = k
            if after(k, recorder.view):
                interrupted = True
                break
    seconds = time.perf_counter() - start + (resume.seconds if resume is not None else 0.0)
    return run.result(optimizer, state, done, interrupted, seconds, clock)


SMALL_WORK = 1 << 27  # rows × parameters × models below which an evaluation's products are small for BLAS


def blas_threads(net: MLP, rows: int, models: int, itemsize: int) -> AbstractContextManager[Any]:
    """One BLAS thread while training, unless one evaluation is a single product too large for threads to cost
    more than they bring (``rows × parameters × models`` from :data:`SMALL_WORK`). An evaluation the NumPy engine
    splits (a stack in chunks of models, a model in blocks of samples: ``core/engines/fused.py``) gives BLAS's
    threads to its chunks instead, each chunk a thread's, taken as threads come free, whose numbers do not depend
    on which thread or how many (a Dask worker's BLAS has one). So such a result, and a small problem's, is
    bit-identical in process, on workers, resumed or not, whatever the core count; and a busy core costs a run
    its share and no more, where BLAS's threads would wait for it at every product. ``rows`` are those of a
    step's evaluation: a run on mini-batches that are each one large product keeps BLAS's threads for them, and
    its numbers, like every large product's, then depend on BLAS's thread count."""
    split = models > models_per_chunk(net.sizes, rows, itemsize) or samples_per_block(net.sizes, rows, itemsize) < rows
    if not split and rows * net.n_params * models >= SMALL_WORK:
        return nullcontext()
    return _chunks_take_blas_threads()


@cache  # looking for the loaded BLAS libraries takes about a millisecond; NumPy's is loaded with NumPy
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


class _OneBlasThread:
    """BLAS held to one thread while any fit of this process needs it. BLAS's thread count belongs to the process,
    not to a thread: with a limit per fit, a fit in a second thread would take the first one's limit for BLAS's
    count and restore that, and the first fit to end would give BLAS its threads back while the other still
    trained. So the first fit in sets the limit and the last one out restores it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fits = 0
        self._limit: Any = None
        self.threads = 1  # BLAS's own count, from before the first fit in

    def enter(self) -> int:
        """Hold BLAS to one thread; returns the threads it had."""
        with self._lock:
            if self._fits == 0:
                blas = _blas()
                threads = max((library["num_threads"] for library in blas.info()), default=1)
                with _blas_control():
                    self._limit = blas.limit(limits=1)
                self.threads = threads
            self._fits += 1
            return self.threads

    def leave(self) -> None:
        with self._lock:
            self._fits -= 1
            if self._fits == 0:
                with _blas_control():
                    self._limit.restore_original_limits()


@contextmanager
def _blas_control() -> Iterator[None]:
    """threadpoolctl lets one thread at a time set OpenBLAS's process-wide count, the first that does, until it
    gives control back: this thread takes it (the fits' own changes are serialised by :class:`_OneBlasThread`'s
    lock) and gives it back, so that other threads' limits, scikit-learn's say, still work."""
    from threadpoolctl import OpenBLASController

    OpenBLASController.clear_controlling_thread(force=True)
    try:
        yield
    finally:
        OpenBLASController.clear_controlling_thread(force=True)


_ONE_BLAS_THREAD = _OneBlasThread()


@contextmanager
def _chunks_take_blas_threads() -> Iterator[None]:
    threads = _ONE_BLAS_THREAD.enter()
    try:
        token = CHUNK_THREADS.set(threads)
        try:
            yield
        finally:
            CHUNK_THREADS.reset(token)
    finally:
        _ONE_BLAS_THREAD.leave()


@dataclass
class _Run:
    """The parts of one call of :func:`fit`, built from its arguments."""

    net: MLP
    params: Params
    train: Dataset
    test: Dataset | None
    iterations: int
    weight_decay: float
    batch_size: int | None
    seed: int
    metrics: str
    engine: str

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if self.params.slots != self.net.slots:
            raise ValueError(f"the initial parameters do not belong to {self.net!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        self.one_model = self.params.flat.ndim == 1
        self.x0 = x0 = self.params.flat[None, :] if self.one_model else self.params.flat  # always a stack inside
        engine = choose_engine(self.engine, self.iterations * len(x0))  # "auto" resolved for this run
        settings: dict[str, Any] = {"dtype": x0.dtype, "engine": engine}
        objective = Objective(self.net, self.train.X, self.train.y, self.weight_decay, **settings)
        test = self.test
        scored = self.metrics == "all" and test is not None and test.n_samples > 0
        test_objective = Objective(self.net, test.X, test.y, **settings) if test is not None and scored else None
        self.recorder = Recorder(objective.S, test_objective, self.metrics, self.iterations, len(x0), self.one_model)
        minibatch = self.batch_size is not None and self.batch_size < self.train.n_samples
        self.minibatch_rows = self.batch_size if minibatch else None
        # BLAS's threads chosen for the rows the steps see (the whole set's: see measuring)
        self.stepping_threads = partial(blas_threads, self.net, self.minibatch_rows or self.train.n_samples, len(x0),
                                        x0.dtype.itemsize)
        # measures the exported iterates, and serves the steps when they see the full batch
        self.oracle = CountingOracle(objective, serves_steps=not minibatch)
        self.sampler: FullBatch | MiniBatches = sampler(
            self.net, self.train, self.oracle, self.batch_size if minibatch else None, self.seed,
            weight_decay=self.weight_decay, **settings
        )
        self.guard = DivergenceGuard(x0, self.one_model)

    def measuring(self, measure: Callable[..., None]) -> Callable[..., None]:
        """``measure`` (of the whole training set) as the loop calls it: in the steps' choice of BLAS threads, or in
        the whole set's own when the steps see mini-batches."""
        if self.minibatch_rows is None:
            return measure
        threads = partial(blas_threads, self.net, self.train.n_samples, len(self.x0), self.x0.dtype.itemsize)

        def measured(*args: Any) -> None:
            with threads():
                measure(*args)

        return measured

    def result(self, optimizer: Optimizer, state: Any, done: int, interrupted: bool, seconds: float,
               clock: Clock) -> FitResult:
        last = self.guard.last_finite
        return FitResult(
            params=Params(np.array(last[0] if self.one_model else last, copy=True), self.net.slots),
            history=self.recorder.recorded(done), optimizer=optimizer, iterations=done, stopped=self.guard.stopped,
            seconds=seconds, state=state if self.guard.ended is None else None, interrupted=interrupted,
            batches=self.sampler.state(), feature_names=tuple(self.train.feature_names),
            class_names=tuple(self.train.class_names), step_seconds=clock.step_seconds(done),
            record_seconds=clock.record_seconds,
        )
