"""Check an exported ONNX graph against the model it came from, before the file is written.

The graph computes in float32 and has any standardisation folded into its first layer (``W0/scale``), so a
model that descentlab evaluates fine in float64 can come out as NaN or infinity: a feature of scale 1e-40 gives
first-layer weights of about 1e40, beyond float32's 3.4e38. The check runs the graph with onnxruntime on sample
rows where the model is meant to be used and compares its probabilities with :meth:`MLP.predict_proba`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.network import MLP
from ..core.params import Params

# float32 keeps about 7 digits; after a few layers and a softmax the probabilities of a healthy export agree
# with float64 to ~1e-6. A thousand times that is still far below any difference that changes a prediction much.
TOLERANCE = 1e-3
FLOAT32_MAX = float(np.finfo(np.float32).max)


class ExportMismatch(ValueError):
    """The exported graph does not compute what the model computes."""


def sample_rows(d: int, standardization: dict[str, Any] | None, n_random: int = 64, seed: int = 0) -> np.ndarray:
    """Raw feature rows to compare on: with a stored standardisation, the training mean, the mean ± 1 and ± 3
    standard deviations in each feature, and ``n_random`` draws of mean + std·N(0, 1); without one (raw features
    of unknown scale), zeros, ± unit vectors and standard normal draws."""
    rng = np.random.default_rng(seed)
    if standardization is None:
        mean, scale = np.zeros(d), np.ones(d)
    else:
        mean = np.asarray(standardization["mean"], dtype=np.float64)
        scale = np.asarray(standardization["scale"], dtype=np.float64)
    steps = np.kron(np.eye(d), [[-3.0], [-1.0], [1.0], [3.0]])  # rows c·e_j for every feature j, c = −3, −1, 1, 3
    return mean + np.vstack([np.zeros(d), steps, rng.standard_normal((n_random, d))]) * scale


def _reason(folded_weights: np.ndarray, rows: np.ndarray) -> str:
    """Why float32 cannot hold the export, when the cause is visible in its numbers."""
    largest = float(np.max(np.abs(folded_weights))) if folded_weights.size else 0.0
    if largest > FLOAT32_MAX:
        return (f"the first-layer weights with the standardisation folded in reach {largest:.3g}, beyond float32's "
                f"{FLOAT32_MAX:.3g} (a feature's standardisation scale is tiny)")
    if float(np.max(np.abs(rows))) > FLOAT32_MAX:
        return f"the features reach {float(np.max(np.abs(rows))):.3g}, beyond float32's {FLOAT32_MAX:.3g}"
    return "float32 rounding changes the model's output too much"


def verify_onnx(blob: bytes, net: MLP, params: Params, standardization: dict[str, Any] | None,
                folded_weights: np.ndarray) -> int:
    """Run the serialised graph ``blob`` with onnxruntime on :func:`sample_rows` and compare it with the model.

    Returns the number of rows compared. Raises :class:`ExportMismatch` naming how many rows disagree, by how
    much, and the likely reason; ``ModuleNotFoundError`` when onnxruntime is not installed.
    """
    import onnxruntime

    rows = sample_rows(net.sizes[0], standardization)
    with np.errstate(all="ignore"):  # overflow is what is being looked for
        inputs = rows
        if standardization is not None:
            inputs = (rows - np.asarray(standardization["mean"])) / np.asarray(standardization["scale"])
        expected = net.predict_proba(params, inputs)
        representable = np.all(np.abs(rows) <= FLOAT32_MAX, axis=1)
        session = onnxruntime.InferenceSession(blob, providers=["CPUExecutionProvider"])
        (got,) = session.run(["probabilities"], {"input": rows.astype(np.float32)})
        error = np.where(np.isfinite(got), np.abs(got - expected), np.inf).max(axis=1)
    # a row the model itself cannot evaluate says nothing about the export
    bad = np.all(np.isfinite(expected), axis=1) & (~representable | (error > TOLERANCE))
    if bad.any():
        worst = float(np.max(error))
        raise ExportMismatch(
            f"the float32 ONNX graph does not agree with the model on {int(bad.sum())} of {len(rows)} sample rows "
            f"({'NaN or infinite probabilities' if not np.isfinite(worst) else f'probabilities off by {worst:.2g}'}): "
            f"{_reason(folded_weights, rows)}")
    return len(rows)
