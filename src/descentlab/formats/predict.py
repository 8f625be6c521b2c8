"""A saved model applied to the rows of a file: its stored standardisation, the class probabilities, the predicted
classes, and the CSV that ``descentlab predict`` writes."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.network import MLP
from ..core.params import Params
from ..data.dataset import DataError, Standardizer


def finite_probabilities(net: MLP, params: Params, X: np.ndarray, standardization: dict[str, Any] | None,
                         where: tuple[Path, Any, Sequence[str]]) -> np.ndarray:
    """The model's class probabilities ``(S, K)`` for the raw rows ``X : (S, d)``, standardised first as the model
    file records (``standardization``, or None); a :class:`DataError` names the first row (``where``: file,
    line of each row, feature names) for which the arithmetic overflows: a row never gets a class computed from
    NaN."""
    path, lines, features = where
    scaler = Standardizer.from_json(standardization) if standardization else None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        Z = X if scaler is None else scaler.transform(X)
        proba = net.predict_proba(params, Z)
    bad = ~(np.isfinite(Z).all(axis=1) & np.isfinite(proba).all(axis=1))
    if bad.any():
        row = int(np.argmax(bad))
        column = int(np.argmax(np.nan_to_num(np.abs(Z[row]), nan=np.inf)))
        raise DataError(f"{path}:{lines[row]}: column {features[column]!r} holds {X[row, column]:.6g}, too far out "
                        f"for this model: its probabilities overflow ({int(bad.sum())} row(s) like this)")
    return proba


def predictions_csv(proba: np.ndarray, classes: Sequence[str]) -> tuple[str, int]:
    """``row, predicted, proba_<class>…``: one line per row of ``proba : (S, K)``, the predicted class the most
    probable one (the first on ties); returns the text and the number of rows."""
    labels = np.argmax(proba, axis=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "predicted", *(f"proba_{c}" for c in classes)])
    for i, (label, row) in enumerate(zip(labels, proba, strict=True), start=1):
        writer.writerow([i, classes[label], *(repr(float(p)) for p in row)])
    return buffer.getvalue(), len(labels)


def scores(truth: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class precision and recall (None where undefined: a class never predicted, or absent) and
    the confusion matrix (row: the true class, column: the predicted one) of class indices into ``classes``."""
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    hits, predicted_as, support = np.diag(confusion), confusion.sum(axis=0), confusion.sum(axis=1)
    per_class = {
        name: {"precision": float(hits[c] / predicted_as[c]) if predicted_as[c] else None,
               "recall": float(hits[c] / support[c]) if support[c] else None, "support": int(support[c])}
        for c, name in enumerate(classes)
    }
    return {"rows": int(truth.size), "accuracy": float(hits.sum() / truth.size), "classes": list(classes),
            "per_class": per_class, "confusion_matrix": confusion.tolist()}
