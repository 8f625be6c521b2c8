"""What training returns: the per-iteration :class:`History` and the :class:`FitResult` around it.

Plain containers of arrays and numbers, kept apart from the loop that fills them so that the modules reading
and writing them (reports, run folders, checkpoints) need none of the training machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.params import Params

HISTORY_FIELDS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "grad_norm", "grad_evals", "func_evals")


@dataclass
class History:
    """Per-iteration measurements, index k = 0 … K (k = 0 is the initial point).

    Every field has shape ``(K + 1,)`` for one model and ``(K + 1, M)`` for M models trained together.

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


X_AXES = {"iterations": "iteration k", "evaluations": "oracle calls (gradient + function evaluations)",
          "seconds": "seconds of the method's own work"}
"""What curves can be drawn against (``--x-axis``), with each axis's label."""


@dataclass
class FitResult:
    """What :func:`fit` returns.

    ``params`` is the exported iterate after the last finite step (a new array of the shape given to :func:`fit`,
    ``(P,)`` or ``(M, P)``; the input is untouched),
    ``history`` its measurements, ``stopped`` None after a normal run or the reason training stopped early,
    ``seconds`` the wall time of the loop; ``step_seconds`` ``(K + 1,)`` the seconds of each iteration's step, the
    method's own work (0 at k = 0, NaN for iterations before a resume from a checkpoint), and ``record_seconds``
    those of measuring the metrics at the exported iterates, apart (see
    :class:`~descentlab.training.recorder.Clock`). ``state`` is the optimiser's state after the last iteration and
    ``batches`` the mini-batch sampler's state: with ``interrupted`` (``should_stop`` asked to stop before the
    last iteration) they are what :func:`fit` needs to ``resume`` exactly where it stopped. The state is the
    optimiser's own, on the ``(M, P)`` stack :func:`fit` trains (one model is M = 1).
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
    step_seconds: np.ndarray | None = None
    record_seconds: float = 0.0

    def along(self, x_axis: str) -> np.ndarray:
        """The x values of the history's entries for an ``X_AXES`` axis: iterations, oracle calls, or the
        cumulative seconds of the method's own work (a resumed run's unknown seconds count as 0)."""
        if x_axis == "seconds":
            steps = self.step_seconds if self.step_seconds is not None else np.zeros(len(self.history))
            return np.cumsum(np.nan_to_num(steps))
        return self.history.iterations if x_axis == "iterations" else self.history.evaluations

    @property
    def method_seconds(self) -> float:
        """The seconds of the method's own work: its steps, including the evaluations they reused from measuring."""
        return float(np.nansum(self.step_seconds)) if self.step_seconds is not None else self.seconds

    @property
    def final(self) -> dict[str, float]:
        """The last history entry of every field (the metrics of ``params``)."""
        return {name: float(values[-1]) for name, values in self.history.as_dict().items()}
