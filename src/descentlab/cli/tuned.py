"""The terminal side of ``descentlab sweep --tune``: options checked, progress, the table of chosen settings and
the paired verdicts. Part of the command line (it prints); the work is in :mod:`descentlab.experiments.tuning`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..experiments.config import TuneConfig
from .common import UserError, compare_config, load_data, load_source, network_line


def _tuned_setup(args: argparse.Namespace) -> tuple[Any, Any, Path, int]:
    """The data, configuration, run folder and cell size of ``sweep --tune`` (those stored in the run folder with
    ``--resume``)."""
    from ..data.dataset import data_digest
    from ..experiments.config import CompareConfig
    from ..experiments.tuned_cells import load_tuned_manifest
    from .outputs import check_folder_output, new_run_folder

    if args.resume is not None:
        stored = load_tuned_manifest(args.resume)
        assert stored is not None, "only a tuned sweep's folder is resumed here"
        config, cell_size, digest = stored
        data = load_source(config.base.data, config.base.target)
        if data_digest(data) != digest:
            raise UserError(f"{args.resume}: the data differ from those the interrupted sweep was trained on")
        return data, config, args.resume, cell_size
    if args.out is not None:
        check_folder_output(args.out, "--out")
    data, source = load_data(args)
    base = compare_config(args, source, lr=CompareConfig.lr, optimizers=CompareConfig.optimizers)  # the grid's apart
    config = TuneConfig(base=base, methods=args.optimizers.methods, lrs=tuple(args.lr), repetitions=args.seeds,
                        validation_size=_validation_size(args))
    return data, config, args.out or new_run_folder(), args.cell_size


def _validation_size(args: argparse.Namespace) -> float:
    return TuneConfig.validation_size if args.validation_size is None else args.validation_size


def _refusal(args: argparse.Namespace) -> str | None:
    """Why the options given cannot make a tuned sweep (None when they can)."""
    if not args.tune and args.resume is None:
        return "--validation-size needs --tune"
    if args.seed != 0 and args.resume is None:
        return "--seed does not apply with --tune: repetition r uses seed r"
    if args.resume is None and _validation_size(args) + args.test_size >= 1.0:
        return (f"--validation-size {_validation_size(args):g} and --test-size {args.test_size:g} leave no training "
                "data")
    return None


def _describe_run(data: Any, config: Any, run_dir: Path, cell_size: int, out: Console) -> None:
    """The set-up, before any work: the three-way split (made here, so that a split that cannot be made fails
    early), the network and the models of both phases."""
    from ..experiments.compare import network_for
    from ..experiments.tuning import split_three_ways, tune_groups

    base = config.base
    train, validation, test = split_three_ways(data, config.validation_size, base.test_size, 0)
    out.print(Text(f"Data: {base.data}, {data.n_samples} samples: {train.n_samples} train, "
                   f"{validation.n_samples} validation, {test.n_samples} test per repetition"))  # not markup
    out.print(network_line(network_for(data, base)))
    models = sum(len(g.lrs) for g in tune_groups(config)) * config.repetitions
    out.print(f"Tune: {models} models on repetitions 0..{config.repetitions - 1}; final: {len(config.methods)} "
              f"methods at their chosen settings on repetitions {config.repetitions}..{2 * config.repetitions - 1}"
              f"; cells of about {cell_size} models, each saved in {run_dir}/cells/ as it finishes")


def _chosen_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Chosen settings; final phase: medians over repetitions (report.md: quartiles)")
    for column in ("method", "chosen setting", "tune ok/stuck/diverged", "final ok/stuck/diverged", "train loss",
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


def run_tuned_command(args: argparse.Namespace, out: Console, err: Console, started: float) -> int:
    """``sweep --tune``: both phases of the tuned comparison (see :mod:`~descentlab.experiments.tuning`)."""
    from ..experiments.tuning import tuned_models
    from ..reporting.tuned_report import tuned_summary, write_tuned
    from .cells import reported_errors, tuned_with_progress
    from .common import check_grid, explained_start
    from .hints import say_scale_hint

    refusal = _refusal(args)
    if refusal is not None:
        err.print(f"[red]error:[/red] {refusal}")
        return 2
    data, config, run_dir, cell_size = _tuned_setup(args)
    check_grid(data, config.base, models=tuned_models(config))
    _describe_run(data, config, run_dir, cell_size, out)
    say_scale_hint(err, data, config.base)
    with reported_errors(), explained_start(config.base):
        tuned = tuned_with_progress(args, data, config, run_dir, cell_size, out, err)
    write_tuned(tuned, run_dir)
    summary = tuned_summary(tuned)
    out.print(_chosen_table(summary))
    for method, m in summary["methods"].items():
        if m["edge_of_grid"]:
            err.print(f"[yellow]note:[/yellow] {escape(method)}: the chosen learning rate is the grid's "
                      f"{m['edge_of_grid']}; extend the grid that way")
    for other, comparisons in summary["paired"].items():
        out.print(f"{escape(other)} vs {escape(summary['paired_with'])}: "
                  + "; ".join(escape(p["verdict"]) for p in comparisons))
    out.print(Text(f"Wrote {run_dir}/ (sweep.csv, summary.json, sweep.png, report.md, report.html) in "
                   f"{time.perf_counter() - started:.2f} s"))
    return 0
