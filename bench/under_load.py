"""The digits-sized ``compare`` idle and with one other core busy: what a shared machine costs a run.

    python bench/under_load.py [--runs 3]

Issue 19's case: scikit-learn's digits (1,797 × 64, 10 classes) written to CSV, ``descentlab compare --data
digits.csv --optimizers gd,nag,adam`` (defaults otherwise), run as a new process, the way a user runs it: ``runs``
times idle, then ``runs`` times while ``python -c "while True: pass"`` keeps one core busy. Prints the median wall
times and their ratio (target: at most 1.5). On a 2-core machine, BLAS running two threads on these small matrices
made every product wait for the busy core (26 s against 2 s); descentlab now trains small problems on one BLAS
thread (``training/fit.py``'s ``blas_threads``). "Idle" means nothing of this script's: say what else ran.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_digits(path: Path) -> Path:
    """scikit-learn's digits as a CSV table: 64 pixel columns and the label."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*(f"pixel{j}" for j in range(64)), "digit"])
        for row, label in zip(digits.data, digits.target, strict=True):
            writer.writerow([*(f"{v:g}" for v in row), label])
    return path


def time_compare(data: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "descentlab", "compare", "--data", str(data), "--optimizers",
                    "gd,nag,adam", "--quiet", "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs each, idle and loaded (default: 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="descentlab-load-") as scratch:
        data = write_digits(Path(scratch) / "digits.csv")
        time_compare(data, Path(scratch) / "warm-up")
        load_before = os.getloadavg()[0]
        idle = [time_compare(data, Path(scratch) / f"idle-{i}") for i in range(args.runs)]
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            loaded = [time_compare(data, Path(scratch) / f"loaded-{i}") for i in range(args.runs)]
        finally:
            busy.kill()
            busy.wait()
    ratio = statistics.median(loaded) / statistics.median(idle)
    print(f"{os.cpu_count()} CPUs, load average {load_before:.1f} before the idle runs, {args.runs} runs each")
    print(f"idle:   median {statistics.median(idle):.2f} s ({', '.join(f'{t:.2f}' for t in idle)})")
    print(f"loaded: median {statistics.median(loaded):.2f} s ({', '.join(f'{t:.2f}' for t in loaded)})")
    print(f"loaded / idle: {ratio:.2f} (target: at most 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
