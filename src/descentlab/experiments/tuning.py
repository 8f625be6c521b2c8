"""The tuned comparison: every method gets its own best setting on validation data, then is measured on fresh
repetitions and the untouched test set.

Protocol (``descentlab sweep --tune``), R repetitions:

1. The test rows are drawn once, from ``--split-seed`` (stratified), and held out of everything until the final
   evaluation. Repetition r draws its own stratified train/validation split of the other rows and its own initial
   point, both from seed r, so that the claims cover the variability of the data as well as of the
   initialisation; ``split.json`` lists every part's rows.
2. Phase ``tune``: every method at every setting of its grid (the learning rates, and every hyper-parameter given
   as a list) on repetitions 0 … R−1. A method's chosen setting has the fewest stuck or diverged runs, then the
   smallest median final *validation* loss over those repetitions (a failed run counts as +∞); ties go to the
   smaller learning rate, then to the setting named first. Test data never enter the choice: training only ever
   sees the validation set.
3. Phase ``final``: every method at its chosen setting on the fresh repetitions R … 2R−1; these are the runs
   the comparison reports, each measured once on the test rows.

Each phase is a sweep of cells (:mod:`descentlab.experiments.cells`) run by one
:class:`~descentlab.experiments.sweeprun.CellRunner`; only :func:`choose` couples the phases.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..data.dataset import Dataset
from ..optim.spec import expand_method
from .cells import Cell, CellResult, cut, join, repetition_rows
from .config import DEFAULT_CELL_SIZE, TuneConfig
from .results import FAILED, Tuned, tuning_curve

if TYPE_CHECKING:
    from .sweeprun import CellRunner


# -- the protocol -----------------------------------------------------------------------------------------------
def tune_cells(config: TuneConfig, cell_size: int = DEFAULT_CELL_SIZE) -> list[Cell]:
    """The cells of phase ``tune``: every method at every setting, all its learning rates, repetitions 0 … R−1."""
    cells = []
    for method in config.methods:
        settings: dict[str, list[float]] = {}
        for setting, lr in expand_method(method, config.lrs):
            settings.setdefault(setting, []).append(lr)
        for setting, lrs in settings.items():
            cells += cut("tune", method, setting, lrs, range(config.repetitions), config.split_seed, cell_size)
    return cells


def final_cells(config: TuneConfig, choice: dict[str, dict[str, Any]], cell_size: int = DEFAULT_CELL_SIZE
                ) -> list[Cell]:
    """The cells of phase ``final``: each method at its chosen setting on the fresh repetitions R … 2R−1."""
    seeds = range(config.repetitions, 2 * config.repetitions)
    return [cell for method in config.methods for cell in
            cut("final", method, choice[method]["base_setting"], (choice[method]["lr"],), seeds, config.split_seed,
                cell_size)]


def choose(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each method's chosen setting from the ``tune`` rows alone: the fewest failed (stuck or diverged) runs, then
    the smallest median validation loss (a failed run counted as +∞), then the smaller learning rate, then the
    setting met first; so a setting with 6 ok and 4 diverged runs never beats one with 10 ok. ``edge`` is
    ``"smallest"``/``"largest"`` when the chosen learning rate is at that end of the method's grid (which then
    should be extended that way). ``failed`` counts the chosen setting's tune runs that are not ``ok``, and
    ``warning`` says in words when the choice cannot be trusted (None when every run of it is ok)."""
    choice: dict[str, dict[str, Any]] = {}
    for method, points in tuning_curve(rows).items():
        runs = {setting: [r for r in rows if r["phase"] == "tune" and r["method"] == method
                          and r["setting"] == setting] for setting, _, _ in points}
        failures = {setting: sum(r["status"] in FAILED for r in mine) for setting, mine in runs.items()}
        order = {setting: i for i, (setting, _, _) in enumerate(points)}
        setting, lr, loss = min(points, key=lambda p: (failures[p[0]], p[2], p[1], order[p[0]]))
        lrs = sorted({p[1] for p in points})
        edge = None
        if len(lrs) > 1 and lr == lrs[0]:
            edge = "smallest"
        elif len(lrs) > 1 and lr == lrs[-1]:
            edge = "largest"
        choice[method] = {"setting": setting, "base_setting": setting.rsplit(":lr=", 1)[0], "lr": lr,
                          "median_validation_loss": loss, "edge": edge,
                          "failed": sum(r["status"] != "ok" for r in runs[setting]),
                          "warning": choice_warning(method, runs[setting], math.isfinite(loss))}
    return choice


def choice_warning(method: str, runs: Sequence[dict[str, Any]], trains: bool) -> str | None:
    """Why a method's chosen setting cannot be trusted, or None: no setting of the grid trains (every one has
    at least half its runs stuck or diverged), or some runs of the chosen one are not ``ok``."""
    if not trains:
        return (f"no setting of {method} in this grid trains: at least half the tune runs of every setting are stuck "
                "or diverged; the setting shown is the grid's smallest learning rate, not a choice")
    bad = [r["status"] for r in runs if r["status"] != "ok"]
    if not bad:
        return None
    counts = ", ".join(f"{bad.count(s)} {s}" for s in sorted(set(bad)))
    return f"the chosen setting of {method} is not ok on every tune run ({counts} of {len(runs)})"


def tuned_models(config: TuneConfig) -> int:
    """The models both phases train: every setting, learning rate and repetition, then each method's final runs."""
    grid = sum(len(expand_method(method, config.lrs)) for method in config.methods)
    return (grid + len(config.methods)) * config.repetitions


def split_record(data: Dataset, config: TuneConfig) -> dict[str, Any]:
    """The rows (0-based) of every part of every repetition of both phases: ``split.json``. The test rows are
    drawn once, from ``config.split_seed``; no repetition's training or validation part holds one of them."""
    record: dict[str, Any] = {"test": None, "repetitions": {}}
    for seed in range(2 * config.repetitions):
        train, validation, test = repetition_rows(data, config.validation_size, config.base.test_size,
                                                  config.split_seed, seed)
        record["test"] = test.tolist()
        record["repetitions"][str(seed)] = {"train": train.tolist(), "validation": validation.tolist()}
    return record


def _by_setting(results: Sequence[CellResult]) -> list[CellResult]:
    """The results of one phase joined per setting, in order."""
    settings: dict[tuple[str, str], list[CellResult]] = {}
    for result in results:
        settings.setdefault((result.cell.method, result.cell.setting), []).append(result)
    return [join(mine) for mine in settings.values()]


def run_tuned(data: Dataset, config: TuneConfig, runner: CellRunner | None = None) -> Tuned:
    """Run both phases of the protocol (module docstring): two calls of ``runner`` (default: a
    :class:`~descentlab.experiments.sweeprun.CellRunner` in this process, cells of the default size)."""
    if config.repetitions < 1 or not config.methods or not config.lrs:
        raise ValueError("a tuned comparison needs at least one method, one learning rate and one repetition")
    from .sweeprun import CellRunner

    start = time.perf_counter()
    split = split_record(data, config)
    run = runner or CellRunner(data, config, tuned_models(config))
    cell_size = run.cell_size
    tuned = _by_setting(run(tune_cells(config, cell_size)))
    tune_rows = [row for result in tuned for row in result.rows]
    choice = choose(tune_rows)
    finals = _by_setting(run(final_cells(config, choice, cell_size)))
    rows = tune_rows + [row for result in finals for row in result.rows]
    return Tuned(run.config, rows, choice, tuned + finals, split, time.perf_counter() - start)  # type: ignore[arg-type]
