"""``descentlab sweep``: a grid of optimisers × learning rates × seeds trained in cells (``--tune``: the tuned
comparison, whose terminal side is :mod:`descentlab.cli.tuned`). A new sweep and ``--resume`` take one path: the
configuration (from the options, or from the run folder's manifest, checked by the same rules as the options),
then the cells, here or on a cluster."""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import (
    UserError,
    check_grid,
    check_resumable,
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

    from ..experiments.config import SweepConfig, TuneConfig


def _config(args: argparse.Namespace, source: str) -> SweepConfig | TuneConfig:
    """The sweep the options describe (``source``: the data's name)."""
    from ..experiments.config import CompareConfig, SweepConfig, TuneConfig

    base = compare_config(args, source, lr=CompareConfig.lr, optimizers=CompareConfig.optimizers)  # the grid's apart
    if not args.tune:
        return SweepConfig(base=base, optimizers=args.optimizers.specs, lrs=tuple(args.lr), seeds=args.seeds)
    validation = TuneConfig.validation_size if args.validation_size is None else args.validation_size
    return TuneConfig(base=base, methods=args.optimizers.methods, lrs=tuple(args.lr), repetitions=args.seeds,
                      validation_size=validation,
                      split_seed=TuneConfig.split_seed if args.split_seed is None else args.split_seed)


def checked_manifest(folder: Path) -> tuple[Any, int, str]:
    """The configuration, cell size and data digest of the sweep in ``folder``, read back through the command
    line's own rules: a manifest this command would not have written is refused in one line."""
    from ..experiments.runfolder import MANIFEST, RunFolder, RunFolderError
    from ..optim.spec import parse_methods
    from ..reporting.report import command_words
    from .parser import build_parser

    try:
        config, cell_size, digest = RunFolder(folder).sweep()
    except RunFolderError as error:
        raise UserError(str(error)) from None
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            args = build_parser().parse_args([*command_words(config), f"--cell-size={cell_size}"])
        args.optimizers = parse_methods(args.optimizers)
    except SystemExit:
        reason = said.getvalue().strip().split("error: ", 1)[-1].split(" (see ", 1)[0]
        raise UserError(f"{folder / MANIFEST}: {reason}; run a new sweep") from None
    except ValueError as error:
        raise UserError(f"{folder / MANIFEST}: --optimizers: {error}; run a new sweep") from None
    if _config(args, config.base.data) != config or args.cell_size != cell_size:
        raise UserError(f"{folder / MANIFEST}: holds a configuration that descentlab sweep does not make; run a "
                        "new sweep")
    return config, cell_size, digest


def _setup(args: argparse.Namespace) -> tuple[Any, Any, Path, int]:
    """The data, configuration, run folder and cell size of the sweep (those of the interrupted one with
    ``--resume``)."""
    from ..data.dataset import data_digest
    from .outputs import check_folder_output, new_run_folder

    if args.resume is not None:
        check_resumable(args.resume)
        config, cell_size, digest = checked_manifest(args.resume)
        data = load_source(config.base.data, config.base.target)
        if data_digest(data) != digest:
            raise UserError(f"{args.resume}: the data differ from those the interrupted sweep was trained on")
        return data, config, args.resume, cell_size
    if args.out is not None:
        check_folder_output(args.out, "--out", {"--data": args.data})
    data, source = load_data(args)
    return data, _config(args, source), args.out or new_run_folder(), args.cell_size


def run_sweep_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..experiments.compare import network_for
    from ..experiments.config import TuneConfig
    from ..experiments.tuning import tuned_models
    from . import tuned
    from .cells import claim_sweep_folder, reported_errors, run_with_progress
    from .hints import say_grid_hints, say_scale_hint

    started = time.perf_counter()
    refusal = tuned.refusal(args)
    if refusal is not None:
        err.print(f"[red]error:[/red] {refusal}")
        return 2
    data, config, run_dir, cell_size = _setup(args)
    is_tuned = isinstance(config, TuneConfig)
    check_grid(data, config.base, models=tuned_models(config) if is_tuned else
               len(config.lrs) * config.seeds * len(config.optimizers))
    layout = tuned.layout(config, cell_size) if is_tuned else _layout(config, cell_size)

    def finish(result: Any) -> str:
        return (tuned.finish if is_tuned else _finish)(result, run_dir, out, err, args.show_runs)

    with reported_errors(), claim_sweep_folder(run_dir, args):
        if args.resume is not None:
            say(out, f"Resuming the sweep in {args.resume} (its options, not this command's, apply)")
        data_line, plan = (tuned.describe if is_tuned else _describe)(data, config, run_dir, cell_size)
        out.print(data_line)
        out.print(network_line(network_for(data, config.base)))
        hinted = say_scale_hint(err, data, config.base)
        say(out, plan)
        with explained_start(config.base):
            result, files = run_with_progress(args, data, config, run_dir, cell_size, layout, out, err, finish)
    say_grid_hints(err, result, scaled=not hinted)
    say(out, f"Wrote {run_dir}/ ({files}, cells/) in {time.perf_counter() - started:.2f} s")
    return 0


def _layout(config: Any, cell_size: int) -> Any:
    from ..experiments.sweeprun import sweep_layout
    from .cells import Layout

    cells = sweep_layout(config, cell_size)
    return Layout(len(cells), sum(cell.size for cell in cells))


def _describe(data: Any, config: Any, run_dir: Path, cell_size: int) -> tuple[Any, str]:
    from .common import plain

    data_line = plain(f"Data: {config.base.data}, {data.n_samples} samples, {data.n_features} features, "
                      f"{data.n_classes} classes")
    return data_line, (f"{len(config.lrs) * config.seeds} models per method ({len(config.lrs)} learning rates × "
                       f"{config.seeds} seeds), trained in cells of about {cell_size} stacked models, each saved in "
                       f"{run_dir}/cells/ as it finishes")


def _finish(result: Any, run_dir: Path, out: Console, err: Console, show_runs: bool) -> str:
    """Write the plain sweep's files, print its table and the readings of its paired comparisons."""
    from rich.table import Table

    from ..experiments.statistics import STATUSES, verdict
    from ..reporting.report import sweep_numbers
    from ..reporting.write import write_sweep

    numbers = sweep_numbers(result)
    write_sweep(result, run_dir, show_runs, numbers)
    table = Table(title="Final metrics: median \\[quartiles] over seeds")
    for column in ("method", "lr", "/".join(STATUSES), "train loss", "test acc. (%)"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, lr, counts, _, loss, acc in numbers.table:
        table.add_row(escape(name), f"{lr:g}", "/".join(str(counts[s]) for s in STATUSES), loss, acc)
    out.print(table)
    for name, fitted in result.results.items():
        if fitted.stopped:
            say(err, ("warning:", "yellow"), f" {name}: {fitted.stopped}")
    first = next(iter(result.results))
    for other, comparisons in numbers.pooled():
        say(out, f"{other} vs {first}: {'; '.join(verdict(p, first, other) for p in comparisons)}")
    return "sweep.csv, sweep.png, summary.json, report.md, report.html"
