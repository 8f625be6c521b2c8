"""Running a suite: every problem by the tuned protocol, then targets, times to target and profiles.

An ``mlp`` problem runs through the tuned sweep's own machinery (:func:`~descentlab.experiments.tuning.run_tuned`
with a :class:`~descentlab.experiments.sweeprun.CellRunner`: its held-out test set, repetitions, statuses,
choice on validation, cells saved in ``OUT/problems/<name>/`` for ``--resume``). A convex problem runs the same two
phases on its fixed objective: the repetitions vary the initial point, the chosen setting has the smallest median
final f − f* over the tune repetitions (a diverged run counting as +∞; ties to the smaller learning rate), and the
final phase runs it on fresh repetitions. Each convex run is its own stack of one model, so its evaluation counts
and seconds are its own.

A run's *time to target* is the first iteration at which it reaches the problem's target (convex: f − f* ≤ ε;
mlp: validation loss ≤ (1 + δ) × the best median final validation loss of any method in the final phase), in
iterations, gradient evaluations, function evaluations and (convex) seconds. A method's cost on a problem is the
Kaplan–Meier median over its final repetitions, a run that never reaches the target censored at its last
iteration (:func:`~descentlab.experiments.statistics.time_to_target`); ``inf`` when the estimate never reaches one
half.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.dataset import Dataset
from ..experiments.cells import Cell, CellResult
from ..experiments.config import DEFAULT_CELL_SIZE, CompareConfig, TuneConfig
from ..experiments.statistics import TimeToTarget, time_to_target
from ..optim.optimizers import parse_optimizer
from .problems import SPLIT_SEED, Problem, convex_objective, load_problem_data, newton_f_star
from .profiles import area_range, data_profile, performance_profile, profile_area, profile_bands

if TYPE_CHECKING:
    from ..experiments.sweeprun import CellRunner, OnCell

PHASES = ("tune", "final")


@dataclass
class Run:
    """One model of one problem: its row (the Parquet columns) and its curves ``(K + 1,)``: ``loss`` is the
    validation loss (mlp) or f − f* (convex); ``grad_evals``/``func_evals``/``seconds`` cumulative (None when not
    measured per model)."""

    row: dict[str, Any]
    loss: np.ndarray
    train_loss: np.ndarray
    grad_evals: np.ndarray | None = None
    func_evals: np.ndarray | None = None
    seconds: np.ndarray | None = None


@dataclass
class ProblemResult:
    """The outcome of one problem: every run (tune then final), each method's chosen setting and the target."""

    problem: Problem
    runs: list[Run]
    choice: dict[str, dict[str, Any]]
    target: float = math.nan
    seconds: float = 0.0

    def final(self, method: str) -> list[Run]:
        return [r for r in self.runs if r.row["phase"] == "final" and r.row["method"] == method]


@dataclass
class BenchmarkResult:
    """All problems' results and the profiles across them (costs in gradient evaluations)."""

    methods: tuple[str, ...]
    problems: list[ProblemResult]
    costs: dict[str, list[float]] = field(default_factory=dict)
    profiles: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    data_profiles: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    areas: dict[str, float] = field(default_factory=dict)
    profile_bands: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    data_profile_bands: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    area_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


# -- time to target ---------------------------------------------------------------------------------------------
def first_reach(loss: np.ndarray, target: float) -> int | None:
    """The first iteration k with ``loss[k] ≤ target`` (None: never)."""
    hits = np.flatnonzero(np.nan_to_num(loss, nan=np.inf) <= target)
    return int(hits[0]) if hits.size else None


def mark_targets(result: ProblemResult) -> None:
    """Set each run's ``target_iteration``, ``target_grad_evals`` and ``target_func_evals`` (None: never)."""
    for run in result.runs:
        k = first_reach(run.loss, result.target)
        run.row["target_iteration"] = k
        run.row["target_grad_evals"] = None if k is None else (k if run.grad_evals is None
                                                                else int(run.grad_evals[k]))
        run.row["target_func_evals"] = None if k is None or run.func_evals is None else int(run.func_evals[k])


def censored_at(run: Run, key: str = "target_grad_evals") -> float:
    """Where a run that never reached its target is censored: its last iteration, in the unit of ``key``."""
    last = int(np.flatnonzero(np.isfinite(run.loss))[-1]) if np.isfinite(run.loss).any() else 0
    curve = {"target_grad_evals": run.grad_evals, "target_func_evals": run.func_evals,
             "target_seconds": run.seconds}.get(key)
    return float(last if curve is None else curve[last])


def reached_at(run: Run, key: str) -> float | None:
    """When a run reached its target in the unit of ``key`` (None: never): its row's value, or for
    ``target_seconds`` (timings stay out of the rows) its seconds at the target iteration."""
    if key != "target_seconds":
        return run.row[key]  # type: ignore[no-any-return]
    k = run.row["target_iteration"]
    return None if k is None or run.seconds is None else float(run.seconds[k])


def cost_to_target(runs: Sequence[Run], key: str = "target_grad_evals") -> TimeToTarget:
    """Kaplan–Meier quartiles of the time to target over runs, each never-reaching run censored at its last
    iteration (:func:`~descentlab.experiments.statistics.time_to_target`)."""
    return time_to_target([reached_at(r, key) for r in runs], [censored_at(r, key) for r in runs])


def median_cost(runs: Sequence[Run], key: str = "target_grad_evals") -> float:
    """The Kaplan–Meier median time to target; ``inf`` when the estimate never reaches one half."""
    median = cost_to_target(runs, key).quartiles[1]
    return math.inf if median is None else float(median)


def mlp_target(result: ProblemResult, methods: Sequence[str]) -> float:
    """(1 + δ) × the best median final validation loss of any method (a diverged run counting as +∞)."""
    medians = []
    for method in methods:
        values = [math.inf if r.row["status"] == "diverged" else r.row["validation_loss"]
                  for r in result.final(method)]
        medians.append(float(np.median(values)))
    return (1.0 + result.problem.delta) * min(medians)


# -- mlp problems: the tuned sweep's machinery -----------------------------------------------------------------
def tune_config(problem: Problem, methods: Sequence[str], lrs: Sequence[float], seeds: int, engine: str
                ) -> TuneConfig:
    """The tuned sweep of an ``mlp`` problem."""
    base = CompareConfig(hidden=problem.hidden, activation=problem.activation, init_mu=problem.init_mu,
                         init_sigma=problem.init_sigma, iterations=problem.iterations, test_size=problem.test_size,
                         standardize=problem.standardize, weight_decay=problem.weight_decay, data=problem.data,
                         target=problem.target, engine=engine)
    return TuneConfig(base=base, methods=tuple(methods), lrs=tuple(problem.lrs or lrs), repetitions=seeds,
                      split_seed=SPLIT_SEED)


def run_mlp(problem: Problem, data: Dataset, config: TuneConfig, runner: CellRunner,
            model_seconds: dict[tuple[str, str, int], float]) -> ProblemResult:
    """Both phases of the tuned sweep on an ``mlp`` problem, its cells run by ``runner`` (which fills
    ``model_seconds``, see :func:`timed_cells`)."""
    from ..experiments.tuning import run_tuned

    tuned = run_tuned(data, config, runner=runner)
    runs = []
    for result in tuned.groups:
        history = result.history
        for m, row in enumerate(result.rows):
            seconds = model_seconds.get((row["phase"], row["setting"], row["seed"]))
            runs.append(Run({"problem": problem.name, **row}, history.test_loss[:, m], history.train_loss[:, m],
                            history.grad_evals[:, m], history.func_evals[:, m],
                            None if seconds is None else seconds * np.arange(len(history)) / (len(history) - 1)))
    return ProblemResult(problem, runs, tuned.choice, seconds=tuned.seconds)


def timed_cells(model_seconds: dict[tuple[str, str, int], float], on_cell: OnCell | None) -> OnCell:
    """A ``CellRunner`` callback that records each model's seconds, by (phase, setting, seed), before calling
    ``on_cell``: a stacked cell's wall time is shared by its models, so a model's seconds are the cell's divided
    by its models (none for a cell read back from its run folder, whose time was not kept)."""
    def record(result: CellResult, resumed: bool) -> None:
        if not resumed and result.seconds > 0:
            for row in result.rows:
                model_seconds[(row["phase"], row["setting"], row["seed"])] = result.seconds / len(result.rows)
        if on_cell is not None:
            on_cell(result, resumed)

    return record


# -- convex problems --------------------------------------------------------------------------------------------
class _Counted:
    """The ``Oracle`` an optimiser calls on a convex objective, counting its gradient and function calls."""

    def __init__(self, objective: Any) -> None:
        self.objective, self.grad_evals, self.func_evals = objective, 0, 0

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.grad_evals += 1
        return self.objective.value_and_grad(x)  # type: ignore[no-any-return]

    def loss(self, x: np.ndarray, models: np.ndarray | None = None) -> np.ndarray:
        self.func_evals += 1  # one model per stack here: ``models`` (which of the stack need it) changes nothing
        return self.objective.value(x)  # type: ignore[no-any-return]


def descend(objective: Any, setting: str, lr: float, x0: np.ndarray, iterations: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """K steps of one method from ``x0`` ``(P,)``: f(x_k), cumulative gradient and function evaluations and
    seconds for k = 0 … K, and the last finite iterate. A non-finite value ends the run (NaN afterwards)."""
    optimizer = parse_optimizer(setting, lr=lr)
    oracle = _Counted(objective)
    state = optimizer.init(x0[None, :])
    values = np.full(iterations + 1, np.nan)
    counts = np.zeros((3, iterations + 1))
    values[0], last, start = objective.value(state.x)[0], state.x, time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is detected by the finiteness check
        for k in range(1, iterations + 1):
            state = optimizer.step(state, oracle)
            counts[:, k] = oracle.grad_evals, oracle.func_evals, time.perf_counter() - start
            value = objective.value(state.x)[0]
            if not (np.isfinite(value) and np.all(np.isfinite(state.x))):
                break
            values[k], last = value, state.x
    return values, counts[0], counts[1], counts[2], last[0]


def run_convex_group(problem: Problem, group: Cell) -> list[Run]:
    """Every run of one convex cell: each learning rate on each repetition seed, one model at a time."""
    objective, test = convex_objective(problem)
    assert problem.f_star is not None, "run_benchmark computes f* first"
    f_star = problem.f_star
    runs = []
    for seed in group.seeds:
        x0 = objective.start(seed)
        for lr in group.lrs:
            values, grads, funcs, seconds, x = descend(objective, group.setting, lr, x0, problem.iterations)
            finite = np.flatnonzero(np.isfinite(values))
            final = float(values[finite[-1]])
            diverged = finite[-1] < problem.iterations or final > values[0]
            row = {"problem": problem.name, "method": group.method, "setting": f"{group.setting}:lr={lr!r}",
                   "lr": float(lr), "seed": seed, "phase": group.phase, "status": "diverged" if diverged else "ok",
                   "iterations_done": int(finite[-1]), "train_loss": final, "suboptimality": final - f_star,
                   "distance_to_solution": float(np.linalg.norm(x0 - objective.nearest_solution(x0))),
                   "grad_evals": int(grads[finite[-1]]), "func_evals": int(funcs[finite[-1]])}
            if test is not None:
                loss, correct = _test_metrics(objective, test, x)
                row.update(test_loss=loss, test_accuracy=correct / test.n_samples)
            runs.append(Run(row, values - f_star, values, grads, funcs, seconds))
    return runs


def _test_metrics(objective: Any, test: Any, x: np.ndarray) -> tuple[float, int]:
    from ..core.objective import Objective, Want

    evaluation = Objective(objective.net, test.X, test.y).evaluate(x[None, :], Want.CORRECT)
    assert evaluation.correct is not None
    return float(evaluation.loss[0]), int(evaluation.correct[0])


def convex_choice(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Each method's setting with the smallest median final f − f* over the tune runs (diverged: +∞); ties go
    to the smaller learning rate, then to the setting met first."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        if run.row["phase"] == "tune":
            grouped.setdefault((run.row["method"], run.row["setting"]), []).append(run.row)
    points: dict[str, list[tuple[float, float, int, str]]] = {}
    for order, ((method, setting), rows) in enumerate(grouped.items()):
        median = float(np.median([math.inf if r["status"] == "diverged" else r["suboptimality"] for r in rows]))
        points.setdefault(method, []).append((median, rows[0]["lr"], order, setting))
    choice = {}
    for method, candidates in points.items():
        median, lr, _, setting = min(candidates)
        choice[method] = {"setting": setting, "base_setting": setting.rsplit(":lr=", 1)[0], "lr": lr,
                          "median_suboptimality": median}
    return choice


def run_convex(problem: Problem, config: TuneConfig, client: Any = None) -> ProblemResult:
    """Both phases on a convex problem: one cell per setting, here or on the Dask ``client``'s workers."""
    from ..experiments.tuning import final_cells, tune_cells

    start = time.perf_counter()
    runs: list[Run] = []
    for _ in PHASES:
        cells = tune_cells(config, ONE_CELL) if not runs else final_cells(config, convex_choice(runs), ONE_CELL)
        runs += [run for done in _map(run_convex_group, problem, cells, client) for run in done]
    return ProblemResult(problem, runs, convex_choice(runs), problem.epsilon, time.perf_counter() - start)


ONE_CELL = 1 << 30  # a convex setting is one cell: its runs take milliseconds


def _map(function: Callable[[Problem, Cell], Any], problem: Problem, cells: Sequence[Cell], client: Any
         ) -> list[Any]:
    """``function(problem, cell)`` for every cell, in order: here, or one task each on ``client``'s workers."""
    if client is None:
        return [function(problem, cell) for cell in cells]
    from ..experiments.cluster import gather
    from ..optim.plugins import with_registered

    task = with_registered(function)  # the workers learn the optimisers registered here
    return gather(client, [client.submit(task, problem, cell, pure=False) for cell in cells])


# -- the suite --------------------------------------------------------------------------------------------------
def aggregate(methods: Sequence[str], problems: list[ProblemResult]) -> BenchmarkResult:
    """Targets, times to target, and the profiles across problems."""
    result = BenchmarkResult(tuple(methods), problems)
    for problem in problems:
        if not problem.problem.convex:
            problem.target = mlp_target(problem, methods)
        mark_targets(problem)
    result.costs = {m: [median_cost(p.final(m)) for p in problems] for m in methods}
    result.profiles = performance_profile(result.costs)
    result.data_profiles = data_profile(result.costs)
    result.areas = {m: profile_area(profile) for m, profile in result.profiles.items()}
    tables = repetition_costs(methods, problems)
    result.profile_bands = profile_bands(tables)
    result.data_profile_bands = profile_bands(tables, data_profile)
    result.area_ranges = area_range(tables)
    return result


def repetition_costs(methods: Sequence[str], problems: Sequence[ProblemResult]) -> list[dict[str, list[float]]]:
    """One table of costs per final repetition r (seeds in order: every method's r-th run has the same split and
    initial point): each method's gradient evaluations to the target in that run, ``inf`` when it never reached it."""
    def cost(run: Run) -> float:
        value = run.row["target_grad_evals"]
        return math.inf if value is None else float(value)

    runs = {m: [sorted(p.final(m), key=lambda run: run.row["seed"]) for p in problems] for m in methods}
    repetitions = min(len(final) for columns in runs.values() for final in columns)
    return [{m: [cost(final[r]) for final in runs[m]] for m in methods} for r in range(repetitions)]


def run_problem(problem: Problem, methods: Sequence[str], lrs: Sequence[float], seeds: int, client: Any = None,
                folder: Path | None = None, cell_size: int = DEFAULT_CELL_SIZE, engine: str = "numpy",
                on_cell: OnCell | None = None) -> ProblemResult:
    """One problem by the tuned protocol (module docstring), here or on the Dask ``client``'s workers; an ``mlp``
    problem's cells are saved in ``folder`` when given (and read back from it by the same call again), a convex
    problem comes with its f* (:func:`run_benchmark` computes the missing ones)."""
    from ..experiments.sweeprun import CellRunner
    from ..experiments.tuning import tuned_models

    config = tune_config(problem, methods, lrs, seeds, engine)
    if problem.convex:
        return run_convex(problem, config, client)
    data = load_problem_data(problem)
    model_seconds: dict[tuple[str, str, int], float] = {}
    runner = CellRunner(data, config, tuned_models(config), client, folder, cell_size,
                        timed_cells(model_seconds, on_cell))
    return run_mlp(problem, data, config, runner, model_seconds)


def run_benchmark(problems: Sequence[Problem], methods: Sequence[str], lrs: Sequence[float], seeds: int,
                  client: Any = None, folder: Path | None = None, cell_size: int = DEFAULT_CELL_SIZE,
                  engine: str = "numpy", on_problem: Callable[[ProblemResult], None] | None = None
                  ) -> BenchmarkResult:
    """Every problem by :func:`run_problem` (an ``mlp`` problem's cells saved in ``folder/problems/<name>/`` when
    ``folder`` is given, so that the same call again finishes only what is missing), then :func:`aggregate`.
    Here the problems run one after another; on a cluster all at once, so that the workers are not left idle
    while one problem's phase waits for its slowest cell (``on_problem`` is then called as each finishes)."""
    def one(problem: Problem) -> ProblemResult:
        where = folder / "problems" / problem.name if folder is not None else None
        return run_problem(problem, methods, lrs, seeds, client, where, cell_size, engine)

    # f* first (Newton's method, for a convex problem that stores none: a TOML logistic), here, where a Ctrl-C is
    # heard: a problem's thread hears one only while it waits on the cluster
    problems = [replace(problem, f_star=newton_f_star(problem)) if problem.convex and problem.f_star is None
                else problem for problem in problems]
    if client is not None:
        from ..experiments.cluster import in_threads

        return aggregate(methods, in_threads(one, problems, on_problem))
    results = []
    for problem in problems:
        results.append(one(problem))
        if on_problem is not None:
            on_problem(results[-1])
    return aggregate(methods, results)
