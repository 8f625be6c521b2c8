"""Experiments: several optimisers trained from one initial point, and the run folder they write."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import platform
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.network import MLP
from ..core.params import Params
from ..data.dataset import Dataset, Standardizer, load_iris, train_test_split
from ..formats.model_io import atomic_write_text, checkpoint_info, load_checkpoint, save_checkpoint, save_model
from ..optim.optimizers import Optimizer, hyper_parameters, parse_optimizer
from ..training.fit import HISTORY_FIELDS, FitResult, History, fit

ACCURACY_LEVELS = (0.90, 0.95)


@dataclass(frozen=True)
class CompareConfig:
    """Everything that decides a comparison; the defaults are the assignment's setting."""

    hidden: tuple[int, ...] = (16,)
    activation: str = "softplus"
    seed: int = 0
    test_size: float = 0.25
    init_mu: float = 0.0
    init_sigma: float = 1.0
    lr: float = 0.01
    iterations: int = 350
    standardize: bool = False
    weight_decay: float = 0.0
    optimizers: tuple[str, ...] = ("gd", "nag")
    x_axis: str = "iterations"
    batch_size: int | None = None
    data: str = "iris (embedded)"
    target: str | None = None
    engine: str = "numpy"


@dataclass
class Comparison:
    """The outcome of :func:`compare`: one FitResult per method, all from ``initial``."""

    config: CompareConfig
    net: MLP
    initial: Params
    train: Dataset
    test: Dataset
    results: dict[str, FitResult]
    standardizer: Standardizer | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # methods not started because the run was interrupted

    @property
    def interrupted(self) -> bool:
        return bool(self.pending) or any(r.interrupted for r in self.results.values())


def optimizers_from_config(config: CompareConfig) -> list[Optimizer]:
    """The optimisers named in ``config.optimizers`` (specs as :func:`parse_optimizer` reads them)."""
    return [parse_optimizer(spec, lr=config.lr) for spec in config.optimizers]


def network_for(data: Dataset, config: CompareConfig) -> MLP:
    """The network the configuration describes for this data: input and output widths from the data."""
    return MLP([data.n_features, *config.hidden, data.n_classes], activation=config.activation)


def prepare(
    data: Dataset, config: CompareConfig
) -> tuple[Dataset, Dataset, Standardizer | None, MLP, Params]:
    """Split (stratified, seeded), optionally standardise with training statistics, build the network and
    draw its initial parameters: everything a run does before the first step."""
    train, test = train_test_split(data, test_size=config.test_size, seed=config.seed)
    standardizer = None
    if config.standardize:
        standardizer = Standardizer.fit(train.X)
        train, test = standardizer.apply(train), standardizer.apply(test)
    net = network_for(data, config)
    initial = net.init(seed=config.seed, mu=config.init_mu, sigma=config.init_sigma)
    return train, test, standardizer, net, initial


def compare(
    data: Dataset | None = None,
    config: CompareConfig | None = None,
    optimizers: Sequence[Optimizer] | None = None,
    callback: Callable[[str, int, History], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: dict[str, FitResult] | None = None,
) -> Comparison:
    """Train one network with several optimisers from the same initial parameters.

    Parameters
    ----------
    data : Dataset, default the embedded Iris
    config : CompareConfig, default the assignment's setting (lr 0.01, 4 → 16 softplus → 3, 350 iterations)
    optimizers : default: those named in ``config.optimizers`` (GD and NAG at ``config.lr``); their ``name``
        labels the results and must be unique
    callback : callable(method, k, history), called after each recorded iteration
    should_stop : callable() -> bool, asked after each iteration; True interrupts the method being trained
        (its result is ``interrupted``) and leaves the later ones out (``Comparison.pending``)
    resume : results of an interrupted comparison with this configuration (see :func:`save_checkpoint`):
        finished methods are kept, an interrupted one continues where it stopped, the rest run
    """
    config = config or CompareConfig()
    data = data if data is not None else load_iris()
    optimizers = list(optimizers) if optimizers is not None else optimizers_from_config(config)
    names = [opt.name for opt in optimizers]
    if len(set(names)) != len(names):
        raise ValueError(f"every method needs its own name, got {names}")
    train, test, standardizer, net, initial = prepare(data, config)
    results: dict[str, FitResult] = {}
    pending: list[str] = []
    extra = {"engine_load_seconds": load_engine(net, train, initial, config)} if config.engine != "numpy" else {}
    start = time.perf_counter()
    for optimizer in optimizers:
        earlier = (resume or {}).get(optimizer.name)
        if any(r.interrupted for r in results.values()):  # stopped: the rest waits for --resume
            pending.append(optimizer.name)
            continue
        if earlier is not None and not earlier.interrupted:
            results[optimizer.name] = dataclasses.replace(earlier, optimizer=optimizer)
            continue

        def progress(k: int, history: History, name: str = optimizer.name) -> None:
            if callback is not None:
                callback(name, k, history)

        results[optimizer.name] = fit(
            net, initial, train, optimizer, iterations=config.iterations, test=test, callback=progress,
            weight_decay=config.weight_decay, batch_size=config.batch_size, seed=config.seed, engine=config.engine,
            should_stop=should_stop, resume=earlier,
        )
    return Comparison(config, net, initial, train, test, results, standardizer, time.perf_counter() - start,
                      extra=extra, pending=pending)


def load_engine(net: MLP, train: Dataset, initial: Params, config: CompareConfig) -> float:
    """Compile the compiled engine's kernels (or load them from numba's cache) with one evaluation of each kind
    the training will make, and return the seconds that took: a one-time cost per process, reported as such
    instead of inflating the first method's time."""
    from ..core.objective import Objective

    started = time.perf_counter()
    for rows in (slice(None), slice(0, 1)):  # the whole set, and a small (mini-)batch, which may take the fused path
        objective = Objective(net, train.X[rows], train.y[rows], config.weight_decay, engine=config.engine)
        objective.loss_grad_and_correct(initial.flat)
        objective.loss(initial.flat)
    return time.perf_counter() - started


def _package_versions() -> dict[str, str]:
    # matplotlib's version without importing it: the command draws the figure in another process
    from importlib.metadata import version

    from .. import __version__

    return {
        "descentlab": __version__,
        "numpy": np.__version__,
        "matplotlib": version("matplotlib"),
        "python": platform.python_version(),
    }


def summarize(comparison: Comparison) -> dict[str, Any]:
    """The content of ``summary.json``: configuration, versions and per-method outcomes, each with its status
    (:func:`descentlab.experiments.statistics.run_status` against the training set's ``chance_loss``)."""
    from .statistics import chance_loss, run_status

    chance = chance_loss(comparison.train.y, comparison.train.n_classes)
    methods: dict[str, Any] = {}
    for name, result in comparison.results.items():
        reach = {
            f"iterations_to_test_accuracy_{round(level * 100)}": result.history.first_reaching(
                "test_accuracy", level
            )
            for level in ACCURACY_LEVELS
        }
        methods[name] = {
            "optimizer": {"class": type(result.optimizer).__name__, **_hyper(result.optimizer)},
            "iterations_done": result.iterations,
            "gradient_evaluations": int(result.history.grad_evals[-1]),
            "function_evaluations": int(result.history.func_evals[-1]),
            "stopped": result.stopped,
            "status": run_status(result.final["train_loss"], result.stopped is not None, chance),
            "interrupted": result.interrupted,
            "seconds": result.seconds,
            "final": result.final,
            **reach,
        }
    return {
        "config": asdict(comparison.config),
        "network": {
            "sizes": list(comparison.net.sizes),
            "activation": comparison.net.activation.name,
            "n_params": comparison.net.n_params,
            "tensors": {name: list(shape) for name, shape, _ in comparison.net.describe()},
        },
        "data": {
            "n_train": comparison.train.n_samples,
            "n_test": comparison.test.n_samples,
            "chance_loss": chance,
            "feature_names": list(comparison.train.feature_names),
            "class_names": list(comparison.train.class_names),
        },
        "versions": _package_versions(),
        "seconds": comparison.seconds,
        "interrupted": comparison.interrupted,
        "pending": comparison.pending,
        "methods": methods,
    }


def _hyper(optimizer: Any) -> dict[str, Any]:
    return hyper_parameters(optimizer)


def history_csv(results: dict[str, FitResult]) -> str:
    """One row per method and iteration: ``method, iteration, train_loss, …, grad_norm``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "iteration", *HISTORY_FIELDS])
    for name, result in results.items():
        columns = [getattr(result.history, f) for f in HISTORY_FIELDS]
        for k in range(len(result.history)):
            writer.writerow([name, k, *(repr(float(c[k])) for c in columns)])
    return buffer.getvalue()


def model_metadata(comparison: Comparison, name: str) -> dict[str, Any]:
    """What a model file of one method records about how it was made."""
    result = comparison.results[name]
    return {
        "feature_names": list(comparison.train.feature_names),
        "class_names": list(comparison.train.class_names),
        "standardization": comparison.standardizer.to_json() if comparison.standardizer else None,
        "training": {
            **asdict(comparison.config),
            "method": name,
            "optimizer": {"class": type(result.optimizer).__name__, **_hyper(result.optimizer)},
            "iterations_done": result.iterations,
            "stopped": result.stopped,
        },
        "metrics": result.final,
    }


def write_run(comparison: Comparison, out: str | Path, draw: Callable[..., Any] | None = None) -> list[Path]:
    """Write the run folder: curves.png, history.csv, summary.json, report.md, report.html (interactive, see
    :mod:`descentlab.reporting.interactive`), models/<method>.safetensors.

    Every file is written atomically, the figure last (the numbers are safe before the slowest part). ``draw``
    writes curves.png with :func:`~descentlab.reporting.plots.plot_curves`'s arguments (default: that function, here;
    the command line passes :class:`~descentlab.reporting.figure_process.FigureProcess`). Returns the paths written.
    """
    from ..reporting.interactive import write_compare_html
    from ..reporting.report import render_report

    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, result in comparison.results.items():
        path = out / "models" / f"{file_stem(name)}.safetensors"
        save_model(path, comparison.net, result.params, metadata=model_metadata(comparison, name))
        written.append(path)
    atomic_write_text(out / "history.csv", history_csv(comparison.results))
    written.append(out / "history.csv")
    summary = summarize(comparison)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    written.append(out / "summary.json")
    report = render_report(comparison, summary)
    atomic_write_text(out / "report.md", report)
    written.append(out / "report.md")
    written.append(write_compare_html(comparison, report, out / "report.html"))
    if draw is None:
        from ..reporting.plots import plot_curves as draw
    draw(comparison.results, out / "curves.png", title=_title(comparison), x_axis=comparison.config.x_axis)
    written.append(out / "curves.png")
    return written


def file_stem(name: str) -> str:
    """A method label made safe as a file name (``momentum:mu=0.5`` → ``momentum_mu-0.5``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("=", "-"))


def _title(comparison: Comparison) -> str:
    c = comparison.config
    arch = " → ".join(str(n) for n in comparison.net.sizes)
    features = "standardised features" if c.standardize else "raw features"
    return f"{arch} ({comparison.net.activation.name}), {features}, lr {c.lr:g}, seed {c.seed}"


# -- sweeps: many models trained together -----------------------------------------------------------------------
@dataclass(frozen=True)
class SweepConfig:
    """A grid of optimisers × learning rates × initial seeds, all on one split of one data set.

    ``base`` supplies everything else (network, split seed, initialisation, iterations, data); model
    ``(lr, seed)`` starts from ``net.init(seed)``, the same point for every optimiser.
    """

    base: CompareConfig = field(default_factory=CompareConfig)
    optimizers: tuple[str, ...] = ("gd", "nag")
    lrs: tuple[float, ...] = (0.005, 0.01, 0.02)
    seeds: int = 10


@dataclass
class Sweep:
    """The outcome of :func:`sweep`: per optimiser, one stacked FitResult over the ``(lr, seed)`` grid."""

    config: SweepConfig
    net: MLP
    train: Dataset
    test: Dataset
    grid: list[tuple[float, int]]  # (lr, seed) of model m, in stacking order
    results: dict[str, FitResult]
    seconds: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        """One row per optimiser and model: its grid point, its status
        (:func:`~descentlab.experiments.statistics.run_status`) and the metrics of its last finite iterate (a
        model that diverged is flagged, with the iteration it reached)."""
        from .statistics import chance_loss, run_status

        chance = chance_loss(self.train.y, self.train.n_classes)
        out = []
        for name, result in self.results.items():
            h = result.history
            for m, (lr, seed) in enumerate(self.grid):
                loss = h.train_loss[:, m]
                finite = np.flatnonzero(np.isfinite(loss))
                last = int(finite[-1]) if finite.size else 0
                diverged = last < len(loss) - 1
                out.append({
                    "optimizer": name, "lr": lr, "seed": seed, "diverged": diverged,
                    "status": run_status(float(loss[last]), diverged, chance), "iterations_done": last,
                    **{f"final_{f}": float(getattr(h, f)[last, m]) for f in
                       ("train_loss", "train_accuracy", "test_loss", "test_accuracy")},
                })
        return out


def sweep(
    data: Dataset | None = None,
    config: SweepConfig | None = None,
    on_cell: Callable[[Any, bool], None] | None = None,
    *,
    client: Any = None,
    out: str | Path | None = None,
    cell_size: int | None = None,
) -> Sweep:
    """Train every (optimiser, lr, seed) of the grid, in cells of stacked models
    (see :mod:`descentlab.experiments.cells`).

    The parameters of the models of a cell form one ``(M, P)`` array and every step updates them together
    (per-model learning rates broadcast as an ``(M, 1)`` column), so the result of each model equals a separate
    :func:`fit` from the same start up to rounding, and does not depend on the cell it is in.

    Parameters
    ----------
    on_cell : callable(cell_result, resumed), called as each cell finishes (``resumed``: read from ``out``)
    client : a ``dask.distributed.Client`` to run the cells on its workers (default: in this process)
    out : run folder: each finished cell is written there at once, and cells already there are not run again
    cell_size : models per cell (default :data:`descentlab.experiments.cells.DEFAULT_CELL_SIZE`)
    """
    from .cells import DEFAULT_CELL_SIZE
    from .sweeprun import run_sweep

    config = config or SweepConfig()
    if config.seeds < 1 or not config.lrs or not config.optimizers:
        raise ValueError("a sweep needs at least one optimiser, one learning rate and one seed")
    data = data if data is not None else load_iris()
    return run_sweep(data, config, client, out, cell_size or DEFAULT_CELL_SIZE, on_cell)


def sweep_csv(result: Sweep) -> str:
    """``sweep.csv``: one row per optimiser and model."""
    rows = result.rows()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


def write_sweep(result: Sweep, out: str | Path) -> list[Path]:
    """Write ``sweep.csv``, ``sweep.png``, ``summary.json``, ``report.md`` and ``report.html`` into ``out``
    (atomically)."""
    from ..reporting.interactive import write_sweep_html
    from ..reporting.plots import plot_sweep
    from ..reporting.report import render_sweep_report, sweep_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.csv", sweep_csv(result))
    plot_sweep(result, out / "sweep.png")
    report = render_sweep_report(result)
    atomic_write_text(out / "summary.json", json.dumps(sweep_json(result), indent=2) + "\n")
    atomic_write_text(out / "report.md", report)
    write_sweep_html(result, report, out / "report.html")
    return [out / "sweep.csv", out / "sweep.png", out / "summary.json", out / "report.md", out / "report.html"]


# -- interrupted comparisons -------------------------------------------------------------------------------------
def data_digest(data: Dataset) -> str:
    """SHA-256 of a data set's features and labels: a resumed run must see the data it started with."""
    digest = hashlib.sha256(np.ascontiguousarray(data.X, dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(data.y, dtype="<i8").tobytes())
    return digest.hexdigest()


def write_checkpoint(comparison: Comparison, folder: str | Path, data: Dataset, extra: dict[str, Any]) -> Path:
    """Save what an interrupted comparison needs to continue (see :func:`resume_state`)."""
    info = {"config": asdict(comparison.config), "data_sha256": data_digest(data), "pending": comparison.pending,
            **extra}
    return save_checkpoint(folder, info, comparison.results)


def checkpoint_config(folder: str | Path) -> tuple[CompareConfig, dict[str, Any]]:
    """The configuration and the rest of the information stored by :func:`write_checkpoint`."""
    from ..formats.model_io import ModelFileError

    info = checkpoint_info(folder)
    stored = info.get("config")
    if not isinstance(stored, dict) or set(stored) != {f.name for f in dataclasses.fields(CompareConfig)}:
        raise ModelFileError(f"{folder}: the checkpoint holds no valid run configuration")
    stored = {**stored, "hidden": _items(stored["hidden"], int), "optimizers": _items(stored["optimizers"], str)}
    wrong = [name for name, value in stored.items() if not _same_type(value, getattr(CompareConfig, name, None))]
    if wrong:
        raise ModelFileError(f"{folder}: the checkpoint's configuration has values of the wrong type: {wrong}")
    config = CompareConfig(**stored)
    if not (config.hidden and min(config.hidden) >= 1 and config.iterations >= 0 and 0 < config.test_size < 1):
        raise ModelFileError(f"{folder}: the checkpoint's configuration is out of range (hidden {list(config.hidden)}, "
                             f"iterations {config.iterations}, test_size {config.test_size})")
    return config, info


def _items(value: Any, kind: type) -> Any:
    """A JSON list of ``kind`` as a tuple (anything else is returned as it is, for the type check to refuse)."""
    if isinstance(value, list) and all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        return tuple(value)
    return value


def _same_type(value: Any, default: Any) -> bool:
    """Whether a stored configuration value has the type of the field's default (None fields: None or a
    whole number for ``batch_size``, None or text for ``target``)."""
    if default is None:
        return value is None or (isinstance(value, int | str) and not isinstance(value, bool))
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, type(default)) and not (isinstance(value, bool) and not isinstance(default, bool))


def resume(folder: str | Path, data: Dataset, callback: Callable[[str, int, History], None] | None = None,
           should_stop: Callable[[], bool] | None = None) -> Comparison:
    """Continue the comparison checkpointed in ``folder`` on ``data`` (which must be the data it started with)."""
    config, info = checkpoint_config(folder)
    if info["data_sha256"] != data_digest(data):
        raise ValueError(f"{folder}: the data differ from those the interrupted run was trained on")
    _, results = load_checkpoint(folder, network_for(data, config))
    return compare(data, config, callback=callback, should_stop=should_stop, resume=results)
