"""Which training rows each step sees: the whole set, or seeded mini-batches whose state can be saved."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.network import MLP
from ..core.objective import Objective
from ..data.dataset import Dataset
from .oracle import CountingOracle


class Batches:
    """Row indices of consecutive mini-batches of ``B`` out of ``S`` rows, a fresh permutation from
    ``numpy.random.default_rng(seed)`` every epoch (a last, smaller batch ends an epoch). Its state can be
    saved and restored, so that an interrupted run draws the same batches when it resumes."""

    def __init__(self, S: int, B: int, seed: int) -> None:
        self.S, self.B = S, B
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(S)
        self.position = S  # the first call draws the first permutation

    def __iter__(self) -> Batches:
        return self

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


class FullBatch:
    """Every step sees the whole training set: the steps share the measuring oracle (and its cache)."""

    def __init__(self, oracle: CountingOracle) -> None:
        self.oracle = oracle

    def next_oracle(self) -> CountingOracle:
        return self.oracle

    def state(self) -> dict[str, Any] | None:
        return None

    def restore(self, state: dict[str, Any] | None) -> None:
        """Nothing to restore: a full batch has no position."""


class MiniBatches:
    """Every step sees the next mini-batch of :class:`Batches`, through one counting oracle that moves from
    batch to batch (the loop still measures on the whole training set, with its own oracle)."""

    def __init__(self, net: MLP, train: Dataset, batch_size: int, seed: int, whole: Objective,
                 **objective: Any) -> None:
        self.net, self.train, self.objective = net, train, objective
        self.batches = Batches(train.n_samples, batch_size, seed)
        self.oracle = CountingOracle(whole)  # retargeted to the first batch before the first step

    def next_oracle(self) -> CountingOracle:
        rows = next(self.batches)
        self.oracle.retarget(Objective(self.net, self.train.X[rows], self.train.y[rows], **self.objective))
        return self.oracle

    def state(self) -> dict[str, Any] | None:
        return self.batches.state()

    def restore(self, state: dict[str, Any] | None) -> None:
        assert state is not None, "the interrupted run had no mini-batches"
        self.batches.restore(state)


def sampler(net: MLP, train: Dataset, oracle: CountingOracle, batch_size: int | None, seed: int,
            **objective: Any) -> FullBatch | MiniBatches:
    """Mini-batches of ``batch_size`` rows (None: the full batch, whose steps ask ``oracle``)."""
    if batch_size is not None:
        return MiniBatches(net, train, batch_size, seed, oracle.objective, **objective)
    return FullBatch(oracle)
