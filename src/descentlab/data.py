"""Data sets: the embedded Iris table, CSV files, a stratified split and standardisation.

Users hold samples as rows, ``X`` of shape ``(S, d)``; the network transposes once at its boundary.
Labels are encoded to ``0..k−1`` in sorted order of the original labels, which are kept as ``class_names``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """Input data that cannot be used, with the file, line and column that are wrong."""


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
    """

    __slots__ = ("X", "y", "feature_names", "class_names")

    def __init__(
        self,
        X: np.ndarray | Sequence[Sequence[float]],
        y: np.ndarray | Sequence[object],
        feature_names: Sequence[str] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
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
        return Dataset(self.X[index], self.y[index], self.feature_names, self.class_names)

    def with_features(self, X: np.ndarray) -> Dataset:
        """The same labels and names with other feature values (e.g. standardised)."""
        return Dataset(X, self.y, self.feature_names, self.class_names)

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (
            f"Dataset(n_samples={self.n_samples}, features={list(self.feature_names)}, "
            f"classes={list(self.class_names)})"
        )


def load_iris() -> Dataset:
    """Fisher's Iris data as shipped inside the package (150 rows, 4 features, 3 classes).

    The table is the corrected one (rows 35 and 38 as in Fisher's paper, as scikit-learn ships them).
    Features are in centimetres and not standardised.
    """
    source = resources.files("descentlab").joinpath("datasets/iris.csv")
    with resources.as_file(source) as path:
        return load_csv(path, target="species")


def _number(text: str, path: Path, line: int, column: str) -> float:
    cell = text.strip()
    if cell == "" or cell.lower() in ("na", "nan", "null", "none", "?"):
        raise DataError(f"{path}:{line}: column {column!r} has a missing value")
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{path}:{line}: column {column!r} is not a number: {cell!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}:{line}: column {column!r} is not finite: {cell!r}")
    return value


def load_csv(path: str | Path, target: str | None = None, features: Sequence[str] | None = None) -> Dataset:
    """Read a classification table from a CSV file with a header row.

    Parameters
    ----------
    path : path of the file
    target : name of the label column (default: the last column); its values may be strings or integers.
        Classes are encoded in sorted order (numerically when every label is an integer, otherwise as
        strings).
    features : names of the feature columns, in the order the model will see them; default every column but
        the target, in file order. Each must hold finite numbers.

    Raises
    ------
    DataError
        naming the file, line and column of the first problem found.
    """
    path = Path(path)
    header, rows = _read_table(path)
    if target is None:
        target = header[-1]
    if target not in header:
        raise DataError(f"{path}:1: no target column {target!r}; the columns are: {', '.join(header)}")
    if features is None:
        features = [name for name in header if name != target]
    else:
        features = list(features)
        unknown = [name for name in features if name not in header]
        if unknown:
            raise DataError(f"{path}:1: unknown feature column(s) {', '.join(unknown)}")
        if target in features:
            raise DataError(f"{path}:1: the target column {target!r} cannot also be a feature")
    if not features:
        raise DataError(f"{path}:1: no feature columns besides the target {target!r}")
    columns = [header.index(name) for name in features]
    target_col = header.index(target)
    X: list[list[float]] = []
    labels: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines (e.g. a trailing one) carry no sample
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: {len(row)} fields where the header has {len(header)}")
        X.append([_number(row[j], path, line, header[j]) for j in columns])
        label = row[target_col].strip()
        if label == "":
            raise DataError(f"{path}:{line}: column {target!r} has a missing value")
        labels.append(label)
    if not X:
        raise DataError(f"{path}: no data rows after the header")
    distinct = sorted(set(labels))
    if all(_is_int(label) for label in distinct):
        distinct = sorted(distinct, key=int)
    if len(distinct) < 2:
        raise DataError(f"{path}: column {target!r} holds fewer than two classes ({', '.join(distinct)})")
    code = {label: i for i, label in enumerate(distinct)}
    y = np.array([code[label] for label in labels], dtype=np.int64)
    return Dataset(np.array(X), y, features, distinct)


def _read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file, with the checks every reader needs."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DataError(f"{path}: the file is empty (a header row is required)")
    header = [cell.strip() for cell in rows[0]]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DataError(f"{path}:1: duplicated column name(s): {', '.join(duplicated)}")
    return header, rows


def load_features(path: str | Path, features: Sequence[str]) -> tuple[np.ndarray, list[list[str]]]:
    """The named feature columns of a CSV file, for prediction.

    Returns ``X`` of shape ``(S, len(features))`` in the order given, and the raw rows (header first), so
    a caller can copy other columns through. Raises :class:`DataError` naming the missing columns, or the
    line and column of a bad value.
    """
    path = Path(path)
    header, rows = _read_table(path)
    missing = [name for name in features if name not in header]
    if missing:
        raise DataError(
            f"{path}:1: missing feature column(s) {', '.join(missing)}; the model needs "
            f"{', '.join(features)}"
        )
    columns = [header.index(name) for name in features]
    X = []
    kept = [rows[0]]
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: {len(row)} fields where the header has {len(header)}")
        X.append([_number(row[j], path, line, header[j]) for j in columns])
        kept.append(row)
    if not X:
        raise DataError(f"{path}: no data rows after the header")
    return np.array(X, dtype=np.float64), kept


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def train_test_split(data: Dataset, test_size: float = 0.25, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Stratified, seeded split into training and test sets.

    The test set has ``ceil(test_size · S)`` rows, shared among the classes in proportion to their sizes
    (largest remainders first, ties to the lower class index); within each class the rows are drawn by a
    permutation from ``numpy.random.default_rng(seed)``. The same data and seed give the same split.

    Raises
    ------
    DataError
        if ``test_size`` is not in (0, 1) or a class has too few rows to appear in both parts.
    """
    if not 0.0 < test_size < 1.0:
        raise DataError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    S = data.n_samples
    counts = np.bincount(data.y, minlength=data.n_classes)
    for c, count in enumerate(counts):
        if count < 2:
            raise DataError(
                f"class {data.class_names[c]!r} has {count} row(s); at least 2 are needed to stratify"
            )
    n_test = math.ceil(test_size * S)
    if n_test >= S:
        raise DataError(f"test_size {test_size} leaves no training rows out of {S}")
    exact = n_test * counts / S
    per_class = np.floor(exact).astype(np.int64)
    remainder = n_test - int(per_class.sum())
    order = sorted(range(len(counts)), key=lambda c: (-(exact[c] - per_class[c]), c))
    for c in order[:remainder]:
        per_class[c] += 1
    # Every class present keeps at least one row on each side.
    per_class = np.clip(per_class, np.minimum(1, counts), np.maximum(counts - 1, 0))
    rng = np.random.default_rng(seed)
    test_index = []
    train_index = []
    for c in range(len(counts)):
        rows = np.flatnonzero(data.y == c)
        rows = rows[rng.permutation(rows.size)]
        test_index.append(rows[: per_class[c]])
        train_index.append(rows[per_class[c] :])
    train_rows = np.sort(np.concatenate(train_index))
    test_rows = np.sort(np.concatenate(test_index))
    return data.subset(train_rows), data.subset(test_rows)


@dataclass(frozen=True)
class Standardizer:
    """Feature-wise ``(x − mean) / scale``, fitted on training data only.

    A constant column gets scale 1 so it maps to 0 instead of dividing by zero.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale = np.where(scale > 0.0, scale, 1.0)
        return cls(mean, scale)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale

    def apply(self, data: Dataset) -> Dataset:
        return data.with_features(self.transform(data.X))

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_json(cls, obj: dict[str, list[float]]) -> Standardizer:
        return cls(np.array(obj["mean"], dtype=np.float64), np.array(obj["scale"], dtype=np.float64))
