"""Cells: the unit of work of a sweep, and the function that trains one.

A cell is a fixed block of models of one method (one optimiser spec, i.e. one setting of its hyper-parameters)
on one data split, stacked into one batch as :func:`descentlab.fit` trains them: model ``m`` has learning rate
``lrs[m]`` and starts from ``net.init(seeds[m])``. A sweep is cut into cells by :func:`layout`, always the same
way for the same grid and cell size, whether the cells then run in this process or on a Dask cluster; each model's
result depends only on its method, setting, learning rate, seed and split (stacked models do not interact:
checked bit for bit in ``tests/test_cluster.py``), never on the worker or the order in which cells run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..core.engines import choose_engine
from ..core.network import MLP
from ..core.params import Params
from ..data.dataset import Dataset
from ..optim.optimizers import parse_optimizer
from ..training.fit import fit
from ..training.results import HISTORY_FIELDS, History
from .compare import prepare
from .config import DEFAULT_CELL_SIZE, CompareConfig
from .results import file_stem


@dataclass(frozen=True)
class Cell:
    """A block of stacked models of one method on one split.

    Attributes
    ----------
    phase : the part of the sweep it belongs to (``"sweep"``; a tuned sweep has ``"tune"`` and ``"final"``)
    method : the optimiser spec, e.g. ``"momentum:mu=0.9"`` (see :func:`descentlab.parse_optimizer`)
    split : seed of the train/test split the models train on
    lrs, seeds : per model, its learning rate and the seed of its initial point (same length)
    """

    phase: str
    method: str
    split: int
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.seeds or len(self.lrs) != len(self.seeds):
            raise ValueError(f"a cell needs one learning rate per seed, got {len(self.lrs)} and {len(self.seeds)}")

    @property
    def size(self) -> int:
        """Number of models in the cell."""
        return len(self.seeds)

    @property
    def key(self) -> str:
        """A name for the cell, the same in every run with this content: readable prefix, content digest."""
        content = json.dumps([self.phase, self.method, self.split, [repr(lr) for lr in self.lrs], list(self.seeds)])
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        return f"{self.phase}-{file_stem(self.method)}-{digest}"

    def to_json(self) -> dict[str, object]:
        return {"phase": self.phase, "method": self.method, "split": self.split, "lrs": list(self.lrs),
                "seeds": list(self.seeds)}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> Cell:
        return cls(str(obj["phase"]), str(obj["method"]), int(obj["split"]),  # type: ignore[call-overload]
                   tuple(float(v) for v in obj["lrs"]),  # type: ignore[attr-defined]
                   tuple(int(v) for v in obj["seeds"]))  # type: ignore[attr-defined]


def layout(
    method: str, models: Sequence[tuple[float, int]], cell_size: int = DEFAULT_CELL_SIZE, phase: str = "sweep",
    split: int = 0,
) -> list[Cell]:
    """Cut the ``(lr, seed)`` models of one method into consecutive cells of ``cell_size`` (the last may be
    smaller), in the order given."""
    if cell_size < 1:
        raise ValueError(f"cell_size must be at least 1, got {cell_size}")
    cells = []
    for start in range(0, len(models), cell_size):
        block = models[start : start + cell_size]
        cells.append(Cell(phase, method, split, tuple(float(lr) for lr, _ in block), tuple(int(s) for _, s in block)))
    return cells


@dataclass
class CellResult:
    """What training one cell gives: per model (column m) its history, its final parameters (row m) and the
    iterations it ran before any divergence; ``seconds`` is the wall time (kept out of every compared file)."""

    cell: Cell
    history: History
    params: np.ndarray
    seconds: float = 0.0

    @property
    def iterations_done(self) -> np.ndarray:
        """Per model, the last iteration whose training loss is finite."""
        finite = np.isfinite(self.history.train_loss)
        last = len(self.history) - 1 - np.argmax(finite[::-1], axis=0)
        return np.where(finite.any(axis=0), last, 0)


def engine_for_all(base: CompareConfig, models: int) -> CompareConfig:
    """``base`` with ``engine="auto"`` decided once for all the cells of a run of ``models`` models: decided per
    cell, the engine, and with it the last digits, would follow the cell size."""
    return replace(base, engine=choose_engine(base.engine, models * base.iterations))


def cell_problem(data: Dataset, base: CompareConfig, split: int) -> tuple[Dataset, Dataset, MLP]:
    """The training data, test data and network of a cell on split ``split`` (standardised when ``base`` says)."""
    train, test, _, net, _ = prepare(data, replace(base, seed=split))
    return train, test, net


def run_cell(cell: Cell, data: Dataset, base: CompareConfig) -> CellResult:
    """Train the models of ``cell`` on ``data`` as :func:`descentlab.fit` trains stacked models (``base``
    supplies the network, split fraction, initialisation, iterations and engine; its ``seed`` is ignored, the
    cell's ``split`` is used). This is the task a Dask worker runs; it reads no file and writes none."""
    start = time.perf_counter()
    train, test, net = cell_problem(data, base, cell.split)
    initial = Params(
        np.stack([net.init(seed, mu=base.init_mu, sigma=base.init_sigma, scheme=base.init).flat
                  for seed in cell.seeds]),
        net.slots,
    )
    optimizer = parse_optimizer(cell.method, lr=np.array(cell.lrs)[:, None])
    fitted = fit(net, initial, train, optimizer, iterations=base.iterations, test=test,
                 weight_decay=base.weight_decay, batch_size=base.batch_size, seed=cell.split, engine=base.engine)
    return CellResult(cell, fitted.history, fitted.params.flat, time.perf_counter() - start)


def join_histories(results: Sequence[CellResult]) -> History:
    """The histories of several cells side by side, models in the order of ``results``."""
    return History(*(np.concatenate([getattr(r.history, f) for r in results], axis=1) for f in HISTORY_FIELDS))
