"""Cells: the one unit of work of every sweep, and the one function that trains it.

A cell is a block of stacked models of one method setting: every learning rate of ``lrs`` on every repetition of
``seeds``, in one ``phase``, with the test rows of one ``split``. Repetition ``s`` starts from ``net.init(s)``;
in a plain sweep (phase ``sweep``) every repetition trains on the same training rows (the split ``split`` of
``prepare``), in a tuned sweep (phases ``tune`` and ``final``) repetition ``s`` also draws its own
train/validation split inside the rows that are not the held-out test rows (:func:`repetition_rows`). A model's
numbers depend only on its setting, learning rate, repetition and split (stacked models do not interact: checked
bit for bit in ``tests/test_cluster.py``), never on the cell holding it, the worker or the order cells run in.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..core.engines import choose_engine
from ..core.objective import Objective, Want
from ..core.params import Params
from ..data.dataset import DataError, Dataset, Standardizer, train_test_split
from ..optim.optimizers import parse_optimizer
from ..training.fit import fit
from ..training.results import HISTORY_FIELDS, History
from .compare import network_for
from .config import CompareConfig
from .results import file_stem
from .statistics import chance_accuracy, chance_loss, run_status

SWEEP = "sweep"  # the phase of a plain sweep's cells; a tuned sweep's are "tune" and "final"
ROW_FIELDS = (
    "method", "setting", "lr", "seed", "phase", "status", "iterations_done", "chance_loss", "chance_accuracy",
    "start_train_loss", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "test_loss",
    "test_accuracy",
)


@dataclass(frozen=True)
class Cell:
    """A block of stacked models: ``setting`` (a spec without ``lr``) of ``method`` at every learning rate of
    ``lrs`` on every repetition of ``seeds``; models in that order, repetition-major."""

    phase: str
    method: str
    setting: str
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    split: int = 0

    @property
    def size(self) -> int:
        """Number of models in the cell."""
        return len(self.lrs) * len(self.seeds)

    def key(self, config_digest: str = "") -> str:
        """The cell's file name in a run folder: readable prefix, digest of its content and of the configuration
        it is trained under (a cell of another configuration never matches)."""
        content = json.dumps([asdict(self), [repr(lr) for lr in self.lrs], config_digest])
        return f"{self.phase}-{file_stem(self.setting)}-{hashlib.sha256(content.encode()).hexdigest()[:16]}"


def cut(phase: str, method: str, setting: str, lrs: Sequence[float], seeds: Sequence[int], split: int,
        cell_size: int) -> list[Cell]:
    """One setting's models as consecutive blocks of repetitions, about ``cell_size`` models each (at least one
    repetition per cell)."""
    if cell_size < 1:
        raise ValueError(f"cell_size must be at least 1, got {cell_size}")
    per_cell = max(1, cell_size // max(1, len(lrs)))
    return [Cell(phase, method, setting, tuple(float(lr) for lr in lrs), tuple(seeds[i : i + per_cell]), split)
            for i in range(0, len(seeds), per_cell)]


@dataclass
class CellResult:
    """What training one cell gives, per model (column or row ``m``, the cell's order): its row of ``ROW_FIELDS``,
    its history (``(K + 1, models)``; the ``test_*`` fields hold the validation part in a tuned sweep) and its
    final parameters; ``seconds`` is the wall time (kept out of every compared file)."""

    cell: Cell
    rows: list[dict[str, Any]]
    history: History
    params: np.ndarray
    seconds: float = 0.0


def engine_for_all(base: CompareConfig, models: int) -> CompareConfig:
    """``base`` with ``engine="auto"`` decided once for all the cells of a run of ``models`` models: decided per
    cell, the engine, and with it the last digits, would follow the cell size."""
    return replace(base, engine=choose_engine(base.engine, models * base.iterations))


def standardized(base: CompareConfig, *parts: Dataset) -> list[Dataset]:
    """``parts`` standardised with the first one's statistics when ``base.standardize``."""
    if not base.standardize:
        return list(parts)
    standardizer = Standardizer.fit(parts[0].X)
    return [standardizer.apply(part) for part in parts]


def row_numbers(data: Dataset) -> Dataset:
    """``data`` with its 0-based row numbers as its one feature: split it, and each part's feature is its rows."""
    return Dataset(np.arange(data.n_samples, dtype=np.float64)[:, None], data.y, ["row"], data.class_names,
                   data.source, data.target)


def held_out_rows(data: Dataset, test_size: float, split: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows a tuned sweep holds out as its test set (drawn once, from ``split``) and the rest."""
    rest, test = train_test_split(row_numbers(data), test_size=test_size, seed=split)
    return rest.X[:, 0].astype(np.int64), test.X[:, 0].astype(np.int64)


def repetition_rows(data: Dataset, validation_size: float, test_size: float, split: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repetition ``seed``'s training, validation and (shared) test rows: the test rows from ``split``, then a
    stratified ``ceil(validation_size · S)`` validation rows drawn from the rest with ``seed``."""
    if not 0.0 < validation_size < 1.0 or validation_size + test_size >= 1.0:
        raise DataError(f"validation size {validation_size} and test size {test_size} leave no training data")
    rest, test = held_out_rows(data, test_size, split)
    n_validation = math.ceil(validation_size * data.n_samples)
    if n_validation >= rest.size:
        raise DataError(f"validation size {validation_size} leaves no training rows")
    # train_test_split takes ceil(fraction · S); half a row below the count makes that exact despite rounding.
    train, validation = train_test_split(row_numbers(data).subset(rest), (n_validation - 0.5) / rest.size, seed)
    return train.X[:, 0].astype(np.int64), validation.X[:, 0].astype(np.int64), test


def problem(data: Dataset, base: CompareConfig, cell: Cell, seed: int,
            validation_size: float | None) -> tuple[Dataset, Dataset, Dataset | None]:
    """The data repetition ``seed`` of ``cell`` trains on, the part its history measures (test in a plain sweep,
    validation in a tuned one) and the held-out test part measured once at the end (None in a plain sweep)."""
    if cell.phase == SWEEP:
        train, test = train_test_split(data, test_size=base.test_size, seed=cell.split)
        return (*standardized(base, train, test), None)  # type: ignore[return-value]
    assert validation_size is not None, "a tuned cell needs the validation size"
    rows = repetition_rows(data, validation_size, base.test_size, cell.split, seed)
    train, validation, test = standardized(base, *(data.subset(r) for r in rows))
    return train, validation, test


def run_cell(cell: Cell, data: Dataset, base: CompareConfig, validation_size: float | None = None) -> CellResult:
    """Train the models of ``cell`` on ``data`` (``base``: network, initialisation, iterations, test size,
    standardisation, weight decay, engine; its ``seed`` is not used). Repetitions that share their training rows
    are trained as one stack. This is the task a Dask worker runs; it reads no file and writes none."""
    start = time.perf_counter()
    blocks = [cell.seeds] if cell.phase == SWEEP else [(seed,) for seed in cell.seeds]
    parts = [_train_block(cell, data, base, validation_size, seeds) for seeds in blocks]
    history = History(*(np.concatenate([getattr(h, f) for _, h, _ in parts], axis=1) for f in HISTORY_FIELDS))
    rows = [row for block, _, _ in parts for row in block]
    return CellResult(cell, rows, history, np.vstack([p for _, _, p in parts]), time.perf_counter() - start)


def _train_block(cell: Cell, data: Dataset, base: CompareConfig, validation_size: float | None,
                 seeds: Sequence[int]) -> tuple[list[dict[str, Any]], History, np.ndarray]:
    train, monitored, test = problem(data, base, cell, seeds[0], validation_size)
    net = network_for(data, base)
    starts = [net.init(seed, mu=base.init_mu, sigma=base.init_sigma, scheme=base.init).flat for seed in seeds]
    initial = Params(np.repeat(np.stack(starts), len(cell.lrs), axis=0), net.slots)
    lrs = np.tile(np.array(cell.lrs, dtype=np.float64), len(seeds))
    fitted = fit(net, initial, train, parse_optimizer(cell.setting, lr=lrs[:, None]), iterations=base.iterations,
                 test=monitored, weight_decay=base.weight_decay, batch_size=base.batch_size,
                 seed=cell.split if cell.phase == SWEEP else seeds[0], engine=base.engine)
    chance = (chance_loss(train.y, train.n_classes), chance_accuracy(train.y, train.n_classes))
    rows = _rows(cell, fitted.history, lrs, np.repeat(seeds, len(cell.lrs)), chance)
    if test is not None:
        measured = Objective(net, test.X, test.y).evaluate(fitted.params.flat, Want.CORRECT)
        assert measured.correct is not None
        for m, row in enumerate(rows):
            row["test_loss"], row["test_accuracy"] = float(measured.loss[m]), float(measured.correct[m]) / len(test)
    return rows, fitted.history, fitted.params.flat


def _rows(cell: Cell, history: History, lrs: np.ndarray, seeds: np.ndarray, chance: tuple[float, float]
          ) -> list[dict[str, Any]]:
    """Per model, the metrics of its last finite iterate (the parameters it ends with) and its status, from the
    training set's chance loss and accuracy ``chance``."""
    finite = np.isfinite(history.train_loss)
    last = np.where(finite.any(axis=0), len(history) - 1 - np.argmax(finite[::-1], axis=0), 0)
    monitored = "test" if cell.phase == SWEEP else "validation"
    rows = []
    for m, (lr, seed) in enumerate(zip(lrs.tolist(), seeds.tolist(), strict=True)):
        k = int(last[m])
        at = {f: float(getattr(history, f)[k, m]) for f in ("train_loss", "train_accuracy", "test_loss",
                                                            "test_accuracy")}
        row: dict[str, Any] = {
            "method": cell.method, "setting": f"{cell.setting}:lr={lr!r}", "lr": lr, "seed": seed,
            "phase": cell.phase, "iterations_done": k, "chance_loss": chance[0], "chance_accuracy": chance[1],
            "start_train_loss": float(history.train_loss[0, m]),
            "status": run_status(at["train_loss"], start_loss=float(history.train_loss[0, m]),
                                 train_accuracy=at["train_accuracy"], chance=chance[0], chance_acc=chance[1],
                                 diverged=k < len(history) - 1),
            "train_loss": at["train_loss"], "train_accuracy": at["train_accuracy"],
            "validation_loss": math.nan, "validation_accuracy": math.nan,
            f"{monitored}_loss": at["test_loss"], f"{monitored}_accuracy": at["test_accuracy"],
        }
        rows.append({name: row.get(name, math.nan) for name in ROW_FIELDS})
    return rows


def join(results: Sequence[CellResult]) -> CellResult:
    """Cells of one setting put back together, in the order given, as one result."""
    cell = replace(results[0].cell, seeds=tuple(s for r in results for s in r.cell.seeds))
    history = History(*(np.concatenate([getattr(r.history, f) for r in results], axis=1) for f in HISTORY_FIELDS))
    return CellResult(cell, [row for r in results for row in r.rows], history,
                      np.vstack([r.params for r in results]), sum(r.seconds for r in results))
