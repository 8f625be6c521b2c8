"""The terminal side of ``descentlab sweep --tune``: options checked, progress, the table of chosen settings and
the paired verdicts. Part of the command line (it prints); the work is in :mod:`descentlab.experiments.tuning`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..experiments.config import TuneConfig


def refusal(args: argparse.Namespace) -> str | None:
    """Why the options given cannot make the sweep they ask for (None when they can)."""
    if args.resume is not None:
        return None
    if not args.tune:
        given = [flag for flag, value in (("--validation-size", args.validation_size),
                                          ("--split-seed", args.split_seed)) if value is not None]
        return f"{given[0]} needs --tune" if given else None
    if args.seed != 0:
        return "--seed does not apply with --tune: the test rows come from --split-seed, repetition r uses seed r"
    validation = TuneConfig.validation_size if args.validation_size is None else args.validation_size
    if validation + args.test_size >= 1.0:
        return f"--validation-size {validation:g} and --test-size {args.test_size:g} leave no training data"
    return None


def layout(config: TuneConfig, cell_size: int) -> Any:
    """The cells and models of both phases (the final phase's chosen settings are not known yet; its counts are)."""
    from ..experiments.cells import cut
    from ..experiments.tuning import tune_cells, tuned_models
    from .cells import Layout

    finals = len(cut("final", "", "", (0.0,), range(config.repetitions), 0, cell_size)) * len(config.methods)
    return Layout(len(tune_cells(config, cell_size)) + finals, tuned_models(config))


def describe(data: Any, config: Any, run_dir: Path, cell_size: int) -> tuple[Text, str]:
    """The set-up, before any work: the held-out test rows and a repetition's split (made here, so that a split
    that cannot be made fails early), and the models of both phases."""
    from ..experiments.cells import repetition_rows
    from ..experiments.tuning import tune_cells

    base = config.base
    train, validation, test = repetition_rows(data, config.validation_size, base.test_size, config.split_seed, 0)
    data_line = Text(f"Data: {base.data}, {data.n_samples} samples: {test.size} test rows held out of everything "
                     f"(--split-seed {config.split_seed}); {train.size} train, {validation.size} validation per "
                     "repetition")  # not markup
    models = sum(c.size for c in tune_cells(config))
    plan = (f"Tune: {models} models on repetitions 0..{config.repetitions - 1}; final: {len(config.methods)} "
            f"methods at their chosen settings on repetitions {config.repetitions}..{2 * config.repetitions - 1}; "
            f"cells of about {cell_size} models, each saved in {run_dir}/cells/ as it finishes")
    return data_line, plan


def _chosen_table(summary: dict[str, Any]) -> Table:
    from ..experiments.statistics import STATUSES

    table = Table(title="Chosen settings; final phase: medians over repetitions (report.md: quartiles)")
    statuses = "/".join(STATUSES)
    for column in ("method", "chosen setting", f"tune {statuses}", f"final {statuses}", "train loss",
                   "test loss", "test acc."):
        table.add_column(column, justify="left" if column in ("method", "chosen setting") else "right")
    for method, m in summary["methods"].items():
        f = m["final"]
        columns = (("train_loss", 1, ".4f"), ("test_loss", 1, ".4f"), ("test_accuracy", 100, ".1f"))
        cells = ["–" if f[k] is None else f"{scale * f[k]['median']:{fmt}}" for k, scale, fmt in columns]
        cells[-1] += " %" if f["test_accuracy"] is not None else ""
        table.add_row(escape(method), escape(m["setting"]),
                      *("/".join(str(n) for n in m["status"][phase].values()) for phase in ("tune", "final")), *cells)
    return table


def finish(tuned: Any, run_dir: Path, out: Console, err: Console, show_runs: bool) -> str:
    """Write the tuned sweep's files, print the chosen settings and the paired verdicts; the files' names."""
    from ..reporting.tuned_report import tuned_numbers, write_tuned

    numbers = tuned_numbers(tuned)
    write_tuned(tuned, run_dir, show_runs, numbers)
    summary = numbers.summary
    out.print(_chosen_table(summary))
    for method, m in summary["methods"].items():
        if m["edge_of_grid"]:
            err.print(f"[yellow]note:[/yellow] {escape(method)}: the chosen learning rate is the grid's "
                      f"{m['edge_of_grid']}; extend the grid that way")
        if m["warning"]:
            err.print(f"[yellow]warning:[/yellow] {escape(m['warning'])}")
    for other, comparisons in summary["paired"].items():
        out.print(f"{escape(other)} vs {escape(summary['paired_with'])}: "
                  + "; ".join(escape(p["verdict"]) for p in comparisons))
    return "sweep.csv, summary.json, split.json, sweep.png, report.md, report.html"
