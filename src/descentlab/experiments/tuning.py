"""The tuned comparison: every method gets its own best setting on validation data, then is measured on fresh
repetitions and the untouched test set.

Protocol (``descentlab sweep --tune``), R repetitions:

1. Repetition r draws its own stratified three-way split (train / validation / test) and its own initial point,
   both from seed r, so that the claims cover the variability of the data as well as of the initialisation.
2. Phase ``tune``: every method at every setting of its grid (the learning rates, and every hyper-parameter given
   as a list) on repetitions 0 … R−1. A method's chosen setting minimises the median final *validation* loss
   over those repetitions (a diverged run counts as +∞); ties go to the smaller learning rate, then to the
   setting named first. Test data never enter the choice: training only ever sees the validation set.
3. Phase ``final``: every method at its chosen setting on the fresh repetitions R … 2R−1; these are the runs
   the comparison reports.

The unit of work is a :class:`Group`: one setting of one method at some learning rates on some repetitions, all
trained by :func:`train_group`, which returns one row per model and the models' curves. A scheduler may run the
groups of a phase in any order or place; only :func:`choose` couples the phases.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.objective import Objective, Want
from ..core.params import Params
from ..data.dataset import DataError, Dataset, Standardizer, train_test_split
from ..optim.spec import expand_method, parse_optimizer
from ..training.fit import fit
from .cells import engine_for_all
from .compare import network_for
from .config import CompareConfig, TuneConfig
from .results import Group, GroupResult, Tuned, tuning_curve
from .statistics import chance_loss, run_status

PHASES = ("tune", "final")


# -- method grids ---------------------------------------------------------------------------------------------
def full_setting(setting: str, lr: float) -> str:
    """The spec that reproduces one model's optimiser, learning rate included: ``momentum:mu=0.5:lr=0.02``."""
    return f"{setting}:lr={lr!r}"


# -- one repetition ---------------------------------------------------------------------------------------------
def split_three_ways(
    data: Dataset, validation_size: float, test_size: float, seed: int
) -> tuple[Dataset, Dataset, Dataset]:
    """Stratified train / validation / test split from ``seed``.

    The test part is ``train_test_split(data, test_size, seed)``'s; the validation part, ``ceil(validation_size
    · S)`` rows of the whole data, is then drawn (stratified, same seed) from the rest.
    """
    if not 0.0 < validation_size < 1.0 or validation_size + test_size >= 1.0:
        raise DataError(f"validation size {validation_size} and test size {test_size} leave no training data")
    rest, test = train_test_split(data, test_size=test_size, seed=seed)
    n_validation = math.ceil(validation_size * data.n_samples)
    if n_validation >= rest.n_samples:
        raise DataError(f"validation size {validation_size} leaves no training rows")
    # train_test_split takes ceil(fraction · S); half a row below the count makes that exact despite rounding.
    train, validation = train_test_split(rest, test_size=(n_validation - 0.5) / rest.n_samples, seed=seed)
    return train, validation, test


def repetition(
    data: Dataset, base: CompareConfig, validation_size: float, seed: int
) -> tuple[Dataset, Dataset, Dataset]:
    """Repetition ``seed``'s three parts, standardised with its training statistics when ``base.standardize``."""
    train, validation, test = split_three_ways(data, validation_size, base.test_size, seed)
    if base.standardize:
        standardizer = Standardizer.fit(train.X)
        train, validation, test = (standardizer.apply(part) for part in (train, validation, test))
    return train, validation, test


# -- groups of models -------------------------------------------------------------------------------------------


def train_group(data: Dataset, base: CompareConfig, validation_size: float, group: Group) -> GroupResult:
    """Train every model of ``group``; for each repetition the learning rates are stacked into one batch.

    Parameters
    ----------
    data : the whole data set (each repetition splits it with its own seed)
    base : network, initialisation, iterations, test size, standardisation, weight decay and engine
    validation_size : fraction of the data in the validation part
    group : the setting, learning rates, repetitions and phase

    Returns
    -------
    GroupResult
        A row's metrics are those of the parameters the model ends with (its last finite iterate when it
        diverged); ``status`` follows :func:`descentlab.experiments.statistics.run_status`. Training sees the
        training and validation parts only; the test part is evaluated once, after the last step.
    """
    rows: list[dict[str, Any]] = []
    curves: list[tuple[np.ndarray, np.ndarray]] = []
    lr_column = np.array(group.lrs, dtype=np.float64)[:, None]
    optimizer = parse_optimizer(group.setting, lr=lr_column)
    for seed in group.seeds:
        train, validation, test = repetition(data, base, validation_size, seed)
        net = network_for(data, base)
        start = net.init(seed=seed, mu=base.init_mu, sigma=base.init_sigma, scheme=base.init).flat
        initial = Params(np.repeat(start[None, :], len(group.lrs), axis=0), net.slots)
        result = fit(net, initial, train, optimizer, iterations=base.iterations, test=validation,
                     weight_decay=base.weight_decay, batch_size=base.batch_size, seed=seed, engine=base.engine)
        chance = chance_loss(train.y, train.n_classes)
        parts = {"train": (train, base.weight_decay), "validation": (validation, 0.0), "test": (test, 0.0)}
        measured = {name: Objective(net, part.X, part.y, penalty).evaluate(result.params.flat, Want.CORRECT)
                    for name, (part, penalty) in parts.items()}
        sizes = {"train": train.n_samples, "validation": validation.n_samples, "test": test.n_samples}
        history = result.history
        for m, lr in enumerate(group.lrs):
            diverged = bool(np.isnan(history.train_loss[-1, m]))
            finite = np.flatnonzero(np.isfinite(history.train_loss[:, m]))
            row: dict[str, Any] = {
                "method": group.method, "setting": full_setting(group.setting, lr), "lr": float(lr), "seed": seed,
                "phase": group.phase, "status": "", "iterations_done": int(finite[-1]), "chance_loss": chance,
            }
            for part, evaluation in measured.items():
                assert evaluation.correct is not None
                row[f"{part}_loss"] = float(evaluation.loss[m])
                row[f"{part}_accuracy"] = float(evaluation.correct[m]) / sizes[part]
            row["status"] = run_status(row["train_loss"], diverged, chance)
            rows.append(row)
            curves.append((history.train_loss[:, m], history.test_loss[:, m]))
    return GroupResult(rows, np.stack([c[0] for c in curves], axis=1), np.stack([c[1] for c in curves], axis=1))


# -- the protocol -----------------------------------------------------------------------------------------------
def tune_groups(config: TuneConfig) -> list[Group]:
    """The groups of phase ``tune``: one per method and setting, all its learning rates, seeds 0 … R−1."""
    groups = []
    for method in config.methods:
        settings: dict[str, list[float]] = {}
        for setting, lr in expand_method(method, config.lrs):
            settings.setdefault(setting, []).append(lr)
        for setting, lrs in settings.items():
            groups.append(Group(method, setting, tuple(lrs), tuple(range(config.repetitions)), "tune"))
    return groups


def final_groups(config: TuneConfig, choice: dict[str, dict[str, Any]]) -> list[Group]:
    """The groups of phase ``final``: each method at its chosen setting on the fresh seeds R … 2R−1."""
    seeds = tuple(range(config.repetitions, 2 * config.repetitions))
    return [Group(method, choice[method]["base_setting"], (choice[method]["lr"],), seeds, "final")
            for method in config.methods]


def choose(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each method's chosen setting from the ``tune`` rows alone: the smallest median validation loss; ties go to
    the smaller learning rate, then to the setting met first. ``edge`` is ``"smallest"``/``"largest"`` when the
    chosen learning rate is at that end of the method's grid (which then should be extended that way)."""
    choice: dict[str, dict[str, Any]] = {}
    for method, points in tuning_curve(rows).items():
        order = {setting: i for i, (setting, _, _) in enumerate(points)}
        setting, lr, loss = min(points, key=lambda p: (p[2], p[1], order[p[0]]))
        lrs = sorted({p[1] for p in points})
        edge = None
        if len(lrs) > 1 and lr == lrs[0]:
            edge = "smallest"
        elif len(lrs) > 1 and lr == lrs[-1]:
            edge = "largest"
        choice[method] = {"setting": setting, "base_setting": setting.rsplit(":lr=", 1)[0], "lr": lr,
                          "median_validation_loss": loss, "edge": edge}
    return choice


Runner = Callable[[Sequence[Group]], list[GroupResult]]


def decided_base(config: TuneConfig) -> CompareConfig:
    """``config.base`` with ``engine="auto"`` decided once for both phases (see
    :func:`~descentlab.experiments.cells.engine_for_all`)."""
    return engine_for_all(config.base, tuned_models(config))


def tuned_models(config: TuneConfig) -> int:
    """The models both phases train: every setting, learning rate and repetition, then each method's final runs."""
    return sum(len(g.lrs) * len(g.seeds) for g in tune_groups(config)) + len(config.methods) * config.repetitions


def run_tuned(data: Dataset, config: TuneConfig, runner: Runner | None = None,
              on_group: Callable[[Group], None] | None = None) -> Tuned:
    """Run both phases of the protocol (module docstring).

    ``runner`` trains a list of groups and returns their results in order (default: :func:`train_group` one
    after the other, calling ``on_group`` after each); a parallel scheduler can stand in for it.
    """
    if config.repetitions < 1 or not config.methods or not config.lrs:
        raise ValueError("a tuned comparison needs at least one method, one learning rate and one repetition")

    base = decided_base(config)

    def in_order(groups: Sequence[Group]) -> list[GroupResult]:
        results = []
        for group in groups:
            results.append(train_group(data, base, config.validation_size, group))
            if on_group is not None:
                on_group(group)
        return results

    run = runner or in_order
    start = time.perf_counter()
    tune = tune_groups(config)
    tuned = list(zip(tune, run(tune), strict=True))
    tune_rows = [row for _, result in tuned for row in result.rows]
    choice = choose(tune_rows)
    final = final_groups(config, choice)
    finals = list(zip(final, run(final), strict=True))
    rows = tune_rows + [row for _, result in finals for row in result.rows]
    return Tuned(config, rows, choice, tuned + finals, time.perf_counter() - start)
