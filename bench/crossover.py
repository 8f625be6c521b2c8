"""Where the compiled engine's loop kernels stop beating BLAS: µs per model-iteration against the stack size.

    python bench/crossover.py

For stacks of 1, 2, 4, 8, 16, 32 and 64 models of the assignment's network (4 → 16 → 3, 112 Iris samples, GD,
loss history, 200 iterations, the fastest of 5 fits), the compiled engine is forced down each of its two paths:
its loop kernels (``linear``, ``output_layer``, ``hidden_backward``) and the NumPy engine's BLAS products with
softplus fused around them (``bias_softplus``). ``FUSED_MAX_MACS`` in ``core/engines/compiled.py`` is set from
this table. Needs numba. Times vary by machine.
"""

from __future__ import annotations

import numpy as np
import problems

import descentlab as dl
import descentlab.core.engines.compiled as compiled

ITERATIONS = 200


def per_model_iteration(models: int, loops: bool) -> float:
    """µs per model-iteration of GD on ``models`` stacked models, down the loop kernels or BLAS."""
    base = problems.single()
    compiled.FUSED_MAX_MACS = 1 << 62 if loops else 0
    p0 = np.stack([base.net.init(seed=m).flat for m in range(models)])
    optimizer = dl.GD(lr=np.full((models, 1), 0.01))
    train = dl.Dataset(base.X, base.y)
    best = min(dl.fit(base.net, dl.Params(p0, base.net.slots), train, optimizer, ITERATIONS, metrics="loss",
                      engine="compiled").seconds for _ in range(5))
    return best / ITERATIONS / models * 1e6


def main() -> None:
    print("| models | loop kernels (µs) | BLAS + fused softplus (µs) |\n|---:|---:|---:|")
    for models in (1, 2, 4, 8, 16, 32, 64):
        print(f"| {models} | {per_model_iteration(models, True):.1f} | {per_model_iteration(models, False):.1f} |")


if __name__ == "__main__":
    main()
