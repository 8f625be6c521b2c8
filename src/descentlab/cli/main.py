"""The ``descentlab`` command: a thin layer over the library (argument parsing, terminal output, exit codes).

Each command lives in its own module (:mod:`~descentlab.cli.compare` for compare and train,
:mod:`~descentlab.cli.model` for predict, info and export, :mod:`~descentlab.cli.gradcheck`,
:mod:`~descentlab.cli.sweep`); the options are tables in :mod:`~descentlab.cli.parser`.

Exit codes: 0 success, 1 a failure the user can act on (bad data, unreadable model, failed check),
2 a usage error (bad arguments).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any

from .common import SweepStopped, UserError, say
from .parser import build_parser, defaults

# NumPy, rich and matplotlib are imported by the commands that use them, not here: ``descentlab --help`` and
# argument errors then answer at once (bench/startup.py measures it).


def _user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input (one line, exit 1), not a bug (a traceback)."""
    from ..data.dataset import DataError
    from ..formats.model_io import ModelFileError
    from .outputs import OutputError

    return UserError, DataError, ModelFileError, OutputError


def _parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, set[str]]:
    """The parsed options, and those the user typed as ``dest`` names: parsed with every default left out, the
    namespace holds exactly what was given; the command's defaults are filled in after."""
    args = build_parser(with_defaults=False).parse_args(argv)
    given = set(vars(args)) - {"command", "handler"}
    for name, default in defaults(args.command).items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return args, given


def _handler(name: str) -> Any:
    """The function that runs a command, ``MODULE.FUNCTION`` in this package (imported only when it runs, so
    ``--help`` loads no command's module)."""
    module, _, function = name.rpartition(".")
    return getattr(import_module(f".{module}", __package__), function)


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


# Options that still mean something when a run is resumed (the checkpoint's options decide everything else).
_RESUME_OPTIONS = {"resume", "quiet", "workers", "scheduler", "plugin", "show_runs"}


def _inapplicable(args: argparse.Namespace, given: set[str]) -> str | None:
    """Why an option the user gave would be accepted and then ignored (None when every option applies)."""
    if "resume" in given and given - _RESUME_OPTIONS:
        names = ", ".join(sorted(_option(dest) for dest in given - _RESUME_OPTIONS))
        return f"{names}: not with --resume (the interrupted run continues with the options it was started with)"
    if given & {"init_mu", "init_sigma"} and getattr(args, "init", "normal") != "normal":
        names = " and ".join(_option(name) for name in sorted(given & {"init_mu", "init_sigma"}))
        return f"{names}: only with --init normal (--init {args.init} scales each layer by its fan-in/fan-out)"
    if "show_runs" in given and (args.seeds == 1 if "resume" not in given else args.command == "compare"):
        return "--show-runs: only with --seeds N > 1 (one seed's curves are drawn as they are)"
    if "target" in given and getattr(args, "data", None) is None:
        return "--target names the label column of --data; without --data (the embedded Iris) it does not apply"
    chosen = getattr(args, "optimizers", None) or getattr(args, "optimizer", None)
    own_lr, specs = (chosen.own_lr, chosen.methods) if chosen is not None else ((), ())
    if args.command == "sweep" and own_lr:
        return f"{own_lr[0]!r}: a sweep takes its learning rates from --lr, not from the method"
    if "lr" in given and specs and len(own_lr) == len(specs):
        return "--lr: every method sets its own lr, so --lr would not be used"
    return None


def _read_methods(args: argparse.Namespace) -> str | None:
    """``--optimizers`` (``--optimizer``) read once into a :class:`~descentlab.optim.spec.MethodList`, in place:
    what is wrong with it, or None. The ``--plugin`` files and modules are loaded first, so their names count."""
    for source in getattr(args, "plugin", None) or ():
        from ..optim.plugins import load_plugin

        try:
            load_plugin(source)
        except ValueError as error:
            return f"argument --plugin: {error}"
    for dest in ("optimizers", "optimizer"):
        text = getattr(args, dest, None)
        if isinstance(text, str):
            from ..optim.spec import parse_methods

            try:
                setattr(args, dest, parse_methods(text))
            except ValueError as error:
                return f"argument {_option(dest)}: {error}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 usage error, 130 interrupted; the
    ``descentlab`` command makes 130 into 143 when SIGTERM interrupted it, and 0 into 141 when its output's reader
    left early). Every file a command names is on disk when it returns.

    Called with ``argv`` (from Python: a script, a notebook, the tests), the caller's Ctrl-C handler is back when
    it returns. Called without, as this process's own command line, a command that has finished its work leaves
    Ctrl-C ignored (:meth:`~descentlab.cli.common.Interrupt.ignore_after`), since the process is about to end."""
    if argv is None:
        return _main(argv)
    import signal

    callers = signal.getsignal(signal.SIGINT)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGINT, callers)


def _main(argv: Sequence[str] | None) -> int:
    try:
        args, given = _parse(argv)
        problem = _read_methods(args) or _inapplicable(args, given)
        from rich.console import Console
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except KeyboardInterrupt:  # Ctrl-C before the command began: nothing to keep
        return 130
    if problem is not None:
        print(f"descentlab {args.command}: error: {problem} (see descentlab {args.command} --help)", file=sys.stderr)
        return 2

    # Piped output (files, CI logs) gets room for the tables instead of the 80-column fallback.
    # emoji=False: ":smile:" in a file name stays as typed (user text goes through _plain, never markup)
    out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 120)
    err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)  # one error, one line
    try:
        return int(_handler(args.handler)(args, out, err))
    except SweepStopped as stop:  # said already, with what was kept
        return stop.code
    except _user_errors() as error:  # evaluated only when something was raised
        say(err, ("error:", "red"), f" {error}")
        return 1
    except OSError as error:  # what the checks before the work could not foresee (a full disk, a vanished folder)
        where = f"{error.filename}: " if error.filename else ""
        say(err, ("error:", "red"), f" {where}{error.strerror or error}")
        return 1
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
