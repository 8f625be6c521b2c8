"""This tree's engines against another version's, on the same machine, taking turns.

    git worktree add /tmp/before 1a80d8a          # the code before issue 13's redesign
    python bench/versions.py /tmp/before --rounds 5
    python bench/versions.py /tmp/before --problems sweep1024,digits   # the larger stacks instead

Each round runs, for each tree, one fresh process that imports that tree's descentlab (``PYTHONPATH``), warms
every case up once and times it three times; a case's time is its fastest over all rounds, so a slow moment of
the shared machine falls on both trees alike. Cases: the single problem's GD and NAG with the loss history and
with all metrics, and the 64-model sweep's GD and NAG (loss history), each on the NumPy and the compiled engine
(``--problems`` picks among single, sweep, sweep1024 and digits, the stacks of ``bench/run.py``),
through ``bench/impl_descentlab.py``, which uses only the public API both versions share. Prints one table of
times (µs per iteration, single; s per run, sweep) and the ratios this tree / the other. Times vary by machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROBLEMS = ("single", "sweep", "sweep1024", "digits")


def cases(problems: list[str]) -> list[tuple[str, str, str, str]]:
    return [(problem, method, metrics, engine) for problem in problems for engine in ("numpy", "compiled")
            for method in ("gd", "nag") for metrics in (("loss", "all") if problem == "single" else ("loss",))]


MEASURE = """
import json, sys
import problems, impl_descentlab as dl_impl
cases = json.loads(sys.argv[1])
make = {"single": problems.single, "sweep": problems.sweep, "sweep1024": lambda: problems.sweep(1024),
        "digits": problems.digits}
made = {problem: make[problem]() for problem in {case[0] for case in cases}}
best = {}
for problem, method, metrics, engine in cases:
    run = lambda: dl_impl.fit(made[problem], method, metrics, engine)[2]
    run()
    best[" ".join((problem, method, metrics, engine))] = min(run() for _ in range(3))
print(json.dumps(best))
"""


def one_round(tree: Path, problems: list[str]) -> dict[str, float]:
    """The fastest of three runs of every case, in a fresh process on ``tree``'s descentlab."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tree / "src"), str(HERE)))}
    done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(cases(problems))], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other version's checkout (a git worktree)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--problems", default="single,sweep", help=f"comma-separated, of {', '.join(PROBLEMS)}")
    args = parser.parse_args()
    problems = args.problems.split(",")
    if not set(problems) <= set(PROBLEMS):
        parser.error(f"--problems: each one of {', '.join(PROBLEMS)}")
    trees = {"other": args.other.resolve(), "this": HERE.parent}
    best: dict[str, dict[str, float]] = {name: {} for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            for case, seconds in one_round(tree, problems).items():
                best[name][case] = min(seconds, best[name].get(case, seconds))
    load = os.getloadavg()[0]
    print(f"{args.rounds} rounds; load average {load:.1f} at the end; other = {trees['other']}\n")
    print("| case | other | this | this / other |\n|---|---:|---:|---:|")
    for case in best["this"]:
        scale, unit = (1e6 / 350, "µs/it") if case.startswith("single") else (1.0, "s")
        other, this = best["other"][case] * scale, best["this"][case] * scale
        print(f"| {case} ({unit}) | {other:.3g} | {this:.3g} | {this / other:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
