"""What every engine computes, and how it hands it back.

An engine evaluates the mean cross-entropy (L1) of a stack of M models on one batch and, when asked, its gradient
(B1–B5) and the number of correctly classified samples. The weight-decay penalty (L2, B6) is added by
:class:`descentlab.core.objective.Objective`, the same for every engine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, Protocol

import numpy as np

from ..activations import Activation
from ..params import Slot


class Want(enum.Flag):
    """What an evaluation computes besides the loss, which it always computes."""

    LOSS = 0
    GRADIENT = enum.auto()
    CORRECT = enum.auto()


# (gradient?, correct counts?) for each Want: an engine's dict lookup costs less than two flag tests, every call.
WANTS = {want: (Want.GRADIENT in want, Want.CORRECT in want)
         for want in (Want.LOSS, Want.GRADIENT, Want.CORRECT, Want.GRADIENT | Want.CORRECT)}


class Evaluation(NamedTuple):
    """The result of one evaluation of M stacked models (a named tuple: made on every call, it must be cheap to
    make, a third of a frozen dataclass's cost).

    Attributes
    ----------
    loss : (M,) array
        The loss of each model (L1, plus L2 when penalised).
    gradient : (M, P) array or None
        ∂L/∂x of each model when asked for. It may live in a buffer that the next evaluation by the same
        objective overwrites: copy it to keep it.
    correct : (M,) int array or None
        The number of correctly classified samples of each model when asked for.
    """

    loss: np.ndarray
    gradient: np.ndarray | None = None
    correct: np.ndarray | None = None


@dataclass(frozen=True)
class Batch:
    """The data of one objective in the kernels' layout.

    Attributes
    ----------
    A0 : (d, S) array
        The samples as columns (a transposed view of the user's rows, not a copy).
    Y : (k, S) array
        One-hot labels: column s is e_{y_s}.
    y : (S,) int64 array
        The class index of each sample.
    """

    A0: np.ndarray
    Y: np.ndarray
    y: np.ndarray

    @property
    def S(self) -> int:
        """The number of samples."""
        return int(self.y.shape[0])

    @cached_property
    def Y_flat(self) -> np.ndarray:
        """``Y`` as one row (a view: ``Y`` is contiguous)."""
        return self.Y.reshape(-1)

    def block(self, part: slice) -> Batch:
        """The samples ``part`` as a batch of their own."""
        return Batch(self.A0[:, part], np.ascontiguousarray(self.Y[:, part]), self.y[part])


class Network(Protocol):
    """What an engine reads of a network (:class:`descentlab.core.network.MLP` is one)."""

    sizes: tuple[int, ...]
    activation: Activation
    slots: tuple[Slot, ...]

    @property
    def n_layers(self) -> int: ...

    @property
    def n_params(self) -> int: ...

    def layers(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Views ``(W_l, b_l)`` into the stack ``x`` (M, P)."""
        ...


class Engine(Protocol):
    """One way of running the kernel: bound to a network and a batch when made, then called per point."""

    def evaluate(self, x: np.ndarray, want: Want) -> Evaluation:
        """Cross-entropy (L1) of the models ``x`` (M, P) and, as ``want`` asks, its gradient (B1–B5) and the
        correct counts. The gradient may live in a buffer the next call overwrites."""
        ...


class EngineFactory(Protocol):
    """An engine class: ``factory(net, batch)`` gives an engine bound to them."""

    def __call__(self, net: Network, batch: Batch) -> Engine: ...
