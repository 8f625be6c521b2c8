"""The terminal side of ``descentlab benchmark``: the suite read and checked before any work, one line per problem
as it finishes, the table of profile areas. The work is in :mod:`descentlab.benchmarking.run`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .common import UserError, check_resumable, check_size

MANIFEST = "benchmark.json"


def _problems(args: argparse.Namespace) -> list[Any]:
    """The suite's problems, those named by ``--problems``, with ``--iterations`` applied; every data file read
    (a bad one fails here, before any work)."""
    from ..benchmarking.problems import ProblemError, load_problem_data, suite, with_options

    try:
        problems = suite(str(args.suite))
    except ProblemError as error:
        raise UserError(str(error)) from None
    if args.problems is not None:
        known = {p.name: p for p in problems}
        wanted = [name.strip() for name in args.problems.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in known]
        if unknown or not wanted:
            raise UserError(f"--problems: no problem {unknown[0] if unknown else ''!r} in the suite (it has: "
                            f"{', '.join(known)})")
        problems = [known[name] for name in dict.fromkeys(wanted)]
    problems = with_options(problems, args.iterations, None)
    for problem in problems:  # the data read, and the sizes checked as a sweep's are
        data = load_problem_data(problem) if problem.kind != "quadratic" else None
        sizes = ([problem.dimension - 1, 1] if data is None else  # a quadratic: its dimension's parameters
                 [data.n_features, *(problem.hidden if problem.kind == "mlp" else ()), data.n_classes])
        try:
            check_size(sizes, 1 if data is None else data.n_samples, problem.iterations,
                       models=len(problem.lrs or args.lr) * args.seeds, methods=len(args.optimizers.methods))
        except UserError as error:
            raise UserError(f"{problem.name}: {error}") from None
    return problems


def _manifest(args: argparse.Namespace, problems: list[Any]) -> dict[str, Any]:
    """What decides the benchmark, with ``--engine auto`` resolved for all its runs: a resume runs on that engine."""
    from ..core.engines import choose_engine

    runs = len(args.optimizers.methods) * len(args.lr) * args.seeds * 2  # both phases of the tuned protocol
    args.engine = choose_engine(args.engine, runs * sum(p.iterations for p in problems))
    return {"problems": [dataclasses.asdict(p) for p in problems], "methods": list(args.optimizers.methods),
            "lrs": list(args.lr), "seeds": args.seeds, "cell_size": args.cell_size, "engine": args.engine,
            "command": _command(args)}


def _command(args: argparse.Namespace) -> str:
    """The command line that makes this benchmark again (the options that decide it)."""
    words = ["descentlab", "benchmark", "--suite", str(args.suite), "--optimizers", ",".join(args.optimizers.methods),
             "--lr", ",".join(f"{lr:g}" for lr in args.lr), "--seeds", str(args.seeds), "--engine", args.engine]
    for flag, value in (("--problems", args.problems), ("--iterations", args.iterations)):
        if value is not None:
            words += [flag, str(value)]
    return shlex.join([*words, "--out", "OUT"])


def _seal(manifest: dict[str, Any]) -> str:
    """The SHA-256 over a manifest's content (all but its own ``sha256``): an edit or a flipped bit is refused."""
    import hashlib

    content = {key: value for key, value in manifest.items() if key != "sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _checked_problems(path: Path, stored: Any) -> list[Any]:
    """The stored problems, read back by the suite file's own rules (each key's type and range)."""
    from ..benchmarking.problems import ProblemError, _problem_from

    if not isinstance(stored, list) or not stored or not all(isinstance(table, dict) for table in stored):
        raise ProblemError("no problems")
    problems = []
    for index, table in enumerate(stored):
        table = {key: value for key, value in table.items() if value is not None}  # None: the field's default
        f_star = table.pop("f_star", None)
        if f_star is not None and not (isinstance(f_star, int | float) and math.isfinite(f_star)):
            raise ProblemError(f"problem {index + 1}: f_star must be a finite number, got {f_star!r}")
        problem = _problem_from(path, index, table)
        problems.append(problem if f_star is None else dataclasses.replace(problem, f_star=float(f_star)))
    return problems


def _check_settings(stored: dict[str, Any]) -> None:
    """The methods, learning rates, seeds, cell size and engine by the command line's rules."""
    from ..core.engines import ENGINES
    from ..optim.spec import parse_methods

    methods, lrs = stored["methods"], stored["lrs"]
    if not (isinstance(methods, list) and methods and all(isinstance(m, str) for m in methods)):
        raise ValueError(f"methods must be a list of method names, got {methods!r}")
    parse_methods(",".join(methods))
    if not (isinstance(lrs, list) and lrs and all(isinstance(lr, int | float) and not isinstance(lr, bool)
                                                  and 0 < lr < math.inf for lr in lrs)):
        raise ValueError(f"lrs must be a list of positive numbers, got {lrs!r}")
    for key in ("seeds", "cell_size"):
        if not (isinstance(stored[key], int) and not isinstance(stored[key], bool) and stored[key] >= 1):
            raise ValueError(f"{key} must be a whole number >= 1, got {stored[key]!r}")
    if stored["engine"] not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {stored['engine']!r}")


def _resumed(folder: Path) -> dict[str, Any]:
    """The benchmark ``folder``'s manifest, checked as a new benchmark's options are."""
    from ..core.engines import engine_problem

    path = folder / MANIFEST
    if not path.is_file():
        raise UserError(f"{folder}: no {MANIFEST}; this is not the folder of a descentlab benchmark")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not a benchmark this version can resume ({error})") from None
    if not isinstance(stored, dict) or stored.get("sha256") != _seal(stored):
        raise UserError(f"{path}: changed since descentlab wrote it (or written by an older version); run a new "
                        "benchmark")
    try:
        _check_settings(stored)
        stored["problems"] = _checked_problems(path, stored["problems"])
    except (ValueError, KeyError) as error:  # ProblemError is a ValueError
        raise UserError(f"{path}: not a benchmark this version can resume ({error})") from None
    problem = engine_problem(stored["engine"])
    if problem is not None:  # on another engine it would not end as it would have uninterrupted
        raise UserError(f"{path}: the benchmark ran on the {stored['engine']} engine, which cannot run here: "
                        f"{problem}")
    return stored


def _setup(args: argparse.Namespace) -> tuple[dict[str, Any], Path, Any]:
    """What to run, where, and the folder's lock, held: from the options, or from the folder's manifest with
    ``--resume``. A folder another run is using is refused with the lock's message."""
    from ..formats.atomic import atomic_write_text
    from .outputs import LOCK_NAME, RunLock

    if args.resume is not None:
        check_resumable(args.resume)
        stored = _resumed(args.resume)
        return stored, args.resume, RunLock(args.resume / LOCK_NAME, str(args.resume)).acquire()
    if args.out is None:
        raise UserError("--out: name the folder to write (or --resume DIR)")
    lock = RunLock(args.out / LOCK_NAME, str(args.out))
    if args.out.is_dir() and (args.out / LOCK_NAME).exists():
        lock.acquire().release()  # refused, naming the run, while another run holds it
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise UserError(f"--out {args.out}: exists and is not an empty folder (finish a benchmark there with "
                        f"--resume {args.out}, or choose another folder)")
    problems = _problems(args)
    manifest = _manifest(args, problems)
    manifest["sha256"] = _seal(manifest)
    args.out.mkdir(parents=True, exist_ok=True)
    lock.acquire()
    atomic_write_text(args.out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    manifest["problems"] = problems
    return manifest, args.out, lock


def _areas_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Performance profiles: area under ρ over τ in [1, 4] (1 = fastest on every problem)")
    for column in ("method", "profile area", "over the repetitions", "problems solved"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for method, m in summary["methods"].items():
        solved = sum(p["costs_gradient_evaluations"][method] is not None for p in summary["problems"].values())
        low, high = m["profile_area_range"]
        table.add_row(escape(method), f"{m['profile_area']:.3f}", f"{low:.3f} – {high:.3f}",
                      f"{solved}/{len(summary['problems'])}")
    return table


def run_benchmark_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``descentlab benchmark``: every problem of the suite by the tuned protocol, then the profiles."""
    from ..benchmarking.run import run_benchmark
    from ..experiments.cluster import dask_client
    from ..reporting.benchmark_report import write_benchmark
    from .cells import reported_errors

    started = time.perf_counter()
    manifest, folder, lock = _setup(args)
    problems = manifest["problems"]
    out.print(f"Benchmark: {len(problems)} problems × {len(manifest['methods'])} methods, {manifest['seeds']} "
              f"repetitions per phase; writing {escape(str(folder))}/")

    def done(result: Any) -> None:
        if not args.quiet:
            out.print(f"  {escape(result.problem.name)}: done in {result.seconds:.1f} s")

    remote = args.workers is not None or args.scheduler is not None
    with lock:  # released when every file is written, or the run ends otherwise
        try:
            with reported_errors(), (dask_client(workers=args.workers, scheduler=args.scheduler, dashboard=False)
                                     if remote else nullcontext()) as client:
                result = run_benchmark(problems, manifest["methods"], manifest["lrs"], manifest["seeds"],
                                       client, folder, manifest["cell_size"],
                                       manifest["engine"], on_problem=done)
            summary = write_benchmark(result, folder, manifest["command"])
        except KeyboardInterrupt:  # training or writing: the finished cells are on disk, say how to go on
            err.print(Text.assemble(("interrupted:", "yellow"), f" the finished cells are kept in {folder}/"))
            err.print(Text(f"Finish it with: descentlab benchmark --resume {folder}"))
            return 130
    out.print(_areas_table(summary))
    out.print(f"Wrote {escape(str(folder))}/ (summary.json, results.parquet, report.md, report.html, profiles.png) "
              f"in {time.perf_counter() - started:.1f} s")
    return 0
