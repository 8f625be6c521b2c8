"""The terminal side of ``descentlab sweep --tune``: options checked, progress, the table of chosen settings and
the paired verdicts. Part of the command line (it prints); the work is in :mod:`descentlab.tuning`."""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


def run_tuned_command(args: argparse.Namespace, out: Console, err: Console, started: float) -> int:
    """``sweep --tune``: both phases of the tuned comparison (see :mod:`descentlab.tuning`), in this process."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .cli import _load_data, _network_line
    from .experiments import CompareConfig, network_for
    from .outputs import check_folder_output, new_run_folder
    from .tuned_report import tuned_summary, write_tuned
    from .tuning import TuneConfig, run_tuned, split_three_ways, tune_groups

    if not args.tune:
        err.print("[red]error:[/red] --validation-size needs --tune")
        return 2
    for flag, value in (("--seed", args.seed != 0), ("--resume", args.resume), ("--workers", args.workers),
                        ("--scheduler", args.scheduler)):
        if value:
            err.print(f"[red]error:[/red] {flag} does not apply with --tune"
                      + (": repetition r uses seed r" if flag == "--seed" else " (it runs in this process)"))
            return 2
    if args.out is not None:
        check_folder_output(args.out, "--out")
    data, source = _load_data(args)
    base = CompareConfig(hidden=tuple(args.hidden), activation=args.activation, test_size=args.test_size,
                         init_sigma=args.init_sigma, iterations=args.iterations, standardize=args.standardize,
                         data=source, target=args.target, engine=args.engine)
    config = TuneConfig(base=base, methods=tuple(args.optimizers), lrs=tuple(args.lr), repetitions=args.seeds,
                        validation_size=0.2 if args.validation_size is None else args.validation_size)
    train, validation, test = split_three_ways(data, config.validation_size, base.test_size, 0)  # fails early
    out.print(Text(f"Data: {source}, {data.n_samples} samples: {train.n_samples} train, {validation.n_samples} "
                   f"validation, {test.n_samples} test per repetition"))  # Text: the path is the user's, not markup
    out.print(_network_line(network_for(data, base)))
    groups = tune_groups(config)
    models = sum(len(g.lrs) for g in groups) * config.repetitions
    out.print(f"Tune: {models} models on repetitions 0..{config.repetitions - 1}; final: {len(config.methods)} "
              f"methods at their chosen settings on repetitions {config.repetitions}..{2 * config.repetitions - 1}")
    progress = Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=True, disable=args.quiet)
    task = progress.add_task("settings", total=len(groups) + len(config.methods))
    with progress:
        tuned = run_tuned(data, config, on_group=lambda group: progress.advance(task))
    run_dir = args.out or new_run_folder()
    write_tuned(tuned, run_dir)
    summary = tuned_summary(tuned)
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
    out.print(table)
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
