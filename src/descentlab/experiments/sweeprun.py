"""Running cells, for every kind of sweep: the one path from cells to results, and the plain sweep made of it.

:class:`CellRunner` decides ``engine="auto"`` once for the whole sweep, writes (or checks) the run folder's
manifest, and then, for any list of cells: reads back those the folder holds, sends the others to an executor
(this process, or a Dask client), writes each as it finishes and returns all results in the order given. A plain
sweep is one call of it (:func:`run_sweep`); a tuned sweep is two (phases ``tune`` and ``final``, see
:mod:`descentlab.experiments.tuning`). ``--resume`` is the same call on the configuration the manifest stores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.params import Params
from ..data.dataset import Dataset, data_digest, load_iris
from ..optim.optimizers import parse_optimizer
from ..training.results import HISTORY_FIELDS, FitResult, History
from .cells import SWEEP, Cell, CellResult, cut, engine_for_all, join, problem
from .cluster import DaskExecutor, InProcess
from .compare import network_for
from .config import DEFAULT_CELL_SIZE, SweepConfig, TuneConfig
from .results import Sweep
from .runfolder import RunFolder, RunFolderError, config_digest

OnCell = Callable[[CellResult, bool], None]  # (result, True when it was read from the run folder)


class CellRunner:
    """Runs the cells of one sweep (module docstring). ``config.base.engine`` is resolved for ``models`` models
    (all the sweep trains) before anything is written; ``self.config`` is the configuration as run."""

    def __init__(self, data: Dataset, config: SweepConfig | TuneConfig, models: int, client: Any = None,
                 out: str | Path | None = None, cell_size: int = DEFAULT_CELL_SIZE,
                 on_cell: OnCell | None = None) -> None:
        self.data, self.cell_size, self.on_cell = data, cell_size, on_cell
        self.config = dataclasses.replace(config, base=engine_for_all(config.base, models))
        self.digest = config_digest(self.config)
        self.validation_size = getattr(self.config, "validation_size", None)
        self.executor = DaskExecutor(client) if client is not None else InProcess()
        self.folder = RunFolder(out) if out is not None else None
        if self.folder is not None:
            self.folder.start(self.config, data, cell_size)

    def __call__(self, cells: Sequence[Cell]) -> list[CellResult]:
        done: dict[Cell, CellResult] = {}
        for cell in cells if self.folder is not None else ():
            saved = self.folder.load(cell, self.digest)  # type: ignore[union-attr]
            if saved is not None:
                self._finished(saved, done, resumed=True)
        todo = [cell for cell in cells if cell not in done]
        for result in self.executor.map(todo, self.data, self.config.base, self.validation_size):
            if self.folder is not None:
                self.folder.save(result, self.digest)
            self._finished(result, done, resumed=False)
        return [done[cell] for cell in cells]

    def _finished(self, result: CellResult, done: dict[Cell, CellResult], resumed: bool) -> None:
        done[result.cell] = result
        if self.on_cell is not None:
            self.on_cell(result, resumed)


def sweep_layout(config: SweepConfig, cell_size: int = DEFAULT_CELL_SIZE) -> list[Cell]:
    """The cells of a plain sweep: per optimiser, all its learning rates on blocks of seeds."""
    return [cell for spec in config.optimizers
            for cell in cut(SWEEP, spec, spec, config.lrs, range(config.seeds), config.base.seed, cell_size)]


def _lr_major(result: CellResult, lrs: int) -> CellResult:
    """A joined result's models reordered from seed-major (cells) to learning-rate-major (:class:`Sweep`)."""
    seeds = len(result.rows) // lrs
    order = [s * lrs + j for j in range(lrs) for s in range(seeds)]
    history = History(*(getattr(result.history, f)[:, order] for f in HISTORY_FIELDS))
    return dataclasses.replace(result, rows=[result.rows[m] for m in order], history=history,
                               params=result.params[order])


def assemble(config: SweepConfig, data: Dataset, results: Sequence[CellResult]) -> Sweep:
    """The :class:`Sweep` of finished cells (those of :func:`sweep_layout`)."""
    base = config.base
    train, test, _ = problem(data, base, Cell(SWEEP, "", "", (), (), base.seed), 0, None)
    net = network_for(data, base)
    grid = [(float(lr), seed) for lr in config.lrs for seed in range(config.seeds)]
    fits: dict[str, FitResult] = {}
    rows: list[dict[str, Any]] = []
    for spec in config.optimizers:
        mine = _lr_major(join([r for r in results if r.cell.setting == spec]), len(config.lrs))
        gone = [m for m, row in enumerate(mine.rows) if row["iterations_done"] < base.iterations]
        stopped = (f"{len(gone)} of {len(grid)} models went non-finite (learning rate too large?) and kept their "
                   f"last finite parameters: models {gone}") if gone else None
        optimizer = parse_optimizer(spec, lr=np.array([lr for lr, _ in grid])[:, None])
        fits[spec] = FitResult(Params(mine.params, net.slots), mine.history, optimizer, base.iterations, stopped,
                               seconds=mine.seconds)
        rows += [{"optimizer": spec, "lr": row["lr"], "seed": row["seed"],
                  "diverged": row["iterations_done"] < base.iterations, "status": row["status"],
                  "iterations_done": row["iterations_done"],
                  **{f"final_{f}": row[f] for f in ("train_loss", "train_accuracy", "test_loss", "test_accuracy")}}
                 for row in mine.rows]
    return Sweep(config, net, train, test, grid, fits, rows, sum(r.seconds for r in results))


def run_sweep(data: Dataset, config: SweepConfig, client: Any = None, out: str | Path | None = None,
              cell_size: int = DEFAULT_CELL_SIZE, on_cell: OnCell | None = None) -> Sweep:
    """Run a sweep cell by cell: here, or on the workers of ``client`` (a ``dask.distributed.Client``); with
    ``out``, every finished cell is written to that run folder and cells already there are not trained again."""
    cells = sweep_layout(config, cell_size)
    runner = CellRunner(data, config, sum(cell.size for cell in cells), client, out, cell_size, on_cell)
    return assemble(runner.config, data, runner(cells))  # type: ignore[arg-type]


def resume_sweep(out: str | Path, data: Dataset, client: Any = None, on_cell: OnCell | None = None) -> Sweep:
    """Finish the plain sweep whose run folder is ``out`` (on the data it started with): only its missing cells
    run."""
    config, cell_size, digest = RunFolder(out).sweep()
    if digest != data_digest(data):
        raise RunFolderError(f"{out}: the data differ from those the interrupted sweep was trained on")
    if not isinstance(config, SweepConfig):
        raise RunFolderError(f"{out}: holds a tuned sweep; finish it with descentlab sweep --resume {out}")
    return run_sweep(data, config, client, out, cell_size, on_cell)


def sweep(
    data: Dataset | None = None,
    config: SweepConfig | None = None,
    on_cell: Callable[[Any, bool], None] | None = None,
    *,
    client: Any = None,
    out: str | Path | None = None,
    cell_size: int | None = None,
) -> Sweep:
    """Train every (optimiser, lr, seed) of the grid, in cells of stacked models
    (see :mod:`descentlab.experiments.cells`).

    The parameters of the models of a cell form one ``(M, P)`` array and every step updates them together
    (per-model learning rates broadcast as an ``(M, 1)`` column), so the result of each model equals a separate
    :func:`fit` from the same start up to rounding, and does not depend on the cell it is in.

    Parameters
    ----------
    on_cell : callable(cell_result, resumed), called as each cell finishes (``resumed``: read from ``out``)
    client : a ``dask.distributed.Client`` to run the cells on its workers (default: in this process)
    out : run folder: each finished cell is written there at once, and cells already there are not run again
    cell_size : models per cell, about (default :data:`descentlab.experiments.config.DEFAULT_CELL_SIZE`)
    """
    config = config or SweepConfig()
    if config.seeds < 1 or not config.lrs or not config.optimizers:
        raise ValueError("a sweep needs at least one optimiser, one learning rate and one seed")
    data = data if data is not None else load_iris()
    return run_sweep(data, config, client, out, cell_size or DEFAULT_CELL_SIZE, on_cell)
