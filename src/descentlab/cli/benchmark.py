"""The terminal side of ``descentlab benchmark``: the suite read and checked before any work, one line per problem
as it finishes, the table of profile areas. The work is in :mod:`descentlab.benchmarking.run`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .common import UserError

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
    for problem in problems:
        if problem.kind != "quadratic":
            load_problem_data(problem)
    return with_options(problems, args.iterations, None)


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


def _problem(stored: dict[str, Any]) -> Any:
    from ..benchmarking.problems import Problem

    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()}
    return Problem(**values)


def _resumed(folder: Path) -> dict[str, Any]:
    from ..core.engines import engine_problem

    try:
        stored = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        stored["problems"] = [_problem(p) for p in stored["problems"]]
        problem = engine_problem(stored["engine"])
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise UserError(f"{folder}/{MANIFEST}: not a benchmark this version can resume ({error})") from None
    if problem is not None:  # on another engine it would not end as it would have uninterrupted
        raise UserError(f"{folder}/{MANIFEST}: the benchmark ran on the {stored['engine']} engine, which cannot run "
                        f"here: {problem}")
    return stored


def _setup(args: argparse.Namespace) -> tuple[dict[str, Any], Path, Any]:
    """What to run, where, and the folder's lock, held: from the options, or from the folder's manifest with
    ``--resume``. A folder another run is using is refused with the lock's message."""
    from ..formats.atomic import atomic_write_text
    from .outputs import LOCK_NAME, RunLock

    if args.resume is not None:
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
        except KeyboardInterrupt:  # the finished cells are on disk: say how to go on, as sweep does
            err.print(Text.assemble(("interrupted:", "yellow"), f" the finished cells are kept in {folder}/"))
            err.print(Text(f"Finish it with: descentlab benchmark --resume {folder}"))
            return 130
        summary = write_benchmark(result, folder, manifest["command"])
    out.print(_areas_table(summary))
    out.print(f"Wrote {escape(str(folder))}/ (summary.json, results.parquet, report.md, report.html, profiles.png) "
              f"in {time.perf_counter() - started:.1f} s")
    return 0
