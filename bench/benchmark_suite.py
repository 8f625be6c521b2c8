"""Time ``descentlab benchmark`` (issue 23's speed target) in process and on a local Dask cluster.

    python bench/benchmark_suite.py [--workers 2] [--problems NAME,...] [--seeds N] [--iterations K] [--write]

Runs the real command in a child process, ``--suite small --optimizers gd,nag,momentum,adam`` with the default grid
and 5 repetitions unless told otherwise, once in process and once with ``--workers N``, and prints each one's wall
time, the children's CPU time and the load average before it started (the machine may be shared: a result is only
comparable with others taken at a similar load). ``--write`` appends the result to bench/RESULTS.md with the date,
the machine and the exact command. The issue's targets: in process at most 10 minutes on an idle 2-core machine,
``--workers 2`` at least 1.6x faster; the full run (no ``--problems``, ``--iterations``, 5 repetitions) says
whether each is met, a reduced one says that it measures neither.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def command(args: argparse.Namespace, out: Path, workers: int | None) -> list[str]:
    words = [str(Path(sys.executable).with_name("descentlab")), "benchmark", "--suite", "small", "--optimizers",
             "gd,nag,momentum,adam", "--seeds", str(args.seeds), "--quiet", "--out", str(out)]
    if args.problems:
        words += ["--problems", args.problems]
    if args.iterations:
        words += ["--iterations", str(args.iterations)]
    return words + (["--workers", str(workers)] if workers else [])


def timed(words: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds of the children, and the 1-minute load average before the start."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(words, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), load


def verdict(args: argparse.Namespace, walls: list[float]) -> str:
    """The issue's two targets against these walls, for the full suite only (a reduced run measures neither)."""
    if args.problems or args.iterations or args.seeds != 5:
        return "A reduced run (--problems, --iterations or --seeds): it says nothing about issue 23's targets.\n"
    speedup = walls[0] / walls[1]
    return (f"Targets (issue 23, idle machine): in process ≤ 600 s: {walls[0]:.0f} s, "
            f"{'met' if walls[0] <= 600 else '**not met**'}; --workers {args.workers} ≥ 1.6x faster: {speedup:.2f}x, "
            f"{'met' if speedup >= 1.6 else '**not met**'}.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--problems", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows, walls = [], []
    with tempfile.TemporaryDirectory() as folder:
        for workers in (None, args.workers):
            out = Path(folder) / f"out-{workers}"
            words = command(args, out, workers)
            wall, cpu, load = timed(words)
            walls.append(wall)
            shutil.rmtree(out)
            where = "in process" if workers is None else f"--workers {workers}"
            rows.append(f"| {where} | {wall:.1f} | {cpu:.1f} | {load:.2f} |")
            print(rows[-1])
    shown = "descentlab " + " ".join(command(args, Path("OUT"), None)[1:])
    table = "\n".join(["| where | wall s | CPU s (children) | load average before |", "|---|---:|---:|---:|", *rows])
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"\n## descentlab benchmark ({now}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores)\n\n`{shown}` (and the same with `--workers {args.workers}`), "
            "`python bench/benchmark_suite.py" + "".join(f" {a}" for a in sys.argv[1:] if a != "--write")
            + "`:\n\n" + table + f"\n\nSpeed-up with --workers {args.workers}: {walls[0] / walls[1]:.2f}x\n\n"
            + verdict(args, walls))
    print(text)
    if args.write:
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(text)


if __name__ == "__main__":
    main()
