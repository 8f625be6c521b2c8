"""The run folder of a sweep, cell by cell: what makes a sweep resumable.

``manifest.json`` is written before any training: the sweep's configuration, a digest of its data, the cell size
and every cell. Each finished cell is written at once, atomically, to ``cells/<key>.parquet`` (one row per model:
learning rate, seed, final metrics, the whole history of every field as a list, and the final parameters), so an
interrupted sweep loses at most the cells in flight and ``descentlab sweep --resume`` trains only the cells
whose file is missing. Nothing in these files depends on time or on where a cell ran: an interrupted and resumed
sweep ends with the same bytes as one that ran through. Why Parquet: docs/architecture.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..formats.atomic import atomic_write_bytes, atomic_write_text
from ..training.results import HISTORY_FIELDS, History
from .cells import Cell, CellResult

MANIFEST = "manifest.json"
FORMAT = "descentlab-sweep"
FORMAT_VERSION = 1
FINAL_FIELDS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


class RunFolderError(ValueError):
    """A run folder that cannot be resumed (no manifest, another sweep's manifest, damaged)."""


def _pyarrow() -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


class RunFolder:
    """A sweep's folder: ``manifest.json`` and ``cells/<key>.parquet``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def cell_path(self, cell: Cell) -> Path:
        return self.path / "cells" / f"{cell.key}.parquet"

    def start(self, manifest: dict[str, Any]) -> None:
        """Write the manifest of a new sweep; refuse a folder that already holds another sweep's."""
        text = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}, indent=2) + "\n"
        if self.manifest_path.exists():
            if self.manifest_path.read_text(encoding="utf-8") != text:
                raise RunFolderError(f"{self.path} holds another sweep; choose another --out, pass --overwrite to "
                                     f"replace it, or finish that one with descentlab sweep --resume {self.path}")
            return
        atomic_write_text(self.manifest_path, text)

    def manifest(self) -> dict[str, Any]:
        """The manifest written by :meth:`start`."""
        try:
            obj = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{self.path}: no {MANIFEST}; this is not the folder of a descentlab sweep") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunFolderError(f"{self.manifest_path}: unreadable ({error})") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("format_version") != FORMAT_VERSION:
            raise RunFolderError(f"{self.manifest_path}: not a descentlab sweep manifest of format {FORMAT_VERSION}")
        return obj

    def save(self, result: CellResult) -> Path:
        """Write one finished cell atomically."""
        pa, pq = _pyarrow()
        table = cell_table(result)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", use_dictionary=False, write_statistics=False)
        path = self.cell_path(result.cell)
        atomic_write_bytes(path, sink.getvalue().to_pybytes())
        return path

    def load(self, cell: Cell) -> CellResult | None:
        """The saved result of ``cell``, or None when it has none (or an unreadable one: it runs again)."""
        path = self.cell_path(cell)
        if not path.exists():
            return None
        try:
            return read_cell(path, cell)
        except (OSError, ValueError, KeyError, TypeError):  # damaged (pyarrow's errors are among these): train again
            return None


def cell_table(result: CellResult) -> Any:
    """The Parquet table of a cell: one row per model."""
    pa, _ = _pyarrow()
    cell, history = result.cell, result.history
    done = result.iterations_done
    models = np.arange(cell.size)
    columns: dict[str, Any] = {
        "method": pa.array([cell.method] * cell.size, pa.string()),
        "lr": pa.array(np.array(cell.lrs, dtype=np.float64)),
        "seed": pa.array(np.array(cell.seeds, dtype=np.int64)),
        "split": pa.array(np.full(cell.size, cell.split, dtype=np.int64)),
        "diverged": pa.array(done < len(history) - 1),
        "iterations_done": pa.array(done.astype(np.int64)),
    }
    for field in FINAL_FIELDS:
        columns[f"final_{field}"] = pa.array(getattr(history, field)[done, models])
    for field in HISTORY_FIELDS:
        columns[field] = _list_column(np.ascontiguousarray(getattr(history, field).T))
    columns["params"] = _list_column(np.ascontiguousarray(result.params))
    meta = {"descentlab.cell": json.dumps(cell.to_json())}
    return pa.table(columns).replace_schema_metadata(meta)


def _list_column(rows: np.ndarray) -> Any:
    pa, _ = _pyarrow()
    return pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), rows.shape[1])


def _list_values(table: Any, name: str) -> np.ndarray:
    column = table.column(name).combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)


def read_cell(path: str | Path, cell: Cell | None = None) -> CellResult:
    """Read a cell file written by :meth:`RunFolder.save`; with ``cell``, check that it is that cell's."""
    _, pq = _pyarrow()
    table = pq.read_table(path)
    stored = Cell.from_json(json.loads((table.schema.metadata or {})[b"descentlab.cell"]))
    if cell is not None and stored != cell:
        raise RunFolderError(f"{path}: holds cell {stored.key}, expected {cell.key}")
    history = History(*(np.ascontiguousarray(_list_values(table, f).T) for f in HISTORY_FIELDS))
    return CellResult(stored, history, _list_values(table, "params"))
