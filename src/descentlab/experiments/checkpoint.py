"""Interrupted comparisons: what a checkpoint holds about the run, and how the run continues from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..data.dataset import Dataset, data_digest
from ..formats.model_io import ModelFileError, checkpoint_info
from ..training.checkpoint import load_checkpoint, save_checkpoint
from ..training.results import FitResult, History
from .compare import Problem, compare, optimizers_from_config, prepare
from .config import CompareConfig
from .results import Comparison


def write_checkpoint(comparison: Comparison, folder: str | Path, data: Dataset, extra: dict[str, Any]) -> Path:
    """Save what an interrupted comparison needs to continue (see :func:`resume`)."""
    info = {"config": asdict(comparison.config), "data_sha256": data_digest(data), "pending": comparison.pending,
            **extra}
    return save_checkpoint(folder, info, comparison.results)


def checkpoint_config(folder: str | Path) -> tuple[CompareConfig, dict[str, Any]]:
    """The configuration and the rest of the information stored by :func:`write_checkpoint`."""
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


def checkpoint_results(folder: str | Path, config: CompareConfig, info: dict[str, Any], data: Dataset,
                       problem: Problem) -> dict[str, FitResult]:
    """The results saved in ``folder`` (whose configuration and information :func:`checkpoint_config` read), refused
    unless ``data`` are the data the interrupted run was trained on."""
    if info["data_sha256"] != data_digest(data):
        raise ValueError(f"{folder}: the data differ from those the interrupted run was trained on")
    return load_checkpoint(folder, problem.net, dict(optimizers_from_config(config)))[1]


def resume(folder: str | Path, data: Dataset, callback: Callable[[str, int, History], None] | None = None,
           should_stop: Callable[[], bool] | None = None) -> Comparison:
    """Continue the comparison checkpointed in ``folder`` on ``data`` (which must be the data it started with)."""
    config, info = checkpoint_config(folder)
    problem = prepare(data, config)
    return compare(data, config, callback=callback, should_stop=should_stop, problem=problem,
                   resume=checkpoint_results(folder, config, info, data, problem))
