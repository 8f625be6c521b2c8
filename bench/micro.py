"""Per-call costs behind docs/performance.md: one evaluation of the default problem with each engine.

    python bench/micro.py

Prints the median time of ``Objective.evaluate`` (loss and gradient; loss alone) on the assignment's problem
(112 rows, 4 → 16 softplus → 3, float64) for the NumPy and the compiled engine, and the cost of exp + log1p over
the 1 792 hidden pre-activations in NumPy (SIMD) against a scalar numba loop; then one loss + gradient of the
sweep's 64 stacked models with each engine.
"""

from __future__ import annotations

import math
import statistics
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import problems  # noqa: E402

import descentlab as dl  # noqa: E402


def per_call(fn, number: int = 5000, repeats: int = 7) -> float:
    fn()
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeats)) / number * 1e6


def main() -> None:
    problem = problems.single()
    x = problem.p0[None]
    for engine in ("numpy", "compiled"):
        objective = dl.Objective(problem.net, problem.X, problem.y, engine=engine)
        print(
            f"{engine:>8} engine: loss and gradient "
            f"{per_call(lambda o=objective: o.evaluate(x, dl.Want.GRADIENT)):5.1f} µs, "
            f"loss {per_call(lambda o=objective: o.evaluate(x)):5.1f} µs"
        )

    import numba

    @numba.njit(cache=True)
    def scalar(z: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
        for i in range(z.size):
            out.flat[i] = math.log1p(math.exp(-abs(z.flat[i])))

    z = np.random.default_rng(0).normal(size=(16, 112))
    out = np.empty_like(z)

    def simd() -> None:
        np.exp(-np.abs(z), out=out)
        np.log1p(out, out=out)

    print(
        f"exp + log1p of 1792 entries: NumPy {per_call(simd):.1f} µs, scalar numba loop "
        f"{per_call(lambda: scalar(z, out)):.1f} µs"
    )
    stacked = problems.sweep()
    for engine in ("numpy", "compiled"):
        objective = dl.Objective(stacked.net, stacked.X, stacked.y, engine=engine)
        cost = per_call(lambda o=objective: o.evaluate(stacked.p0, dl.Want.GRADIENT), number=200)
        print(f"{engine:>8} engine, 64 stacked models: loss and gradient {cost:4.0f} µs")


if __name__ == "__main__":
    main()
