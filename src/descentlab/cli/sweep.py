"""``descentlab sweep``: a grid of optimisers × learning rates × seeds trained in cells (``--tune``: the tuned
comparison of :mod:`descentlab.cli.tuned`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import (
    UserError,
    check_grid,
    compare_config,
    escape,
    explained_start,
    load_data,
    load_source,
    network_line,
    say,
)

if TYPE_CHECKING:
    from rich.console import Console


def _sweep_setup(args: argparse.Namespace) -> tuple[Any, Any, Path, int]:
    """The data, configuration, run folder and cell size of ``descentlab sweep`` (those of the interrupted sweep
    with ``--resume``)."""
    from ..experiments.config import CompareConfig, SweepConfig
    from ..experiments.runfolder import RunFolderError
    from ..experiments.sweeprun import load_manifest
    from .outputs import check_folder_output, new_run_folder

    if args.resume is not None:
        try:
            config, cell_size, _ = load_manifest(args.resume)
        except RunFolderError as error:
            raise UserError(str(error)) from None
        return load_source(config.base.data, config.base.target), config, args.resume, cell_size
    if args.out is not None:
        check_folder_output(args.out, "--out")
    data, source = load_data(args)
    base = compare_config(args, source, lr=CompareConfig.lr, optimizers=CompareConfig.optimizers)  # the grid's apart
    config = SweepConfig(base=base, optimizers=args.optimizers.specs, lrs=tuple(args.lr), seeds=args.seeds)
    return data, config, args.out or new_run_folder(), args.cell_size


def _is_tuned_run(folder: Path | None) -> bool:
    """Whether ``--resume`` names the folder of a tuned sweep (a folder that is no sweep's is reported later)."""
    from ..experiments.runfolder import RunFolderError
    from ..experiments.tuned_cells import load_tuned_manifest

    try:
        return folder is not None and load_tuned_manifest(folder) is not None
    except RunFolderError:
        return False


def run_sweep_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.table import Table

    from ..experiments.compare import network_for
    from ..reporting.report import sweep_summary
    from ..reporting.write import write_sweep
    from .cells import reported_errors, run_with_progress
    from .hints import say_scale_hint

    started = time.perf_counter()
    if args.tune or args.validation_size is not None or _is_tuned_run(args.resume):
        from .tuned import run_tuned_command

        return run_tuned_command(args, out, err, started)
    data, config, run_dir, cell_size = _sweep_setup(args)
    check_grid(data, config.base, models=len(config.lrs) * config.seeds * len(config.optimizers))
    if args.resume is not None:
        say(out, f"Resuming the sweep in {args.resume} (its options, not this command's, apply)")
    say(out, f"Data: {config.base.data}, {data.n_samples} samples, {data.n_features} features, "
             f"{data.n_classes} classes")
    out.print(network_line(network_for(data, config.base)))
    say_scale_hint(err, data, config.base)
    say(out, f"{len(config.lrs) * config.seeds} models per method ({len(config.lrs)} learning rates × "
             f"{config.seeds} seeds), trained in cells of up to {cell_size} stacked models, each saved in "
             f"{run_dir}/cells/ as it finishes")
    with reported_errors(), explained_start(config.base):
        result = run_with_progress(args, data, config, run_dir, cell_size, out, err)
    write_sweep(result, run_dir)
    table = Table(title="Final metrics: median \\[quartiles] over seeds")
    for column in ("method", "lr", "ok/stuck/diverged", "train loss", "test acc. (%)"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, lr, counts, _, loss, acc in sweep_summary(result):
        table.add_row(escape(name), f"{lr:g}", "/".join(str(n) for n in counts.values()), loss, acc)
    out.print(table)
    for name, fitted in result.results.items():
        if fitted.stopped:
            say(err, ("warning:", "yellow"), f" {name}: {fitted.stopped}")
    say(out, f"Wrote {run_dir}/ (sweep.csv, sweep.png, report.md, report.html, cells/) "
             f"in {time.perf_counter() - started:.2f} s")
    return 0
