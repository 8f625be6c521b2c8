"""What experiments produce: the outcomes of a comparison, a sweep and a tuned sweep. Plain data, importable by
reporting and the command line without the code that trains."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import CompareConfig, SweepConfig, TuneConfig

if TYPE_CHECKING:
    from ..core.network import MLP
    from ..core.params import Params
    from ..data.dataset import Dataset, Standardizer
    from ..training.results import FitResult
    from .cells import CellResult


@dataclass
class Comparison:
    """The outcome of :func:`~descentlab.experiments.compare.compare`: one FitResult per method, all from
    ``initial``."""

    config: CompareConfig
    net: MLP
    initial: Params
    train: Dataset
    test: Dataset
    results: dict[str, FitResult]
    standardizer: Standardizer | None = None
    seconds: float = 0.0
    engine_load_seconds: float | None = None  # the compiled engine's one-time load (None on the NumPy engine)
    pending: list[str] = field(default_factory=list)  # methods not started because the run was interrupted

    @property
    def interrupted(self) -> bool:
        return bool(self.pending) or any(r.interrupted for r in self.results.values())


@dataclass
class Sweep:
    """The outcome of :func:`~descentlab.experiments.sweeprun.sweep`: per optimiser, one stacked FitResult over
    the ``(lr, seed)`` grid."""

    config: SweepConfig
    net: MLP
    train: Dataset
    test: Dataset
    grid: list[tuple[float, int]]  # (lr, seed) of model m, in stacking order
    results: dict[str, FitResult]
    rows: list[dict[str, Any]]  # one per optimiser and model (sweep.csv): its grid point, status, final metrics
    seconds: float = 0.0


def file_stem(name: str) -> str:
    """A method label made safe as a file name (``momentum:mu=0.5`` → ``momentum_mu-0.5``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("=", "-"))


# -- tuned sweeps (experiments/tuning.py) -----------------------------------------------------------------------
FAILED = ("stuck", "diverged")
"""The statuses of runs that did not train; tuning counts them against their setting."""


def median_validation_loss(rows: Sequence[dict[str, Any]]) -> float:
    """Median final validation loss of some runs, a run that failed (stuck or diverged) counted as +∞."""
    values = [math.inf if r["status"] in FAILED else r["validation_loss"] for r in rows]
    return float(np.median(values))


def tuning_curve(rows: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, float, float]]]:
    """Per method, every ``(setting, lr, median validation loss)`` of its tune rows, in grid order."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["phase"] == "tune":
            grouped.setdefault((row["method"], row["setting"]), []).append(row)
    curve: dict[str, list[tuple[str, float, float]]] = {}
    for (method, setting), mine in grouped.items():
        curve.setdefault(method, []).append((setting, mine[0]["lr"], median_validation_loss(mine)))
    return curve


@dataclass
class Tuned:
    """The outcome of :func:`~descentlab.experiments.tuning.run_tuned`: every model's row (tune rows first), the
    choice, and per group its curves (for the figure)."""

    config: TuneConfig
    rows: list[dict[str, Any]]
    choice: dict[str, dict[str, Any]]
    groups: list[CellResult]  # per phase and setting, its models joined (for the figures)
    split: dict[str, Any]  # the rows of every part (split.json)
    seconds: float = 0.0

    def phase_rows(self, phase: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["phase"] == phase]
