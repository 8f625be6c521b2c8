"""What the commands share: user errors, printing user text, the data options, the network line, the checks made
before any work, and Ctrl-C handling. Light at import (rich and NumPy load on first use), like every module the
parser imports."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..experiments.config import CompareConfig

if TYPE_CHECKING:
    from rich.console import Console

    from ..core.network import MLP
    from ..data.dataset import Dataset
    from ..experiments.compare import Problem


def escape(text: str) -> str:
    """``text`` with rich markup escaped (rich is imported on first use)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class SweepStopped(Exception):
    """The sweep stopped before its end (Ctrl-C, a lost cluster); what was said, and the exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit code 1."""


def say(console: Console, *parts: str | tuple[str, str]) -> None:
    """Print one line of :func:`plain` parts (user text shown as typed, never as markup)."""
    console.print(plain(*parts))


def plain(*parts: str | tuple[str, str]) -> Any:
    """A rich ``Text`` whose str parts are shown as they are, never read as markup (paths, column and class names
    are the user's: ``units[v2].safetensors``, ``length [cm]``); ``(text, style)`` pairs are styled."""
    from rich.text import Text

    return Text.assemble(*parts)


def network_line(net: MLP) -> str:
    sizes = net.sizes
    hidden = " → ".join(f"{n} ({net.activation.name})" for n in sizes[1:-1])
    arch = " → ".join([str(sizes[0]), *([hidden] if hidden else []), f"{sizes[-1]} (softmax)"])
    tensors = ", ".join(f"{name} {shape[0]}×{shape[1]}" for name, shape, _ in net.describe())
    return f"Network {arch}: [bold]{net.n_params}[/bold] learnable parameters ({tensors})"


def folder_of(path: Path) -> Path:
    """The folder that holds ``path`` (also when ``path`` is '.' or '..')."""
    path = Path(os.path.normpath(path))
    if path.name in ("", ".", ".."):
        path = Path(os.path.abspath(path))
    return path.parent


def data_path(config: CompareConfig) -> Path | None:
    return None if config.data == "iris (embedded)" else Path(config.data)


def load_data(args: argparse.Namespace) -> tuple[Dataset, str]:
    """The data of ``--data`` (or Iris), refused before any work if the stratified split cannot be made."""
    from ..data.dataset import load_csv, load_iris, stratified_test_counts

    if args.data is None:
        return load_iris(), "iris (embedded)"
    with reading_progress(getattr(args, "quiet", False)) as progress:
        data = load_csv(args.data, target=args.target, progress=progress)
    stratified_test_counts(data, args.test_size)
    return data, str(args.data)


def progress_bar(err: Console, hidden: bool, label: str, *counts: Any) -> Any:
    """The commands' one progress display: on stderr, gone when done, hidden with ``--quiet``. ``label`` is the
    text column's template, ``counts`` the columns between the bar and the time elapsed."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), *counts, TimeElapsedColumn(), console=err, transient=True,
                    disable=hidden)


@contextmanager
def reading_progress(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A transient bar on stderr while a file of more than 32 MB is read (bytes read of the file's size)."""
    from rich.console import Console
    from rich.progress import DownloadColumn

    err = Console(stderr=True, highlight=False)
    bar = progress_bar(err, quiet, "reading", DownloadColumn())
    task = None

    def on_bytes(done: int, total: int) -> None:
        nonlocal task
        if task is None and total > 32 << 20 and err.is_terminal:  # a log gets no bar (nor its blank line)
            bar.start()
            task = bar.add_task("reading", total=total)
        if task is not None:
            bar.update(task, completed=done)

    try:
        yield on_bytes
    finally:
        if task is not None:  # an unstarted bar would still print an empty line
            bar.stop()


def check_resumable(path: Path, checkpoint: Path | None = None) -> None:
    """``--resume PATH`` names a run folder, or a model whose ``checkpoint`` folder (train's ``OUT.checkpoint``)
    exists: otherwise one line naming the option and the path, before anything is read from it."""
    if path.is_dir() or (checkpoint is not None and checkpoint.is_dir()):
        return
    if not path.exists():
        raise UserError(f"--resume {path}: does not exist")
    beside = f", and there is no {checkpoint} beside it" if checkpoint is not None else ""
    raise UserError(f"--resume {path}: not a run folder (a file){beside}")


def load_source(source: str, target: str | None) -> Dataset:
    from ..data.dataset import load_csv, load_iris

    return load_iris() if source == "iris (embedded)" else load_csv(Path(source), target=target)


def check_size(sizes: Sequence[int], n_samples: int, iterations: int = 0, models: int = 1, methods: int = 1) -> None:
    """Refuse, before anything is allocated, a network (``--hidden``), a history (``--iterations``) or a grid
    (``--seeds``) the machine cannot hold."""
    from ..experiments.limits import TooLarge, check_fits, results_bytes, training_bytes

    arch = " → ".join(map(str, sizes))
    grid = "--seeds, learning rates or methods" if models > 1 else "methods"
    try:
        check_fits(f"a {arch} network on {n_samples} rows", training_bytes(sizes, n_samples),
                   "use fewer or narrower --hidden layers")
        check_fits(f"the results of {methods * models:,} models of {iterations + 1:,} history entries",
                   results_bytes(sizes, iterations, methods * models), f"use fewer {grid}, or fewer --iterations")
    except TooLarge as error:
        raise UserError(str(error)) from None


def check_grid(data: Dataset, config: CompareConfig, models: int) -> None:
    """A sweep's checks before its run folder is made: the network and the results of its ``models`` fit in
    memory (:func:`check_size`), and the first initial point (seed 0) is finite (:func:`check_start`)."""
    from ..experiments.compare import network_for, prepare

    check_size(network_for(data, config).sizes, data.n_samples, config.iterations, models=models)
    problem = prepare(data, config)
    first = problem.net.init(seed=0, mu=config.init_mu, sigma=config.init_sigma, scheme=config.init)
    check_start(problem._replace(initial=first), config)


def check_start(problem: Problem, config: CompareConfig) -> None:
    """Refuse, before anything is written, a batch size larger than the training split, or an initial point
    (``problem.initial``, of :func:`~descentlab.experiments.compare.prepare`) whose loss or gradient on the
    training split is already non-finite."""
    import numpy as np

    from ..core.objective import Objective, Want

    train, net = problem.train, problem.net
    if config.batch_size is not None and config.batch_size > train.n_samples:  # it would silently be full batch
        raise UserError(f"--batch-size {config.batch_size}: the training split has {train.n_samples} rows; give at "
                        f"most {train.n_samples}, or leave --batch-size out for full batch")
    with np.errstate(all="ignore"):
        result = Objective(net, train.X, train.y, config.weight_decay).evaluate(problem.initial.flat[None],
                                                                               Want.GRADIENT)
        assert result.gradient is not None
        finite = np.isfinite(result.loss[0]) and np.isfinite(np.dot(result.gradient[0], result.gradient[0]))
    if not finite:
        raise UserError(start_cause(config))


def start_cause(config: CompareConfig | argparse.Namespace) -> str:
    import numpy as np

    sigma, mu, decay = config.init_sigma, config.init_mu, config.weight_decay
    with np.errstate(over="ignore", invalid="ignore"):
        draw = abs(mu) + 10.0 * sigma  # a normal draw rarely lies farther out
        too_large = not np.isfinite(np.float64(draw) ** 4)  # products of two layers, then squared in ‖∇‖
        decay_overflows = decay > 0 and not np.isfinite((np.float64(decay) * draw) ** 2 * 1e3)
    if too_large:
        given = f"--init-sigma {sigma:g}" + (f" with --init-mu {mu:g}" if mu else "")
        return (f"{given}: the initial parameters are so large that the initial loss or gradient is not finite; use "
                "a smaller one (the default is --init-sigma 1" + (", --init-mu 0)" if mu else ")"))
    if decay_overflows:
        return (f"--weight-decay {decay:g}: the L2 penalty's gradient λ·W of the initial parameters overflows; use a "
                "smaller --weight-decay")
    return (f"the initial loss or gradient is not finite (--init-mu {mu:g}, --init-sigma {sigma:g}, --weight-decay "
            f"{decay:g}); the data's features may be too large: try --standardize or smaller --init-sigma")


@contextlib.contextmanager
def explained_start(config: CompareConfig) -> Iterator[None]:
    """A start that is already non-finite (fit refuses it before the first step) becomes one line naming the
    option that causes it."""
    from ..training.guard import NonFiniteStart

    try:
        yield
    except NonFiniteStart:
        raise UserError(start_cause(config)) from None


def _finished(signum: int, frame: Any) -> None:
    """A press after the command's work is complete: nothing to stop."""


class Interrupt:
    """Ctrl-C while a command trains and writes: a press is counted (the training loop stops after the current
    iteration, the writer after the current file), never raised, so every file reaches the disk whole; once the
    block is left, the previous handler is back."""

    def __init__(self) -> None:
        self.presses = 0

    def __call__(self) -> bool:
        return self.presses > 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.presses += 1

    def __enter__(self) -> Interrupt:
        import signal

        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        signal.signal(signal.SIGINT, self._previous)

    def ignore_after(self) -> None:
        """The command's work is complete and said: leaving the block leaves a handler that does nothing instead of
        bringing the previous one back, so a late press cannot turn a finished run into 'interrupted' (exit 130),
        nor a late SIGTERM, which the entry point hands to this handler (``descentlab.__main__``)."""
        self._previous = _finished


def compare_config(args: argparse.Namespace, source: str, **settings: Any) -> CompareConfig:
    """The run's configuration: every field a run option sets (:func:`~descentlab.cli.parser.run_fields`: the same
    options in every command, each named as its field), ``settings`` (what the command's own options mean: its
    methods, learning rate, x-axis) and the defaults for the rest."""
    from .parser import run_fields

    given = {name: getattr(args, name) for name in run_fields()}
    return CompareConfig(**{**given, "hidden": tuple(args.hidden), "data": source, **settings})
