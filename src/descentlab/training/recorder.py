"""What the training loop records: the metrics of every exported iterate, in a History that grows as it runs."""

from __future__ import annotations

import time
from array import array
from typing import Any

import numpy as np

from ..core.objective import Objective, Want
from .oracle import CountingOracle
from .results import HISTORY_FIELDS, History

# The history starts with room for this many entries and doubles when full (never beyond K + 1): memory follows
# the iterations actually run, so --iterations 1000000000 does not ask for 56 GB up front.
HISTORY_START = 1024
METRICS = ("all", "loss")


class Recorder:
    """Measures the exported iterate ``state.x`` of every iteration and writes it into a :class:`History`.

    With ``metrics="all"`` every field is measured: the training loss, accuracy and gradient norm
    ``‖∇L‖₂`` (one pass through the measuring oracle) and, when there is a test objective, the test loss and
    accuracy. With ``metrics="loss"`` only the training loss and the evaluation counts are; the other fields
    stay NaN. The history is kept as ``(K + 1, M)`` arrays; :attr:`view` shows it in the caller's shape,
    ``(K + 1,)`` fields for one model given as a ``(P,)`` vector.

    Parameters
    ----------
    train_samples : S, the number of training rows (accuracy is correct / S)
    test : the test objective, or None
    metrics : "all" or "loss"
    iterations : K
    models : M
    one_model : whether the caller gave one ``(P,)`` vector (and wants ``(K + 1,)`` fields back)
    """

    def __init__(self, train_samples: int, test: Objective | None, metrics: str, iterations: int, models: int,
                 one_model: bool) -> None:
        if metrics not in METRICS:
            raise ValueError(f"metrics must be 'all' or 'loss', got {metrics!r}")
        self.full = metrics == "all"
        self.test = test if self.full else None
        self.train_samples, self.iterations, self.one_model = train_samples, iterations, one_model
        self.history = History.empty((min(iterations + 1, HISTORY_START), models))
        self.view = self._shown()
        self.loss: Any = None
        self.grad_norm: Any = None

    def _shown(self) -> History:
        if not self.one_model:
            return self.history
        return History(*(getattr(self.history, name).reshape(-1) for name in HISTORY_FIELDS))  # views, not copies

    def measure(self, k: int, oracle: CountingOracle, x: np.ndarray) -> None:
        """Entry k's metrics at ``x``, written straight into the history (with no copies kept; an entry that the
        divergence guard refuses is cut off, never shown). The oracle caches what the next step reuses."""
        if k == len(self.history):
            self.history = self.history.grown(min(self.iterations + 1, 2 * k))
            self.view = self._shown()
        history = self.history
        oracle.measure(x, self.full)
        self.loss = history.train_loss[k] = oracle.value
        if self.full:
            g, correct = oracle.grad, oracle.correct
            assert g is not None and correct is not None
            # vecdot is BLAS's dot per model: the same sums as the single-model history has always been made of
            self.grad_norm = norm = np.vecdot(g, g, out=history.grad_norm[k])
            np.sqrt(norm, out=norm)
            np.divide(correct, self.train_samples, out=history.train_accuracy[k])
            if self.test is not None:
                tested = self.test.evaluate(x, Want.CORRECT)
                assert tested.correct is not None
                history.test_loss[k] = tested.loss
                np.divide(tested.correct, self.test.S, out=history.test_accuracy[k])

    def write(self, k: int, counts: CountingOracle, dead: np.ndarray | None) -> None:
        """Complete entry k: the evaluation counts of ``counts``, and NaN metrics for the models marked ``dead``
        (None: none is)."""
        history = self.history
        history.grad_evals[k] = counts.grad_evals
        history.func_evals[k] = counts.func_evals
        if dead is not None:
            for name in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "grad_norm"):
                getattr(history, name)[k, dead] = np.nan

    def restore(self, history: History) -> int:
        """Take over an interrupted run's entries; returns how many there are (the next k to do)."""
        done = len(history)
        if done > self.iterations:
            raise ValueError(f"the interrupted run already has {done - 1} iterations; asked for {self.iterations}")
        self.history = self.history.grown(max(len(self.history), done))
        for name in HISTORY_FIELDS:
            mine = getattr(self.history, name)
            mine[:done] = np.reshape(getattr(history, name), (done,) + mine.shape[1:])
        self.view = self._shown()
        return done

    def recorded(self, done: int) -> History:
        """The history of entries 0 … ``done``, in the caller's shape."""
        return self.view if len(self.view) == done + 1 else self.view.truncated(done + 1)


class Clock:
    """The seconds of each iteration's step, the method's own work, and apart those of measuring the metrics.

    A step's seconds include the evaluations it reused from measuring the previous iterate (GD's gradient at
    x_k is computed while measuring x_k, then reused by the step: its work, done early); the rest of measuring
    (NAG's gradient at p_k, the accuracies, the test loss) is the recording's. The loop steps through
    :meth:`step` and measures through :meth:`measure`.

    Parameters
    ----------
    first : the first iteration to run (after a resume, the entries before it come from ``earlier``)
    earlier : the interrupted run's step seconds, None when unknown (a resume from a checkpoint file: NaN)
    record_seconds : the interrupted run's recording seconds
    """

    def __init__(self, first: int, earlier: np.ndarray | None = None, record_seconds: float = 0.0) -> None:
        known = earlier is not None and len(earlier) >= first
        self.seconds = array("d", earlier[:first] if known else [np.nan] * first)  # type: ignore[index]
        self.record_seconds = record_seconds
        self._started = self._stepped = 0.0

    def step(self, optimizer: Any, state: Any, sampler: Any) -> Any:
        """One step of ``optimizer`` on the sampler's next oracle, timed."""
        self._started = time.perf_counter()
        state = optimizer.step(state, sampler.next_oracle())
        self._stepped = time.perf_counter()
        return state

    def measure(self, recorder: Recorder, k: int, oracle: CountingOracle, x: np.ndarray) -> None:
        """``recorder.measure(k, oracle, x)``, timed apart from the step, less what a step reuses of it."""
        started = time.perf_counter()
        recorder.measure(k, oracle, x)
        reused = oracle.take_reused()
        step = self._stepped - self._started if self.seconds else 0.0  # entry 0 is the start: no step
        self.seconds.append(step + reused)
        self.record_seconds += time.perf_counter() - started - reused

    def step_seconds(self, done: int) -> np.ndarray:
        """The seconds of iterations 0 … ``done``."""
        return np.array(self.seconds[: done + 1], dtype=np.float64)
