"""A sweep run cell by cell: its layout, its run folder, where its cells run, and the :class:`Sweep` they make.

:func:`run_sweep` cuts the grid into cells (:func:`sweep_layout`), writes the manifest, skips the cells whose file
the run folder already holds, sends the others to an executor (this process, or a Dask client) and writes each
one as it finishes; the :class:`~descentlab.experiments.results.Sweep` is then put together from the cells in layout
order, so it is the same whatever ran them and in whatever order they finished.
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
from ..training.results import FitResult
from .cells import Cell, CellResult, cell_problem, engine_for_all, join_histories, layout
from .cluster import DaskExecutor, InProcess
from .config import DEFAULT_CELL_SIZE, CompareConfig, SweepConfig
from .results import Sweep
from .runfolder import RunFolder, RunFolderError

OnCell = Callable[[CellResult, bool], None]  # (result, True when it was read from the run folder)


def sweep_layout(config: SweepConfig, cell_size: int = DEFAULT_CELL_SIZE) -> list[Cell]:
    """The cells of a sweep: per optimiser, its ``(lr, seed)`` grid (learning rates outer, seeds inner, the
    stacking order of :class:`Sweep`) cut into blocks of ``cell_size`` models."""
    grid = [(float(lr), seed) for lr in config.lrs for seed in range(config.seeds)]
    cells: list[Cell] = []
    for spec in config.optimizers:
        cells += layout(spec, grid, cell_size, phase="sweep", split=config.base.seed)
    return cells


def manifest(config: SweepConfig, data: Dataset, cell_size: int, cells: Sequence[Cell]) -> dict[str, Any]:
    """What ``manifest.json`` records: enough to resume the sweep and to check that it is resumed on its data."""
    return {"config": dataclasses.asdict(config), "data_sha256": data_digest(data), "cell_size": cell_size,
            "cells": [cell.key for cell in cells]}


def _tuples(cls: Any, obj: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in obj.items() if k in names})


def load_manifest(folder: str | Path) -> tuple[SweepConfig, int, str]:
    """The configuration, cell size and data digest of the sweep in ``folder``."""
    obj = RunFolder(folder).manifest()
    try:
        stored = dict(obj["config"])
        stored["base"] = _tuples(CompareConfig, stored["base"])
        return _tuples(SweepConfig, stored), int(obj["cell_size"]), str(obj["data_sha256"])
    except (KeyError, TypeError, ValueError) as error:
        raise RunFolderError(f"{folder}/manifest.json: not a sweep this version can resume ({error})") from None


def run_cells(cells: Sequence[Cell], data: Dataset, base: CompareConfig, executor: Any = None,
              folder: RunFolder | None = None, on_cell: OnCell | None = None) -> list[CellResult]:
    """Train every cell that ``folder`` does not hold yet, writing each as it finishes; return all results in
    the order of ``cells``."""
    done: dict[str, CellResult] = {}
    for cell in cells if folder is not None else ():
        saved = folder.load(cell)  # type: ignore[union-attr]
        if saved is not None:
            done[cell.key] = saved
            if on_cell is not None:
                on_cell(saved, True)
    todo = [cell for cell in cells if cell.key not in done]
    for result in (executor or InProcess()).map_cells(todo, data, base):
        if folder is not None:
            folder.save(result)
        done[result.cell.key] = result
        if on_cell is not None:
            on_cell(result, False)
    return [done[cell.key] for cell in cells]


def assemble(config: SweepConfig, data: Dataset, results: Sequence[CellResult]) -> Sweep:
    """The :class:`Sweep` of finished cells (those of :func:`sweep_layout`, in its order)."""
    base = config.base
    train, test, net = cell_problem(data, base, base.seed)
    grid = [(float(lr), seed) for lr in config.lrs for seed in range(config.seeds)]
    lr_column = np.array([lr for lr, _ in grid])[:, None]
    fits: dict[str, FitResult] = {}
    for spec in config.optimizers:
        mine = [r for r in results if r.cell.method == spec]
        history = join_histories(mine)
        optimizer = parse_optimizer(spec, lr=lr_column)
        gone = np.flatnonzero(~np.isfinite(history.train_loss[-1])).tolist()
        stopped = (f"{len(gone)} of {len(grid)} models went non-finite (learning rate too large?) and kept their "
                   f"last finite parameters: models {gone}") if gone else None
        fits[spec] = FitResult(Params(np.vstack([r.params for r in mine]), net.slots), history, optimizer,
                                         base.iterations, stopped, seconds=sum(r.seconds for r in mine))
    return Sweep(config, net, train, test, grid, fits, sum(r.seconds for r in results))


def run_sweep(data: Dataset, config: SweepConfig, client: Any = None, out: str | Path | None = None,
              cell_size: int = DEFAULT_CELL_SIZE, on_cell: OnCell | None = None) -> Sweep:
    """Run a sweep cell by cell: here, or on the workers of ``client`` (a ``dask.distributed.Client``); with
    ``out``, every finished cell is written to that run folder and cells already there are not trained again."""
    cells = sweep_layout(config, cell_size)
    folder = None
    if out is not None:
        folder = RunFolder(out)
        folder.start(manifest(config, data, cell_size, cells))
    executor = DaskExecutor(client) if client is not None else None
    base = engine_for_all(config.base, sum(len(cell.seeds) for cell in cells))
    return assemble(config, data, run_cells(cells, data, base, executor, folder, on_cell))


def resume_sweep(out: str | Path, data: Dataset, client: Any = None, on_cell: OnCell | None = None) -> Sweep:
    """Finish the sweep whose run folder is ``out`` (on the data it started with): only its missing cells run."""
    config, cell_size, digest = load_manifest(out)
    if digest != data_digest(data):
        raise RunFolderError(f"{out}: the data differ from those the interrupted sweep was trained on")
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
    cell_size : models per cell (default :data:`descentlab.experiments.config.DEFAULT_CELL_SIZE`)
    """
    config = config or SweepConfig()
    if config.seeds < 1 or not config.lrs or not config.optimizers:
        raise ValueError("a sweep needs at least one optimiser, one learning rate and one seed")
    data = data if data is not None else load_iris()
    return run_sweep(data, config, client, out, cell_size or DEFAULT_CELL_SIZE, on_cell)
