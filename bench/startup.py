"""How long the command takes from the shell: ``descentlab --help`` and the default ``descentlab compare``.

    python bench/startup.py            # 10 timed rounds of every command, after one untimed warm-up
    python bench/startup.py --runs 30 --check   # exit 1 when a median misses its target

Targets (issue 19): ``descentlab --help`` <= 0.2 s, ``descentlab compare`` (all defaults) <= 1.0 s of wall time on
an idle 2-core machine, measured until the command has exited, i.e. until every file it names is written (it
writes them all in process, report.html and curves.png included). Each command runs as a new process, the way a
user runs it (the ``descentlab`` script of this interpreter's environment), writing into a fresh temporary
folder. Reported: minimum and median wall time, and the median CPU time (user + system) of the process, which a
busy machine inflates less than wall time. The load average before and after is printed because these numbers
depend on the machine and on what else runs on it: compare them on a quiet machine. Reference rows
(``python -c pass``, importing NumPy, importing matplotlib) show what no change to descentlab can remove. The
commands take turns, one run each per round, so that a slow moment of the shared machine falls on every command
alike.

Bytecode: an installed package has its ``.pyc`` files (pip compiles them), and a clone's are written on first
use, unless ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's machines), when every run compiles
descentlab's sources again (about 0.1 s). The commands therefore run with that variable removed and with
``PYTHONPYCACHEPREFIX`` pointing into the scratch folder, so the untimed warm-up writes the bytecode there and
nothing is written into the source tree; ``--environment-as-is`` keeps the environment unchanged instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGETS = {"descentlab --help": 0.2, "descentlab compare": 1.0}


def _descentlab() -> list[str]:
    script = Path(sys.executable).with_name("descentlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "descentlab"]


def _time_once(argv: list[str], cwd: Path, env: dict[str, str], out: Path | None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``; raises if it fails or, writing the run folder
    ``out``, returns without curves.png."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {error.strip()}")
    if out is not None and not (out / "curves.png").exists():
        raise RuntimeError(f"{out / 'curves.png'} was not written when the command returned")
    return wall, usage.ru_utime + usage.ru_stime


def measure(commands: list[tuple[str, Callable[[Path], list[str]], bool]], runs: int, scratch: Path,
            env: dict[str, str]) -> list[dict[str, float | str]]:
    """One untimed warm-up of each command (bytecode, disk caches, matplotlib's font cache), then ``runs`` rounds
    in which the commands take turns, one run each: a slow moment of this shared machine then falls on one round
    of every command rather than on all the runs of one, so the rows stay comparable with each other (the
    reference rows above all)."""
    walls: dict[str, list[float]] = {label: [] for label, _, _ in commands}
    cpus: dict[str, list[float]] = {label: [] for label, _, _ in commands}
    for index in range(runs + 1):
        for label, make_argv, writes_folder in commands:
            out = scratch / f"{abs(hash(label))}-{index}"
            wall, cpu = _time_once(make_argv(out), scratch, env, out if writes_folder else None)
            if index:
                walls[label].append(wall)
                cpus[label].append(cpu)
    return [{"command": label, "min": min(walls[label]), "median": statistics.median(walls[label]),
             "cpu": statistics.median(cpus[label])} for label, _, _ in commands]


def _environment(scratch: Path, as_is: bool) -> dict[str, str]:
    env = dict(os.environ)
    if not as_is:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    return env


def _table(rows: list[dict[str, float | str]]) -> list[str]:
    missed = []
    print("| command | min wall (s) | median wall (s) | median CPU (s) | target (s) |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        target = TARGETS.get(str(row["command"]))
        print(f"| `{row['command']}` | {row['min']:.3f} | {row['median']:.3f} | {row['cpu']:.3f} | "
              f"{'' if target is None else f'≤ {target}'} |")
        if target is not None and float(row["median"]) > target:
            missed.append(str(row["command"]))
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default: 10)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a median misses its target")
    parser.add_argument("--environment-as-is", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE and PYTHONPYCACHEPREFIX as they are (see above)")
    args = parser.parse_args()
    exe, tool = sys.executable, _descentlab()
    commands = [
        ("python -c pass", lambda out: [exe, "-c", "pass"], False),
        ("python -c 'import numpy'", lambda out: [exe, "-c", "import numpy"], False),
        ("python -c 'import matplotlib.figure'", lambda out: [exe, "-c", "import matplotlib.figure"], False),
        ("descentlab --help", lambda out: [*tool, "--help"], False),
        ("descentlab compare", lambda out: [*tool, "compare", "--out", str(out)], True),
    ]
    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="descentlab-startup-"))
    env = _environment(scratch, args.environment_as_is)
    try:
        rows = measure(commands, args.runs, scratch, env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load_after = os.getloadavg()[0]
    bytecode = "environment as is" if args.environment_as_is else "bytecode cached by the warm-up"
    print(f"{args.runs} rounds; load average {load_before:.1f} before, {load_after:.1f} after, "
          f"{os.cpu_count()} CPUs; {bytecode} (numbers vary by machine and load)\n")
    missed = _table(rows)
    if missed:
        print(f"\nmedian above target: {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
