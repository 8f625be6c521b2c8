"""Reading the columns of a CSV file quickly, in bounded memory, with errors that name the file, line and column.

Two readers share one set of rules (:func:`check_row` is the rule book):

* the *fast* reader takes the file in blocks of whole lines (8 MiB) and converts each selected column of a
  block at C speed (``bytes.split``, ``float`` mapped over the cells, ``np.fromiter``). It accepts a block only
  when it can vouch that the rule book would accept it too: plain lines (``\\n`` or ``\\r\\n``), the header's
  number of fields on every line, quotes only around a whole cell, every value a finite number, every label
  non-empty. Anything else hands the block over to
* the *exact* reader: the standard library's ``csv`` module from that block to the end of the file, one record
  at a time, checked by :func:`check_row`. It is what found every problem before this module existed, so a bad
  file gets the same ``file:line: column`` message whichever reader meets the problem first; only good files
  are read fast.

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
        if self._lone_cr_pending:  # old Mac line ends: the exact reader goes on
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
            parsed = _fast_block(block, len(header), numeric, label)
            codes = None if parsed is None else self._fast_labels(parsed[1], parsed[2], rows, label)
            if parsed is None or codes is None:
                self.source.unread(block)
                self._read_exact(self._exact_records(), header, numeric, label, rows)
                return
            X = parsed[0]
            lines = np.arange(self.line + 1, self.line + 1 + X.shape[0], dtype=np.int64)
            rows.add(X, codes, lines)
            self.line += X.shape[0]
            self._report()

    def _fast_labels(
        self, codes: np.ndarray, raw: list[bytes], rows: _Accumulator, label: int | None
    ) -> np.ndarray | None:
        """A block's raw label codes as the table's, or None if a label needs the exact reader."""
        if label is None:
            return codes
        texts = [cell.decode("utf-8").strip() for cell in raw]
        if "" in texts:
            return None
        first = np.unique(codes, return_index=True)[1]
        lookup = np.array([rows.label_id(text, self.line + 1 + int(first[i])) for i, text in enumerate(texts)],
                          dtype=np.int64)
        return lookup[codes]

    def _report(self) -> None:
        if self.progress is not None and self.source.consumed - self.reported >= 1 << 20:
            self.reported = self.source.consumed
            self.progress(self.source.consumed, self.size)


def _unquote(cells: list[bytes]) -> list[bytes] | None:
    """Cells with the quotes around them removed; None when a quote is anywhere else (the exact reader's job)."""
    out = []
    for cell in cells:
        if b'"' in cell:
            inner = cell[1:-1]
            if len(cell) < 2 or cell[:1] != b'"' or cell[-1:] != b'"' or b'"' in inner:
                return None
            cell = inner
        out.append(cell)
    return out


def _fast_block(
    block: bytes, width: int, numeric: list[int], label: int | None
) -> tuple[np.ndarray, np.ndarray, list[bytes]] | None:
    """The numbers, raw label codes and distinct raw labels of a block of plain lines, or None when the fast
    reader cannot vouch for the block."""
    plain = _plain_lines(block, width)
    if plain is None:
        return None
    cells = plain.replace(b"\n", b",").split(b",")
    n = (len(cells) - 1) // width
    quoted = b'"' in plain
    X = np.empty((n, len(numeric)), dtype=np.float64)
    for k, j in enumerate(numeric):
        if not _fill_column(X[:, k], cells[j : n * width : width], quoted):
            return None
    if not np.isfinite(X).all():
        return None
    if label is None:
        return X, np.zeros(n, dtype=np.int64), []
    column = cells[label : n * width : width]
    distinct = {cell: i for i, cell in enumerate(dict.fromkeys(column))}
    raw = _unquote(list(distinct)) if quoted else list(distinct)
    if raw is None:
        return None
    codes = np.fromiter(map(distinct.__getitem__, column), dtype=np.int64, count=n)
    return X, codes, raw


def _plain_lines(block: bytes, width: int) -> bytes | None:
    """``block`` with LF line ends and a final newline, or None unless it is UTF-8 whose every line holds
    ``width`` cells (a lone CR, a line with another count of commas: the exact reader's job)."""
    if b"\r" in block:
        if block.count(b"\r") != block.count(b"\r\n"):
            return None
        block = block.replace(b"\r\n", b"\n")
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not block.endswith(b"\n"):
        block += b"\n"
    return block if _every_line_has(block, width - 1) else None


def _fill_column(out: np.ndarray, column: list[bytes], quoted: bool) -> bool:
    """Parse one column's cells into ``out`` (quotes around a cell allowed when the block has any); False when a
    cell is not a plain number."""
    try:
        out[:] = np.fromiter(map(float, column), dtype=np.float64, count=len(column))
        return True
    except ValueError:
        unquoted = _unquote(column) if quoted else None
        if unquoted is None:
            return False
    try:
        out[:] = np.fromiter(map(float, unquoted), dtype=np.float64, count=len(column))
    except ValueError:
        return False
    return True


def _every_line_has(block: bytes, commas: int) -> bool:
    """Whether every line of ``block`` (ending in a newline) holds exactly ``commas`` commas."""
    buffer = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(buffer == ord("\n"))
    comma_at = np.flatnonzero(buffer == ord(","))
    if comma_at.size != commas * ends.size:
        return False
    before_end = np.searchsorted(comma_at, ends)
    return bool(np.all(np.diff(before_end, prepend=0) == commas))
