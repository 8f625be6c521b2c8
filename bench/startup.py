"""How long the command takes from the shell: ``descentlab --help`` and the default ``descentlab compare``.

    python bench/startup.py            # 10 timed runs of each, after one untimed warm-up
    python bench/startup.py --runs 30 --check   # exit 1 when a median misses its target

Targets (issue 15): ``descentlab --help`` <= 0.2 s, ``descentlab compare`` (all defaults) <= 0.5 s of wall time.
Each command runs as a new process, the way a user runs it (the ``descentlab`` script of this interpreter's
environment), writing into a fresh temporary folder. Reported: minimum and median wall time, and the median CPU
time (user + system) of the process, which a busy machine inflates less than wall time. The load average
before and after is printed because these numbers depend on the machine and on what else runs on it: compare
them on a quiet machine. Reference rows (``python -c pass``, importing NumPy, importing matplotlib) show what
no change to descentlab can remove.
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
from pathlib import Path

TARGETS = {"descentlab --help": 0.2, "descentlab compare": 0.5}


def _descentlab() -> list[str]:
    script = Path(sys.executable).with_name("descentlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "descentlab"]


def _time_once(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``; raises if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {error.strip()}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(label: str, make_argv, runs: int, scratch: Path) -> dict[str, float | str]:
    """One untimed warm-up (disk caches, numba's and matplotlib's caches), then ``runs`` timed runs."""
    walls, cpus = [], []
    for index in range(runs + 1):
        argv = make_argv(scratch / f"{abs(hash(label))}-{index}")
        wall, cpu = _time_once(argv, scratch)
        if index:
            walls.append(wall)
            cpus.append(cpu)
    return {"command": label, "min": min(walls), "median": statistics.median(walls),
            "cpu": statistics.median(cpus)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default: 10)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a median misses its target")
    args = parser.parse_args()
    exe, tool = sys.executable, _descentlab()
    commands = [
        ("python -c pass", lambda out: [exe, "-c", "pass"]),
        ("python -c 'import numpy'", lambda out: [exe, "-c", "import numpy"]),
        ("python -c 'import matplotlib.figure'", lambda out: [exe, "-c", "import matplotlib.figure"]),
        ("descentlab --help", lambda out: [*tool, "--help"]),
        ("descentlab compare", lambda out: [*tool, "compare", "--out", str(out)]),
    ]
    load_before = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="descentlab-startup-"))
    try:
        rows = [measure(label, make_argv, args.runs, scratch) for label, make_argv in commands]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load_after = os.getloadavg()[0]
    print(f"{args.runs} runs each; load average {load_before:.1f} before, {load_after:.1f} after, "
          f"{os.cpu_count()} CPUs (numbers vary by machine and load)\n")
    print("| command | min wall (s) | median wall (s) | median CPU (s) | target (s) |")
    print("|---|---:|---:|---:|---:|")
    missed = []
    for row in rows:
        target = TARGETS.get(str(row["command"]))
        print(f"| `{row['command']}` | {row['min']:.3f} | {row['median']:.3f} | {row['cpu']:.3f} | "
              f"{'' if target is None else f'≤ {target}'} |")
        if target is not None and float(row["median"]) > target:
            missed.append(str(row["command"]))
    if missed:
        print(f"\nmedian above target: {', '.join(missed)}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
