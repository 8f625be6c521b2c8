"""Writing a run folder: the numbers (:mod:`descentlab.experiments.summary`), the model files, the reports and
the figures. The edge where results meet reporting; experiments never import this, the caller (the command
line, or a user of the library) hands it what was run.

:data:`COMPARE_FILES` and :data:`SWEEP_FILES` declare what a run writes into its folder: the writers below write
exactly those, ``--overwrite`` removes exactly those of the run it replaces (:mod:`descentlab.cli.outputs`) and
the commands name them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..experiments.results import Comparison, Sweep
from ..experiments.summary import history_csv, model_metadata, run_title, summarize, sweep_csv
from ..formats.atomic import atomic_write_text
from ..formats.model_io import model_file_name, save_model

if TYPE_CHECKING:
    from .report import SweepNumbers

COMPARE_FILES = ("models", "history.csv", "summary.json", "split.json", "report.md", "report.html",
                 "curves.png")  # in order
SWEEP_FILES = ("manifest.json", "cells", "sweep.csv", "sweep.png", "summary.json", "report.md", "report.html",
               "timings.json")
CHECKPOINT = "checkpoint"  # an interrupted run's, beside its other files
RUN_FILES = tuple(dict.fromkeys((*COMPARE_FILES, *SWEEP_FILES, CHECKPOINT)))  # every name a run folder may hold
RUN_FOLDERS = ("models", "cells", CHECKPOINT)  # the others are files


def split_rows(comparison: Comparison) -> dict[str, list[int]]:
    """split.json of a comparison: the data's rows (0-based, the header not counted) in its training and test
    parts, as a tuned sweep's split.json lists its parts."""
    parts = {"train": comparison.train, "test": comparison.test}
    return {name: [] if part.rows is None else part.rows.tolist() for name, part in parts.items()}


class _Run(NamedTuple):
    comparison: Comparison
    summary: dict[str, Any]
    report: str  # report.md's text, which report.html shows too


def _models(run: _Run, path: Path) -> None:
    for name, result in run.comparison.results.items():
        save_model(path / model_file_name(name), run.comparison.net, result.params,
                   metadata=model_metadata(run.comparison, name))


def _history(run: _Run, path: Path) -> None:
    statuses = {name: method["status"] for name, method in run.summary["methods"].items()}
    atomic_write_text(path, history_csv(run.comparison.results, statuses))


def _summary(run: _Run, path: Path) -> None:
    atomic_write_text(path, json.dumps(run.summary, indent=2) + "\n")


def _split(run: _Run, path: Path) -> None:
    atomic_write_text(path, json.dumps(split_rows(run.comparison)) + "\n")


def _report(run: _Run, path: Path) -> None:
    atomic_write_text(path, run.report)


def _html(run: _Run, path: Path) -> None:
    from .interactive import write_compare_html

    write_compare_html(run.comparison, run.report, path)


def _curves(run: _Run, path: Path) -> None:
    from .plots import plot_curves

    plot_curves(run.comparison.results, path, title=run_title(run.comparison), x_axis=run.comparison.config.x_axis)


_WRITERS: dict[str, Callable[[_Run, Path], None]] = {
    "models": _models, "history.csv": _history, "summary.json": _summary, "split.json": _split, "report.md": _report,
    "report.html": _html, "curves.png": _curves}


def write_run(comparison: Comparison, out: str | Path, summary: dict[str, Any] | None = None,
              stop: Callable[[], bool] | None = None) -> list[Path]:
    """Write the run folder's :data:`COMPARE_FILES`, in that order and each atomically: models/<method>.safetensors,
    history.csv, summary.json, report.md, report.html (interactive, see :mod:`descentlab.reporting.interactive`),
    curves.png.

    ``summary`` is :func:`~descentlab.experiments.summary.summarize`'s (computed here when not given), the numbers
    every file and the terminal show. ``stop()`` is asked before each file; True ends the writing there. Returns
    the paths written; a file that cannot be written raises ``OSError`` naming it (formats/atomic.py).
    """
    from .report import render_report

    out = Path(out)
    summary = summary if summary is not None else summarize(comparison)
    run = _Run(comparison, summary, render_report(comparison, summary))
    (out / "models").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in COMPARE_FILES:
        if stop is not None and stop():
            break
        _WRITERS[name](run, out / name)
        written.append(out / name)
    return written


def write_sweep(result: Sweep, out: str | Path, runs: bool = False, numbers: SweepNumbers | None = None) -> list[Path]:
    """Write ``sweep.csv``, ``sweep.png`` (``runs``: each seed's curve too), ``summary.json``, ``report.md`` and
    ``report.html`` into ``out`` (atomically), rendered from ``numbers`` (:func:`~.report.sweep_numbers`'s,
    computed here when not given)."""
    from .interactive import write_sweep_html
    from .plots import plot_sweep
    from .report import render_sweep_report, sweep_json, sweep_numbers

    out = Path(out)
    numbers = numbers if numbers is not None else sweep_numbers(result)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.csv", sweep_csv(result))
    plot_sweep(result, out / "sweep.png", runs)
    report = render_sweep_report(result, numbers)
    atomic_write_text(out / "summary.json", json.dumps(sweep_json(result, numbers), indent=2) + "\n")
    atomic_write_text(out / "report.md", report)
    write_sweep_html(result, report, out / "report.html")
    return [out / "sweep.csv", out / "sweep.png", out / "summary.json", out / "report.md", out / "report.html"]
