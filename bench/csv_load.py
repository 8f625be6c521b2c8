"""Time and peak memory of reading a large CSV table (issue 11: 200 MB, 2.6 M rows, Iris-like).

    python bench/csv_load.py                 # 2.6 M rows, about 200 MB, in a temporary folder
    python bench/csv_load.py --rows 100000   # a quick look
    python bench/csv_load.py --write         # also record the result in bench/RESULTS.md

Each measurement runs in a fresh child process (so its peak resident memory, ``ru_maxrss``, is that of the load
alone plus the interpreter and NumPy) and reports the wall time of ``load_csv`` itself. Three files: the good
table, the same table with a bad value on its last line, and with a quoted label on every line (R's
``write.csv`` style). The bad file must give the same one-line ``file:line: column`` error as always.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SPECIES = ("setosa", "versicolor", "virginica")
MEANS = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])

CHILD = """
import json, resource, sys, time
import descentlab as dl
started, cpu = time.perf_counter(), time.process_time()
try:
    data = dl.load_csv(sys.argv[1])
    outcome = f"{data.n_samples} rows, {data.n_features} features, {data.n_classes} classes"
except dl.DataError as error:
    outcome = f"error: {error}"
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu, "outcome": outcome,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_table(path: Path, rows: int, quoted: bool = False, bad_last: bool = False, seed: int = 0) -> None:
    """An Iris-like table: 4 features with 15 significant digits and a species label (~77 bytes a row)."""
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        handle.write("sepal_length,sepal_width,petal_length,petal_width,species\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            kind = rng.integers(0, 3, size=n)
            X = MEANS[kind] + 0.3 * rng.standard_normal((n, 4))
            names = [f'"{SPECIES[k]}"' if quoted else SPECIES[k] for k in kind]
            pairs = zip(X.tolist(), names, strict=True)
            lines = [f"{a:.15g},{b:.15g},{c:.15g},{d:.15g},{s}\n" for (a, b, c, d), s in pairs]
            if bad_last and start + n == rows:
                lines[-1] = "5.1,3.5,oops,0.2,setosa\n"
            handle.writelines(lines)


def measure(path: Path) -> dict[str, object]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    result["children_peak_mb"] = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_600_000)
    parser.add_argument("--files", default="good,bad,quoted",
                        help="which tables: good, bad (a bad value on the last line), quoted (every label quoted)")
    parser.add_argument("--write", action="store_true", help="record the result in bench/RESULTS.md")
    args = parser.parse_args()
    lines = []
    tables = {"good": ("good", {}), "bad": ("bad value on the last line", {"bad_last": True}),
              "quoted": ("every label quoted", {"quoted": True})}
    with tempfile.TemporaryDirectory() as folder:
        for name, options in (tables[key] for key in args.files.split(",")):
            path = Path(folder) / "table.csv"
            write_table(path, args.rows, **options)
            mb = path.stat().st_size / 1e6
            result = measure(path)
            line = (f"| {name} | {args.rows:,} | {mb:.0f} MB | {result['seconds']:.2f} s | {result['cpu']:.2f} s | "
                    f"{result['peak_mb']:.0f} MB | {result['outcome'].replace(str(path), 'table.csv')} |")
            print(line, flush=True)
            lines.append(line)
    if args.write:
        record(lines, args.rows)


def record(lines: list[str], rows: int) -> None:
    marker = "<!-- csv_load.py -->"
    results = HERE / "RESULTS.md"
    text = results.read_text() if results.exists() else ""
    before, _, after = text.partition(marker)
    heading = after.find("## ")
    following = after.find("\n## ", heading + 3) if heading >= 0 else -1
    rest = after[following:] if following >= 0 else ""  # the sections after this one stay
    text = before.rstrip("\n")
    section = "\n".join([
        "", "", marker, "## Reading a large CSV (`bench/csv_load.py`)", "",
        f"Measured {date.today()} on {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, NumPy {np.__version__}, by `python bench/csv_load.py --rows {rows} --write`, "
        f"while the 2-core machine was loaded by other work (load average {os.getloadavg()[0]:.0f}): the wall time "
        "is inflated by waiting for a core, the CPU time is what the load itself costs. Timings vary by machine "
        "and load. Peak memory is the child process's maximum resident set (interpreter and NumPy included, "
        "about 40 MB). Issue 11 measured the reader before this one at 21.5 s and 2.67 GB on the good table.", "",
        "| file | rows | size | load_csv wall time | CPU time | peak memory | outcome |",
        "|---|---:|---:|---:|---:|---:|---|",
        *lines, "",
    ])
    results.write_text(text + section + rest)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s in all)")
