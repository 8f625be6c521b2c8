"""The run folder of a sweep (plain or tuned), cell by cell: what makes a sweep resumable.

``manifest.json`` is written before any training: the kind of sweep, its configuration (the engine as resolved,
never ``auto``), a digest of its data and the cell size, under a SHA-256 of its content. Each finished cell is
written at once, atomically, to ``cells/<key>.parquet`` (one row per model: its row of
:data:`~descentlab.experiments.cells.ROW_FIELDS`, the whole history of every field as a list, the final
parameters), with a SHA-256 of the table in the file's metadata. A cell's key digests its content and the
configuration, so a cell of another sweep never matches; a cell whose checksum fails is trained again, never read.
An interrupted sweep loses at most the cells in flight, and ``descentlab sweep --resume`` trains only the cells
whose file is missing or damaged. Nothing in these files depends on time or on where a cell ran. Why Parquet:
docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import Dataset, data_digest
from ..formats.atomic import atomic_write_bytes, atomic_write_text
from ..training.results import HISTORY_FIELDS, History
from .cells import ROW_FIELDS, Cell, CellResult
from .config import CompareConfig, SweepConfig, TuneConfig

MANIFEST = "manifest.json"
FORMAT = "descentlab-sweep"
FORMAT_VERSION = 2
KINDS: dict[str, type[SweepConfig] | type[TuneConfig]] = {"sweep": SweepConfig, "tuned": TuneConfig}


class RunFolderError(ValueError):
    """A run folder that cannot be resumed (no manifest, another sweep's manifest, damaged)."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def config_digest(config: SweepConfig | TuneConfig) -> str:
    """A digest of everything that decides a sweep's numbers: part of every cell's key."""
    return _sha256(json.dumps(dataclasses.asdict(config), sort_keys=True))


def config_from_json(kind: Any, obj: Any) -> SweepConfig | TuneConfig:
    """The configuration a manifest stores, its fields of exactly the types they hold (a list for a tuple);
    raises :class:`RunFolderError` naming the first field that is not."""
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None or not isinstance(obj, dict) or not isinstance(obj.get("base"), dict):
        raise RunFolderError(f"{MANIFEST}: no sweep configuration of a kind this version knows ({kind!r})")
    base = _typed(CompareConfig, obj["base"], CompareConfig())
    return _typed(cls, {**obj, "base": base}, cls())


def _typed(cls: Any, obj: dict[str, Any], default: Any) -> Any:
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in obj:
            raise RunFolderError(f"{MANIFEST}: the configuration lacks {field.name!r}")
        value = obj[field.name]
        value = tuple(value) if isinstance(value, list) else value
        if not _same_type(value, getattr(default, field.name)):
            raise RunFolderError(f"{MANIFEST}: {field.name} is {value!r}, not a value descentlab writes there")
        values[field.name] = value
    return cls(**values)


def _same_type(value: Any, like: Any) -> bool:
    """Is ``value`` of the kind of the default ``like`` (a float field takes an integer; an optional one, None)?"""
    if isinstance(like, tuple):
        return isinstance(value, tuple) and all(_same_type(v, like[0]) for v in value)
    if like is None:
        return value is None or type(value) in (int, str)
    if isinstance(like, float):
        return type(value) in (int, float)
    return type(value) is type(like)


class RunFolder:
    """A sweep's folder: ``manifest.json`` and ``cells/<key>.parquet``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def start(self, config: SweepConfig | TuneConfig, data: Dataset, cell_size: int) -> None:
        """Write the manifest of a new sweep; refuse a folder that holds another sweep's, naming what differs."""
        kind = next(name for name, cls in KINDS.items() if isinstance(config, cls))
        content = json.loads(json.dumps({"kind": kind, "config": dataclasses.asdict(config),
                                         "data_sha256": data_digest(data), "cell_size": cell_size}))
        if self.manifest_path.exists():
            stored = self.manifest()
            if stored == content:
                return
            raise RunFolderError(f"{self.path} holds another sweep ({_difference(stored, content)}); choose another "
                                 f"--out, pass --overwrite to replace it, or finish that one with descentlab sweep "
                                 f"--resume {self.path}")
        body = json.dumps(content, sort_keys=True)
        atomic_write_text(self.manifest_path, json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                                          **content, "sha256": _sha256(body)}, indent=2) + "\n")

    def manifest(self) -> dict[str, Any]:
        """The manifest's content written by :meth:`start` (kind, config, data_sha256, cell_size), its checksum
        verified."""
        try:
            obj = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{self.path}: no {MANIFEST}; this is not the folder of a descentlab sweep") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunFolderError(f"{self.manifest_path}: unreadable ({error})") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("format_version") != FORMAT_VERSION:
            raise RunFolderError(f"{self.manifest_path}: not a descentlab sweep manifest of format {FORMAT_VERSION}")
        content = {k: obj.get(k) for k in ("kind", "config", "data_sha256", "cell_size")}
        if obj.get("sha256") != _sha256(json.dumps(content, sort_keys=True)):
            raise RunFolderError(f"{self.manifest_path}: changed since descentlab wrote it (its checksum fails); "
                                 "a sweep cannot be resumed under another configuration: run a new sweep")
        return content

    def sweep(self) -> tuple[SweepConfig | TuneConfig, int, str]:
        """The configuration, cell size and data digest of the sweep in this folder."""
        content = self.manifest()
        size = content["cell_size"]
        if type(size) is not int or not isinstance(content["data_sha256"], str):
            raise RunFolderError(f"{self.manifest_path}: cell_size {size!r} is not a value descentlab writes there")
        return config_from_json(content["kind"], content["config"]), size, content["data_sha256"]

    def cell_path(self, cell: Cell, digest: str) -> Path:
        return self.path / "cells" / f"{cell.key(digest)}.parquet"

    def save(self, result: CellResult, digest: str) -> Path:
        """Write one finished cell atomically, its table's checksum in its metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = cell_table(result)
        meta = {"descentlab.cell": json.dumps(dataclasses.asdict(result.cell)), "descentlab.sha256":
                _table_sha256(table)}
        sink = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd", use_dictionary=False,
                       write_statistics=False)
        path = self.cell_path(result.cell, digest)
        atomic_write_bytes(path, sink.getvalue().to_pybytes())
        return path

    def load(self, cell: Cell, digest: str) -> CellResult | None:
        """The saved result of ``cell``, or None when it has none, or a damaged one (it is trained again)."""
        path = self.cell_path(cell, digest)
        if not path.exists():
            return None
        try:
            return read_cell(path, cell)
        except (OSError, ValueError, KeyError, TypeError):  # pyarrow's errors are among these
            return None


def _difference(stored: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between two manifests' contents, as the option that made it: ``made with --iterations 200``."""
    old, now = stored.get("config") or {}, new["config"]
    pairs = [*((k, old.get("base", {}).get(k), v) for k, v in now["base"].items()),
             *((k, old.get(k), v) for k, v in now.items() if k != "base")]
    if stored.get("kind") != new["kind"]:
        return f"this folder's sweep was made {'with' if stored.get('kind') == 'tuned' else 'without'} --tune"
    for name, was, value in pairs:
        if was != value:
            flag = {"lrs": "lr", "optimizers": "optimizers", "methods": "optimizers", "repetitions": "seeds"}.get(
                name, name)
            shown = " ".join(map(str, was)) if isinstance(was, list) else was
            return f"this folder's sweep was made with --{flag.replace('_', '-')} {shown}"
    if stored.get("cell_size") != new["cell_size"]:
        return f"this folder's sweep was made with --cell-size {stored.get('cell_size')}"
    return "this folder's sweep was made on other data"


def cell_table(result: CellResult) -> Any:
    """The Parquet table of a cell: one row per model."""
    import pyarrow as pa

    columns: dict[str, Any] = {name: pa.array([row[name] for row in result.rows]) for name in ROW_FIELDS}
    for field in HISTORY_FIELDS:
        columns[f"history_{field}"] = _list_column(np.ascontiguousarray(getattr(result.history, field).T))
    columns["params"] = _list_column(np.ascontiguousarray(result.params))
    return pa.table(columns)


def _table_sha256(table: Any) -> str:
    """SHA-256 of a table's columns: names and values (lists of numbers as their float64 bytes, the rest as JSON)."""
    digest = hashlib.sha256()
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        listed = str(column.type).startswith("fixed_size_list")
        values = (column.flatten().to_numpy(zero_copy_only=False).tobytes() if listed
                  else json.dumps(column.to_pylist()).encode())
        digest.update(f"{name}:{listed}:{len(values)}:".encode() + values)
    return digest.hexdigest()


def _list_column(rows: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), rows.shape[1])


def _list_values(table: Any, name: str) -> np.ndarray:
    column = table.column(name).combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)


def read_cell(path: str | Path, cell: Cell | None = None) -> CellResult:
    """Read a cell file written by :meth:`RunFolder.save`, its checksum verified; with ``cell``, check that it is
    that cell's."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    if meta.get(b"descentlab.sha256", b"").decode() != _table_sha256(table):
        raise RunFolderError(f"{path}: damaged (its checksum fails)")
    stored = json.loads(meta[b"descentlab.cell"])
    stored = Cell(**{**stored, "lrs": tuple(stored["lrs"]), "seeds": tuple(stored["seeds"])})
    if cell is not None and stored != cell:
        raise RunFolderError(f"{path}: holds another cell")
    history = History(*(np.ascontiguousarray(_list_values(table, f"history_{f}").T) for f in HISTORY_FIELDS))
    rows = table.select(list(ROW_FIELDS)).to_pylist()
    return CellResult(stored, rows, history, _list_values(table, "params"))
