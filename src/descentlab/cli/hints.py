"""One line of advice when a run will not (or did not) train: before it, features on very different scales; after
it, a method that ended stuck at the class-frequency loss or diverged. docs/own-data.md explains each."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..experiments.config import CompareConfig
from ..experiments.results import Sweep
from .common import say

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

    from ..data.dataset import Dataset
    from ..experiments.results import Comparison, Tuned

SPREAD = 100.0  # features whose largest magnitudes differ more than this, or reach it, want standardising


def scale_hint(X: np.ndarray, names: list[str], config: CompareConfig) -> str | None:
    """``features span 0.66 … 1,680 ('proline'): add --standardize`` when the largest magnitudes of the
    features (columns that are not all zero) differ by more than :data:`SPREAD` times or reach it."""
    import numpy as np

    if config.standardize or X.size == 0:
        return None
    scale = np.abs(X).max(axis=0)
    used = np.flatnonzero(scale > 0)
    if not used.size:
        return None
    small, large = float(scale[used].min()), float(scale[used].max())
    if large < SPREAD and large <= SPREAD * small:
        return None
    column = names[int(used[np.argmax(scale[used])])]
    return f"features span {small:,.3g} … {large:,.0f} ({column!r}): add --standardize"


def say_scale_hint(err: Console, data: Dataset, config: CompareConfig) -> bool:
    """Print :func:`scale_hint` for the data of a run (before any training); whether it did."""
    hint = scale_hint(data.X, list(data.feature_names), config)
    if hint is not None:
        say(err, ("hint:", "cyan"), f" {hint}")
    return hint is not None


def status_hint(name: str, status: str, rose: bool, config: CompareConfig, scaled: bool = True) -> str | None:
    """What to try for a method that ended ``stuck`` (``rose``: above its starting loss, a step too large),
    ``high-loss`` or ``diverged``; None when it is ``ok``. ``scaled``: the features need no ``--standardize``."""
    standardize = "" if scaled else "--standardize, "
    lr = "lr= in its spec" if "lr=" in name.partition(":")[2] else f"--lr than {config.lr:g}"
    if status in ("diverged", "high-loss") or (status == "stuck" and rose):
        how = {"diverged": "diverged", "high-loss": "ended with a loss above guessing the class frequencies"}.get(
            status, "ended stuck above its starting loss")
        return f"{name} {how}: try {standardize}a smaller {lr}"
    if status == "stuck":
        return (f"{name} ended stuck at the loss of guessing the class frequencies: try {standardize}--init he, a "
                f"larger {lr} or more --iterations")
    return None


def say_status_hints(err: Console, comparison: Comparison) -> None:
    """One line per method of a finished comparison that did not train (:func:`status_hint`)."""
    from ..experiments.summary import method_statuses

    train = comparison.train
    scaled = scale_hint(train.X, list(train.feature_names), comparison.config) is None
    for name, status in method_statuses(comparison).items():
        losses = comparison.results[name].history.train_loss
        hint = status_hint(name, status, bool(losses[-1] > losses[0]), comparison.config, scaled)
        if hint is not None:
            say(err, ("hint:", "cyan"), f" {hint}")


def _grid_runs(result: Sweep | Tuned) -> list[tuple[str, float, int, str, bool]]:
    """Per run of a sweep (a tuned sweep: of its final phase): its method as typed, lr, seed, status and whether
    its loss ended above its start."""
    if isinstance(result, Sweep):
        runs = []
        for name, fitted in result.results.items():
            start = fitted.history.train_loss[0]
            rows = [row for row in result.rows if row["optimizer"] == name]  # in the order of result.grid
            runs += [(name, row["lr"], row["seed"], row["status"], bool(row["final_train_loss"] > start[m]))
                     for m, row in enumerate(rows)]
        return runs
    return [(row["method"], row["lr"], row["seed"], row["status"], row["train_loss"] > row["start_train_loss"])
            for row in result.phase_rows("final")]


def say_grid_hints(err: Console, result: Sweep | Tuned, scaled: bool) -> None:
    """One line per method and learning rate of a sweep (a tuned sweep: at its chosen setting) whose runs did not
    all train: the seeds of their most common status and what to try for it (:func:`status_hint`)."""
    failed: dict[tuple[str, float], list[tuple[int, str, bool]]] = {}
    for method, lr, seed, status, rose in _grid_runs(result):
        if status != "ok":
            failed.setdefault((method, lr), []).append((seed, status, rose))
    for (method, lr), mine in failed.items():
        statuses = [status for _, status, _ in mine]
        worst = max(statuses, key=statuses.count)
        seeds = [(seed, rose) for seed, status, rose in mine if status == worst]
        name = f"{method} at lr {lr:g} (seed{'s' * (len(seeds) > 1)} {', '.join(str(seed) for seed, _ in seeds)})"
        hint = status_hint(name, worst, any(rose for _, rose in seeds), replace(result.config.base, lr=lr), scaled)
        say(err, ("hint:", "cyan"), f" {hint}")
