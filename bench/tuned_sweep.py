"""Time the tuned comparison of issue 12's "done when" on Iris, in this process.

    python bench/tuned_sweep.py [--repeats N]

Runs ``experiments.tuning.run_tuned`` for ``sweep --optimizers gd,nag,momentum,adam --lr 0.005,…,0.5 --seeds 10
--tune`` (280 tune models + 40 final models, 350 iterations each) and prints the wall and CPU time of each repeat
and the median; files are not written (``descentlab sweep`` adds ~1 s of figures and reports). CPU time is the
figure to compare across machines when the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import time

from descentlab.data.dataset import load_iris
from descentlab.experiments.config import TuneConfig
from descentlab.experiments.tuning import run_tuned

CONFIG = TuneConfig(methods=("gd", "nag", "momentum", "adam"), lrs=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
                    repetitions=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = load_iris()
    walls, cpus = [], []
    for repeat in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        tuned = run_tuned(data, CONFIG)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        print(f"repeat {repeat}: {len(tuned.rows)} models, wall {walls[-1]:.2f} s, CPU {cpus[-1]:.2f} s")
    print(f"median: wall {statistics.median(walls):.2f} s, CPU {statistics.median(cpus):.2f} s")


if __name__ == "__main__":
    main()
