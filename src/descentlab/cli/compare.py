"""``descentlab compare`` and ``descentlab train``: a comparison of several methods (or one, saved as a model
file), with progress, Ctrl-C handling (a checkpoint) and ``--resume``."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import (
    Interrupt,
    UserError,
    check_resumable,
    check_size,
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

    from ..experiments.compare import Comparison
    from ..experiments.config import CompareConfig
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


def _resumed_source(config: CompareConfig, info: dict[str, Any]) -> str:
    """The data file of a resumed run: a relative path is read from the folder the run was started in when it
    is not found from here (the data's SHA-256 is checked either way)."""
    path = data_path(config)
    if path is None or path.is_absolute() or path.exists() or not isinstance(info.get("cwd"), str):
        return str(config.data)
    return str(Path(info["cwd"]) / path)


@dataclass
class _Plan:
    """A run resolved before anything is written: its configuration, data and problem (prepared once), the
    checkpoint it continues (None: a new run) with its information and saved results."""

    config: CompareConfig
    info: dict[str, Any]
    checkpoint: Path | None
    data: Any = None  # a Dataset and its Problem, once _resolve has read and prepared them
    problem: Any = None
    earlier: dict[str, Any] | None = None


def _checkpoint_of(resume: Path, command: str) -> Path:
    """The checkpoint folder ``--resume`` names: the folder itself, or the one of the run it names (compare's run
    folder ``OUT`` holds ``OUT/checkpoint``, train's model ``OUT`` has ``OUT.checkpoint``)."""
    from ..formats.model_io import CHECKPOINT_FILE

    inside = resume / "checkpoint" if command == "compare" else Path(f"{resume}.checkpoint")
    return inside if inside.is_dir() and not (resume / CHECKPOINT_FILE).exists() else resume


def _configuration(args: argparse.Namespace, methods: MethodList) -> _Plan:
    """The run's configuration, from the options or from the checkpoint ``--resume`` names (no data read yet)."""
    from ..core.engines import engine_problem
    from ..experiments.checkpoint import checkpoint_config
    from ..experiments.runfolder import MANIFEST

    if args.resume is None:
        source = "iris (embedded)" if args.data is None else str(args.data)
        own = {"x_axis": args.x_axis} if args.command == "compare" else {}
        return _Plan(compare_config(args, source, optimizers=methods.specs, lr=args.lr, **own), {}, None)
    check_resumable(args.resume, Path(f"{args.resume}.checkpoint") if args.command == "train" else None)
    if args.command == "compare" and (args.resume / MANIFEST).is_file():
        raise UserError(f"{args.resume}: the folder of a sweep (compare --seeds runs one); finish it with: "
                        f"descentlab sweep --resume {args.resume}")
    checkpoint = _checkpoint_of(args.resume, args.command)
    config, info = checkpoint_config(checkpoint)
    if info.get("command") != args.command:
        raise UserError(f"{checkpoint}: this checkpoint is of 'descentlab {info.get('command')}'; resume it with "
                        f"that command")
    problem = engine_problem(config.engine)
    if problem is not None:  # on another engine the run would not end as it would have uninterrupted
        raise UserError(f"{checkpoint}: the interrupted run trained on the {config.engine} engine, which cannot run "
                        f"here: {problem}")
    return _Plan(config, info, checkpoint)


def _resolve(args: argparse.Namespace, plan: _Plan) -> _Plan:
    """Read the data, check the sizes, prepare the problem once and check its start (and, resuming, that the data
    are the run's and its checkpoint loads): everything before the output is claimed, said by :func:`_train`
    once it is."""
    from ..experiments.checkpoint import checkpoint_results
    from ..experiments.compare import network_for, prepare

    config = plan.config
    data = load_data(args)[0] if plan.checkpoint is None else load_source(_resumed_source(config, plan.info),
                                                                          config.target)
    check_size(network_for(data, config).sizes, data.n_samples, config.iterations, methods=len(config.optimizers))
    plan.data, plan.problem = data, prepare(data, config)
    check_start(plan.problem, config)
    if plan.checkpoint is not None:
        try:
            plan.earlier = checkpoint_results(plan.checkpoint, config, plan.info, data, plan.problem)
        except ValueError as error:
            raise UserError(str(error)) from None
    return plan


def _train(plan: _Plan, out: Console, err: Console, quiet: bool, should_stop: Callable[[], bool]) -> Comparison:
    """Say what is about to be trained, then train every method of the plan with a progress bar (once the output is
    claimed and Ctrl-C is counted, so that a run refused its output says only why): what compare and train
    share."""
    from ..experiments.compare import compare
    from .hints import say_scale_hint, say_status_hints

    config, data = plan.config, plan.data
    if plan.checkpoint is not None:
        say(out, f"Resuming the run checkpointed in {plan.checkpoint} (its options, not this command's, apply)")
    say(out, f"Data: {config.data}, {data.n_samples} samples, {data.n_features} features, {data.n_classes} classes")
    say_scale_hint(err, data, config)
    out.print(network_line(plan.problem.net))
    progress, on_step = _progress_bars(err, config.iterations, quiet)
    with progress, explained_start(config):
        comparison = compare(data, config, callback=on_step, should_stop=should_stop, resume=plan.earlier,
                             problem=plan.problem)
    if comparison.engine_load_seconds is not None:
        out.print(f"Compiled engine: kernels loaded in {comparison.engine_load_seconds:.2f} s, once per "
                  "process (not counted in the methods' times)")
    for name, result in comparison.results.items():
        if result.stopped:
            say(err, ("warning:", "yellow"), f" {name}: {result.stopped}")
    if not comparison.interrupted:
        say_status_hints(err, comparison)
    return comparison


def _save_checkpoint(comparison: Comparison, plan: _Plan, checkpoint: Path, command: str, out_path: Path) -> None:
    from ..experiments.checkpoint import write_checkpoint

    write_checkpoint(comparison, checkpoint, plan.data, {"command": command, "out": str(out_path),
                                                          "cwd": os.getcwd()})


def _interrupted(comparison: Comparison, checkpoint: Path, command: str, saved: str, err: Console) -> int:
    """Say what an interrupted run has done, what is on disk and how to resume it; exit code 130."""
    states = []
    for name, result in comparison.results.items():
        states.append(f"{name} stopped after iteration {result.iterations} of {comparison.config.iterations}"
                      if result.interrupted else f"{name} finished")
    states += [f"{name} not started" for name in comparison.pending]
    say(err, ("interrupted:", "yellow"), f" {'; '.join(states)}. {saved}")
    say(err, f"Resume with: descentlab {command} --resume {checkpoint}")
    return 130


def _compare_folder(args: argparse.Namespace, plan: _Plan) -> Path | None:
    """The run folder named (``--out``, or the folder of the checkpoint resumed), checked against the inputs and
    for a previous run before any work; None when a new folder is to be made."""
    from .outputs import check_folder_output, check_no_previous_run

    folder = folder_of(plan.checkpoint) if plan.checkpoint is not None else args.out  # resume INTO it
    if folder is not None:
        check_folder_output(folder, "--out", {"--data": data_path(plan.config)})
        if not (args.overwrite or plan.checkpoint is not None):
            check_no_previous_run(folder, "compare")
    return folder


def run_compare(args: argparse.Namespace, out: Console, err: Console) -> int:
    """resolve → claim the folder → train → write every file → release; Ctrl-C (counted, never raised) stops the
    training or the writing, saves the checkpoint and says how to resume."""
    from ..experiments.summary import summarize
    from ..reporting.write import COMPARE_FILES, write_run
    from .outputs import claim_run_folder, clear_previous_run, new_run_folder, remove_tree

    if args.seeds > 1:
        return _compare_seeds(args, out, err)
    started = time.perf_counter()
    plan = _configuration(args, args.optimizers)
    folder = _compare_folder(args, plan)
    _resolve(args, plan)
    folder = folder if folder is not None else new_run_folder()
    checkpoint = folder / "checkpoint"
    with claim_run_folder(folder, "compare", args.overwrite, plan.checkpoint is not None), Interrupt() as interrupt:
        comparison = _train(plan, out, err, args.quiet, interrupt)
        if comparison.interrupted:
            _save_checkpoint(comparison, plan, checkpoint, "compare", folder)
        clear_previous_run(folder)  # one run per folder: nothing of an earlier run stays beside this one
        summary = summarize(comparison)
        pressed = interrupt.presses
        written = write_run(comparison, folder, summary, stop=lambda: interrupt.presses > pressed)
        if comparison.interrupted:
            return _interrupted(comparison, checkpoint, "compare", f"Saved what is done and a checkpoint in "
                                f"{checkpoint}/", err)
        if len(written) < len(COMPARE_FILES):  # pressed while the results were written: training is kept
            _save_checkpoint(comparison, plan, checkpoint, "compare", folder)
            return _interrupted(comparison, checkpoint, "compare", f"Training is saved in the checkpoint "
                                f"{checkpoint}/; the results in {folder}/ are not all written.", err)
        remove_tree(checkpoint)  # the run it held (resumed) is finished
        out.print(_results_table(summary))
        _say_renamed(out, comparison.results)
        say(out, f"Wrote {folder}/ ({', '.join(f'{name}/' if name == 'models' else name for name in COMPARE_FILES)}) "
                 f"in {time.perf_counter() - started:.2f} s")
        interrupt.ignore_after()
    return 0


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


def run_train(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..experiments.summary import model_metadata
    from ..formats.model_io import save_model
    from .outputs import check_file_output, check_no_interrupted_run, claim_model_file, remove_tree

    if len(args.optimizer.specs) != 1:
        raise UserError("--optimizer takes one method (use 'descentlab compare' for several)")
    if args.out is None and args.resume is None:
        say(err, ("error:", "red"), " the following arguments are required: --out (or --resume)")
        return 2
    plan = _configuration(args, args.optimizer)
    # a resumed model goes beside the checkpoint named, wherever that folder is now
    target = args.out if plan.checkpoint is None else folder_of(plan.checkpoint) / Path(str(plan.info.get("out"))).name
    checkpoint = plan.checkpoint or Path(f"{target}.checkpoint")
    check_file_output(target, "--out", {"--data": data_path(plan.config)})
    if not (args.overwrite or plan.checkpoint is not None):
        check_no_interrupted_run(target, checkpoint)
    _resolve(args, plan)
    with claim_model_file(target, checkpoint, args.overwrite, plan.checkpoint is not None), \
            Interrupt() as interrupt:  # nothing interrupts until the model or the checkpoint is on disk
        comparison = _train(plan, out, err, args.quiet, interrupt)
        ((name, result),) = comparison.results.items()
        if comparison.interrupted:  # --out is left as it was: a half-trained model never replaces it
            _save_checkpoint(comparison, plan, checkpoint, "train", target)
            return _interrupted(comparison, checkpoint, "train", f"Saved a checkpoint in {checkpoint}/; {target} "
                                f"is {'unchanged' if target.exists() else 'not written'}.", err)
        metadata = model_metadata(comparison, name)
        metadata["training"]["interrupted"] = False
        save_model(target, comparison.net, result.params, metadata=metadata)
        remove_tree(checkpoint)  # the run it held (resumed, or discarded by --overwrite) is finished
        f = result.final
        out.print(f"train loss {f['train_loss']:.4f}, train accuracy {100 * f['train_accuracy']:.1f} %, "
                  f"test loss {f['test_loss']:.4f}, test accuracy {100 * f['test_accuracy']:.1f} %")
        say(out, f"Wrote {target}")
        interrupt.ignore_after()
    return 0
