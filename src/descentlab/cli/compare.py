"""``descentlab compare`` and ``descentlab train``: a comparison of several methods (or one, saved as a model
file), with progress, Ctrl-C handling (a checkpoint) and ``--resume``."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import (
    Interrupt,
    UserError,
    check_start,
    compare_config,
    data_path,
    escape,
    explained_start,
    folder_of,
    load_data,
    load_source,
    network_line,
    progress_bar,
    say,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..optim.spec import MethodList


def _results_table(summary: dict[str, Any]) -> Table:
    from rich import box
    from rich.table import Table

    from ..optim.registry import describe

    # The name as typed on the command line is the method's one name: never cut, whatever the width (numbers
    # fold rather than vanish behind an ellipsis); a light frame leaves 80 columns enough room for both.
    bases = dict.fromkeys(name.partition(":")[0] for name in summary["methods"])
    table = Table(title="Final metrics (at the exported iterate)", box=box.SIMPLE_HEAD, padding=0,
                  pad_edge=False,
                  caption="; ".join(f"{escape(base)}: {escape(describe(base))}" for base in bases if describe(base)))
    rows = []
    for name, m in summary["methods"].items():
        f = m["final"]
        reach = "/".join(("never" if m[key] is None else str(m[key]))
                         for key in ("iterations_to_test_accuracy_90", "iterations_to_test_accuracy_95"))
        rows.append([name + (" (stopped)" if m["stopped"] else ""), m["status"], f"{f['train_loss']:.4f}",
                     f"{100 * f['train_accuracy']:.1f}", f"{f['test_loss']:.4f}", f"{100 * f['test_accuracy']:.1f}",
                     reach, f"{m['gradient_evaluations']}/{m['function_evaluations']}", f"{m['seconds']:.3f}"])
    headers = ("method", "status", "train\nloss", "train\nacc. %", "test\nloss", "test\nacc. %",
               "iter. to\n90/95 %\ntest", "grad./\nfunc.\nevals", "time\n(s)")
    for index, header in enumerate(headers):  # short header lines: every value keeps its width in 80 columns
        table.add_column(header, justify="left" if index == 0 else "right", no_wrap=index == 0, overflow="fold",
                         min_width=max(len(row[index]) for row in rows))
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def _progress_bars(err: Console, iterations: int, quiet: bool) -> tuple[Any, Callable[[str, int, Any], None]]:
    """One progress bar per method, counting iterations: the callback's k = 0 is the initial point (measured,
    no step taken), so a method shows k of ``iterations`` steps done."""
    from rich.progress import MofNCompleteColumn

    progress = progress_bar(err, quiet, "{task.description:<12}", MofNCompleteColumn())
    tasks: dict[str, Any] = {}

    def on_step(method: str, k: int, history: Any) -> None:
        if method not in tasks:
            tasks[method] = progress.add_task(escape(method), total=iterations)
        progress.update(tasks[method], completed=k)

    return progress, on_step


def _resumed_source(config: Any, info: dict[str, Any]) -> str:
    """The data file of a resumed run: a relative path is read from the folder the run was started in when it
    is not found from here (the data's SHA-256 is checked either way)."""
    path = data_path(config)
    if path is None or path.is_absolute() or path.exists() or not isinstance(info.get("cwd"), str):
        return str(config.data)
    return str(Path(info["cwd"]) / path)


def _run(args: argparse.Namespace, out: Console, err: Console, optimizers: MethodList,
         should_stop: Callable[[], bool], claim: Callable[[Any, dict[str, Any]], None]) -> tuple[Any, Any, dict]:
    """Load the data, print the set-up, ``claim(config, info)`` the output, train every method with a progress
    bar (or continue an interrupted run with ``--resume``): what compare and train share. Returns the
    comparison, the data and the checkpoint's information (empty without ``--resume``)."""
    from ..experiments.checkpoint import checkpoint_config, resume
    from ..experiments.compare import compare, network_for
    from .hints import say_scale_hint, say_status_hints

    info: dict[str, Any] = {}
    if args.resume is not None:
        config, info = checkpoint_config(args.resume)
        if info.get("command") != args.command:
            raise UserError(f"{args.resume}: this checkpoint is of 'descentlab {info.get('command')}'; resume it "
                            f"with that command")
        data, source = load_source(_resumed_source(config, info), config.target), config.data
        say(out, f"Resuming the run checkpointed in {args.resume} (its options, not this command's, apply)")
    else:
        data, source = load_data(args)
        config = compare_config(args, source, optimizers=optimizers.specs, lr=args.lr,
                                **({"x_axis": args.x_axis} if args.command == "compare" else {}))
    say(out, f"Data: {source}, {data.n_samples} samples, {data.n_features} features, {data.n_classes} "
             "classes")
    out.print(network_line(network_for(data, config)))
    say_scale_hint(err, data, config)
    check_start(data, config)  # size and a finite start, before the output is claimed
    claim(config, info)
    progress, on_step = _progress_bars(err, config.iterations, args.quiet)
    with progress:
        if args.resume is not None:
            try:
                comparison = resume(args.resume, data, callback=on_step, should_stop=should_stop)
            except ValueError as error:
                raise UserError(str(error)) from None
        else:
            with explained_start(config):
                comparison = compare(data, config, callback=on_step, should_stop=should_stop)
    if comparison.engine_load_seconds is not None:
        out.print(f"Compiled engine: kernels loaded in {comparison.engine_load_seconds:.2f} s, once per "
                  "process (not counted in the methods' times)")
    for name, result in comparison.results.items():
        if result.stopped:
            say(err, ("warning:", "yellow"), f" {name}: {result.stopped}")
    if not comparison.interrupted:
        say_status_hints(err, comparison)
    return comparison, data, info


def _save_checkpoint(comparison: Any, data: Any, checkpoint: Path, command: str, out_path: Path) -> None:
    from ..experiments.checkpoint import write_checkpoint

    write_checkpoint(comparison, checkpoint, data, {"command": command, "out": str(out_path), "cwd": os.getcwd()})


def _interrupted(comparison: Any, checkpoint: Path, command: str, saved: str, err: Console) -> int:
    """Say what an interrupted run has done, what is on disk and how to resume it; exit code 130."""
    states = []
    for name, result in comparison.results.items():
        states.append(f"{name} stopped after iteration {result.iterations} of {comparison.config.iterations}"
                      if result.interrupted else f"{name} finished")
    states += [f"{name} not started" for name in comparison.pending]
    say(err, ("interrupted:", "yellow"), f" {'; '.join(states)}. {saved}")
    say(err, f"Resume with: descentlab {command} --resume {checkpoint}")
    return 130


def _compare_folder(args: argparse.Namespace) -> Path | None:
    """The run folder named (``--out``, or the folder of ``--resume``'s checkpoint), checked before any work;
    None when a new folder is to be made."""
    from .outputs import check_folder_keeps_inputs, check_folder_output, check_no_previous_run

    folder: Path | None = folder_of(args.resume) if args.resume is not None else args.out  # resume INTO it
    if folder is not None:
        check_folder_output(folder, "--out")
        check_folder_keeps_inputs(folder, {"--data": args.data if args.resume is None else None})
        if not (args.overwrite or args.resume is not None):
            check_no_previous_run(folder, "compare")
    return folder


def run_compare(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..reporting.figure_process import FigureJob
    from ..reporting.write import write_run
    from .outputs import check_folder_keeps_inputs, claim_run_folder, clear_previous_run, new_run_folder, remove_tree

    if args.seeds > 1:
        return _compare_seeds(args, out, err)
    started = time.perf_counter()
    folder = _compare_folder(args)
    figure = FigureJob()  # write_run only records the views; a drawer makes them once everything else is written
    locks: list[Any] = []
    with ExitStack() as held:

        def claim(config: Any, info: dict[str, Any]) -> None:
            nonlocal folder
            folder = folder if folder is not None else new_run_folder()
            check_folder_keeps_inputs(folder, {"--data": data_path(config)})
            locks.append(held.enter_context(claim_run_folder(folder, "compare", args.overwrite,
                                                             args.resume is not None)))
            _previous_figure_failure(folder, locks[0].left_by, err)

        saved: Path | None = None  # the checkpoint, once what training produced is on disk
        try:
            with Interrupt() as interrupt:  # nothing interrupts until what training produced is on disk
                comparison, data, _ = _run(args, out, err, args.optimizers, interrupt, claim)
                assert folder is not None
                checkpoint = folder / "checkpoint"
                _save_checkpoint(comparison, data, checkpoint, "compare", folder)
                saved = checkpoint
                clear_previous_run(folder)  # one run per folder: nothing of an earlier run stays beside this one
            if interrupt.asked and not comparison.interrupted:  # Ctrl-C after the last iteration: skip the slow part
                raise KeyboardInterrupt
            # an interrupted run returns before any drawer starts: its report.html is written here
            write_run(comparison, folder, draw=figure, write_html=None if comparison.interrupted else figure.page)
        except KeyboardInterrupt:  # from the moment the handler is back: the checkpoint stays, and is named
            if saved is None:
                raise
            return _interrupted(comparison, saved, "compare", f"Training is saved in the checkpoint {saved}/; the "
                                f"results in {folder}/ are not all written.", err)
        if comparison.interrupted:
            return _interrupted(comparison, checkpoint, "compare",
                                f"Saved what is done and a checkpoint in {checkpoint}/", err)
        with Interrupt() as finishing:  # the run is complete: its checkpoint goes, untorn, the figure is handed over
            remove_tree(checkpoint)
            drawer = _draw_figure(figure, locks[0])
            out.print(_results_table(_summarize(comparison)))
            _say_renamed(out, comparison.results)
            if args.detach_figure:  # said before a Ctrl-C can end the command, which has nothing left to stop
                finishing.ignore_after()
                return _say_written(out, folder, drawer, started)
    drawer.wait()  # from Python: every file is there on return (a failure raises)
    return _say_written(out, folder, drawer, started)


def _say_renamed(out: Console, methods: dict[str, Any]) -> None:
    """Name the model file of each method whose spec the file system does not allow as a file name (also in
    summary.json's ``model_files``)."""
    from ..formats.model_io import MODEL_SUFFIX, model_file_name

    for name in methods:
        if model_file_name(name) != name + MODEL_SUFFIX:
            say(out, f"The model of {name} is models/{model_file_name(name)} (a file name cannot hold the spec)")


def _compare_seeds(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``compare --seeds N``: the sweep of one learning rate over N initial points (``sweep --lr LR --seeds N``),
    which writes per-seed statuses, the median with its interquartile band and the paired comparisons."""
    from .parser import defaults
    from .sweep import run_sweep_command

    if args.optimizers.own_lr:
        raise UserError(f"--seeds {args.seeds}: {args.optimizers.own_lr[0]!r} sets its own lr; with several seeds "
                        "every method runs at --lr (or use 'descentlab sweep', one learning rate grid for all)")
    if args.x_axis != "iterations":
        raise UserError(f"--x-axis {args.x_axis}: with --seeds the curves are medians per iteration")
    shared = defaults("sweep")
    sweep = argparse.Namespace(**{**shared, **{name: value for name, value in vars(args).items() if name in shared}})
    sweep.command, sweep.lr = "sweep", (args.lr,)
    say(out, f"{args.seeds} initial points per method: the run of 'descentlab sweep --lr {args.lr:g} --seeds "
             f"{args.seeds}'")
    return int(run_sweep_command(sweep, out, err))


def _summarize(comparison: Any) -> dict[str, Any]:
    from ..experiments.summary import summarize

    return summarize(comparison)


def _previous_figure_failure(folder: Path, left_by: str, err: Console) -> None:
    """Say so when the run about to be replaced in ``folder`` failed to make its views (report.html, curves.png):
    its drawer wrote why, or it ended (killed, say) without removing the lock file ``left_by`` is the content of."""
    from ..reporting.figure_process import DRAWING, ERROR_NAME, failure, missing_views

    reason, lacking = failure(folder), missing_views(folder)
    if reason is not None:
        reason = f"{ERROR_NAME}: {reason}"
    elif left_by.endswith((DRAWING, "drawing curves.png")) and lacking:  # the second: a drawer of version 0.x
        them = "them" if " and " in lacking else "it"
        reason = f"process {left_by.partition(' ')[0]}, which was making {them}, ended without writing {them} or why"
    if reason is not None:
        say(err, ("warning:", "yellow"), f" the run this one replaces in {folder}/ has no {lacking or 'views'} "
                                         f"({reason})")


def _draw_figure(figure: Any, lock: Any) -> Any:
    """Start the process that makes report.html and curves.png and give it the run folder's lock, which it keeps
    until both are written (see :mod:`descentlab.reporting.figure_process`)."""
    from ..reporting.figure_process import DRAWING

    drawer = figure.start(lock.fd, lock.path)
    if drawer.process is not None:
        lock.hand_over(drawer.pid, DRAWING)
    return drawer


def _say_written(out: Console, folder: Path, drawer: Any, started: float) -> int:
    """The last lines of compare: what is written, and whether report.html and curves.png are still being made
    (the command returns meanwhile; a call of ``main`` from Python has waited for them)."""
    from ..reporting.figure_process import ERROR_NAME

    files = "history.csv, summary.json, split.json, report.md, models/"
    if drawer.done():
        drawer.wait()  # raises FigureError if it failed
        say(out, f"Wrote {folder}/ (report.html, curves.png, {files}) in {time.perf_counter() - started:.2f} s")
        return 0
    say(out, f"Wrote {folder}/ ({files}) in {time.perf_counter() - started:.2f} s")
    say(out, f"process {drawer.pid} is making report.html and curves.png and holds the folder until done (a "
             f"failure: {ERROR_NAME})")  # short enough for one line of a 120-column log
    return 0


def run_train(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..experiments.summary import model_metadata
    from ..formats.model_io import save_model
    from .outputs import check_file_output, check_no_interrupted_run, check_not_input, claim_model_file, remove_tree

    if len(args.optimizer.specs) != 1:
        raise UserError("--optimizer takes one method (use 'descentlab compare' for several)")
    if args.out is None and args.resume is None:
        say(err, ("error:", "red"), " the following arguments are required: --out (or --resume)")
        return 2
    target: Path = args.out
    if args.resume is None:
        check_file_output(target, "--out")
        check_not_input(target, "--out", {"--data": args.data})
        if not args.overwrite:
            check_no_interrupted_run(target, Path(f"{target}.checkpoint"))
    checkpoint = args.resume
    with ExitStack() as held:

        def claim(config: Any, info: dict[str, Any]) -> None:
            nonlocal target, checkpoint
            if info:  # the model goes beside the checkpoint named, wherever that folder is now
                target = folder_of(args.resume) / Path(str(info.get("out"))).name
                check_file_output(target, "--out")
            checkpoint = checkpoint or Path(f"{target}.checkpoint")
            check_not_input(target, "--out", {"--data": data_path(config)})
            held.enter_context(claim_model_file(target, checkpoint, args.overwrite, args.resume is not None))

        with Interrupt() as interrupt:  # nothing interrupts until the model or the checkpoint is on disk
            comparison, data, _ = _run(args, out, err, args.optimizer, interrupt, claim)
            ((name, result),) = comparison.results.items()
            if comparison.interrupted:  # --out is left as it was: a half-trained model never replaces it
                _save_checkpoint(comparison, data, checkpoint, "train", target)
            else:
                metadata = model_metadata(comparison, name)
                metadata["training"]["interrupted"] = False
                save_model(target, comparison.net, result.params, metadata=metadata)
                remove_tree(checkpoint)  # the run it held (resumed, or discarded by --overwrite) is finished
                f = result.final
                out.print(f"train loss {f['train_loss']:.4f}, train accuracy {100 * f['train_accuracy']:.1f} %, "
                          f"test loss {f['test_loss']:.4f}, test accuracy {100 * f['test_accuracy']:.1f} %")
                say(out, f"Wrote {target}")
    if comparison.interrupted:
        return _interrupted(comparison, checkpoint, "train", f"Saved a checkpoint in {checkpoint}/; {target} is "
                            f"{'unchanged' if target.exists() else 'not written'}.", err)
    return 0
