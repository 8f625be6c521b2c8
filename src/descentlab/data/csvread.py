"""Reading the columns of a CSV file quickly, in bounded memory, with errors that name the file, line and column.

Two readers share one set of rules (:func:`check_row` is the rule book):

* the *fast* reader takes a file larger than one block in blocks of whole lines (8 MiB) and parses each with
  pyarrow's CSV reader. It keeps a block only when it can vouch that the rule book would read the same: UTF-8,
  every line one row (no blank line, no quoted line break, no quote cut at the block's end), the header's number
  of fields on every line, every value a finite number, every label non-empty. Anything else hands the block
  over to
* the *exact* reader: the standard library's ``csv`` module from that block to the end of the file, one record
  at a time, checked by :func:`check_row`. It is what found every problem before the fast reader existed, so a
  bad file gets the same ``file:line: column`` message whichever reader meets the problem first; only good files
  are read fast. It also reads a file of one block, where importing pyarrow would cost more than it saves.

Lines are physical lines of the file, counted from 1 at the header; a quoted cell spanning lines is reported at
the line where its record starts.
"""

from __future__ import annotations

import csv
import math
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

import numpy as np

BLOCK_BYTES = 8 << 20
MAX_LINE_BYTES = 64 << 20  # a longer line is refused instead of being read whole into memory
_EXACT_FLUSH_ROWS = 65536
_MISSING = frozenset(("", "na", "nan", "null", "none", "?"))
_BOMS = {b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}
_LONE_CR = re.compile(r"(?<=\r)(?!\n|$)")

class DataError(ValueError):
    """Input data that cannot be used, with the file, line and column that are wrong."""


Progress = Callable[[int, int], None]
"""Called as ``progress(bytes_read, total_bytes)``; ``total_bytes`` is 0 when unknown (a pipe)."""


@dataclass(frozen=True)
class Table:
    """The selected columns of a CSV file.

    Attributes
    ----------
    header : the column names of line 1, stripped
    X : (S, len(numeric)) float64 array, the numeric columns in the order asked
    labels : the distinct labels (stripped text) in order of first appearance; empty without a label column
    label_codes : (S,) int64 index into ``labels`` for every row
    label_lines : the line of each label's first appearance
    lines : (S,) int64 line number of every row (blank lines hold no row)
    label_column : index of the label column in ``header``, or None
    """

    header: tuple[str, ...]
    X: np.ndarray
    labels: tuple[str, ...]
    label_codes: np.ndarray
    label_lines: tuple[int, ...]
    lines: np.ndarray
    label_column: int | None = None


Chooser = Callable[[tuple[str, ...]], tuple[Sequence[int], int | None]]
"""Given the header, the indices of the numeric columns to read and of the label column (or ``None``); raises
:class:`DataError` for a header it cannot use."""


def read_table(path: str | Path, choose: Chooser, progress: Progress | None = None) -> Table:
    """Read the columns ``choose(header)`` selects from the CSV file ``path``.

    Raises
    ------
    DataError
        naming the file (and the line and column where there is one) for any file that cannot be opened or
        read, is not UTF-8 text, has a line with the wrong number of fields, a missing, non-numeric or
        non-finite value in a numeric column, or a missing label.
    """
    path = Path(path)
    with _open(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        source = _Source(path, handle)
        return _Reader(path, source, size, progress).read(choose)


def number(text: str, path: Path, line: int, column: str) -> float:
    """The finite number in one cell, or a :class:`DataError` naming the cell."""
    cell = text.strip()
    if cell.lower() in _MISSING:
        raise DataError(f"{path}:{line}: column {column!r} has a missing value")
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{path}:{line}: column {column!r} is not a number: {cell!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{line}: column {column!r} is not finite: {cell!r}")
    return value


def check_row(
    row: list[str], header: tuple[str, ...], numeric: Sequence[int], label: int | None, path: Path, line: int
) -> tuple[list[float], str | None] | None:
    """The rule book for one record: ``None`` for a blank line, else its numbers and label (stripped)."""
    if not any(cell.strip() for cell in row):
        return None
    if len(row) != len(header):
        raise DataError(f"{path}:{line}: {len(row)} fields where the header has {len(header)}")
    values = [number(row[j], path, line, header[j]) for j in numeric]
    if label is None:
        return values, None
    text = row[label].strip()
    if text == "":
        raise DataError(f"{path}:{line}: column {header[label]!r} has a missing value")
    return values, text


def _open(path: Path) -> BufferedReader:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a CSV file") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied (cannot read the file)") from None
    except OSError as error:
        raise DataError(f"{path}: cannot open the file: {error.strerror or error}") from None
    mode = os.fstat(handle.fileno()).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        handle.close()
        kind = "a directory" if stat.S_ISDIR(mode) else "a device or other special file"
        raise DataError(f"{path}: is {kind}, not a CSV file")
    return handle


class _Source:
    """Binary reads with push-back, turning every OS error into a :class:`DataError`."""

    def __init__(self, path: Path, handle: BufferedReader) -> None:
        self.path = path
        self.handle = handle
        self.pending = b""  # pushed-back bytes, read from ``offset`` on
        self.offset = 0
        self.consumed = 0

    def _io(self, call: Callable[[], bytes]) -> bytes:
        try:
            return call()
        except OSError as error:
            raise DataError(f"{self.path}: cannot read the file: {error.strerror or error}") from None

    def readline(self) -> bytes:
        if self.offset < len(self.pending):
            cut = self.pending.find(b"\n", self.offset) + 1 or len(self.pending)
            cut = min(cut, self.offset + MAX_LINE_BYTES)  # so that an overlong line is refused, not parsed
            line, self.offset = self.pending[self.offset : cut], cut
            if not line.endswith(b"\n") and len(line) < MAX_LINE_BYTES:
                line += self._io(lambda: self.handle.readline(MAX_LINE_BYTES - len(line)))
        else:
            line = self._io(lambda: self.handle.readline(MAX_LINE_BYTES))
        self.consumed += len(line)
        return line

    def block(self) -> bytes:
        """About BLOCK_BYTES of whole lines (the last line of the file may lack its newline)."""
        data = self.pending[self.offset :]
        self.pending, self.offset = b"", 0
        data += self._io(lambda: self.handle.read(max(BLOCK_BYTES - len(data), 0)))
        if data and not data.endswith(b"\n"):
            data += self._io(lambda: self.handle.readline(MAX_LINE_BYTES))
        self.consumed += len(data)
        return data

    def unread(self, data: bytes) -> None:
        self.pending, self.offset = data + self.pending[self.offset :], 0
        self.consumed -= len(data)


class _Accumulator:
    """Rows gathered block by block; labels numbered in order of first appearance."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.X: list[np.ndarray] = []
        self.codes: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.label_ids: dict[str, int] = {}
        self.label_lines: list[int] = []

    def label_id(self, text: str, line: int) -> int:
        code = self.label_ids.setdefault(text, len(self.label_ids))
        if code == len(self.label_lines):
            self.label_lines.append(line)
        return code

    def add(self, X: np.ndarray, codes: np.ndarray, lines: np.ndarray) -> None:
        self.X.append(X)
        self.codes.append(codes)
        self.lines.append(lines)

    def table(self, header: tuple[str, ...], label: int | None) -> Table:
        X = np.concatenate(self.X) if self.X else np.empty((0, self.width))
        codes = np.concatenate(self.codes) if self.codes else np.empty(0, dtype=np.int64)
        lines = np.concatenate(self.lines) if self.lines else np.empty(0, dtype=np.int64)
        return Table(header, X, tuple(self.label_ids), codes, tuple(self.label_lines), lines, label)


class _Reader:
    def __init__(self, path: Path, source: _Source, size: int, progress: Progress | None) -> None:
        self.path = path
        self.source = source
        self.size = size
        self.progress = progress
        self.line = 0  # lines consumed so far
        self.reported = 0
        self._lone_cr_pending = False

    def read(self, choose: Chooser) -> Table:
        self._skip_bom()
        records = self._exact_records()
        first = next(records, None)
        if first is None:
            raise DataError(f"{self.path}: the file is empty (a header row is required)")
        if not any(cell.strip() for cell in first[1]):
            raise DataError(f"{self.path}:1: the first line is blank; it must be the header row")
        header = tuple(cell.strip() for cell in first[1])
        if any("\x00" in name for name in header):
            raise DataError(f"{self.path}:1: the header holds NUL bytes: not a UTF-8 text file (UTF-16?)")
        numeric, label = choose(header)
        numeric = list(numeric)
        rows = _Accumulator(len(numeric))
        # old Mac line ends, or a file of one block (where importing pyarrow costs more than it saves): exact
        if self._lone_cr_pending or 0 < self.size <= BLOCK_BYTES:
            self._read_exact(records, header, numeric, label, rows)
        else:
            self._read_fast(header, numeric, label, rows)
        if self.progress is not None:
            self.progress(self.source.consumed, self.size)
        return rows.table(header, label)

    def _skip_bom(self) -> None:
        start = self.source.block()
        for bom, name in _BOMS.items():
            if start.startswith(bom):
                raise DataError(f"{self.path}: not a UTF-8 text file (it is {name}; save it as UTF-8)")
        self.source.unread(start[3:] if start.startswith(b"\xef\xbb\xbf") else start)

    # -- the exact reader ----------------------------------------------------------------------------------
    def _physical_lines(self) -> Iterator[str]:
        """Decoded lines split as ``open(newline='')`` splits them: at ``\\n``, ``\\r\\n`` and a lone ``\\r``."""
        self._lone_cr_pending = False
        while raw := self.source.readline():
            if len(raw) >= MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise DataError(f"{self.path}:{self.line + 1}: a line longer than {MAX_LINE_BYTES / 2**20:g} MiB")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = raw[error.start]
                raise DataError(
                    f"{self.path}:{self.line + 1}: not a UTF-8 text file (byte 0x{byte:02x})"
                ) from None
            parts = _LONE_CR.split(text) if "\r" in text else [text]
            for i, part in enumerate(parts):
                self._lone_cr_pending = i < len(parts) - 1
                self.line += 1
                yield part
            self._report()

    def _exact_records(self) -> Iterator[tuple[int, list[str]]]:
        lines = self._physical_lines()
        reader = csv.reader(lines)
        start = self.line + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise DataError(f"{self.path}:{start}: not a readable CSV line ({error})") from None
            yield start, row
            start = self.line + 1

    def _read_exact(
        self, records: Iterator[tuple[int, list[str]]], header: tuple[str, ...], numeric: list[int],
        label: int | None, rows: _Accumulator,
    ) -> None:
        X: list[list[float]] = []
        codes: list[int] = []
        lines: list[int] = []
        for line, row in records:
            checked = check_row(row, header, numeric, label, self.path, line)
            if checked is None:
                continue
            X.append(checked[0])
            codes.append(rows.label_id(checked[1], line) if checked[1] is not None else 0)
            lines.append(line)
            if len(X) == _EXACT_FLUSH_ROWS:
                rows.add(np.array(X, dtype=np.float64).reshape(-1, len(numeric)), np.array(codes), np.array(lines))
                X, codes, lines = [], [], []
        if X:
            rows.add(np.array(X, dtype=np.float64).reshape(-1, len(numeric)), np.array(codes), np.array(lines))

    # -- the fast reader -----------------------------------------------------------------------------------
    def _read_fast(self, header: tuple[str, ...], numeric: list[int], label: int | None, rows: _Accumulator) -> None:
        while block := self.source.block():
            n = self._fast_block(block, len(header), numeric, label, rows)
            if n is None:
                self.source.unread(block)
                self._read_exact(self._exact_records(), header, numeric, label, rows)
                return
            self.line += n
            self._report()

    def _fast_block(self, block: bytes, width: int, numeric: list[int], label: int | None,
                    rows: _Accumulator) -> int | None:
        """The rows of a block of whole lines as pyarrow's CSV reader reads them, added to ``rows`` only where the
        rule book would read the same: UTF-8, every line one row of ``width`` fields, every value a finite number,
        every label non-empty; their number, or None when the exact reader must judge the block."""
        import pyarrow as pa
        from pyarrow import csv as arrow_csv

        names = [f"c{j}" for j in range(width)]
        types = {names[j]: pa.float64() for j in numeric} | ({} if label is None else {names[label]: pa.string()})
        try:
            table = arrow_csv.read_csv(
                pa.py_buffer(block), read_options=arrow_csv.ReadOptions(column_names=names, use_threads=False),
                convert_options=arrow_csv.ConvertOptions(column_types=types, include_columns=list(types),
                                                         null_values=[], strings_can_be_null=False))
        except pa.ArrowInvalid:
            return None
        n = table.num_rows
        ends = block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
        unended = not block.endswith((b"\n", b"\r"))  # the file's last line may lack its line end
        if ends != n - unended or block.count(b'"') % 2 or not (block.isascii() or _is_utf8(block)):
            return None  # a blank line or a quoted line break (rows are not lines), a cut quote, or not UTF-8
        X = np.empty((n, len(numeric)))
        for k, j in enumerate(numeric):
            X[:, k] = table.column(names[j]).to_numpy()
        if not np.isfinite(X).all():
            return None
        codes = np.zeros(n, dtype=np.int64)
        if label is not None:
            encoded = table.column(names[label]).combine_chunks().dictionary_encode()  # labels in order of first row
            texts = [text.strip() for text in encoded.dictionary.to_pylist()]
            if "" in texts:
                return None
            raw = encoded.indices.to_numpy()
            first = np.unique(raw, return_index=True)[1]
            lookup = [rows.label_id(text, self.line + 1 + int(first[c])) for c, text in enumerate(texts)]
            codes = np.array(lookup, dtype=np.int64)[raw]
        rows.add(X, codes, np.arange(self.line + 1, self.line + 1 + n, dtype=np.int64))
        return n

    def _report(self) -> None:
        if self.progress is not None and self.source.consumed - self.reported >= 1 << 20:
            self.reported = self.source.consumed
            self.progress(self.source.consumed, self.size)



def _is_utf8(block: bytes) -> bool:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
