"""What report.html costs: its size and the time to write it, for the default compare and the default sweep.

    python bench/report_html.py [--repeats 7]

Prints, per report, the bytes of report.html and of its parts, and the median [min, max] of ``--repeats`` timed
writes (one untimed warm-up first); then the one-time import of markdown-it in a fresh interpreter that already
holds what ``compare`` imports anyway (the only import report.html adds). Times depend on the machine and its
load; sizes do not.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from descentlab.experiments.compare import compare
from descentlab.experiments.config import SweepConfig
from descentlab.experiments.summary import summarize
from descentlab.experiments.sweeprun import sweep
from descentlab.reporting.interactive import write_compare_html, write_sweep_html
from descentlab.reporting.report import render_report, render_sweep_report


def timed(write, repeats: int) -> list[float]:
    write()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        write()
        times.append(time.perf_counter() - start)
    return times


def parts(path: Path) -> str:
    page = path.read_text()
    sizes = {name: len(re.search(rf'id="{name}">(.*?)</script>', page, re.S).group(1)) for name in
             ("figures", "floats")}
    return (f"{path.stat().st_size:,} bytes (figure JSON {sizes['figures']:,}, curves {sizes['floats']:,}, "
            f"the rest is plotly.js and the text)")


def import_seconds(repeats: int) -> list[float]:
    code = ("import time, numpy, rich.console, matplotlib.figure; t = time.perf_counter(); import markdown_it; "
            "print(time.perf_counter() - t)")
    return [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(repeats)]


def spread(times: list[float]) -> str:
    return f"{1000 * statistics.median(times):.1f} ms [{1000 * min(times):.1f}, {1000 * max(times):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats
    folder = Path(tempfile.mkdtemp())
    comparison = compare()
    markdown = render_report(comparison, summarize(comparison))
    times = timed(lambda: write_compare_html(comparison, markdown, folder / "compare.html"), repeats)
    print(f"default compare: {parts(folder / 'compare.html')}; written in {spread(times)}")
    result = sweep(config=SweepConfig())
    markdown = render_sweep_report(result)
    times = timed(lambda: write_sweep_html(result, markdown, folder / "sweep.html"), repeats)
    print(f"default sweep:   {parts(folder / 'sweep.html')}; written in {spread(times)}")
    print(f"import markdown_it (once per process): {spread(import_seconds(repeats))}")


if __name__ == "__main__":
    main()
