"""The command line's grammar: argument types (each message names what is wrong) and, as tables, the options of
every command with their defaults, which come from the experiment configurations (one place for each default).

Nothing here loads NumPy or rich: ``descentlab --help`` and argument errors answer at once (bench/startup.py)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .. import __version__
from ..experiments.config import DEFAULT_CELL_SIZE, ONE_METHOD, CompareConfig, SweepConfig, TuneConfig
from .names import ACTIVATION_NAMES, INIT_NAMES, METHODS

ASSIGNMENT = ("'The assignment' (in some defaults) is the course exercise descentlab grew from: derive by hand "
              "the gradient of a 4 -> N_H (softplus) -> 3 (softmax) classifier of the Iris flowers, check it with "
              "finite differences, and train it with steepest descent and Nesterov's method; its setting (N_H 16, "
              "lr 0.01, 350 iterations, N(0, 1) initial parameters) is descentlab's default. README.md explains "
              "the other terms (exported iterate, p_k and q_k, oracle calls).")

MAX_SEED = 2**32 - 1  # numpy seeds any non-negative integer; this keeps seeds plain 32-bit numbers

DEFAULT = CompareConfig()
SWEEP = SweepConfig()


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command's help (``descentlab train: error: argument
    --seed: … (see descentlab train --help)``), exit 2, and no abbreviations (``--optimizer`` is not
    ``--optimizers``)."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(allow_abbrev=False, **settings)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        """Unknown arguments are reported by the command they were given to, so the error names its help."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            where = self.commands.get(getattr(parsed, "command", None) or "", self)
            where.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # CPython's argparse drops a value that is exactly "--" (--seed=--, --hidden=--) and stores [] without
        # calling the type:
        # the value is converted and checked like any other instead.
        if arg_strings == ["--"] and action.nargs in (None, "?", "+", "*"):
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value if action.nargs in (None, "?") else [value]
        return super()._get_values(action, arg_strings)


# -- argument types (each message names what is wrong) ---------------------------------------------------------
def _number(accept: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """A float argument type: ``accept(value)`` or the message ``"{rule}, got {text}"``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value + 0.0  # -0 is 0 (NumPy refuses a normal's scale of -0.0 as negative)

    return parse


_positive_float = _number(lambda v: 0.0 < v < math.inf, "must be a positive number")
_nonnegative_float = _number(lambda v: 0.0 <= v < math.inf, "must be a finite number >= 0")
_finite_float = _number(math.isfinite, "must be finite")
_fraction = _number(lambda v: 0.0 < v < 1.0, "must be between 0 and 1 (exclusive)")


def _path(text: str) -> Path:
    """A file or folder path; an empty one is refused (``Path("")`` would be the working directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    return Path(text)


LOCAL_WORKERS_MAX = 4 * (os.cpu_count() or 1)  # more local processes than that only compete (100 000 forked)


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


def _engine(text: str) -> str:
    from ..core.engines import engine_problem

    problem = engine_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _lr_list(text: str) -> tuple[float, ...]:
    values = tuple(_positive_float(part.strip()) for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError("name at least one learning rate")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"a learning rate is named twice in {text!r}")
    return values


# -- the options, as tables: (flags, add_argument's settings), or a group of which at most one may be given -------
Flag = tuple[tuple[str, ...], dict[str, Any]]


@dataclass(frozen=True)
class Exclusive:
    """Options of which at most one may be given."""

    options: tuple[Flag, ...]


Option = Flag | Exclusive


def _words(values: Sequence[Any], sep: str = ",") -> str:
    return sep.join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


# What shapes a run: every one is a field of CompareConfig of the same name (tests/test_options.py checks it both
# ways), accepted with the same meaning by compare, train, sweep and sweep --tune.
MODEL: list[Option] = [
    (("--hidden",), dict(type=_int_at_least(1), nargs="+", default=list(DEFAULT.hidden), metavar="N",
                         help=f"hidden layer widths, input to output (default: {_words(DEFAULT.hidden, ' ')}, the "
                              "N_H of the assignment: the course exercise descentlab grew from)")),
    (("--activation",), dict(choices=list(ACTIVATION_NAMES), default=DEFAULT.activation,
                             help=f"hidden activation (default: {DEFAULT.activation})")),
]
INIT: list[Option] = [
    (("--init",), dict(choices=list(INIT_NAMES), default=DEFAULT.init,
                       help="initial weights: normal draws every parameter from N(--init-mu, --init-sigma²) (the "
                            "assignment's); glorot, he and lecun scale each layer's weights to variance "
                            "2/(fan-in + fan-out), 2/fan-in and 1/fan-in, biases 0 (default: "
                            f"{DEFAULT.init})")),
    (("--init-mu",), dict(type=_finite_float, default=DEFAULT.init_mu,
                          help=f"mean of the normal initialisation (default: {DEFAULT.init_mu:g})")),
    (("--init-sigma",), dict(type=_nonnegative_float, default=DEFAULT.init_sigma,
                             help="standard deviation of the normal initialisation (default: "
                                  f"{DEFAULT.init_sigma:g})")),
]
SPLIT: list[Option] = [
    (("--seed",), dict(type=_int_at_least(0, MAX_SEED), default=DEFAULT.seed,
                       help="seed of the train/test split, and in compare and train of the initial parameters and "
                            f"the mini-batch order (a sweep starts from seeds 0..N-1) (default: {DEFAULT.seed})")),
    (("--test-size",), dict(type=_fraction, default=DEFAULT.test_size,
                            help="fraction of the samples held out for testing, stratified (default: "
                                 f"{DEFAULT.test_size:g})")),
]
CSV: list[Option] = [
    (("--data",), dict(type=_path, default=None, help="a comma-separated file whose first line names the columns "
                                                     "(docs/data.md) (default: the embedded Iris data)")),
    (("--target",), dict(default=DEFAULT.target, help="name of the label column of --data (default: the last "
                                                      "column); labels that are all numbers are compared as numbers "
                                                      "(1, 01 and 1.0 are one class), others as text")),
]
ENGINE: Flag = (("--engine",), dict(type=_engine, default=DEFAULT.engine,
                                    help="auto, numpy, compiled or reference. compiled: numba kernels for the "
                                         "small-matrix path (needs numba: pip install numba); about twice as fast on "
                                         "long runs of small networks, after ~0.3 s of loading (a few seconds the "
                                         "very first time); auto takes it when numba is installed and the run is "
                                         "long enough, else numpy; results agree to rounding (default: "
                                         f"{DEFAULT.engine})"))
RUN: list[Option] = [
    *MODEL, *SPLIT, *CSV,
    (("--iterations",), dict(type=_int_at_least(0), default=DEFAULT.iterations,
                             help=f"iterations per method (default: {DEFAULT.iterations})")),
    *INIT,
    (("--weight-decay",), dict(type=_nonnegative_float, default=DEFAULT.weight_decay,
                               help="λ of an L2 penalty (λ/2)·Σ‖W‖² on the weights, not the biases (default: "
                                    f"{DEFAULT.weight_decay:g})")),
    (("--batch-size",), dict(type=_int_at_least(1), default=DEFAULT.batch_size,
                             help="mini-batch size, reshuffled each epoch with --seed (default: full batch)")),
    (("--standardize",), dict(action="store_true", help="standardise features with training-split mean and std; "
                                                        "stored in the model files and applied again by predict "
                                                        "(default: raw features)")),
    ENGINE,
]
QUIET: Flag = (("--quiet",), dict(action="store_true", help="no progress display"))
LR: Flag = (("--lr",), dict(type=_positive_float, default=DEFAULT.lr,
                            help=f"learning rate (default: {DEFAULT.lr:g})"))
PLUGIN: Flag = (("--plugin",), dict(action="append", metavar="FILE.py|MODULE",
                                    help="load optimisers from a Python file or an importable module (repeatable); "
                                         "their names then work in --optimizers, on --workers too "
                                         "(docs/optimizers.md)"))
SHOW_RUNS: Flag = (("--show-runs",), dict(action="store_true",
                                          help="with several seeds: draw each seed's curves in sweep.png too, thin, "
                                               "under the median and its interquartile band (default: those only)"))
MODEL_FILE: Flag = (("--model",), dict(type=_path, required=True, help="a .safetensors model written by descentlab"))
CLUSTER = Exclusive((
    (("--workers",), dict(type=_int_at_least(1, LOCAL_WORKERS_MAX), default=None, metavar="N",
                          help="run the cells on a new local Dask cluster of N worker processes, at most 4 per "
                               "core (needs Dask: pip install 'dask[distributed]' bokeh; default: in this "
                               "process)")),
    (("--scheduler",), dict(default=None, metavar="ADDRESS",
                            help="run the cells on the existing Dask cluster whose scheduler is at ADDRESS, e.g. "
                                 "tcp://host:8786 (needs Dask here and descentlab on every worker)")),
))


def dest(option: Flag) -> str:
    """The attribute an option is stored under, as argparse names it (the first long flag, or ``dest``)."""
    flags, settings = option
    return str(settings.get("dest", flags[0].lstrip("-").replace("-", "_")))


def run_fields() -> tuple[str, ...]:
    """The configuration fields the run options set (each option's name is its field's)."""
    return tuple(dest(option) for option in RUN if not isinstance(option, Exclusive))


def _resume(where: str) -> Option:
    return (("--resume",), dict(
        type=_path, default=None, metavar="RUN",
        help=f"continue an interrupted run ({where}, as the message Ctrl-C prints names it) with the options it was "
             "started with; the result is bit for bit that of an uninterrupted run. Ctrl-C stops training after the "
             "current iteration, or the writing after the current file, and saves the checkpoint"))


def _overwrite(what: str) -> Option:
    return (("--overwrite",), dict(action="store_true", help=f"write into {what} (default: refuse; a run folder "
                                                              "holds one run, and a folder in use by another run is "
                                                              "always refused)"))


def _run_folder(default: str) -> Option:
    return (("--out",), dict(type=_path, default=None, help=f"{default} (default: a new folder runs/<date>-<time>)"))


COMPARE: list[Option] = [
    *RUN, LR, QUIET, PLUGIN,
    (("--optimizers",), dict(default=",".join(DEFAULT.optimizers),
                             help="comma-separated methods, each NAME[:KEY=VALUE…]; NAME is one of "
                                  f"{', '.join(METHODS)}; e.g. 'gd,nag,momentum:mu=0.8,adam:lr=0.001'. --lr is "
                                  f"the default learning rate of each (default: {_words(DEFAULT.optimizers)})")),
    (("--seeds",), dict(type=_int_at_least(1), default=1, metavar="N",
                        help="initial points per method (default: 1, the one of --seed). N > 1: every method trains "
                             "from init seeds 0..N-1 on the split of --seed, exactly as 'descentlab sweep --lr LR "
                             "--seeds N' does and writing its files: sweep.csv (each seed's status and final "
                             "metrics), sweep.png (median and interquartile band; --show-runs: each seed too), "
                             "summary.json and report.md (statuses, paired comparisons); the terminal names the "
                             "seeds that did not train")),
    SHOW_RUNS,
    (("--x-axis",), dict(choices=["iterations", "evaluations", "seconds"], default=DEFAULT.x_axis,
                         help="x-axis of curves.png: iterations, gradient + function evaluations, or seconds of "
                              "the method's own work (default: "
                              f"{DEFAULT.x_axis})")),
    _run_folder("run folder to write"),
    _overwrite("a folder that holds a previous run (finished or interrupted): its files are replaced as a whole"),
    _resume("the run folder OUT, or its OUT/checkpoint"),
]
GRADCHECK: list[Option] = [
    *MODEL, *SPLIT, *CSV, *INIT,
    (("--samples",), dict(type=_int_at_least(1), default=None,
                          help="check on the first N training samples (the assignment, the course exercise "
                               "descentlab grew from, used 1; default: all)")),
    (("--eps",), dict(type=_positive_float, default=None,
                      help="first relative finite-difference step η, 1e-8 … 0.1: entry i starts at η·max(1, |θ_i|) "
                           "and quarters it until two estimates agree (default: 3e-4)")),
    (("--max-entries",), dict(type=_int_at_least(1), default=None,
                              help="check at most N entries per tensor: the largest gradients plus a seeded random "
                                   "draw (default: every entry)")),
    (("--threshold",), dict(type=_positive_float, default=1e-6,
                            help="largest maximum relative error that passes (default: 1e-6)")),
]
TRAIN: list[Option] = [
    *RUN, LR, QUIET, PLUGIN,
    (("--optimizer",), dict(default=ONE_METHOD,
                            help=f"one method NAME[:KEY=VALUE…], NAME one of {', '.join(METHODS)} (default: "
                                 f"{ONE_METHOD})")),
    (("--out",), dict(type=_path, default=None, help="model file to write (.safetensors); required unless --resume")),
    _overwrite("OUT when OUT.checkpoint holds an interrupted run: that run is discarded"),
    _resume("the model OUT, or its OUT.checkpoint"),
]
PREDICT: list[Option] = [
    MODEL_FILE,
    (("--data",), dict(type=_path, required=True,
                       help="a comma-separated file whose first line names the columns (docs/data.md)")),
    (("--out",), dict(type=_path, default=None, help="CSV file to write (default: standard output)")),
    (("--target",), dict(default=None, metavar="COLUMN",
                         help="the label column of --data: score the predictions against it (accuracy, per-class "
                              "precision and recall, confusion matrix), printed and, with --out, written to "
                              "OUT.metrics.json")),
]
SWEEP_OPTIONS: list[Option] = [
    *RUN, QUIET, PLUGIN,
    (("--optimizers",), dict(default=",".join(SWEEP.optimizers),
                             help=f"comma-separated methods NAME[:KEY=VALUE…], NAME one of {', '.join(METHODS)}; a "
                                  "VALUE may be a list that continues after commas until the next NAME: "
                                  "'gd,momentum:mu=0.5,0.9,adam' is gd, momentum at mu 0.5 and at mu 0.9, and adam; "
                                  "'adam:lr=0.001,0.01' gives adam its own learning rates (default: "
                                  f"{_words(SWEEP.optimizers)})")),
    (("--lr",), dict(type=_lr_list, default=SWEEP.lrs,
                     help=f"comma-separated learning rates (default: {_words(SWEEP.lrs)})")),
    (("--seeds",), dict(type=_int_at_least(1), default=SWEEP.seeds,
                        help="initial points per learning rate: init seeds 0..N-1; with --tune the R repetitions of "
                             f"each phase (default: {SWEEP.seeds})")),
    SHOW_RUNS,
    (("--tune",), dict(action="store_true",
                       help="tuned comparison: the test rows are drawn once (--split-seed) and held out; repetition r "
                            "draws its own train/validation split of the other rows and initial point from seed r; "
                            "every method runs at every setting of its grid on repetitions 0..R-1 and keeps the one "
                            "with the smallest median final validation loss (ties: smaller lr), then runs at that "
                            "setting on fresh repetitions R..2R-1, which the report compares; "
                            "test data never influence the choice")),
    (("--split-seed",), dict(type=_int_at_least(0, MAX_SEED), default=None,
                             help="with --tune: seed of the test rows, drawn once and held out of every repetition's "
                                  f"training and validation (default: {TuneConfig.split_seed})")),
    (("--validation-size",), dict(type=_fraction, default=None,
                                  help="with --tune: fraction of the data held out for validation, stratified "
                                       f"(default: {TuneConfig.validation_size:g})")),
    _overwrite("a folder that holds a previous run of another kind, or another sweep: its run files are replaced "
               "as a whole (the same sweep again finishes its missing cells)"),
    _run_folder("folder to write"),
    CLUSTER,
    (("--cell-size",), dict(type=_int_at_least(1), default=DEFAULT_CELL_SIZE, metavar="M",
                            help=f"models stacked in one cell, the unit of work (default: {DEFAULT_CELL_SIZE})")),
    (("--resume",), dict(type=_path, default=None, metavar="DIR",
                         help="finish the interrupted sweep in DIR: only its missing cells run (its options apply)")),
]

BENCHMARK_OPTIONS: list[Option] = [
    (("--suite",), dict(default="small", metavar="small|FILE.toml",
                        help="the problems: the built-in suite 'small' (iris, wine, breast-cancer and digits MLPs, "
                             "logistic regression on wine and breast-cancer, a quadratic with condition number 1e3) "
                             "or a TOML file of [[problem]] tables (docs/benchmark.md) (default: small)")),
    (("--problems",), dict(default=None, metavar="NAME,…", help="run only these problems of the suite")),
    (("--optimizers",), dict(default=",".join(TuneConfig.methods),
                             help="methods as for sweep --tune, list values allowed (default: "
                                  f"{_words(TuneConfig.methods)})")),
    (("--lr",), dict(type=_lr_list, default=TuneConfig.lrs,
                     help="the learning-rate grid of problems that set none of their own (default: "
                          f"{_words(TuneConfig.lrs)})")),
    (("--seeds",), dict(type=_int_at_least(1), default=5,
                        help="repetitions R of each phase: tune on 0..R-1, final on R..2R-1 (default: 5)")),
    (("--iterations",), dict(type=_int_at_least(1), default=None,
                             help="iterations of every problem (default: each problem's own)")),
    (("--engine",), {**ENGINE[1], "default": "numpy", "help": "auto, numpy, compiled or reference (default: numpy, "
                                                               "whose digits do not depend on numba)"}),
    QUIET,
    (("--out",), dict(type=_path, default=None, help="a new or empty folder to write")),
    CLUSTER,
    (("--cell-size",), dict(type=_int_at_least(1), default=DEFAULT_CELL_SIZE, metavar="M",
                            help=f"models stacked in one cell of an MLP problem (default: {DEFAULT_CELL_SIZE})")),
    (("--resume",), dict(type=_path, default=None, metavar="DIR",
                         help="finish the benchmark in DIR with its stored options: saved cells are read back")),
]

# (name, help, description, options, handler: MODULE.FUNCTION in descentlab.cli, imported when the command runs)
COMMANDS: list[tuple[str, str, str, list[Option], str]] = [
    ("compare", "train one network with GD and NAG from the same start; write plots, report, models",
     "Train the network with steepest descent (GD) and Nesterov's accelerated gradient (NAG) — or the methods named "
     "by --optimizers — from the same initial parameters on --data (default: the embedded Iris), and write "
     "curves.png, history.csv, summary.json, split.json (the rows of each part), report.md, report.html "
     "(interactive, works offline) and "
     "models/<method>.safetensors into --out.", COMPARE, "compare.run_compare"),
    ("gradcheck", "verify the analytic gradient against finite differences",
     "Compare the analytic gradient of the mean cross-entropy with fourth-order central finite differences, entry "
     "by entry, and print one row per parameter tensor. Exits 1 when any tensor's maximum relative error reaches "
     "the threshold.", GRADCHECK, "gradcheck.run_gradcheck"),
    ("train", "train one network on a CSV file (or Iris) and save it",
     "Train one network with one optimiser on --data (default: the embedded Iris), report training and test "
     "metrics, and save the model (safetensors + JSON metadata) to --out.", TRAIN, "compare.run_train"),
    ("predict", "predict classes and probabilities for the rows of a CSV file",
     "Apply a saved model to the rows of --data. The file must have the model's feature columns (by name, any "
     "order, other columns ignored). Writes one row per input row: the predicted class and one probability column "
     "per class.", PREDICT, "model.run_predict"),
    ("sweep", "train a grid of optimisers × learning rates × seeds at once; medians with error bars",
     "Train every optimiser at every learning rate from --seeds initial points (seeds 0..N-1), all models of an "
     "optimiser stacked into one batch, on one split of --data. Writes sweep.csv (one row per model, final "
     "metrics), sweep.png (median and interquartile band), report.md (which method is better, by how much, with "
     "the spread over seeds) and report.html (the same, interactive) into --out.",
     SWEEP_OPTIONS, "sweep.run_sweep_command"),
    ("benchmark", "tune every method on every problem of a suite; performance and data profiles",
     "Run the tuned protocol of sweep --tune on every problem of --suite (held-out test set, repetitions, choice on "
     "validation; convex problems against their optimal value f*), then compare the methods across problems by "
     "Dolan-More performance profiles and More-Wild data profiles of the gradient evaluations to each problem's "
     "target. Writes summary.json, results.parquet, report.md, report.html and profiles.png into --out.",
     BENCHMARK_OPTIONS, "benchmark.run_benchmark_command"),
    ("info", "describe a saved model file",
     "Print a model file's architecture, parameter counts and training record.", [MODEL_FILE], "model.run_info"),
    ("export", "export a saved model as an ONNX graph",
     "Write a model file as ONNX (float32; needs onnx and onnxruntime): input 'input' (batch × features, raw: "
     "a stored standardisation is folded into the first layer), outputs 'probabilities' and 'label' (class "
     "index); class and feature names are in the model's metadata.",
     [MODEL_FILE, (("--onnx",), dict(type=_path, required=True, help="ONNX file to write"))], "model.run_export"),
]


def _flags(options: list[Option]) -> list[Flag]:
    return [flag for option in options for flag in (option.options if isinstance(option, Exclusive) else (option,))]


def defaults(command: str) -> dict[str, Any]:
    """The default of every option of ``command``, by the name it is stored under."""
    options = next(options for name, _, _, options, _ in COMMANDS if name == command)
    return {dest(flag): flag[1].get("default", False if flag[1].get("action") == "store_true" else None)
            for flag in _flags(options)}


def _add(parser: argparse.ArgumentParser, flag: Flag, with_defaults: bool) -> None:
    flags, settings = flag
    parser.add_argument(*flags, **(settings if with_defaults else {**settings, "default": argparse.SUPPRESS}))


def build_parser(with_defaults: bool = True) -> argparse.ArgumentParser:
    """The parser of every command, built from the tables above. ``with_defaults=False``: an option that is not
    given is left out of the namespace (what the user typed, and only that; :func:`defaults` has the rest)."""
    parser: _Parser = _Parser(
        prog="descentlab",
        description="Train small neural networks with exact gradients and compare first-order optimisers.",
        epilog=ASSIGNMENT,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"descentlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, summary, description, options, handler in COMMANDS:
        command = sub.add_parser(name, help=summary, description=description)
        parser.commands[name] = command
        for option in options:
            if isinstance(option, Exclusive):
                group = command.add_mutually_exclusive_group()
                for flag in option.options:
                    _add(group, flag, with_defaults)  # type: ignore[arg-type]
            else:
                _add(command, option, with_defaults)
        command.set_defaults(handler=handler)
    return parser
