"""The ``descentlab`` command: a thin layer over the library (argument parsing, terminal output, exit codes).

Exit codes: 0 success, 1 a failure the user can act on (bad data, unreadable model, failed check),
2 a usage error (bad arguments).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..core.engines import DEFAULT_ENGINE
from .names import ACTIVATION_NAMES, METHODS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

# NumPy, rich and matplotlib are imported by the commands that use them, not here: ``descentlab --help`` and
# argument errors then answer at once (bench/startup.py measures it).


def escape(text: str) -> str:
    """``text`` with rich markup escaped (rich is imported on first use)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


ASSIGNMENT = ("'The assignment' (in some defaults) is the course exercise descentlab grew from: derive by hand "
              "the gradient of a 4 -> N_H (softplus) -> 3 (softmax) classifier of the Iris flowers, check it with "
              "finite differences, and train it with steepest descent and Nesterov's method; its setting (N_H 16, "
              "lr 0.01, 350 iterations, N(0, 1) initial parameters) is descentlab's default. README.md explains "
              "the other terms (exported iterate, p_k and q_k, oracle calls).")


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``descentlab train: error: argument --seed: …``), exit 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # CPython's argparse drops a value that is exactly "--" (--seed=--, --hidden=--) and stores [] without
        # calling the type:
        # the value is converted and checked like any other instead.
        if arg_strings == ["--"] and action.nargs in (None, "?", "+", "*"):
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value if action.nargs in (None, "?") else [value]
        return super()._get_values(action, arg_strings)


def _say(console: Console, *parts: str | tuple[str, str]) -> None:
    """Print one line of :func:`_plain` parts (user text shown as typed, never as markup)."""
    console.print(_plain(*parts))


def _plain(*parts: str | tuple[str, str]) -> Any:
    """A rich ``Text`` whose str parts are shown as they are, never read as markup (paths, column and class names
    are the user's: ``units[v2].safetensors``, ``length [cm]``); ``(text, style)`` pairs are styled."""
    from rich.text import Text

    return Text.assemble(*parts)


# -- argument types (each message names what is wrong) ---------------------------------------------------------
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if not value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _optimizer_list(text: str) -> tuple[str, ...]:
    from ..experiments.tuning import expand_method, expand_methods, split_methods

    methods = tuple(split_methods(text))
    if not methods:
        raise argparse.ArgumentTypeError("name at least one optimiser")
    if len(set(methods)) != len(methods):
        raise argparse.ArgumentTypeError(f"a method is named twice in {text!r}")
    for method in methods:
        try:
            expand_method(method, (0.01,))
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    specs = expand_methods(methods)
    if len(set(specs)) != len(specs):
        raise argparse.ArgumentTypeError(f"a setting is named twice in {text!r}")
    return methods


def _engine(text: str) -> str:
    from ..core.engines import ENGINES, compiled_available

    if text not in ENGINES:
        raise argparse.ArgumentTypeError(f"choose one of {', '.join(ENGINES)}, got {text!r}")
    if text == "compiled" and not compiled_available():
        raise argparse.ArgumentTypeError("the compiled engine needs numba: pip install numba (in a clone of "
                                         "descentlab: pip install -e '.[fast]')")
    return text


def _add_engine_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", type=_engine, default=DEFAULT_ENGINE,
                   help="auto, numpy, compiled or reference. compiled: numba kernels for the small-matrix path "
                        "(needs numba: pip install numba); about twice as fast on long runs of small networks, after "
                        "~0.3 s of loading (a few seconds the very first time); auto takes it when numba is installed "
                        "and the run is long enough, else numpy; results agree to rounding (default: %(default)s)")


def _lr_list(text: str) -> tuple[float, ...]:
    values = tuple(_positive_float(part.strip()) for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError("name at least one learning rate")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"a learning rate is named twice in {text!r}")
    return values


MAX_SEED = 2**32 - 1  # numpy seeds any non-negative integer; this keeps seeds plain 32-bit numbers


# -- shared options ---------------------------------------------------------------------------------------------
def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hidden", type=_int_at_least(1), nargs="+", default=[16], metavar="N",
                   help="hidden layer widths, input to output (default: 16, the N_H of the assignment: the course "
                        "exercise descentlab grew from)")
    p.add_argument("--activation", choices=list(ACTIVATION_NAMES), default="softplus",
                   help="hidden activation (default: softplus)")


def _add_data_options(
    p: argparse.ArgumentParser, seed_help: str = "seed of the split and of the initial parameters (default: 0)"
) -> None:
    p.add_argument("--seed", type=_int_at_least(0, MAX_SEED), default=0, help=seed_help)
    p.add_argument("--test-size", type=_fraction, default=0.25,
                   help="fraction of the samples held out for testing, stratified (default: 0.25)")


def _add_training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lr", type=_positive_float, default=0.01, help="learning rate (default: 0.01)")
    p.add_argument("--iterations", type=_int_at_least(0), default=350,
                   help="iterations per method (default: 350)")
    p.add_argument("--init-mu", type=_finite_float, default=0.0,
                   help="mean of the normal initialisation (default: 0)")
    p.add_argument("--init-sigma", type=_nonnegative_float, default=1.0,
                   help="standard deviation of the normal initialisation (default: 1)")
    p.add_argument("--weight-decay", type=_nonnegative_float, default=0.0,
                   help="λ of an L2 penalty (λ/2)·Σ‖W‖² on the weights, not the biases (default: 0)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=None,
                   help="mini-batch size, reshuffled each epoch with --seed (default: full batch)")
    p.add_argument("--standardize", action="store_true",
                   help="standardise features with training-split mean and std; stored in the model files "
                        "and applied again by predict (default: raw features)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    _add_engine_option(p)


def _add_resume_option(p: argparse.ArgumentParser, command: str, where: str) -> None:
    p.add_argument("--resume", type=Path, default=None, metavar="DIR",
                   help=f"continue an interrupted run from its checkpoint folder ({where}, named in the message "
                        f"Ctrl-C prints) with the options it was started with; the result is bit for bit that of "
                        f"an uninterrupted run. Ctrl-C during training stops after the current iteration and "
                        f"saves the checkpoint before anything else; once it is on disk, a second Ctrl-C stops "
                        f"at once and the checkpoint stays")


def _add_overwrite_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help=f"write into {what} (default: refuse; a run folder holds one run, and a folder in use by "
                        f"another run is always refused)")


def _add_model_file_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a .safetensors model written by descentlab")


def _add_csv_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None,
                   help="a comma-separated file whose first line names the columns (docs/data.md) "
                        "(default: the embedded Iris data)")
    p.add_argument("--target", default=None,
                   help="name of the label column of --data (default: the last column); labels that are all "
                        "numbers are compared as numbers (1, 01 and 1.0 are one class), others as text")


def _load_data(args: argparse.Namespace) -> tuple[Any, str]:
    """The data of ``--data`` (or Iris), refused before any work if the stratified split cannot be made."""
    from ..data.dataset import load_csv, load_iris, stratified_test_counts

    if args.data is None:
        return load_iris(), "iris (embedded)"
    with _reading_progress(getattr(args, "quiet", False)) as progress:
        data = load_csv(args.data, target=args.target, progress=progress)
    stratified_test_counts(data, args.test_size)
    return data, str(args.data)


@contextmanager
def _reading_progress(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A transient bar on stderr while a file of more than 32 MB is read (bytes read of the file's size)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True, highlight=False)
    bar = Progress(TextColumn("reading"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=err,
                   transient=True, disable=quiet)
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


def _build_parser() -> argparse.ArgumentParser:
    from .sweep import add_cluster_options

    parser = _Parser(
        prog="descentlab",
        description="Train small neural networks with exact gradients and compare first-order optimisers.",
        epilog=ASSIGNMENT,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"descentlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "compare",
        help="train one network with GD and NAG from the same start; write plots, report, models",
        description=(
            "Train the network with steepest descent (GD) and Nesterov's accelerated gradient (NAG) — or the "
            "methods named by --optimizers — from the same initial parameters on --data (default: the embedded "
            "Iris), and write curves.png, history.csv, summary.json, report.md, report.html (interactive, works "
            "offline) and models/<method>.safetensors into --out."
        ),
    )
    _add_model_options(p)
    _add_data_options(p)
    _add_csv_options(p)
    _add_training_options(p)
    p.add_argument("--optimizers", type=_optimizer_list, default=("gd", "nag"),
                   help="comma-separated methods, each NAME[:KEY=VALUE…]; NAME is one of "
                        f"{', '.join(METHODS)}; e.g. 'gd,nag,momentum:mu=0.8,adam:lr=0.001'. "
                        "--lr is the default learning rate of each (default: gd,nag)")
    p.add_argument("--x-axis", choices=["iterations", "evaluations"], default="iterations",
                   help="x-axis of curves.png: iterations, or gradient + function evaluations "
                        "(default: iterations)")
    p.add_argument("--out", type=Path, default=None,
                   help="run folder to write (default: a new folder runs/<date>-<time>)")
    _add_overwrite_option(p, "a folder that holds a previous run (finished or interrupted): its files are "
                             "replaced as a whole")
    _add_resume_option(p, "compare", "OUT/checkpoint")
    p.set_defaults(handler=_cmd_compare)

    p = sub.add_parser(
        "gradcheck",
        help="verify the analytic gradient against finite differences",
        description=(
            "Compare the analytic gradient of the mean cross-entropy with fourth-order central finite "
            "differences, entry by entry, and print one row per parameter tensor. Exits 1 when any tensor's "
            "maximum relative error reaches the threshold."
        ),
    )
    _add_model_options(p)
    _add_data_options(p)
    _add_csv_options(p)
    p.add_argument("--samples", type=_int_at_least(1), default=None,
                   help="check on the first N training samples (the assignment, the course exercise descentlab "
                        "grew from, used 1; default: all)")
    p.add_argument("--init-sigma", type=_nonnegative_float, default=1.0,
                   help="standard deviation of the normal initialisation of the point checked (default: 1)")
    p.add_argument("--eps", type=_positive_float, default=None,
                   help="relative finite-difference step η; entry i uses η·max(1, |θ_i|) (default: 3e-4)")
    p.add_argument("--max-entries", type=_int_at_least(1), default=None,
                   help="check at most N entries per tensor: the largest gradients plus a seeded random draw "
                        "(default: every entry)")
    p.add_argument("--threshold", type=_positive_float, default=1e-6,
                   help="largest maximum relative error that passes (default: 1e-6)")
    p.set_defaults(handler=_cmd_gradcheck)

    p = sub.add_parser(
        "train",
        help="train one network on a CSV file (or Iris) and save it",
        description=(
            "Train one network with one optimiser on --data (default: the embedded Iris), report training "
            "and test metrics, and save the model (safetensors + JSON metadata) to --out."
        ),
    )
    _add_model_options(p)
    _add_data_options(p)
    _add_csv_options(p)
    p.add_argument("--optimizer", type=_optimizer_list, default=("nag",),
                   help=f"one method NAME[:KEY=VALUE…], NAME one of {', '.join(METHODS)} (default: nag)")
    _add_training_options(p)
    p.add_argument("--out", type=Path, default=None, help="model file to write (.safetensors); required unless "
                                                          "--resume")
    _add_overwrite_option(p, "OUT when OUT.checkpoint holds an interrupted run: that run is discarded")
    _add_resume_option(p, "train", "OUT.checkpoint")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser(
        "predict",
        help="predict classes and probabilities for the rows of a CSV file",
        description=(
            "Apply a saved model to the rows of --data. The file must have the model's feature columns "
            "(by name, any order, other columns ignored). Writes one row per input row: the predicted "
            "class and one probability column per class."
        ),
    )
    _add_model_file_option(p)
    p.add_argument("--data", type=Path, required=True,
                   help="a comma-separated file whose first line names the columns (docs/data.md)")
    p.add_argument("--out", type=Path, default=None, help="CSV file to write (default: standard output)")
    p.set_defaults(handler=_cmd_predict)

    p = sub.add_parser(
        "sweep",
        help="train a grid of optimisers × learning rates × seeds at once; medians with error bars",
        description=(
            "Train every optimiser at every learning rate from --seeds initial points (seeds 0..N-1), all "
            "models of an optimiser stacked into one batch, on one split of --data. Writes sweep.csv (one row "
            "per model, final metrics), sweep.png (median and interquartile band), report.md (which method "
            "is better, by how much, with the spread over seeds) and report.html (the same, interactive) into "
            "--out."
        ),
    )
    _add_model_options(p)
    _add_csv_options(p)
    p.add_argument("--optimizers", type=_optimizer_list, default=("gd", "nag"),
                   help=f"comma-separated methods NAME[:KEY=VALUE…], NAME one of {', '.join(METHODS)}; a "
                        "VALUE may be a list that continues after commas until the next NAME: "
                        "'gd,momentum:mu=0.5,0.9,adam' is gd, momentum at mu 0.5 and at mu 0.9, and adam; "
                        "'adam:lr=0.001,0.01' gives adam its own learning rates (default: gd,nag)")
    p.add_argument("--lr", type=_lr_list, default=(0.005, 0.01, 0.02),
                   help="comma-separated learning rates (default: 0.005,0.01,0.02)")
    p.add_argument("--seeds", type=_int_at_least(1), default=10,
                   help="initial points per learning rate: init seeds 0..N-1; with --tune the R repetitions of "
                        "each phase (default: 10)")
    p.add_argument("--tune", action="store_true",
                   help="tuned comparison: repetition r draws its own train/validation/test split and initial "
                        "point from seed r; every method runs at every setting of its grid on repetitions "
                        "0..R-1 and keeps the one with the smallest median final validation loss (ties: smaller "
                        "lr), then runs at that setting on fresh repetitions R..2R-1, which the report compares; "
                        "test data never influence the choice")
    p.add_argument("--validation-size", type=_fraction, default=None,
                   help="with --tune: fraction of the data held out for validation, stratified (default: 0.2)")
    _add_overwrite_option(p, "a folder that holds a previous run of another kind, or another sweep: its run files "
                             "are replaced as a whole (the same sweep again finishes its missing cells)")
    _add_data_options(p, seed_help="seed of the train/test split (default: 0)")
    p.add_argument("--iterations", type=_int_at_least(0), default=350, help="iterations (default: 350)")
    p.add_argument("--init-sigma", type=_nonnegative_float, default=1.0,
                   help="standard deviation of the normal initialisation (default: 1)")
    p.add_argument("--standardize", action="store_true",
                   help="standardise features with training-split statistics (default: raw features)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    _add_engine_option(p)
    p.add_argument("--out", type=Path, default=None,
                   help="folder to write (default: a new folder runs/<date>-<time>)")
    add_cluster_options(p, _int_at_least(1))
    p.set_defaults(handler=_cmd_sweep)

    p = sub.add_parser("info", help="describe a saved model file",
                       description="Print a model file's architecture, parameter counts and training record.")
    _add_model_file_option(p)
    p.set_defaults(handler=_cmd_info)

    p = sub.add_parser(
        "export",
        help="export a saved model as an ONNX graph",
        description=(
            "Write a model file as ONNX (float32; needs onnx and onnxruntime): input 'input' (batch × "
            "features, raw: a stored standardisation is folded into the first layer), outputs 'probabilities' "
            "and 'label' (class index); class and feature names are in the model's metadata."
        ),
    )
    _add_model_file_option(p)
    p.add_argument("--onnx", type=Path, required=True, help="ONNX file to write")
    p.set_defaults(handler=_cmd_export)
    return parser


# -- commands ----------------------------------------------------------------------------------------------------
def _network_line(net: Any) -> str:
    sizes = net.sizes
    hidden = " → ".join(f"{n} ({net.activation.name})" for n in sizes[1:-1])
    arch = " → ".join([str(sizes[0]), *([hidden] if hidden else []), f"{sizes[-1]} (softmax)"])
    tensors = ", ".join(f"{name} {shape[0]}×{shape[1]}" for name, shape, _ in net.describe())
    return f"Network {arch}: [bold]{net.n_params}[/bold] learnable parameters ({tensors})"


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


def _load_source(source: str, target: str | None) -> Any:
    from ..data.dataset import load_csv, load_iris

    return load_iris() if source == "iris (embedded)" else load_csv(Path(source), target=target)


def _progress_bars(err: Console, iterations: int, quiet: bool) -> tuple[Any, Callable[[str, int, Any], None]]:
    """One progress bar per method, counting iterations: the callback's k = 0 is the initial point (measured,
    no step taken), so a method shows k of ``iterations`` steps done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=True, disable=quiet)
    tasks: dict[str, Any] = {}

    def on_step(method: str, k: int, history: Any) -> None:
        if method not in tasks:
            tasks[method] = progress.add_task(escape(method), total=iterations)
        progress.update(tasks[method], completed=k)

    return progress, on_step


@contextlib.contextmanager
def _explained_start(config: Any) -> Iterator[None]:
    """A start that is already non-finite (fit refuses it before the first step) becomes one line naming the
    option that causes it."""
    from ..training.guard import NonFiniteStart

    try:
        yield
    except NonFiniteStart:
        raise UserError(_start_cause(config)) from None


def _check_size(sizes: Sequence[int], n_samples: int, iterations: int = 0, models: int = 1, methods: int = 1) -> None:
    """Refuse, before anything is allocated, a network (``--hidden``) or grid (``--seeds``) the machine cannot hold."""
    from ..experiments.limits import TooLarge, check_fits, results_bytes, training_bytes

    arch = " → ".join(map(str, sizes))
    try:
        check_fits(f"a {arch} network on {n_samples} rows", training_bytes(sizes, n_samples),
                   "use fewer or narrower --hidden layers")
        if models > 1:
            check_fits(f"the results of {methods * models:,} models of {iterations + 1:,} history entries",
                       results_bytes(sizes, iterations, methods * models),
                       "use fewer --seeds, learning rates or methods, or fewer --iterations")
    except TooLarge as error:
        raise UserError(str(error)) from None


def _check_start(data: Any, config: Any) -> None:
    """Refuse, before anything is written, a configuration whose first initial point (seed 0) already has a
    non-finite loss or gradient on the training split."""
    import numpy as np

    from ..core.objective import Objective
    from ..experiments.compare import network_for, prepare

    _check_size(network_for(data, config).sizes, data.n_samples)
    train, _, _, net, _ = prepare(data, config)
    start = net.init(seed=0, mu=config.init_mu, sigma=config.init_sigma)
    with np.errstate(all="ignore"):
        loss, grad = Objective(net, train.X, train.y, config.weight_decay).loss_and_grad(start.flat)
        finite = np.isfinite(loss) and np.isfinite(np.dot(grad, grad))
    if not finite:
        raise UserError(_start_cause(config))


def _start_cause(config: Any) -> str:
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


class _Interrupt:
    """Ctrl-C while a command trains and saves what training produced: the first press asks the training loop to
    stop after the current iteration (and save a checkpoint). No press interrupts the code inside the block, so
    what training produced always reaches the disk whole; once the block is left, the previous handler is back
    and Ctrl-C stops at once, leaving what is on disk."""

    def __init__(self) -> None:
        self.asked = False

    def __call__(self) -> bool:
        return self.asked

    def _handle(self, signum: int, frame: Any) -> None:
        self.asked = True

    def __enter__(self) -> _Interrupt:
        import signal

        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        signal.signal(signal.SIGINT, self._previous)


def _folder_of(path: Path) -> Path:
    """The folder that holds ``path`` (also when ``path`` is '.' or '..')."""
    path = Path(os.path.normpath(path))
    if path.name in ("", ".", ".."):
        path = Path(os.path.abspath(path))
    return path.parent


def _data_path(config: Any) -> Path | None:
    return None if config.data == "iris (embedded)" else Path(config.data)


def _resumed_source(config: Any, info: dict[str, Any]) -> str:
    """The data file of a resumed run: a relative path is read from the folder the run was started in when it
    is not found from here (the data's SHA-256 is checked either way)."""
    path = _data_path(config)
    if path is None or path.is_absolute() or path.exists() or not isinstance(info.get("cwd"), str):
        return str(config.data)
    return str(Path(info["cwd"]) / path)


def _run(args: argparse.Namespace, out: Console, err: Console, optimizers: Sequence[str],
         should_stop: Callable[[], bool], claim: Callable[[Any, dict[str, Any]], None]) -> tuple[Any, Any, dict]:
    """Load the data, print the set-up, ``claim(config, info)`` the output, train every method with a progress
    bar (or continue an interrupted run with ``--resume``): what compare and train share. Returns the
    comparison, the data and the checkpoint's information (empty without ``--resume``)."""
    from ..experiments.checkpoint import checkpoint_config, resume
    from ..experiments.compare import compare, network_for
    from ..experiments.config import CompareConfig
    from ..experiments.tuning import expand_methods

    info: dict[str, Any] = {}
    if args.resume is not None:
        config, info = checkpoint_config(args.resume)
        if info.get("command") != args.command:
            raise UserError(f"{args.resume}: this checkpoint is of 'descentlab {info.get('command')}'; resume it "
                            f"with that command")
        data, source = _load_source(_resumed_source(config, info), config.target), config.data
        _say(out, f"Resuming the run checkpointed in {args.resume} (its options, not this command's, apply)")
    else:
        data, source = _load_data(args)
        config = CompareConfig(
            hidden=tuple(args.hidden), activation=args.activation, seed=args.seed, test_size=args.test_size,
            init_mu=args.init_mu, init_sigma=args.init_sigma, lr=args.lr, iterations=args.iterations,
            standardize=args.standardize, weight_decay=args.weight_decay, optimizers=expand_methods(optimizers),
            x_axis=getattr(args, "x_axis", "iterations"), batch_size=args.batch_size, data=source,
            target=args.target, engine=args.engine,
        )
    _say(out, f"Data: {source}, {data.n_samples} samples, {data.n_features} features, {data.n_classes} "
              "classes")
    out.print(_network_line(network_for(data, config)))
    _check_start(data, config)  # size and a finite start, before the output is claimed
    claim(config, info)
    progress, on_step = _progress_bars(err, config.iterations, args.quiet)
    with progress:
        if args.resume is not None:
            try:
                comparison = resume(args.resume, data, callback=on_step, should_stop=should_stop)
            except ValueError as error:
                raise UserError(str(error)) from None
        else:
            with _explained_start(config):
                comparison = compare(data, config, callback=on_step, should_stop=should_stop)
    if comparison.engine_load_seconds is not None:
        out.print(f"Compiled engine: kernels loaded in {comparison.engine_load_seconds:.2f} s, once per "
                  "process (not counted in the methods' times)")
    for name, result in comparison.results.items():
        if result.stopped:
            _say(err, ("warning:", "yellow"), f" {name}: {result.stopped}")
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
    _say(err, ("interrupted:", "yellow"), f" {'; '.join(states)}. {saved}")
    _say(err, f"Resume with: descentlab {command} --resume {checkpoint}")
    return 130


def _cmd_compare(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..reporting.figure_process import FigureJob
    from ..reporting.write import write_run
    from .outputs import (
        check_folder_keeps_inputs,
        check_folder_output,
        check_no_previous_run,
        claim_run_folder,
        clear_previous_run,
        new_run_folder,
        remove_tree,
    )

    started = time.perf_counter()
    folder = _folder_of(args.resume) if args.resume is not None else args.out  # resume INTO the folder named
    if folder is not None:
        check_folder_output(folder, "--out")
        check_folder_keeps_inputs(folder, {"--data": args.data if args.resume is None else None})
        if not (args.overwrite or args.resume is not None):
            check_no_previous_run(folder, "compare")
    figure = FigureJob()  # write_run only records the figure; a drawer draws it once everything else is written
    locks: list[Any] = []
    with ExitStack() as held:

        def claim(config: Any, info: dict[str, Any]) -> None:
            nonlocal folder
            folder = folder if folder is not None else new_run_folder()
            check_folder_keeps_inputs(folder, {"--data": _data_path(config)})
            locks.append(held.enter_context(claim_run_folder(folder, "compare", args.overwrite,
                                                             args.resume is not None)))
            _previous_figure_failure(folder, locks[0].left_by, err)

        saved: Path | None = None  # the checkpoint, once what training produced is on disk
        try:
            with _Interrupt() as interrupt:  # nothing interrupts until what training produced is on disk
                comparison, data, _ = _run(args, out, err, args.optimizers, interrupt, claim)
                assert folder is not None
                checkpoint = folder / "checkpoint"
                _save_checkpoint(comparison, data, checkpoint, "compare", folder)
                saved = checkpoint
                clear_previous_run(folder)  # one run per folder: nothing of an earlier run stays beside this one
            if interrupt.asked and not comparison.interrupted:  # Ctrl-C after the last iteration: skip the slow part
                raise KeyboardInterrupt
            write_run(comparison, folder, draw=figure)
        except KeyboardInterrupt:  # from the moment the handler is back: the checkpoint stays, and is named
            if saved is None:
                raise
            return _interrupted(comparison, saved, "compare", f"Training is saved in the checkpoint {saved}/; the "
                                f"results in {folder}/ are not all written.", err)
        if comparison.interrupted:
            return _interrupted(comparison, checkpoint, "compare",
                                f"Saved what is done and a checkpoint in {checkpoint}/", err)
        with _Interrupt():  # the run is complete: its checkpoint goes, untorn, and the figure is handed over
            remove_tree(checkpoint)
            drawer = _draw_figure(figure, locks[0])
            out.print(_results_table(_summarize(comparison)))
            if args.detach_figure:  # said before a Ctrl-C can end the command
                return _say_written(out, folder, drawer, started)
    drawer.wait()  # from Python: every file is there on return (a failure raises)
    return _say_written(out, folder, drawer, started)


def _summarize(comparison: Any) -> dict[str, Any]:
    from ..experiments.summary import summarize

    return summarize(comparison)


def _previous_figure_failure(folder: Path, left_by: str, err: Console) -> None:
    """Say so when the run about to be replaced in ``folder`` failed to draw its curves.png: its drawer wrote why,
    or it ended (killed, say) without removing the lock file ``left_by`` is the content of."""
    from ..reporting.figure_process import DRAWING, ERROR_NAME, failure

    reason = failure(folder)
    if reason is not None:
        reason = f"{ERROR_NAME}: {reason}"
    elif left_by.endswith(DRAWING) and not (folder / "curves.png").exists():
        reason = f"process {left_by.partition(' ')[0]}, which was drawing it, ended without writing it or why"
    if reason is not None:
        _say(err, ("warning:", "yellow"), f" the run this one replaces in {folder}/ has no curves.png ({reason})")


def _draw_figure(figure: Any, lock: Any) -> Any:
    """Start the process that draws curves.png and give it the run folder's lock, which it keeps until the file
    is written (see :mod:`descentlab.reporting.figure_process`)."""
    from ..reporting.figure_process import DRAWING

    drawer = figure.start(lock.fd, lock.path)
    if drawer.process is not None:
        lock.hand_over(drawer.pid, DRAWING)
    return drawer


def _say_written(out: Console, folder: Path, drawer: Any, started: float) -> int:
    """The last lines of compare: what is written, and whether curves.png is still being drawn (the command
    returns meanwhile; a call of ``main`` from Python has waited for it)."""
    from ..reporting.figure_process import ERROR_NAME

    files = "history.csv, summary.json, report.md, report.html, models/"
    if drawer.done():
        drawer.wait()  # raises FigureError if it failed
        _say(out, f"Wrote {folder}/ (curves.png, {files}) in {time.perf_counter() - started:.2f} s")
        return 0
    _say(out, f"Wrote {folder}/ ({files}) in {time.perf_counter() - started:.2f} s")
    _say(out, f"curves.png is being drawn by process {drawer.pid}, which holds the folder until it is written "
              f"(about a second; a failure goes to {ERROR_NAME})")
    return 0


def _sweep_setup(args: argparse.Namespace) -> tuple[Any, Any, Path, int]:
    """The data, configuration, run folder and cell size of ``descentlab sweep`` (those of the interrupted sweep
    with ``--resume``)."""
    from ..experiments.config import CompareConfig, SweepConfig
    from ..experiments.runfolder import RunFolderError
    from ..experiments.sweeprun import load_manifest
    from ..experiments.tuning import expand_methods
    from .outputs import check_folder_output, new_run_folder

    if args.resume is not None:
        try:
            config, cell_size, _ = load_manifest(args.resume)
        except RunFolderError as error:
            raise UserError(str(error)) from None
        return _load_source(config.base.data, config.base.target), config, args.resume, cell_size
    if args.out is not None:
        check_folder_output(args.out, "--out")
    data, source = _load_data(args)
    base = CompareConfig(hidden=tuple(args.hidden), activation=args.activation, seed=args.seed,
                         test_size=args.test_size, init_sigma=args.init_sigma, iterations=args.iterations,
                         standardize=args.standardize, data=source, target=args.target, engine=args.engine)
    config = SweepConfig(base=base, optimizers=expand_methods(args.optimizers), lrs=tuple(args.lr), seeds=args.seeds)
    return data, config, args.out or new_run_folder(), args.cell_size


def _is_tuned_run(folder: Path | None) -> bool:
    """Whether ``--resume`` names the folder of a tuned sweep (a folder that is no sweep's is reported later)."""
    from ..experiments.runfolder import RunFolderError
    from ..experiments.tuned_cells import load_tuned_manifest

    try:
        return folder is not None and load_tuned_manifest(folder) is not None
    except RunFolderError:
        return False


def _cmd_sweep(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.table import Table

    from ..experiments.cluster import ClusterError
    from ..experiments.compare import network_for
    from ..experiments.runfolder import RunFolderError
    from ..reporting.report import sweep_summary
    from ..reporting.write import write_sweep
    from .sweep import SweepStopped, run_with_progress

    started = time.perf_counter()
    if args.tune or args.validation_size is not None or _is_tuned_run(args.resume):
        from .tuned import run_tuned_command

        return run_tuned_command(args, out, err, started)
    data, config, run_dir, cell_size = _sweep_setup(args)
    _check_size(network_for(data, config.base).sizes, data.n_samples, config.base.iterations,
                models=len(config.lrs) * config.seeds, methods=len(config.optimizers))
    _check_start(data, config.base)  # before the run folder is made
    if args.resume is not None:
        _say(out, f"Resuming the sweep in {args.resume} (its options, not this command's, apply)")
    _say(out, f"Data: {config.base.data}, {data.n_samples} samples, {data.n_features} features, "
              f"{data.n_classes} classes")
    out.print(_network_line(network_for(data, config.base)))
    _say(out, f"{len(config.lrs) * config.seeds} models per method ({len(config.lrs)} learning rates × "
              f"{config.seeds} seeds), trained in cells of up to {cell_size} stacked models, each saved in "
              f"{run_dir}/cells/ as it finishes")
    try:
        with _explained_start(config.base):
            result = run_with_progress(args, data, config, run_dir, cell_size, out, err)
    except (ClusterError, RunFolderError) as error:
        raise UserError(str(error)) from None
    except SweepStopped as stop:
        return stop.code
    write_sweep(result, run_dir)
    table = Table(title="Final metrics: median \\[quartiles] over seeds")
    for column in ("method", "lr", "ok/stuck/diverged", "train loss", "test acc. (%)"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, lr, counts, _, loss, acc in sweep_summary(result):
        table.add_row(escape(name), f"{lr:g}", "/".join(str(n) for n in counts.values()), loss, acc)
    out.print(table)
    for name, fitted in result.results.items():
        if fitted.stopped:
            _say(err, ("warning:", "yellow"), f" {name}: {fitted.stopped}")
    _say(out, f"Wrote {run_dir}/ (sweep.csv, sweep.png, report.md, report.html, cells/) "
              f"in {time.perf_counter() - started:.2f} s")
    return 0


def _cmd_gradcheck(args: argparse.Namespace, out: Console, err: Console) -> int:
    import numpy as np
    from rich.table import Table

    from ..core.gradcheck import gradcheck
    from ..core.network import MLP
    from ..data.dataset import train_test_split

    data, source = _load_data(args)
    train, _ = train_test_split(data, test_size=args.test_size, seed=args.seed)
    n = train.n_samples if args.samples is None else min(args.samples, train.n_samples)
    net = MLP([data.n_features, *args.hidden, data.n_classes], args.activation)
    _check_size(net.sizes, n)
    params = net.init(seed=args.seed, sigma=args.init_sigma)
    _say(out, f"Data: {source}, first {n} of {train.n_samples} training samples")
    out.print(_network_line(net))
    with np.errstate(all="ignore"):  # a non-finite start is reported below, not as NumPy warnings
        start_loss = net.loss(params, train.X[:n], train.y[:n])
    if not np.isfinite(start_loss):
        start = argparse.Namespace(init_sigma=args.init_sigma, init_mu=0.0, weight_decay=0.0)
        raise UserError(f"cannot check the gradient: {_start_cause(start)}")
    report = gradcheck(net, params, train.X[:n], train.y[:n], eps=args.eps, max_entries=args.max_entries,
                       seed=args.seed, threshold=args.threshold)
    table = Table(title=f"Analytic vs. finite-difference gradient (loss {report.loss:.6g})")
    for column in ("tensor", "shape", "checked", "max abs. error", "max rel. error", "worst entry",
                   "analytic", "numeric"):
        table.add_column(column, justify="left" if column == "tensor" else "right")
    for t in report.tensors:
        colour = "green" if t.max_rel_error < report.threshold else "red"
        table.add_row(t.name, "×".join(map(str, t.shape)), str(t.checked), f"{t.max_abs_error:.2e}",
                      f"[{colour}]{t.max_rel_error:.2e}[/{colour}]", str(list(t.worst_index)),
                      f"{t.analytic_at_worst:.10e}", f"{t.numeric_at_worst:.10e}")
    out.print(table)
    if report.kink_rechecked or report.kink_skipped:
        out.print(_kink_note(report, net.activation.name))
    verdict = "[green]PASS[/green]" if report.ok else "[red]FAIL[/red]"
    out.print(f"{verdict}: max relative error {report.max_rel_error:.2e} "
              f"(threshold {report.threshold:.0e})")
    return 0 if report.ok else 1


def _kink_note(report: Any, activation: str) -> str:
    note = (f"{report.kink_rechecked} entries' finite-difference stencils crossed a kink of {activation} (a "
            "pre-activation changed sign within the stencil): checked with a step small enough not to cross it")
    if report.kink_skipped:
        note += (f"; {report.kink_skipped} entries lie within the smallest step of a kink, where the loss has no "
                 "derivative, and are not judged")
    return note + "."


def _cmd_train(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..experiments.summary import model_metadata
    from ..experiments.tuning import expand_methods
    from ..formats.model_io import save_model
    from .outputs import check_file_output, check_no_interrupted_run, check_not_input, claim_model_file, remove_tree

    if len(expand_methods(args.optimizer)) != 1:
        raise UserError("--optimizer takes one method (use 'descentlab compare' for several)")
    if args.out is None and args.resume is None:
        _say(err, ("error:", "red"), " the following arguments are required: --out (or --resume)")
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
                target = _folder_of(args.resume) / Path(str(info.get("out"))).name
                check_file_output(target, "--out")
            checkpoint = checkpoint or Path(f"{target}.checkpoint")
            check_not_input(target, "--out", {"--data": _data_path(config)})
            held.enter_context(claim_model_file(target, checkpoint, args.overwrite, args.resume is not None))

        with _Interrupt() as interrupt:  # nothing interrupts until the model or the checkpoint is on disk
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
                _say(out, f"Wrote {target}")
    if comparison.interrupted:
        return _interrupted(comparison, checkpoint, "train", f"Saved a checkpoint in {checkpoint}/; {target} is "
                            f"{'unchanged' if target.exists() else 'not written'}.", err)
    return 0


def _cmd_predict(args: argparse.Namespace, out: Console, err: Console) -> int:
    import csv
    import io

    import numpy as np

    from ..data.dataset import Standardizer, load_features
    from ..formats.atomic import atomic_write_text
    from ..formats.model_io import load_model
    from .outputs import check_file_output, check_not_input

    if args.out is not None:
        check_file_output(args.out, "--out")
        check_not_input(args.out, "--out", {"--model": args.model, "--data": args.data})
    net, params, meta = load_model(args.model)
    features = meta.get("feature_names") or [f"x{j}" for j in range(net.sizes[0])]
    classes = meta.get("class_names") or [str(c) for c in range(net.sizes[-1])]
    with _reading_progress(False) as progress:
        X, lines = load_features(args.data, features, progress=progress)
    scaler = Standardizer.from_json(meta["standardization"]) if meta.get("standardization") else None
    proba = _finite_probabilities(net, params, X, scaler, (args.data, lines, features))
    labels = np.argmax(proba, axis=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "predicted", *(f"proba_{c}" for c in classes)])
    for i, (label, row) in enumerate(zip(labels, proba, strict=True), start=1):
        writer.writerow([i, classes[label], *(repr(float(p)) for p in row)])
    if args.out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write_text(args.out, buffer.getvalue())
        _say(err, f"Wrote {len(labels)} predictions to {args.out}")
    return 0


def _finite_probabilities(net: Any, params: Any, X: Any, scaler: Any, where: tuple[Path, Any, Sequence[str]]) -> Any:
    """The model's probabilities for every row, or a :class:`DataError` naming the first row (file, line, largest
    column) for which the arithmetic overflows: a row never gets a class computed from NaN."""
    import numpy as np

    from ..data.dataset import DataError

    path, lines, features = where
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        Z = X if scaler is None else scaler.transform(X)
        proba = net.predict_proba(params, Z)
    bad = ~(np.isfinite(Z).all(axis=1) & np.isfinite(proba).all(axis=1))
    if bad.any():
        row = int(np.argmax(bad))
        column = int(np.argmax(np.nan_to_num(np.abs(Z[row]), nan=np.inf)))
        raise DataError(f"{path}:{lines[row]}: column {features[column]!r} holds {X[row, column]:.6g}, too far out "
                        f"for this model: its probabilities overflow ({int(bad.sum())} row(s) like this)")
    return proba


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _cmd_export(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..formats.model_io import export_onnx, load_model
    from .outputs import check_file_output, check_not_input

    check_file_output(args.onnx, "--onnx")
    check_not_input(args.onnx, "--onnx", {"--model": args.model})
    net, params, meta = load_model(args.model)
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UserError("ONNX export needs the onnx package: pip install onnx onnxruntime (in a clone of "
                        "descentlab: pip install -e '.[onnx]')") from None
    from ..formats.onnx_check import ExportMismatch

    verify = _onnxruntime_available()
    if not verify:
        _say(err, ("warning:", "bold yellow"), " onnxruntime is not installed, so this export is UNVERIFIED: nothing "
                  "checked that the float32 graph computes what the model computes (pip install onnxruntime)")
    try:
        export_onnx(net, params, args.onnx, class_names=meta.get("class_names"),
                    feature_names=meta.get("feature_names"), standardization=meta.get("standardization"), verify=verify)
    except ExportMismatch as error:
        raise UserError(f"{args.onnx} not written: {error}") from None
    out.print(_network_line(net))
    folded = " (standardisation folded into the first layer)" if meta.get("standardization") else ""
    _say(out, f"Wrote {args.onnx}: input 'input' (batch × {net.sizes[0]}) → outputs 'probabilities' "
              f"(batch × {net.sizes[-1]}) and 'label'{folded}")
    return 0


def _cmd_info(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.table import Table

    from ..formats.model_io import file_layout, load_model

    net, params, meta = load_model(args.model)
    _say(out, f"Model {args.model} (format {meta['format_version']}, descentlab "
              f"{meta.get('descentlab_version')})")
    out.print(_network_line(net))
    table = Table(title="Parameter tensors")
    table.add_column("tensor")
    table.add_column("shape", justify="right")
    table.add_column("entries", justify="right")
    table.add_column("in the file")
    in_file = {slot: (key, shape) for key, (slot, shape) in file_layout(net, meta["format_version"]).items()}
    for name, shape, size in net.describe():
        key, file_shape = in_file[name]
        table.add_row(name, "×".join(map(str, shape)), str(size), f"{key} ({'×'.join(map(str, file_shape))})")
    table.add_row("[bold]total[/bold]", "", f"[bold]{net.n_params}[/bold]", "")
    out.print(table)
    if meta.get("feature_names"):
        _say(out, f"Features: {', '.join(meta['feature_names'])}")
    if meta.get("class_names"):
        _say(out, f"Classes: {', '.join(meta['class_names'])}")
    out.print(f"Standardisation: {'yes' if meta.get('standardization') else 'no'}")
    for section in ("training", "metrics"):
        if meta.get(section):
            _say(out, f"{section.capitalize()}: " + ", ".join(f"{k}={v}" for k, v in meta[section].items()))
    return 0


def _user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input (one line, exit 1), not a bug (a traceback)."""
    from ..data.dataset import DataError
    from ..formats.model_io import ModelFileError
    from ..reporting.figure_process import FigureError
    from .outputs import OutputError

    return UserError, DataError, ModelFileError, OutputError, FigureError


def _given_options(argv: Sequence[str] | None) -> set[str]:
    """The options the user typed (abbreviations included), as argparse ``dest`` names: the same parser with
    every default suppressed leaves out of the namespace exactly what was not given."""
    parser = _build_parser()
    parsers = [parser]
    while parsers:
        current = parsers.pop()
        for action in current._actions:
            action.default = argparse.SUPPRESS
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return set(vars(parser.parse_args(argv))) - {"command", "handler"}


def _spec_keys(spec: str) -> set[str]:
    """The keys a method spec ``NAME:KEY=VALUE:…`` sets itself."""
    return {setting.partition("=")[0].strip() for setting in spec.split(":")[1:]}


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


# Options that still mean something when a run is resumed (the checkpoint's options decide everything else).
_RESUME_OPTIONS = {"resume", "quiet", "workers", "scheduler"}


def _inapplicable(args: argparse.Namespace, given: set[str]) -> str | None:
    """Why an option the user gave would be accepted and then ignored (None when every option applies)."""
    if "resume" in given and given - _RESUME_OPTIONS:
        names = ", ".join(sorted(_option(dest) for dest in given - _RESUME_OPTIONS))
        return f"{names}: not with --resume (the interrupted run continues with the options it was started with)"
    if "target" in given and getattr(args, "data", None) is None:
        return "--target names the label column of --data; without --data (the embedded Iris) it does not apply"
    specs = getattr(args, "optimizers", None) or getattr(args, "optimizer", None) or ()
    own_lr = [spec for spec in specs if "lr" in _spec_keys(spec)]
    if args.command == "sweep" and own_lr:
        return f"{own_lr[0]!r}: a sweep takes its learning rates from --lr, not from the method"
    if "lr" in given and specs and len(own_lr) == len(specs):
        return "--lr: every method sets its own lr, so --lr would not be used"
    return None


def main(argv: Sequence[str] | None = None, *, detach_figure: bool = False) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 usage error).

    ``detach_figure``: ``compare`` returns while its curves.png is still being drawn by another process (the
    ``descentlab`` command does this); by default it waits for the figure, so every file exists on return."""
    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
        args.detach_figure = detach_figure
        problem = _inapplicable(args, _given_options(argv))
        from rich.console import Console
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except KeyboardInterrupt:  # Ctrl-C before the command began: nothing to keep
        return 130
    if problem is not None:
        print(f"descentlab {args.command}: error: {problem}", file=sys.stderr)
        return 2

    # Piped output (files, CI logs) gets room for the tables instead of the 80-column fallback.
    # emoji=False: ":smile:" in a file name stays as typed (user text goes through _plain, never markup)
    out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 120)
    err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)  # one error, one line
    try:
        return int(args.handler(args, out, err))
    except _user_errors() as error:  # evaluated only when something was raised
        _say(err, ("error:", "red"), f" {error}")
        return 1
    except OSError as error:  # what the checks before the work could not foresee (a full disk, a vanished folder)
        where = f"{error.filename}: " if error.filename else ""
        _say(err, ("error:", "red"), f" {where}{error.strerror or error}")
        return 1
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
