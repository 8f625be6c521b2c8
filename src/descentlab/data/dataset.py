"""Data sets: the embedded Iris table, CSV files, a stratified split and standardisation.

Users hold samples as rows, ``X`` of shape ``(S, d)``; the network transposes once at its boundary.
Labels are encoded to ``0..k−1`` in sorted order of the original labels, which are kept as ``class_names``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

import numpy as np

from .csvread import DataError, Progress, Table, read_table

__all__ = ["DataError", "Dataset", "FEATURE_LIMIT", "Standardizer", "load_csv", "load_features", "load_iris",
           "stratified_test_counts", "train_test_split"]


class Dataset:
    """Features and integer class labels.

    Parameters
    ----------
    X : (S, d) array-like of numbers
        One sample per row.
    y : (S,) array-like
        Class labels of any sortable kind. Without ``class_names`` they are encoded to ``0..k−1`` in sorted
        order and the sorted distinct labels become ``class_names``; with ``class_names`` they must already
        be integers in ``0..len(class_names)−1``.
    feature_names, class_names : sequence of str, optional
        Default ``x0, x1, …`` and the sorted distinct labels.
    source, target : str, optional
        The file the data came from and its label column, named by the messages about the data.

    Notes
    -----
    ``rows``: for a part made by :meth:`subset` (a split), the rows (0-based, the header not counted) of the data
    it was taken from; None for data read whole.
    """

    __slots__ = ("X", "y", "feature_names", "class_names", "source", "target", "rows")

    def __init__(self, X: np.ndarray | Sequence[Sequence[float]], y: np.ndarray | Sequence[object],
                 feature_names: Sequence[str] | None = None, class_names: Sequence[str] | None = None,
                 source: str | None = None, target: str | None = None) -> None:
        X_arr = np.array(X, dtype=np.float64)
        y_raw = np.asarray(y)
        if X_arr.ndim != 2:
            raise DataError(f"X must be a 2-D array (samples × features), got shape {X_arr.shape}")
        if y_raw.ndim != 1 or y_raw.shape[0] != X_arr.shape[0]:
            raise DataError(f"y must be 1-D with one label per row of X ({X_arr.shape[0]}), got {y_raw.shape}")
        if not np.all(np.isfinite(X_arr)):
            raise DataError("X holds a missing or non-finite value")
        if class_names is None:
            labels, y_enc = np.unique(y_raw, return_inverse=True)
            class_names = [str(label) for label in labels]
        else:
            class_names = [str(c) for c in class_names]
            if y_raw.size and (
                not np.issubdtype(y_raw.dtype, np.integer) or y_raw.min() < 0 or y_raw.max() >= len(class_names)
            ):
                raise DataError(f"with class_names given, y must hold integers in 0..{len(class_names) - 1}")
            y_enc = y_raw
        if feature_names is None:
            feature_names = [f"x{j}" for j in range(X_arr.shape[1])]
        if len(feature_names) != X_arr.shape[1]:
            raise DataError(f"{len(feature_names)} feature names for {X_arr.shape[1]} columns")
        X_arr.setflags(write=False)
        y_arr = np.array(y_enc, dtype=np.int64)
        y_arr.setflags(write=False)
        self.X: np.ndarray = X_arr
        self.y: np.ndarray = y_arr
        self.feature_names: tuple[str, ...] = tuple(str(f) for f in feature_names)
        self.class_names: tuple[str, ...] = tuple(class_names)
        self.source = source
        self.target = target
        self.rows: np.ndarray | None = None  # of a subset: the rows (0-based) of the data it was taken from

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: np.ndarray) -> Dataset:
        """The rows ``index``, keeping every class name (a class may be absent from the subset)."""
        subset = Dataset(self.X[index], self.y[index], self.feature_names, self.class_names, self.source, self.target)
        subset.rows = (np.arange(self.n_samples) if self.rows is None else self.rows)[index]
        return subset

    def with_features(self, X: np.ndarray) -> Dataset:
        """The same labels and names with other feature values (e.g. standardised)."""
        data = Dataset(X, self.y, self.feature_names, self.class_names, self.source, self.target)
        data.rows = self.rows
        return data

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (f"Dataset(n_samples={self.n_samples}, features={list(self.feature_names)}, "
                f"classes={list(self.class_names)})")


def load_iris() -> Dataset:
    """Fisher's Iris data as shipped inside the package (150 rows, 4 features, 3 classes).

    The table is the corrected one (rows 35 and 38 as in Fisher's paper, as scikit-learn ships them).
    Features are in centimetres and not standardised.
    """
    source = resources.files("descentlab.data").joinpath("datasets/iris.csv")
    with resources.as_file(source) as path:
        return load_csv(path, target="species")


FEATURE_LIMIT = 1e100
"""Largest magnitude a feature read from a file may have. Gradients hold products of features with features
and with weights, and standardising squares them: beyond about 1e154 a square overflows float64, so a table
with larger values cannot be trained on or predicted from; 1e100 leaves room for the weights and the sums."""

_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def load_csv(path: str | Path, target: str | None = None, features: Sequence[str] | None = None,
             progress: Progress | None = None) -> Dataset:
    """Read a classification table from a comma-separated file whose first line is a header row.

    Parameters
    ----------
    path : path of the file (UTF-8, with or without a byte-order mark; ``\\n`` or ``\\r\\n`` line ends)
    target : name of the label column (default: the last column). Labels are compared as text (stripped),
        except when every label of the column is a decimal number: then labels equal as numbers are one class
        (``1``, ``01``, ``1.0`` and ``1e0`` are the class ``1``), named by the number's shortest form and
        ordered by value. Otherwise classes are ordered as strings.
    features : names of the feature columns, in the order the model will see them; default every column but
        the target, in file order. Each must hold finite numbers of magnitude at most :data:`FEATURE_LIMIT`.
    progress : called as ``progress(bytes_read, total_bytes)`` while a large file is read

    Raises
    ------
    DataError
        naming the file, line and column of the first problem found; also for a first line that looks like
        data rather than a header (its would-be feature names are numbers) and for a file separated by
        semicolons, tabs or bars.
    """
    path = Path(path)
    names: list[str] = []

    def choose(header: tuple[str, ...]) -> tuple[list[int], int]:
        chosen, label = _choose_columns(path, header, target, features)
        names.extend(chosen)
        return _positions(header, chosen), label

    table = read_table(path, choose, progress)
    target_name = table.header[table.label_column if table.label_column is not None else -1]
    if table.X.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    _check_range(path, table, names)
    class_names, code = _classes(path, table, target_name)
    if len(class_names) < 2:
        raise DataError(f"{path}: column {target_name!r} holds fewer than two classes ({_listed(class_names)})")
    return Dataset(table.X, code[table.label_codes], names, class_names, source=str(path), target=target_name)


def _choose_columns(
    path: Path, header: tuple[str, ...], target: str | None, features: Sequence[str] | None
) -> tuple[list[str], int]:
    if features is None:  # every other column becomes a feature: an unnamed one would be a feature called ''
        _check_named(path, header)
    _check_header(path, header)
    if target is None:
        target = header[-1]
    if target not in header:
        raise DataError(f"{path}:1: no target column {target!r}; the columns are: {_listed(header)}")
    if features is None:
        names = [name for name in header if name != target]
    else:
        names = list(features)
        columns = set(header)
        unknown = [name for name in names if name not in columns]
        if unknown:
            raise DataError(f"{path}:1: unknown feature column(s) {_listed(unknown)}")
        if target in names:
            raise DataError(f"{path}:1: the target column {target!r} cannot also be a feature")
    if not names:
        raise DataError(f"{path}:1: no feature columns besides the target {target!r}")
    return names, header.index(target)


def _check_named(path: Path, header: tuple[str, ...]) -> None:
    """Refuse training data with a column that has no name: it would become a feature called ''."""
    unnamed = [str(j + 1) for j, name in enumerate(header) if not name]
    if unnamed and len(header) > 1:
        which = f"column {unnamed[0]} has" if len(unnamed) == 1 else f"columns {', '.join(unnamed)} have"
        raise DataError(f"{path}:1: {which} no name; name every column (an index written by pandas? save it with "
                        f"index=False)")


def _duplicated(header: Sequence[str]) -> list[str]:
    """The names a header holds more than once (counted once each: a header of 10⁵ columns takes no time)."""
    return sorted(name for name, count in Counter(header).items() if count > 1)


def _positions(header: Sequence[str], names: Sequence[str]) -> list[int]:
    """The column of each of ``names`` (its first, as ``header.index``), looked up in one pass over the header."""
    first = {name: i for i, name in reversed(list(enumerate(header)))}
    return [first[name] for name in names]


def _check_header(path: Path, header: tuple[str, ...]) -> None:
    """Refuse a header that is not one: duplicated names, another delimiter, or a first line of data."""
    duplicated = _duplicated(header)
    if duplicated:
        raise DataError(f"{path}:1: duplicated column name(s): {_listed(duplicated)}")
    if len(header) == 1:
        for delimiter, name in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
            if delimiter in header[0]:
                raise DataError(f"{path}:1: the header is one column {header[0]!r}: the delimiter looks like "
                                f"{name}; descentlab reads comma-separated files")
    numbers = [name for name in header if _DECIMAL.fullmatch(name)]
    positions = [str(i) for i in range(len(numbers))], [str(i + 1) for i in range(len(numbers))]
    if len(header) >= 2 and len(numbers) >= len(header) - 1 and numbers not in positions:
        shown = _listed(header[:4]) + (", …" if len(header) > 4 else "")
        raise DataError(f"{path}:1: the first line looks like data, not a header row (its column names are "
                        f"numbers: {shown}); add a first line naming the columns")


def _listed(names: Sequence[str]) -> str:
    """Names for a one-line message: as they are, or escaped (``a\\nb``) when they hold a line break or another
    unprintable character."""
    return ", ".join(name if name.isprintable() else repr(name)[1:-1] for name in names)


def _check_range(path: Path, table: Table, names: Sequence[str]) -> None:
    """Refuse features too large to compute with, naming the column and line of the largest."""
    magnitude = np.abs(table.X)
    too_large = magnitude.max(axis=0, initial=0.0) > FEATURE_LIMIT
    if too_large.any():
        k = int(np.argmax(too_large))
        row = int(np.argmax(magnitude[:, k]))
        raise DataError(
            f"{path}:{table.lines[row]}: column {names[k]!r} holds {table.X[row, k]:.6g}, beyond ±{FEATURE_LIMIT:g} "
            f"(products and squares of features would overflow); rescale the column"
        )


def _classes(path: Path, table: Table, target: str) -> tuple[list[str], np.ndarray]:
    """Class names in order and the class of each distinct label (see :func:`load_csv` for the rule)."""
    labels = table.labels
    if labels and all(_DECIMAL.fullmatch(label) for label in labels):
        numbers = [_label_number(label) for label in labels]
        values = [number for number in numbers if number is not None]
        if len(values) < len(numbers):  # an exponent beyond what decimal can hold: 1e9999999999999999999
            at = numbers.index(None)
            raise DataError(f"{path}:{table.label_lines[at]}: the label {labels[at]!r} of column {target!r} is a "
                            "number too large to compare; write the classes as smaller numbers or as names")
        distinct = sorted(set(values))
        index = {value: c for c, value in enumerate(distinct)}
        return [_number_name(value) for value in distinct], np.array([index[v] for v in values], dtype=np.int64)
    distinct_text = sorted(set(labels))
    index_text = {label: c for c, label in enumerate(distinct_text)}
    return distinct_text, np.array([index_text[label] for label in labels], dtype=np.int64)


def _label_number(label: str) -> Decimal | None:
    try:
        return Decimal(label)
    except InvalidOperation:
        return None


def _number_name(value: Decimal) -> str:
    """The shortest plain form of a number: 1 for 01 and 1.0, 2.5 for 2.50, 1E+40 for 1e40 (and 1E+9999999: the
    exponent may be as large as decimal allows)."""
    exact = Context(prec=max(28, len(value.as_tuple().digits)), Emax=MAX_EMAX, Emin=MIN_EMIN)
    short = value.normalize(exact)
    if short == 0:
        return "0"
    return format(short, "f") if -30 < short.adjusted() < 30 else str(short)


@dataclass(frozen=True)
class Features:
    """What :func:`load_features` reads: ``X`` (S, d) in the model's order, the file ``lines`` of the rows, the
    ``names`` of the columns read, and with a label column the ``classes`` (as :func:`load_csv` names them) and
    each row's index into them, ``y``."""

    X: np.ndarray
    lines: np.ndarray
    names: list[str]
    classes: list[str] | None = None
    y: np.ndarray | None = None


def load_features(
    path: str | Path, features: Sequence[str] | int, progress: Progress | None = None, target: str | None = None
) -> Features:
    """The feature columns of a CSV file, for prediction, and the label column ``target`` if one is named.

    ``features``: the model's feature names (read by name, any order, other columns ignored), or their number
    when the model stores no names: then every column but ``target`` is a feature, in order, and there must be
    exactly that many. Raises :class:`DataError` naming the missing columns, or the line and column of a bad value
    (the rules of :func:`load_csv`, including :data:`FEATURE_LIMIT`).
    """
    path = Path(path)
    names: list[str] = []

    def choose(header: tuple[str, ...]) -> tuple[list[int], int | None]:
        duplicated = _duplicated(header)
        if duplicated:
            raise DataError(f"{path}:1: duplicated column name(s): {_listed(duplicated)}")
        if target is not None and target not in header:
            _check_header(path, header)
            raise DataError(f"{path}:1: no column named {target!r} (--target); the columns are {_listed(header)}")
        label = None if target is None else header.index(target)
        if isinstance(features, int):
            names.extend(name for i, name in enumerate(header) if i != label)
            if len(names) != features:
                besides = " besides the --target column" if target is not None else ""
                raise DataError(f"{path}:1: the model stores no feature names, so it reads its {features} features "
                                f"by position; the file has {len(names)} columns{besides}")
            return [i for i in range(len(header)) if i != label], label
        names.extend(features)
        columns = set(header)
        missing = [name for name in features if name not in columns]
        if missing:
            _check_header(path, header)  # a first line of data or another delimiter explains it better
            raise DataError(f"{path}:1: missing feature column(s) {_listed(missing)}; the model needs "
                            f"{_listed(features)}")
        return _positions(header, features), label

    table = read_table(path, choose, progress)
    if table.X.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    _check_range(path, table, names)
    if target is None:
        return Features(table.X, table.lines, names)
    classes, code = _classes(path, table, target)
    return Features(table.X, table.lines, names, classes, code[table.label_codes])


def data_digest(data: Dataset) -> str:
    """SHA-256 of a data set's features and labels: a resumed run must see the data it started with."""
    digest = hashlib.sha256(np.ascontiguousarray(data.X, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(data.y, dtype="<i8").tobytes())
    return digest.hexdigest()


def train_test_split(data: Dataset, test_size: float = 0.25, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Stratified, seeded split into training and test sets.

    The test set has exactly ``ceil(test_size · S)`` rows, shared among the classes in proportion to their
    sizes (largest remainders first, ties to the lower class index), with at least one row of every class on
    each side; when that minimum moves a class's share, the classes furthest above (below) their exact share
    give (take) the difference. Within each class the rows are drawn by a permutation from
    ``numpy.random.default_rng(seed)``. The same data and seed give the same split.

    Raises
    ------
    DataError
        if ``test_size`` is not in (0, 1), a class has fewer than 2 rows, or the classes are too many and too
        small for a test set of the size asked (each needs a row on both sides); the message names the data's
        file, label column and the smallest class with its count.
    """
    per_class = stratified_test_counts(data, test_size)
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(data.y == c) for c in range(data.n_classes)]
    shuffled = [rows[rng.permutation(rows.size)] for rows in by_class]  # class by class, one draw each
    train_rows = np.sort(np.concatenate([rows[n:] for rows, n in zip(shuffled, per_class, strict=True)]))
    test_rows = np.sort(np.concatenate([rows[:n] for rows, n in zip(shuffled, per_class, strict=True)]))
    return data.subset(train_rows), data.subset(test_rows)


def stratified_test_counts(data: Dataset, test_size: float) -> np.ndarray:
    """Rows of each class that :func:`train_test_split` puts in the test set (its rule), or the
    :class:`DataError` it would raise: a check of the data that draws nothing."""
    if not 0.0 < test_size < 1.0:
        raise DataError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    where = f"{data.source}: column {data.target!r}: " if data.source else ""
    S = data.n_samples
    counts = np.bincount(data.y, minlength=data.n_classes)
    for c, count in enumerate(counts):
        if count < 2:
            raise DataError(
                f"{where}class {data.class_names[c]!r} has {count} row(s); at least 2 are needed to stratify"
            )
    n_test = math.ceil(test_size * S)
    if n_test >= S:
        raise DataError(f"{where}test_size {test_size} leaves no training rows out of {S}")
    return _test_rows_per_class(counts, n_test, where, data.class_names, test_size)


def _test_rows_per_class(
    counts: np.ndarray, n_test: int, where: str, class_names: Sequence[str], test_size: float
) -> np.ndarray:
    """Largest-remainder shares of ``n_test``, kept within [1, count − 1] for every present class."""
    S = int(counts.sum())
    exact = n_test * counts / S
    per_class = np.floor(exact).astype(np.int64)
    remainder = n_test - int(per_class.sum())
    order = sorted(range(len(counts)), key=lambda c: (-(exact[c] - per_class[c]), c))
    for c in order[:remainder]:
        per_class[c] += 1
    lower, upper = np.minimum(1, counts), np.maximum(counts - 1, 0)
    smallest = int(np.argmin(np.where(counts > 0, counts, S + 1)))
    for bound, side, asked in ((int(lower.sum()), "test", n_test), (int(S - upper.sum()), "training", S - n_test)):
        if bound > asked:
            raise DataError(
                f"{where}class {class_names[smallest]!r} has {counts[smallest]} rows: with {int((counts > 0).sum())} "
                f"classes each needing a row on both sides, the {side} set would hold {bound} rows instead of the "
                f"{asked} that test size {test_size:g} of {S} rows asks; use fewer, larger classes or another "
                f"test size"
            )
    per_class = np.clip(per_class, lower, upper)
    while (excess := int(per_class.sum()) - n_test) != 0:
        movable = per_class > lower if excess > 0 else per_class < upper
        gap = np.where(movable, (per_class - exact) * np.sign(excess), -np.inf)
        per_class[int(np.argmax(gap))] -= int(np.sign(excess))
    return per_class


@dataclass(frozen=True)
class Standardizer:
    """Feature-wise ``(x − mean) / scale``, fitted on training data only.

    A constant column gets scale 1 so it maps to 0 instead of dividing by zero. Mean and standard deviation
    are computed on the column divided by its largest magnitude, so tiny (subnormal) and huge columns get
    their true scale instead of one lost to underflow or overflow of the squares.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        peak = np.max(np.abs(X), axis=0, initial=0.0)
        peak = np.where(peak > 0.0, peak, 1.0)
        unit = X / peak
        mean = unit.mean(axis=0) * peak
        scale = unit.std(axis=0) * peak
        scale = np.where(scale > 0.0, scale, 1.0)
        return cls(mean, scale)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale

    def apply(self, data: Dataset) -> Dataset:
        """The data standardised; a :class:`DataError` names the file and column a value overflows in."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            X = self.transform(data.X)
        bad = ~np.isfinite(X)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            where = f"{data.source}: " if data.source else ""
            raise DataError(
                f"{where}column {data.feature_names[column]!r}: standardising gives a non-finite value "
                f"(value {data.X[row, column]:.6g}, mean {self.mean[column]:.6g}, scale {self.scale[column]:.6g}); "
                f"rescale the column or train without --standardize"
            )
        return data.with_features(X)

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_json(cls, obj: dict[str, list[float]]) -> Standardizer:
        return cls(np.array(obj["mean"], dtype=np.float64), np.array(obj["scale"], dtype=np.float64))
