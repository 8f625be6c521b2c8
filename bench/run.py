"""Benchmarks of descentlab against PyTorch, JAX, scikit-learn and plain NumPy on the three reference problems.

    python bench/run.py                   # every problem, 5 repeats, one table with ratios and targets
    python bench/run.py --only single     # or sweep / large
    python bench/run.py --write           # also (re)write bench/RESULTS.md with the table, date and machine

On the single problem and the sweeps the implementations take turns, one run each per round, and every time is the
fastest of its rounds (see ``interleaved``); on the large problem every time is the median of the repeats. The
load average is printed with the table; ``--busy`` keeps one core busy with a spinning child process meanwhile.
Before a peer's time counts, its loss curve (or final parameters) is checked against
descentlab's from the same initial parameters; a failed check is printed and marked.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import problems  # noqa: E402


@dataclass
class Row:
    problem: str
    what: str
    value: float
    unit: str
    check: str = ""


@dataclass
class Target:
    text: str
    measured: float
    ok: bool


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def verdict(error: float, tolerance: float) -> str:
    return f"{'ok' if error <= tolerance else 'FAILED'} ({error:.1e} ≤ {tolerance:.0e})"


def warmed(fn, repeats: int) -> list:
    """``repeats`` results of ``fn`` after one untimed call (imports, kernel loading, first-touch allocation)."""
    fn()
    return [fn() for _ in range(repeats)]


def p_error(final: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(final - ref)) / np.max(np.abs(ref)))


def single_check(method, losses, final, gd_curve, nag_curve, nag_p, tol) -> str:
    """A peer's loss curve against descentlab's (at p_k for GD, at the look-ahead q_k for NAG), and for NAG
    also its exported p_K."""
    if method == "gd":
        return "curve " + verdict(max_rel(losses, gd_curve), tol)
    return f"curve {verdict(max_rel(losses, nag_curve), tol)}, p_K {verdict(p_error(final, nag_p), tol)}"


def sweep_check(losses: np.ndarray, final: np.ndarray, curve: np.ndarray, p: np.ndarray) -> str:
    """Per model, the largest relative deviation of the curve and of p_K; the median over the models."""
    curves = float(np.median([max_rel(losses[:, m], curve[:, m]) for m in range(curve.shape[1])]))
    finals = float(np.median([p_error(final[m], p[m]) for m in range(p.shape[0])]))
    return f"per-model median: curve {verdict(curves, 1e-10)}, p_K {verdict(finals, 1e-10)}"


# -- single ---------------------------------------------------------------------------------------------------
SETTLE = 1.0


def interleaved(cases: dict, rounds: int) -> dict:
    """Each case's last result and its fastest time over ``rounds`` rounds, the cases taken in turn, one run each
    per round, after one untimed run of each.

    A run of the single problem lasts 10–200 ms, and on a shared virtual machine a burst of load, another
    process's threads or the host can slow any one of them by 1.5–2×: run back to back, all the repeats of one
    implementation may fall into such a burst, and a median then compares a slowed implementation with an
    unslowed one. Taking turns spreads the bursts over every implementation, and the minimum is each one's
    least disturbed run (as ``timeit`` advises), so the ratios are those of the code, not of the moment.
    PyTorch's OpenMP threads keep spinning for a while after its last call and take a core from whatever runs
    next (measured: descentlab's NumPy engine 47 µs per iteration, 79 right after a PyTorch run, 47 again a
    second later), so its cases come last in a round and every round ends with a pause of ``SETTLE`` seconds.
    A case returns ``(losses, final, seconds)``.
    """
    for run in cases.values():
        run()
    time.sleep(SETTLE)
    times: dict[str, list[float]] = {name: [] for name in cases}
    last: dict[str, tuple] = {}
    for _ in range(rounds):
        for name, run in cases.items():
            last[name] = run()
            times[name].append(last[name][2])
        time.sleep(SETTLE)
    return {name: (last[name], min(times[name])) for name in cases}


def single_cases(problem) -> dict:
    """Every implementation of the single problem, by name; each call is one timed run."""
    import impl_descentlab as dl_impl
    import impl_jax
    import impl_numpy
    import impl_sklearn
    import impl_torch
    import torch

    cases = {}
    for engine in ("compiled", "simd", "numpy"):
        for method in ("gd", "nag"):
            for metrics in ("loss", "all"):
                cases[f"{engine} {method} {metrics}"] = (
                    lambda m=method, e=engine, k=metrics: dl_impl.fit(problem, m, k, e))
        cases[f"{engine} nag steps"] = lambda e=engine: dl_impl.steps_only(problem, "nag", e)
    cases["numpy straightforward"] = lambda: impl_numpy.gd(problem)
    for method in ("gd", "nag"):
        for metrics in (False, True):
            cases[f"jax {method} {metrics}"] = impl_jax.prepare(problem, method, metrics=metrics)
    cases["sklearn"] = lambda: (None, None, impl_sklearn.gd_seconds(problem))
    # PyTorch last: its OpenMP threads spin on after its runs (see ``interleaved``)
    for method in ("gd", "nag"):
        for dtype, name in ((torch.float64, "float64"), (torch.float32, "float32")):
            cases[f"torch {method} {name}"] = lambda m=method, d=dtype: impl_torch.run(problem, m, d)
    cases["torch gd all"] = lambda: impl_torch.run(problem, "gd", torch.float64, metrics=True)
    return cases


def bench_single(repeats: int, rows: list[Row], targets: list[Target]) -> None:
    problem = problems.single()
    us = 1e6 / problem.iterations
    measured = interleaved(single_cases(problem), repeats)
    t = {name: seconds for name, (_, seconds) in measured.items()}
    out = {name: result for name, (result, _) in measured.items()}
    single_rows(problem, out, t, us, rows)
    single_targets(t, targets)


def single_rows(problem, out: dict, t: dict, us: float, rows: list[Row]) -> None:
    """The table rows, each peer's curve checked against descentlab's compiled engine."""
    K = problem.iterations
    dl_ref = {method: out[f"compiled {method} loss"][:2] for method in ("gd", "nag")}
    gd_ref, nag_ref, nag_curve = dl_ref["gd"][0][:K], dl_ref["nag"][1], out["compiled nag steps"][0]
    for engine in ("compiled", "simd", "numpy"):
        for method in ("gd", "nag"):
            losses, final = out[f"{engine} {method} loss"][:2]
            if engine != "compiled":
                check = f"{'curve' if method == 'gd' else 'final p_K'} " + verdict(
                    max_rel(losses, dl_ref[method][0]) if method == "gd" else p_error(final, dl_ref[method][1]), 1e-10
                )
            else:
                check = "reference" if method == "gd" else "reference (NAG)"
            label = "loss history at p_k" if method == "nag" else "loss history"
            rows.append(Row("single", f"descentlab {method.upper()}, {label} ({engine} engine)",
                            t[f"{engine} {method} loss"] * us, "µs/it", check))
            rows.append(Row("single", f"descentlab {method.upper()}, all metrics: train/test loss and accuracy, ‖∇L‖ "
                            f"({engine} engine)", t[f"{engine} {method} all"] * us, "µs/it"))
        rows.append(Row("single", f"descentlab NAG, loss at q_k as the peers log it, no fit loop ({engine} engine)",
                        t[f"{engine} nag steps"] * us, "µs/it",
                        "final p_K " + verdict(p_error(out[f"{engine} nag steps"][1], nag_ref), 1e-10)))
    rows.append(Row("single", "NumPy straightforward GD (allocating, logaddexp)", t["numpy straightforward"] * us,
                    "µs/it", "curve " + verdict(max_rel(out["numpy straightforward"][0][:K], gd_ref), 1e-10)))
    for method in ("gd", "nag"):
        for name, tol in (("float64", 1e-10), ("float32", 1e-3)):
            losses, final = out[f"torch {method} {name}"][:2]
            rows.append(Row("single", f"PyTorch {name} {method.upper()} (autograd{', SGD' if method == 'gd' else ''})",
                            t[f"torch {method} {name}"] * us, "µs/it",
                            single_check(method, losses, final, gd_ref, nag_curve, nag_ref, tol)))
    rows.append(Row("single", "PyTorch float64 GD, all metrics", t["torch gd all"] * us, "µs/it"))
    for method in ("gd", "nag"):
        for metrics in (False, True):
            losses, final = out[f"jax {method} {metrics}"][:2]
            label = f"JAX float64 {method.upper()} (jit + lax.scan){', all metrics' if metrics else ''}"
            rows.append(Row("single", label, t[f"jax {method} {metrics}"] * us, "µs/it",
                            single_check(method, losses, final, gd_ref, nag_curve, nag_ref, 1e-10)))
    rows.append(Row("single", "scikit-learn MLPClassifier (logistic units, SGD, full batch)", t["sklearn"] * us,
                    "µs/it", "timing only"))


def single_targets(t: dict, targets: list[Target]) -> None:
    gd, nag = t["compiled gd loss"], t["compiled nag loss"]
    jax_gd, jax_nag = t["jax gd False"], t["jax nag False"]
    targets += [
        Target("single: descentlab GD ≤ 1.0× JAX float64 scan per iteration (ratio)", gd / jax_gd, gd <= jax_gd),
        Target("single: descentlab GD ≥ 5× faster than PyTorch float64 (speed-up)", t["torch gd float64"] / gd,
               t["torch gd float64"] / gd >= 5),
        Target("single: all metrics ≤ 1.5× loss-only, GD (ratio)", t["compiled gd all"] / gd,
               t["compiled gd all"] / gd <= 1.5),
        Target("single: all metrics ≤ 1.5× loss-only, NAG (ratio)", t["compiled nag all"] / nag,
               t["compiled nag all"] / nag <= 1.5),
        Target("single: numpy engine GD ≤ 1.2× JAX float64 scan (ratio; issue 13)", t["numpy gd loss"] / jax_gd,
               t["numpy gd loss"] / jax_gd <= 1.2),
        Target("single: compiled engine GD ≤ 0.6× JAX float64 scan (ratio; issue 26)", gd / jax_gd, gd <= 0.6 * jax_gd),
        Target("single: simd engine GD ≤ 0.6× JAX float64 scan (ratio; issue 26)", t["simd gd loss"] / jax_gd,
               t["simd gd loss"] <= 0.6 * jax_gd),
        Target("single: all metrics ≤ 1.3× loss-only, GD, simd engine (ratio; issue 26)",
               t["simd gd all"] / t["simd gd loss"], t["simd gd all"] <= 1.3 * t["simd gd loss"]),
        Target("single, reported: descentlab NAG with loss at p_k / JAX NAG with loss at q_k", nag / jax_nag, True),
        Target("single, reported: descentlab NAG with loss at q_k (no fit loop) / JAX NAG",
               t["compiled nag steps"] / jax_nag, True),
        Target("single, reported: PyTorch float64 NAG / descentlab NAG with loss at p_k",
               t["torch nag float64"] / nag, True),
    ]


# -- sweep ----------------------------------------------------------------------------------------------------
# name: (problem, descentlab's engines timed, throughput target over JAX and PyTorch)
SWEEPS = {
    "sweep": (lambda: problems.sweep(), ("simd", "compiled"), 2.0),
    "sweep1024": (lambda: problems.sweep(1024), ("simd", "compiled"), 2.0),
    "digits": (problems.digits, ("simd", "compiled"), 1.5),
}


def sweep_cases(problem, engines: tuple[str, ...]) -> dict:
    """Every implementation of a stacked sweep, by name; each call is one timed run of all its models."""
    import impl_descentlab as dl_impl
    import impl_jax
    import impl_torch
    import torch

    cases = {}
    for method in ("gd", "nag"):
        for engine in engines:
            cases[f"{engine} {method}"] = lambda m=method, e=engine: dl_impl.fit(problem, m, "loss", e)
    cases["simd nag steps"] = lambda: dl_impl.steps_only(problem, "nag", "simd")
    for method in ("gd", "nag"):
        cases[f"jax {method}"] = impl_jax.prepare(problem, method)
    for method in ("gd", "nag"):  # PyTorch last: its OpenMP threads spin on after its runs (see ``interleaved``)
        cases[f"torch {method}"] = lambda m=method: impl_torch.run(problem, m, torch.float64)
    return cases


def bench_sweep(name: str, repeats: int, rows: list[Row], targets: list[Target]) -> None:
    """One stacked sweep, the implementations taking turns (``interleaved``); every curve is checked against
    the simd engine's (GD: the loss at p_k; NAG: at the look-ahead q_k, which the peers log, and p_K); a target
    compares the peer with the faster of descentlab's engines timed (compiled, which `auto` picks for a sweep; simd)."""
    make, engines, goal = SWEEPS[name]
    problem = make()
    M, K = problem.p0.shape[0], problem.iterations
    what = f"{M} models × {K} iterations, {problem.X.shape[0]} × {' → '.join(map(str, problem.net.sizes))}"
    measured = interleaved(sweep_cases(problem, engines), repeats)
    t = {case: seconds for case, (_, seconds) in measured.items()}
    out = {case: result for case, (result, _) in measured.items()}
    for method in ("gd", "nag"):
        ref_loss, ref_p = out[f"simd {method}"][:2]
        curve = ref_loss[:K] if method == "gd" else out["simd nag steps"][0]
        for engine in engines:
            check = "reference" if engine == "simd" else sweep_check(*out[f"{engine} {method}"][:2], ref_loss, ref_p)
            rows.append(Row(name, f"descentlab {method.upper()}, {what}, loss at the exported iterate ({engine} "
                            "engine)", t[f"{engine} {method}"], "s", check))
        if method == "nag":
            rows.append(Row(name, "descentlab NAG, loss at q_k as the peers log it, no fit loop (simd engine)",
                            t["simd nag steps"], "s", "p_K " + verdict(float(np.median(
                                [p_error(out["simd nag steps"][1][m], ref_p[m]) for m in range(M)])), 1e-10)))
        for peer, label in (("jax", "JAX float64 vmap + lax.scan"), ("torch", "PyTorch float64 batched matmul")):
            rows.append(Row(name, f"{label} {method.upper()}", t[f"{peer} {method}"], "s",
                            sweep_check(*out[f"{peer} {method}"][:2], curve, ref_p)))
            fastest = min(engines, key=lambda engine, m=method: t[f"{engine} {m}"])
            speedup = t[f"{peer} {method}"] / t[f"{fastest} {method}"]
            targets.append(Target(f"{name} {method.upper()}, loss at the exported iterate: throughput ≥ {goal:g}× "
                                  f"{peer} (speed-up; {fastest} engine)", speedup, speedup >= goal))


# -- large ----------------------------------------------------------------------------------------------------
def large_worker(impl: str, dtype_name: str, steps: int) -> None:
    """Runs in its own process so that its peak memory is its own."""
    dtype = np.float32 if dtype_name == "float32" else np.float64
    problem = problems.large(dtype)
    if impl == "torch":
        import impl_torch  # noqa: F401  (imported before the baseline: the library, not the run, is not counted)
        import torch
    elif impl == "jax":
        import impl_jax  # noqa: F401
    elif impl == "descentlab":
        import impl_descentlab  # noqa: F401  (the library, as above)
    before = _reset_peak_rss()
    if impl == "descentlab":
        losses, times = impl_descentlab.large_steps(problem, steps + 1)
    elif impl == "numpy":
        import impl_numpy

        losses, times = impl_numpy.large_steps(problem, steps + 1)
    elif impl == "torch":
        losses, times = impl_torch.large_steps(
            problem, steps + 1, torch.float32 if dtype == np.float32 else torch.float64
        )
    else:
        losses, times = impl_jax.large_steps(problem, steps + 1)
    after = _status_kb("VmHWM")
    print(json.dumps({"losses": losses, "times": times[1:], "peak_mb": (after - before) / 1024}))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the process's peak resident set (Linux: 5 → /proc/self/clear_refs) and return the current one, in
    kB. (ru_maxrss cannot serve: it survives fork and exec, so a worker would start at its parent's peak.)"""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def gemm_gflops(dtype: type, repeats: int) -> float:
    rng = np.random.default_rng(1)
    S, d = problems.LARGE_SHAPE
    A = rng.standard_normal((S, d), dtype=np.float32).astype(dtype)
    B = rng.standard_normal((d, problems.LARGE_HIDDEN), dtype=np.float32).astype(dtype)
    C = np.empty((S, problems.LARGE_HIDDEN), dtype)
    np.matmul(A, B, out=C)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(A, B, out=C)
        times.append(time.perf_counter() - start)
    return 2.0 * S * d * problems.LARGE_HIDDEN / min(times) / 1e9


def bench_large(repeats: int, rows: list[Row], targets: list[Target]) -> None:
    gflop = problems.large_gflop()
    for dtype in ("float32", "float64"):
        peak = gemm_gflops(np.float32 if dtype == "float32" else np.float64, repeats)
        rows.append(Row("large", f"NumPy GEMM peak {dtype} (60000×784 · 784×256)", peak, "GFLOP/s"))
        results = {}
        for impl in ("descentlab", "numpy", "torch", "jax"):
            out = subprocess.run(
                [sys.executable, __file__, "--large-worker", impl, dtype, str(repeats)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ},
            )
            results[impl] = json.loads(out.stdout.strip().splitlines()[-1])
        ref = results["descentlab"]["losses"]
        tol = 1e-5 if dtype == "float32" else 1e-10
        names = {
            "descentlab": "descentlab (Objective, buffers reused)",
            "numpy": "NumPy straightforward",
            "torch": "PyTorch autograd + SGD",
            "jax": "JAX jit (value_and_grad + update)",
        }
        for impl, result in results.items():
            t = median(result["times"])
            check = "" if impl == "descentlab" else "losses " + verdict(max_rel(result["losses"], ref), tol)
            rows.append(
                Row(
                    "large",
                    f"{names[impl]} {dtype}: s/iteration, {100 * gflop / t / peak:.0f} % of GEMM "
                    f"peak, peak memory {result['peak_mb']:.0f} MB",
                    t,
                    "s",
                    check,
                )
            )
        t_dl = median(results["descentlab"]["times"])
        if dtype == "float32":
            t_jax = median(results["jax"]["times"])
            targets += [
                Target("large float32: descentlab ≤ 1.0× JAX", t_dl / t_jax, t_dl <= t_jax),
                Target(
                    "large float32: descentlab ≥ 60 % of NumPy GEMM peak",
                    gflop / t_dl / peak,
                    gflop / t_dl / peak >= 0.6,
                ),
                Target(
                    "large float32: descentlab peak memory ≤ PyTorch's (ratio)",
                    results["descentlab"]["peak_mb"] / max(results["torch"]["peak_mb"], 1e-9),
                    results["descentlab"]["peak_mb"] <= results["torch"]["peak_mb"],
                ),
            ]


# -- output ---------------------------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import jax
    import sklearn
    import torch

    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i['version']} ({i['architecture']} kernels, {i['num_threads']} threads)"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        )
    except ImportError:
        blas = "BLAS unknown (threadpoolctl not installed)"
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__} with {blas}, "
        f"numba {_version('numba')}, PyTorch {torch.__version__}, JAX {jax.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def command() -> str:
    """The command as run, with the OpenBLAS variables it ran without (see README)."""
    unset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v not in os.environ]
    prefix = "env " + " ".join(f"-u {v}" for v in unset) + " " if unset else ""
    return prefix + "python bench/run.py " + " ".join(sys.argv[1:])


def render(rows: list[Row], targets: list[Target], repeats: int) -> str:
    lines = ["| problem | implementation | time | unit | same result as descentlab |", "|---|---|---:|---|---|"]
    for r in rows:
        value = f"{r.value:.3f}" if r.unit == "s" else f"{r.value:.1f}"
        lines.append(f"| {r.problem} | {r.what} | {value} | {r.unit} | {r.check} |")
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for t in targets:
        met = "–" if t.text.split(":")[0].endswith("reported") else ("yes" if t.ok else "**no**")
        lines.append(f"| {t.text} | {t.measured:.2f} | {met} |")
    return "\n".join(lines) + (f"\n\nsingle and sweeps: the fastest of {repeats} rounds in which the implementations "
                               f"take turns; large: medians of {repeats} repeats.\n")


def kept_sections() -> str:
    """The sections of RESULTS.md after its main table (other scripts' results), which a new run keeps."""
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    start = text.find("\n## ")
    return "" if start < 0 else text[start:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["single", *SWEEPS, "large"], action="append")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument("--busy", action="store_true", help="keep one core busy (a spinning child) meanwhile")
    parser.add_argument("--iterations", type=int, help="iterations of the sweeps (default: 350; digits 100)")
    parser.add_argument("--large-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.large_worker:
        large_worker(args.large_worker[0], args.large_worker[1], int(args.large_worker[2]))
        return 0
    if args.iterations:  # per-iteration throughput: shorter runs when the machine is busy
        problems.ITERATIONS = problems.DIGITS_ITERATIONS = args.iterations
    rows: list[Row] = []
    targets: list[Target] = []
    started = time.perf_counter()
    print(machine(), file=sys.stderr)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    load_before = os.getloadavg()
    jobs = [("single", bench_single)] + [(name, partial(bench_sweep, name)) for name in SWEEPS]
    try:
        for name, fn in jobs + [("large", bench_large)]:
            if not args.only or name in args.only:
                print(f"running {name} …", file=sys.stderr, flush=True)
                fn(args.repeats, rows, targets)
                print(render(rows, targets, args.repeats), file=sys.stderr, flush=True)  # kept if a later one fails
    finally:
        if busy is not None:
            busy.kill()
    load = (f"Load average (1, 5, 15 min) {', '.join(f'{v:.2f}' for v in load_before)} before, "
            f"{', '.join(f'{v:.2f}' for v in os.getloadavg())} after{'; one core kept busy (--busy)' if busy else ''}.")
    table = render(rows, targets, args.repeats) + "\n" + load + "\n"
    print(table)
    if args.write:
        header = (
            f"# Benchmark results\n\nMeasured {datetime.date.today().isoformat()} on {machine()}, by\n"
            f"`{command()}` ({time.perf_counter() - started:.0f} s).\n\n"
            "Targets are checked on descentlab's compiled engine (`descentlab[fast]`) for the single and sweep "
            "problems and on its NumPy engine for the large one (the compiled engine hands a stack that large to "
            "the same BLAS code); README.md says what each row "
            "measures and how the peers were checked.\n\n"
        )
        (HERE / "RESULTS.md").write_text(header + table + kept_sections())
    return 0


if __name__ == "__main__":
    sys.exit(main())
