"""Where an evaluation's time goes, behind docs/performance.md: the parts of one loss + gradient of a stack.

    python bench/micro.py            # the 64-model Iris sweep, the 1024-model one and the digits stack
    python bench/micro.py iris64     # or one of them
    python bench/micro.py metrics    # the single run: what recording every metric adds to an iteration
    python bench/micro.py chunks     # a loss + gradient of the digits and 1 024-model stacks by chunk size
    python bench/micro.py parts      # a chunk of 1 024 models: the output layer and the backward pass, step by step
    python bench/micro.py threads    # the 64-model stack as one chunk or two on two threads; fit's BLAS search
    python bench/micro.py large      # the large problem on one BLAS thread or two; its products in blocks
    python bench/micro.py --busy …   # any of them with one core kept busy by a spinning child process

For each stack: the FLOPs and transcendental calls of one evaluation; the time of ``Objective.evaluate`` (loss
and gradient; loss alone) with the compiled and the simd engine; the activation alone (softplus and σ of every
hidden unit: NumPy's exp, log1p, exp against the simd pass); the two forward products alone (BLAS); and this
machine's rates (GEMM GFLOP/s on the first layer's shape, ns per exp and per log1p). Every time is the fastest of
its repeats, the least disturbed moment of a shared machine; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import problems  # noqa: E402

import descentlab as dl  # noqa: E402
from descentlab.core.engines.compiled import bias_softplus, kernels  # noqa: E402

STACKS = {"iris64": problems.sweep, "iris1024": lambda: problems.sweep(1024), "digits": problems.digits}


def fastest(fn, budget: float = 0.3) -> float:
    """µs per call: the fastest of 7 repeats of about ``budget`` seconds each."""
    fn()
    number = max(1, int(budget / max(timeit.timeit(fn, number=1), 1e-6)))
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def profile(name: str) -> None:
    problem = STACKS[name]()
    (d, n, k), (M, _), S = problem.net.sizes, problem.p0.shape, problem.X.shape[0]
    macs = S * (d * n + n * k)
    print(f"{name}: {M} models, S={S}, {d} → {n} → {k}: {2 * M * (macs + S * (d * n + 2 * n * k)) / 1e6:.1f} MFLOP "
          f"per loss + gradient; {M * n * S} hidden units (NumPy's formula: exp, log1p, exp each), "
          f"{M * k * S} exp + {M * S} log at the output")
    for engine in ("compiled", "simd"):
        objective = dl.Objective(problem.net, problem.X, problem.y, engine=engine)
        grad = fastest(lambda o=objective: o.evaluate(problem.p0, dl.Want.GRADIENT))
        loss = fastest(lambda o=objective: o.evaluate(problem.p0))
        print(f"  {engine:>8} engine: loss + gradient {grad:8.0f} µs, loss alone {loss:8.0f} µs")
    z = np.random.default_rng(0).normal(scale=8.0, size=(M, n, S))
    bias, h, dh = np.zeros((M, n, 1)), np.empty_like(z), np.empty_like(z)
    numpy_way = fastest(lambda: bias_softplus(kernels(), z.copy(), bias, h, dh, True))
    simd_way = fastest(lambda: kernels().bias_softplus_simd(z, bias, h, dh, True))
    print(f"  softplus and σ of every hidden unit: NumPy's exp, log1p, exp {numpy_way:8.0f} µs "
          f"({1e3 * numpy_way / z.size:.1f} ns each), simd {simd_way:8.0f} µs ({1e3 * simd_way / z.size:.1f} ns)")
    W0, A0, Z1 = np.ones((M * n, d)), np.ascontiguousarray(problem.X.T), np.empty((M * n, S))
    W1, Z2 = np.ones((M, k, n)), np.empty((M, k, S))
    first, second = fastest(lambda: np.dot(W0, A0, out=Z1)), fastest(lambda: np.matmul(W1, h, out=Z2))
    print(f"  forward products: W0·X of all models {first:8.0f} µs ({2e-3 * M * n * d * S / first:.1f} GFLOP/s), "
          f"batched W1·a1 {second:8.0f} µs ({2e-3 * M * k * n * S / second:.1f} GFLOP/s)")


def metrics() -> None:
    """What ``metrics="all"`` adds to an iteration of the assignment's single run (compiled engine): the fit loop
    with each setting, and the parts of the difference (the test split's forward pass, the recorder's arithmetic)."""
    import impl_descentlab

    problem = problems.single()
    per_iteration = {m: min(impl_descentlab.fit(problem, "gd", m, "compiled")[2] for _ in range(15))
                     / problem.iterations * 1e6 for m in ("loss", "all")}
    print(f"single run, compiled engine: loss only {per_iteration['loss']:.1f} µs per iteration, every metric "
          f"{per_iteration['all']:.1f} µs ({per_iteration['all'] / per_iteration['loss']:.2f}×)")
    train = dl.Objective(problem.net, problem.X, problem.y, engine="compiled")
    test = dl.Objective(problem.net, problem.X_test, problem.y_test, engine="compiled")
    x, one, counts = problem.p0[None].copy(), np.empty(1), np.ones(1, np.int64)
    parts = {
        "train split, loss + gradient": lambda: train.evaluate(x, dl.Want.GRADIENT),
        "train split, loss + gradient + correct count": lambda: train.evaluate(x, dl.Want.GRADIENT | dl.Want.CORRECT),
        "test split, loss + correct count (forward only)": lambda: test.evaluate(x, dl.Want.CORRECT),
        "‖∇L‖: np.vecdot": lambda: np.vecdot(x, x, out=one),
        "‖∇L‖: np.sqrt": lambda: np.sqrt(one, out=one),
        "accuracy: np.divide (once per split)": lambda: np.divide(counts, 112, out=one),
    }
    for label, part in parts.items():
        print(f"  {label:46} {fastest(part, 0.1):6.1f} µs")


def chunks() -> None:
    """One loss + gradient (compiled engine, one BLAS thread) of the digits stack and of 1 024 Iris models for
    several ``CHUNK_BYTES``: the widest layer's array of a chunk at most that large."""
    from threadpoolctl import threadpool_limits

    from descentlab.core.engines import fused

    chosen = fused.CHUNK_BYTES
    with threadpool_limits(1, user_api="blas"):
        for name in ("digits", "iris1024"):
            problem = STACKS[name]()
            for mib in (0.25, 0.5, 1, 2, 4, 8, 16, 1024):
                fused.CHUNK_BYTES = int(mib * 2**20)
                objective = dl.Objective(problem.net, problem.X, problem.y, engine="compiled")
                per = fused.models_per_chunk(problem.net.sizes, problem.X.shape[0], 8)
                took = fastest(lambda o=objective, x=problem.p0: o.evaluate(x, dl.Want.GRADIENT))
                print(f"  {name}: chunks of at most {mib:g} MiB ({min(per, len(problem.p0))} models) {took:8.0f} µs")
    fused.CHUNK_BYTES = chosen


def parts() -> None:
    """One chunk of the 1 024-model stack (one BLAS thread), step by step: a loss + gradient as the NumPy engine
    makes it (with the compiled engine's fused softplus), and the compiled engine's kernel for the hidden layer's
    backward; µs per step, the mean of 400 or 800 passes."""
    import time
    from collections import defaultdict

    from threadpoolctl import threadpool_limits

    from descentlab.core.engines import fused

    problem = STACKS["iris1024"]()
    engine = dl.Objective(problem.net, problem.X, problem.y, engine="compiled")._engine
    stack, M = engine.fused, fused.models_per_chunk(problem.net.sizes, problem.X.shape[0], 8)
    work, x, spent = stack.workspace(M), problem.p0[:M], defaultdict(float)

    def timed(label, call, *args, **kwargs):
        start = time.perf_counter()
        call(*args, **kwargs)
        spent[label] += time.perf_counter() - start

    def one_pass(numpy_way: bool) -> None:  # FusedEngine.forward and backward's lines for 4 → 16 → 3, timed
        np.copyto(work.x, x)
        np.copyto(work.W0_rows.reshape(work.W[0].shape), work.W[0])
        timed("first layer's GEMM over all models", np.dot, work.W0_rows, work.a[0], out=work.z1_rows)
        timed("activation: bias, softplus and σ", stack.activate, work.z3[0], work.b3[0], work.a3[1], work.dh3[0], True)
        timed("second layer's batched product and bias", lambda: (work.product(work.W[1], work.a[1], out=work.z[1]),
                                                                 np.add(work.z[1], work.b[1], out=work.z[1])))
        z_L, Y, S = work.z3[-1], stack.batch.Y, stack.S
        timed("log-sum-exp, loss (7 NumPy calls)", stack.output, work, False, stack.batch)
        timed("(Ŷ − Y)/S (3 NumPy calls)", lambda: (np.divide(z_L, work.column, out=z_L),
                                                   np.subtract(z_L, Y, out=z_L), np.multiply(z_L, 1 / S, out=z_L)))
        timed("output layer's products (3 BLAS and NumPy calls)", stack.layer_products_back, work, 1)
        if numpy_way:
            timed("hidden layer's backward: h′ ⊙ ∂L/∂a", np.multiply, work.z[0], work.dh[0], out=work.z[0])
            timed("hidden layer's backward: the GEMM for ∂L/∂W", np.dot, work.z1_rows, work.a_T[0], out=work.dW0_rows)
            timed("hidden layer's backward: the sum for ∂L/∂b", np.add.reduce, work.z[0], axis=-1, out=work.db[0])
        else:
            timed("hidden layer's backward, the kernel (1 call)", engine._backward_hidden, work.x, work.z3,
                  [engine.A0] + work.a3[1:], work.dh3, work.gradient)

    with threadpool_limits(1, user_api="blas"):
        one_pass(True), one_pass(False), spent.clear()  # warm: the kernels compiled or read from numba's cache
        for numpy_way in (True, False) * 2:
            for _ in range(200):
                one_pass(numpy_way)
    per_pass = {label: seconds / (400 if "hidden" in label else 800) * 1e6 for label, seconds in spent.items()}
    print(f"iris1024, a chunk of {M} models:")
    for label, micros in per_pass.items():
        print(f"  {label:50} {micros:7.1f} µs")
    kernel = per_pass["hidden layer's backward, the kernel (1 call)"]
    print(f"  {'a loss + gradient, the NumPy way':50} {sum(per_pass.values()) - kernel:7.1f} µs")


def threads() -> None:
    """Why the 64-model Iris stack stays one chunk: ``fit`` (GD and NAG, 350 iterations, compiled engine; fastest and
    median of 5) with the stack as one chunk and as two chunks of 32 shared by two threads; one chunk of 32 alone
    and two at once on two threads (µs each, medians); and the search for the loaded BLAS libraries that ``fit``
    made on every call before it was kept once per process. Run it idle and again with a core kept busy."""
    import statistics
    import threading
    import time

    import impl_descentlab
    from threadpoolctl import threadpool_limits

    from descentlab.core.engines import fused

    problem, chosen = problems.sweep(64), fused.CHUNK_BYTES
    for label, chunk_bytes in (("one chunk of 64", chosen), ("two chunks of 32, two threads", chosen // 4)):
        fused.CHUNK_BYTES = chunk_bytes
        for method in ("gd", "nag"):
            runs = [impl_descentlab.fit(problem, method, "loss", "compiled")[2] for _ in range(5)]
            median = statistics.median(runs)
            print(f"  fit, {method.upper()}, {label:30} fastest {min(runs):.3f} s, median {median:.3f} s")
    fused.CHUNK_BYTES = chosen
    objective = dl.Objective(problem.net, problem.X, problem.y, engine="compiled")
    halves = [problem.p0[:32].copy(), problem.p0[32:].copy()]
    evaluate = objective._engine.fused.evaluate_chunk

    def timed(x: np.ndarray, spent: list[float]) -> None:
        for _ in range(200):
            start = time.perf_counter()
            evaluate(x, dl.Want.GRADIENT)
            spent.append(time.perf_counter() - start)

    with threadpool_limits(1, user_api="blas"):
        alone: list[float] = []
        timed(halves[0], alone)
        together: list[list[float]] = [[], []]
        pair = [threading.Thread(target=timed, args=(x, spent)) for x, spent in zip(halves, together, strict=True)]
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join()
    print(f"  a chunk of 32 models, loss + gradient: alone {1e6 * statistics.median(alone):.0f} µs, two at once on two "
          f"threads {1e6 * statistics.median(together[0] + together[1]):.0f} µs each")
    search = timeit.timeit("threadpool_limits(1, user_api='blas').restore_original_limits()", number=200,
                           setup="from threadpoolctl import threadpool_limits") / 200
    print(f"  finding and limiting the loaded BLAS libraries (threadpool_limits): {1e3 * search:.2f} ms a call, "
          f"{1e6 * search / problem.iterations:.1f} µs per iteration of a {problem.iterations}-iteration run")


def large() -> None:
    """The large problem (60000 × 784 → 256 → 10), float32 and float64: a loss + gradient as ``fit`` runs it (its
    blocks of samples shared out among threads, BLAS on one thread each) and with the blocks one after another on
    BLAS's two threads (medians of 5); the two big products over all samples alone, W_0 a_0 (F1) and dZ_1 a_0ᵀ (B2),
    on two BLAS threads and on one; the first one as 24 blocks of samples that two threads take as they come free;
    and whether each product has the same bits on one BLAS thread as on two."""
    for dtype in (np.float32, np.float64):
        _large_profile(np.dtype(dtype))


def _median_ms(call, repeats: int = 5) -> float:
    """ms per call: the median of ``repeats`` calls after a warm-up."""
    import statistics

    call()
    return statistics.median(timeit.repeat(call, number=1, repeat=repeats)) * 1e3


def _large_profile(dtype: np.dtype) -> None:
    from collections import deque

    from threadpoolctl import threadpool_limits

    from descentlab.core.engines.fused import share_out
    from descentlab.training.fit import blas_threads

    problem = problems.large(dtype.type)
    objective = dl.Objective(problem.net, problem.X, problem.y, dtype=dtype)
    x, (W0, _) = problem.p0[None].copy(), problem.net.layers(problem.p0)[0]
    a0, S = problem.X.T, problem.X.shape[0]
    z1 = np.empty((W0.shape[0], S), dtype)
    dZ1 = np.random.default_rng(1).standard_normal(z1.shape).astype(dtype)
    dW0 = np.empty_like(W0)

    def forward_in_blocks() -> None:
        todo = deque(slice(i * S // 24, (i + 1) * S // 24) for i in range(24))

        def take() -> None:
            while todo:
                part = todo.popleft()
                np.matmul(W0, a0[:, part], out=z1[:, part])

        share_out(take, 2, todo)

    with blas_threads(problem.net, S, 1, dtype.itemsize):
        as_fit = _median_ms(lambda: objective.evaluate(x, dl.Want.GRADIENT))
    with threadpool_limits(2, user_api="blas"):
        in_turn = _median_ms(lambda: objective.evaluate(x, dl.Want.GRADIENT))
    blocks = len(objective._engine.blocks)
    print(f"large {dtype.name}, a loss + gradient in {blocks} blocks of samples: as fit runs it {as_fit:5.0f} ms, "
          f"one block after another on two BLAS threads {in_turn:5.0f} ms")
    products = {}
    for threads in (2, 1):
        with threadpool_limits(threads, user_api="blas"):
            forward = _median_ms(lambda: np.dot(W0, a0, out=z1))
            products[threads] = (z1.copy(), np.dot(dZ1, a0.T, out=dW0).copy())
            gradient = _median_ms(lambda: np.dot(dZ1, a0.T, out=dW0))
        print(f"  over all samples, BLAS on {threads} thread{'s' * (threads > 1)}: W_0 a_0 {forward:5.0f} ms, "
              f"dZ_1 a_0ᵀ {gradient:5.0f} ms")
    with threadpool_limits(1, user_api="blas"):
        blocked = _median_ms(forward_in_blocks)
    same = [np.array_equal(products[1][i], products[2][i]) for i in (0, 1)]
    print(f"  W_0 a_0 in 24 blocks of samples taken by two threads: {blocked:5.0f} ms; the same bits on one BLAS "
          f"thread as on two: W_0 a_0 {same[0]}, dZ_1 a_0ᵀ {same[1]}")


def rates() -> None:
    a, b, c = np.ones((2048, 64)), np.ones((64, 1797)), np.empty((2048, 1797))
    gemm = fastest(lambda: np.dot(a, b, out=c))
    u = np.random.default_rng(1).uniform(-30.0, 0.0, 1 << 16)
    out = np.empty_like(u)
    exp, log1p = fastest(lambda: np.exp(u, out=out)), fastest(lambda: np.log1p(-u, out=out))
    print(f"machine: float64 GEMM (2048×64)·(64×1797) {2e-3 * 2048 * 64 * 1797 / gemm:.1f} GFLOP/s; NumPy exp "
          f"{1e3 * exp / u.size:.1f} ns, log1p {1e3 * log1p / u.size:.1f} ns per element")


EXTRA = {"metrics": metrics, "chunks": chunks, "parts": parts, "threads": threads, "large": large}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="*", choices=[*STACKS, *EXTRA], metavar="what",
                        help=f"any of {', '.join([*STACKS, *EXTRA])} (default: the three stacks)")
    parser.add_argument("--busy", action="store_true", help="keep one core busy (a spinning child) meanwhile")
    args = parser.parse_args()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        rates()
        for name in args.what or list(STACKS):
            EXTRA.get(name, lambda n=name: profile(n))()
    finally:
        if busy is not None:
            busy.kill()
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
          + ("; one core kept busy (--busy)" if busy is not None else ""))


if __name__ == "__main__":
    main()
