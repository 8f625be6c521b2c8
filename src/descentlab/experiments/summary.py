"""The numbers of a run folder: ``summary.json``, ``history.csv``, ``sweep.csv`` and what a model file records
about how it was made. Functions of the results alone (:mod:`descentlab.experiments.results`): nothing here
trains, draws or writes."""

from __future__ import annotations

import csv
import io
import platform
from dataclasses import asdict
from typing import Any

import numpy as np

from ..formats.model_io import model_file_name
from ..optim.optimizers import hyper_parameters
from ..optim.schedule import step_size
from ..training.results import HISTORY_FIELDS, FitResult
from .results import Comparison, Sweep
from .statistics import chance_accuracy, chance_loss, run_status

ACCURACY_LEVELS = (0.90, 0.95)


def _package_versions() -> dict[str, str]:
    import matplotlib

    from .. import __version__

    return {
        "descentlab": __version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "python": platform.python_version(),
    }


def _method_summary(result: FitResult, status: str) -> dict[str, Any]:
    reach = {
        f"iterations_to_test_accuracy_{round(level * 100)}": result.history.first_reaching("test_accuracy", level)
        for level in ACCURACY_LEVELS
    }
    return {
        "optimizer": {"class": type(result.optimizer).__name__, **hyper_parameters(result.optimizer)},
        "iterations_done": result.iterations,
        "gradient_evaluations": int(result.history.grad_evals[-1]),
        "function_evaluations": int(result.history.func_evals[-1]),
        "stopped": result.stopped,
        "status": status,
        "interrupted": result.interrupted,
        "seconds": result.method_seconds,  # the method's own steps (training/recorder.py's Clock)
        "recording_seconds": result.record_seconds,  # measuring the metrics at every exported iterate, apart
        "wall_seconds": result.seconds,
        "final": result.final,
        **reach,
    }


def summarize(comparison: Comparison) -> dict[str, Any]:
    """The content of ``summary.json``: configuration, versions and per-method outcomes, each with its status
    (:func:`descentlab.experiments.statistics.run_status` against the training set's ``chance_loss``)."""
    chance = chance_loss(comparison.train.y, comparison.train.n_classes)
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
            "chance_accuracy": chance_accuracy(comparison.train.y, comparison.train.n_classes),
            "feature_names": list(comparison.train.feature_names),
            "class_names": list(comparison.train.class_names),
        },
        "engine": comparison.config.engine,  # the one that ran: compare resolves "auto"
        "versions": _package_versions(),
        "seconds": comparison.seconds,
        "interrupted": comparison.interrupted,
        "pending": comparison.pending,
        "methods": {name: _method_summary(result, status) for (name, result), status
                    in zip(comparison.results.items(), method_statuses(comparison).values(), strict=True)},
        "model_files": {name: f"models/{model_file_name(name)}" for name in comparison.results},
    }


def method_statuses(comparison: Comparison) -> dict[str, str]:
    """Each method's status (:func:`~descentlab.experiments.statistics.run_status`) from its starting and final
    training loss and final training accuracy against the training set's chance levels."""
    chance = chance_loss(comparison.train.y, comparison.train.n_classes)
    chance_acc = chance_accuracy(comparison.train.y, comparison.train.n_classes)
    return {name: run_status(result.final["train_loss"], start_loss=float(result.history.train_loss[0]),
                             train_accuracy=result.final["train_accuracy"], chance=chance, chance_acc=chance_acc,
                             diverged=result.stopped is not None)
            for name, result in comparison.results.items()}


def history_csv(results: dict[str, FitResult], statuses: dict[str, str]) -> str:
    """One row per method and iteration: ``method, iteration, train_loss, …, grad_norm, status, step_size,
    seconds`` (the method's final status, on each of its rows, so that a filter on the file keeps it; the learning
    rate of the iteration that led to the row, its schedule applied, empty on row 0 and for a method without one;
    the seconds of that iteration's step, the method's own work, empty where unknown: before a resume from a
    checkpoint). The seconds are the only column that differs between two runs of one command."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "iteration", *HISTORY_FIELDS, "status", "step_size", "seconds"])
    for name, result in results.items():
        columns = [getattr(result.history, f) for f in HISTORY_FIELDS]
        seconds = result.step_seconds if result.step_seconds is not None else np.full(len(result.history), np.nan)
        for k in range(len(result.history)):
            size = step_size(result.optimizer, k - 1) if k else None
            writer.writerow([name, k, *(repr(float(c[k])) for c in columns), statuses[name],
                             "" if size is None else repr(size),
                             repr(float(seconds[k])) if np.isfinite(seconds[k]) else ""])
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
            "optimizer": {"class": type(result.optimizer).__name__, **hyper_parameters(result.optimizer)},
            "iterations_done": result.iterations,
            "stopped": result.stopped,
        },
        "metrics": result.final,
    }


def run_title(comparison: Comparison) -> str:
    """The title of a comparison's figure: architecture, features, learning rate and seed."""
    c = comparison.config
    arch = " → ".join(str(n) for n in comparison.net.sizes)
    features = "standardised features" if c.standardize else "raw features"
    return f"{arch} ({comparison.net.activation.name}), {features}, lr {c.lr:g}, seed {c.seed}"


def sweep_csv(result: Sweep) -> str:
    """``sweep.csv``: one row per optimiser and model."""
    rows = result.rows
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()
