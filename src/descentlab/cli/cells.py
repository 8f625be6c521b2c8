"""The terminal side of a sweep (plain or tuned) run in cells: where it runs (``--workers``, ``--scheduler``), its
progress across workers, and what an interruption says. Part of the command line (it prints); the work is in
:mod:`descentlab.experiments.sweeprun`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import SweepStopped, UserError

if TYPE_CHECKING:  # the command line builds its parser from this module: rich and NumPy load when a sweep runs
    from rich.console import Console
    from rich.progress import Progress

    from ..experiments.cells import CellResult


@contextmanager
def reported_errors() -> Iterator[None]:
    """A cluster that cannot be used, or a run folder that cannot be resumed, is a :class:`UserError` (one line,
    exit 1)."""
    from ..experiments.cluster import ClusterError
    from ..experiments.runfolder import RunFolderError

    try:
        yield
    except (ClusterError, RunFolderError) as error:
        raise UserError(str(error)) from None


@contextmanager
def _client(args: argparse.Namespace, out: Console) -> Iterator[Any]:
    from rich.markup import escape

    from ..experiments.cluster import dask_client

    with _quiet_dask(), dask_client(workers=args.workers, scheduler=args.scheduler,
                                    dashboard=not args.quiet) as client:
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        where = f"a local cluster of {args.workers} worker processes" if args.workers else args.scheduler
        out.print(f"Dask: {escape(str(where))}, {workers} workers connected")
        link = client.dashboard_link if "dashboard" in client.scheduler_info()["services"] else None
        if link:
            out.print(f"Dask dashboard: {link}")
        yield client


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's and tornado's logs kept to what would crash the command: a lost scheduler or an interrupted wait is
    said in one line of ours (:func:`_stopped`), not in their ERROR records with tracebacks."""
    import logging

    with suppress(ImportError):
        import distributed  # noqa: F401  (its loggers exist, with the levels of its configuration, once imported)
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.split(".")[0] in ("distributed", "tornado")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def claim_sweep_folder(run_dir: Path, args: argparse.Namespace) -> Any:
    """Hold the run folder for this sweep, before it says anything of its plan: a second sweep into it at the same
    time is refused in one line. A previous sweep there is not (its saved cells are what --resume, or the same
    sweep again, finishes; another sweep's manifest is refused when the sweep starts); any other previous run (a
    compare's or train's files) is refused unless ``--overwrite`` replaces it as a whole."""
    from ..experiments.runfolder import MANIFEST
    from .outputs import LOCK_NAME, RunLock, acquire_checked, check_no_previous_run, clear_previous_run, remove_tree

    def refuse_other_runs() -> None:
        if not (run_dir / MANIFEST).exists():
            check_no_previous_run(run_dir, "sweep")

    run_dir.mkdir(parents=True, exist_ok=True)
    fresh = args.resume is None and not args.overwrite
    lock = acquire_checked(RunLock(run_dir / LOCK_NAME, str(run_dir)), refuse_other_runs if fresh else None)
    if args.resume is None and args.overwrite:
        remove_tree(run_dir / "checkpoint")
        clear_previous_run(run_dir)
    return lock


class Layout:
    """How many cells and models a sweep has (the final phase's cells are counted before its settings are
    chosen)."""

    def __init__(self, cells: int, models: int) -> None:
        self.cells, self.models = cells, models


class _Meter:
    """Cells done / total, models per second and the time left, across all workers."""

    def __init__(self, progress: Progress, total_cells: int, total_models: int) -> None:
        self.progress, self.total_models = progress, total_models
        self.task = progress.add_task("cells", total=total_cells, rate="", eta="")
        self.start = time.perf_counter()
        self.fresh = self.models_done = 0

    def __call__(self, result: CellResult, resumed: bool) -> None:
        """One more cell done (``resumed``: read back from the run folder)."""
        models = result.cell.size
        self.models_done += models
        if not resumed:
            self.fresh += models
        elapsed = time.perf_counter() - self.start
        rate = self.fresh / elapsed if self.fresh and elapsed > 0 else 0.0
        eta = f"ETA {(self.total_models - self.models_done) / rate:.0f} s" if rate else ""
        self.progress.update(self.task, advance=1, rate=f"{rate:.1f} models/s" if rate else "", eta=eta)

    @property
    def cells_done(self) -> int:
        return int(self.progress.tasks[0].completed)


def _progress(quiet: bool, err: Console) -> Any:
    from rich.progress import MofNCompleteColumn, TextColumn

    from .common import progress_bar

    return progress_bar(err, quiet or not err.is_terminal, "{task.description}", MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[eta]}"))


def _stoppable(args: argparse.Namespace, out: Console, err: Console, run_dir: Path, meter: _Meter, cells: int,
               work: Callable[[Any], Any], finish: Callable[[Any], str]) -> tuple[Any, str]:
    """``work(client)`` (client None in process) with progress shown, then ``finish(result)`` (the files it
    writes), the caller holding the run folder (:func:`claim_sweep_folder`); Ctrl-C at any point, or a lost
    cluster, is said, with what is kept, and raised as :class:`SweepStopped`."""
    remote = args.workers is not None or args.scheduler is not None
    started = time.perf_counter()
    try:
        try:
            with _client(args, out) if remote else nullcontext() as client, meter.progress:
                result = work(client)
        except Exception as error:
            if not (remote and _lost_cluster(error)):
                raise
            _stopped(err, f"lost the Dask cluster ({type(error).__name__})", meter.cells_done, cells, run_dir)
            raise SweepStopped(1) from None
        _write_timings(run_dir, meter, time.perf_counter() - started)
        return result, finish(result)
    except KeyboardInterrupt:
        _stopped(err, "interrupted", meter.cells_done, cells, run_dir)
        raise SweepStopped(130) from None


def run_with_progress(args: argparse.Namespace, data: Any, config: Any, run_dir: Path, cell_size: int, layout: Any,
                      out: Console, err: Console, finish: Callable[[Any], str]) -> tuple[Any, str]:
    """Run (or, with ``--resume``, finish) the sweep, plain or tuned, in ``run_dir`` (held by the caller) here or on
    a cluster, showing progress, then write its files by ``finish``: the result and the files written. Raises
    :class:`SweepStopped` after saying what was kept when Ctrl-C or a lost cluster stops it."""
    from ..experiments.sweeprun import CellRunner, assemble, sweep_layout
    from ..experiments.tuning import run_tuned

    meter = _Meter(_progress(args.quiet, err), layout.cells, layout.models)

    def work(client: Any) -> Any:
        runner = CellRunner(data, config, layout.models, client, run_dir, cell_size, on_cell=meter)
        if hasattr(config, "methods"):
            return run_tuned(data, config, runner)
        return assemble(runner.config, data, runner(sweep_layout(config, cell_size)))  # type: ignore[arg-type]

    return _stoppable(args, out, err, run_dir, meter, layout.cells, work, finish)


def _lost_cluster(error: Exception) -> bool:
    try:
        from distributed.comm.core import CommClosedError
    except ImportError:
        return False
    import asyncio
    import concurrent.futures

    # A lost scheduler shows as a closed comm, or as futures cancelled with reason "scheduler-connection-lost";
    # an OSError naming a file is this machine's (a full disk), not the cluster's.
    if isinstance(error, OSError) and error.filename:
        return False
    lost = CommClosedError | asyncio.CancelledError | concurrent.futures.CancelledError | TimeoutError | OSError
    return isinstance(error, lost)


def _stopped(err: Console, what: str, done: int, total: int, run_dir: Path) -> None:
    """Say why a sweep stopped, how many of its cells are saved and the command that finishes it."""
    from rich.text import Text

    from ..experiments.runfolder import MANIFEST

    if not (run_dir / MANIFEST).exists():  # stopped before the sweep began: nothing to finish
        err.print(Text.assemble((f"{what}:", "yellow"), " before the sweep began; nothing was saved"))
        return
    # Text, not markup: the folder is the user's ("runs/[v2]" would lose its brackets)
    err.print(Text.assemble((f"{what}:", "yellow"), f" {done} of {total} cells are saved in {run_dir}/cells/"))
    err.print(Text(f"Finish it with: descentlab sweep --resume {run_dir}"))


def _write_timings(run_dir: Path, meter: _Meter, seconds: float) -> None:
    """Timings go to their own file: every other file of the run folder is the same whoever ran it, and when."""
    import json

    from ..formats.atomic import atomic_write_text

    atomic_write_text(run_dir / "timings.json", json.dumps({
        "seconds": seconds, "models_trained": meter.fresh,
        "models_per_second": meter.fresh / seconds if seconds > 0 else None,
    }, indent=2) + "\n")
