"""The tuned sweep (``sweep --tune``) in cells: both phases run here or on a Dask cluster, each finished cell is
written to the run folder, and ``--resume`` trains only the cells that are missing.

A cell of the tuned sweep is a :class:`~descentlab.experiments.tuning.Group` cut to a contiguous block of
repetitions: one setting of one method, its learning rates stacked, on a few repetitions (each repetition has its
own split, so it is trained as its own stack by :func:`~descentlab.experiments.tuning.train_group`; a model's
numbers therefore do not depend on which cell holds it). :class:`CellRunner` is the ``runner`` that
:func:`~descentlab.experiments.tuning.run_tuned` accepts:
it cuts the groups of a phase into cells, reads those already saved, sends the others to an executor, writes each
as it finishes, and joins them back into one result per group, in order. The phase ``final`` depends on the
choice made from ``tune`` only, so a resumed sweep chooses the same settings and finds its final cells again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import Dataset, data_digest
from ..formats.atomic import atomic_write_bytes
from .cluster import InProcess
from .config import CompareConfig, TuneConfig
from .results import Group, GroupResult, file_stem
from .runfolder import RunFolder, RunFolderError
from .tuning import decided_base, train_group

KIND = "tuned"


def cut(group: Group, cell_size: int) -> list[Group]:
    """``group`` as consecutive blocks of repetitions, about ``cell_size`` models each (at least one repetition)."""
    per_cell = max(1, cell_size // max(1, len(group.lrs)))
    return [dataclasses.replace(group, seeds=group.seeds[i : i + per_cell])
            for i in range(0, len(group.seeds), per_cell)]


def cell_key(group: Group) -> str:
    """A name for a cell of the tuned sweep, the same in every run with this content."""
    content = json.dumps([group.phase, group.method, group.setting, [repr(lr) for lr in group.lrs],
                          list(group.seeds)])
    return f"{group.phase}-{file_stem(group.setting)}-{hashlib.sha256(content.encode()).hexdigest()[:16]}"


def join(results: Sequence[GroupResult]) -> GroupResult:
    """The cells of one group put back together, in the order given (seed-major, as :func:`train_group`)."""
    return GroupResult([row for r in results for row in r.rows],
                       np.concatenate([r.train_loss for r in results], axis=1),
                       np.concatenate([r.validation_loss for r in results], axis=1))


def _path(folder: RunFolder, group: Group) -> Path:
    return folder.path / "cells" / f"{cell_key(group)}.parquet"


def save(folder: RunFolder, group: Group, result: GroupResult) -> Path:
    """Write one finished cell atomically: its rows, and per row the model's training and validation curves."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(result.rows)
    for name, curves in (("train_loss_curve", result.train_loss), ("validation_loss_curve", result.validation_loss)):
        rows = np.ascontiguousarray(curves.T)
        table = table.append_column(name, pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)),
                                                                            rows.shape[1]))
    table = table.replace_schema_metadata({"descentlab.cell": cell_key(group)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", use_dictionary=False, write_statistics=False)
    path = _path(folder, group)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
    return path


def load(folder: RunFolder, group: Group) -> GroupResult | None:
    """The saved result of a cell, or None when it has none (or a damaged one: it runs again)."""
    import pyarrow.parquet as pq

    path = _path(folder, group)
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
        if (table.schema.metadata or {}).get(b"descentlab.cell") != cell_key(group).encode():
            return None
        curves = {}
        for name in ("train_loss_curve", "validation_loss_curve"):
            column = table.column(name).combine_chunks()
            curves[name] = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1).T.copy()
        rows = table.drop_columns(list(curves)).to_pylist()
    except (OSError, ValueError, KeyError, TypeError):  # damaged (pyarrow's errors are among these): run again
        return None
    if len(rows) != len(group.lrs) * len(group.seeds):
        return None
    return GroupResult(rows, curves["train_loss_curve"], curves["validation_loss_curve"])


def start(folder: RunFolder, config: TuneConfig, data: Dataset, cell_size: int) -> None:
    """Write (or check) the manifest of a tuned sweep."""
    folder.start({"kind": KIND, "config": dataclasses.asdict(config), "data_sha256": data_digest(data),
                  "cell_size": cell_size})


def load_tuned_manifest(path: str | Path) -> tuple[TuneConfig, int, str] | None:
    """The configuration, cell size and data digest of the tuned sweep in ``path``; None for an untuned sweep."""
    from .sweeprun import _tuples

    obj = RunFolder(path).manifest()
    if obj.get("kind") != KIND:
        return None
    try:
        stored = dict(obj["config"])
        stored["base"] = _tuples(CompareConfig, stored["base"])
        config = _tuples(TuneConfig, stored)
        return config, int(obj["cell_size"]), str(obj["data_sha256"])
    except (KeyError, TypeError, ValueError) as error:
        raise RunFolderError(f"{path}/manifest.json: not a tuned sweep this version can resume ({error})") from None


class CellRunner:
    """The ``runner`` of :func:`~descentlab.experiments.tuning.run_tuned` that works in cells (module docstring).

    ``on_cell(models, resumed)`` is called as each cell is read back or finishes; ``total_models`` counts the
    models of the groups handed over so far (the final phase is known only once ``tune`` is done).
    """

    def __init__(self, data: Dataset, config: TuneConfig, executor: Any = None, folder: RunFolder | None = None,
                 cell_size: int = 64, on_cell: Callable[[int, bool], None] | None = None) -> None:
        self.data, self.config, self.folder, self.cell_size = data, config, folder, cell_size
        self.executor = executor or InProcess()
        self.base = decided_base(config)
        self.on_cell = on_cell
        self.cells_done = self.cells_total = 0
        if folder is not None:
            start(folder, config, data, cell_size)

    def __call__(self, groups: Sequence[Group]) -> list[GroupResult]:
        cells = [cut(group, self.cell_size) for group in groups]
        flat = [cell for block in cells for cell in block]
        self.cells_total += len(flat)
        done: dict[str, GroupResult] = {}
        for cell in flat if self.folder is not None else ():
            saved = load(self.folder, cell)  # type: ignore[arg-type]
            if saved is not None:
                self._finished(cell, saved, done, resumed=True)
        todo = [cell for cell in flat if cell_key(cell) not in done]
        base, validation = self.base, self.config.validation_size
        for cell, result in self.executor.map_tasks(train_group, todo, self.data, base, validation, data_first=True):
            if self.folder is not None:
                save(self.folder, cell, result)
            self._finished(cell, result, done, resumed=False)
        return [join([done[cell_key(cell)] for cell in block]) for block in cells]

    def _finished(self, cell: Group, result: GroupResult, done: dict[str, GroupResult], resumed: bool) -> None:
        done[cell_key(cell)] = result
        self.cells_done += 1
        if self.on_cell is not None:
            self.on_cell(len(result.rows), resumed)
