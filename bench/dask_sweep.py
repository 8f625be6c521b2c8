"""Sweeps in cells, in this process and on a local Dask cluster: throughput ratios, per-cell overheads, and a
projection to 8, 64 and 512 workers.

    python bench/dask_sweep.py                 # the issue's setting: 512 models × 350 iterations, 2 workers
    python bench/dask_sweep.py --models 1024 --workers 2 --cell-size 64

Prints, in one run:
1. a 16-model sweep in process: ``descentlab.sweep`` (cells) against the sweep as it was before cells (one
   stack per optimiser, ``fit`` called directly): the ratio must be ≤ 1 (no slower);
2. the large sweep in process and on a ``LocalCluster`` of ``--workers`` processes (one thread each), both writing
   their cells to a run folder as the command does; the cluster's start-up is timed apart; the ratio of
   throughputs (models per second), and a check that both CSVs are byte-identical;
3. the per-cell costs the projection needs: compute time of a cell against its size (fit a + b·s), the Dask
   round trip of a task (scheduling + transfer + deserialisation) and the client's cost to write a cell;
4. the projection (model and assumptions in bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time

import numpy as np

from descentlab.core.params import Params
from descentlab.data.dataset import load_iris
from descentlab.experiments.cells import Cell, run_cell
from descentlab.experiments.compare import prepare
from descentlab.experiments.config import CompareConfig, SweepConfig
from descentlab.experiments.runfolder import RunFolder
from descentlab.experiments.summary import sweep_csv
from descentlab.experiments.sweeprun import sweep
from descentlab.optim.optimizers import parse_optimizer
from descentlab.training.fit import fit


def sweep_before_cells(data, config: SweepConfig) -> None:
    """The sweep as it ran before cells: every model of an optimiser in one stack, fit called directly."""
    base = config.base
    train, test, _, net, _ = prepare(data, base)
    grid = [(float(lr), seed) for lr in config.lrs for seed in range(config.seeds)]
    initial = Params(np.stack([net.init(seed=s, mu=base.init_mu, sigma=base.init_sigma).flat for _, s in grid]),
                     net.slots)
    lr_column = np.array([lr for lr, _ in grid])[:, None]
    for spec in config.optimizers:
        fit(net, initial, train, parse_optimizer(spec, lr=lr_column), iterations=base.iterations, test=test)


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def small_sweep(data, iterations: int, repeats: int) -> None:
    config = SweepConfig(base=CompareConfig(iterations=iterations), optimizers=("gd", "nag"), lrs=(0.01, 0.02),
                         seeds=4)
    before, now = [], []
    for _ in range(repeats):  # interleaved, so that a change of load hits both
        before.append(best_of(lambda: sweep_before_cells(data, config), 1))
        now.append(best_of(lambda: sweep(data, config), 1))
    cpu_before = min(cpu_seconds(lambda: sweep_before_cells(data, config)) for _ in range(repeats))
    cpu_now = min(cpu_seconds(lambda: sweep(data, config)) for _ in range(repeats))
    print(f"16 models × {iterations} iterations in process: before cells {min(before) * 1e3:.1f} ms, cells "
          f"{min(now) * 1e3:.1f} ms, ratio {min(now) / min(before):.3f} (≤ 1: no slower); CPU time ratio "
          f"{cpu_now / cpu_before:.3f}")


def large_config(models: int, iterations: int) -> SweepConfig:
    lrs = (0.005, 0.01, 0.02, 0.05)
    seeds = max(1, models // (2 * len(lrs)))
    return SweepConfig(base=CompareConfig(iterations=iterations), optimizers=("gd", "nag"), lrs=lrs, seeds=seeds)


def large_sweep(data, config: SweepConfig, workers: int, cell_size: int) -> tuple[float, float, list]:
    import distributed

    models = 2 * len(config.lrs) * config.seeds
    with tempfile.TemporaryDirectory() as here, tempfile.TemporaryDirectory() as there:
        start = time.perf_counter()
        local = sweep(data, config, out=here, cell_size=cell_size)
        in_process = time.perf_counter() - start
        start = time.perf_counter()
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None,
                                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(workers)
            startup = time.perf_counter() - start
            results: list = []
            start = time.perf_counter()
            remote = sweep(data, config, client=client, out=there, cell_size=cell_size,
                           on_cell=lambda r, _: results.append(r))
            on_cluster = time.perf_counter() - start
            round_trip = task_round_trip(client, data, workers)
    same = sweep_csv(local) == sweep_csv(remote)
    print(f"{models} models × {config.base.iterations} iterations, cells of {cell_size}: in process "
          f"{in_process:.2f} s ({models / in_process:.1f} models/s); {workers} workers {on_cluster:.2f} s "
          f"({models / on_cluster:.1f} models/s; cluster start-up {startup:.1f} s, not counted)")
    print(f"throughput ratio, {workers} workers / in process: {in_process / on_cluster:.2f}  "
          f"(sweep.csv byte-identical: {same})")
    return on_cluster, round_trip, results


def task_round_trip(client, data, workers: int, tasks: int = 64) -> float:
    """Seconds of scheduling, transfer and deserialisation per task: tiny cells (1 model, 1 iteration) through
    the same path, their own compute time subtracted."""
    from descentlab.experiments.cluster import DaskExecutor

    base = CompareConfig(iterations=1)
    cells = [Cell("bench", "gd", 0, (0.01,), (seed,)) for seed in range(tasks)]
    executor = DaskExecutor(client)
    start = time.perf_counter()
    computed = sum(r.seconds for r in executor.map_cells(cells, data, base))
    wall = time.perf_counter() - start
    return max(0.0, (wall * workers - computed) / tasks)


def cell_costs(data, iterations: int, sizes=(1, 4, 16, 64)) -> tuple[float, float, float, float]:
    """Fit compute time = a + b·s over cell sizes s; client write time and result bytes per model."""
    base = CompareConfig(iterations=iterations)
    times = []
    for s in sizes:  # CPU time, not wall time: on a shared machine it is what a dedicated worker would spend
        cell = Cell("bench", "nag", 0, (0.01,) * s, tuple(range(s)))
        times.append(min(cpu_seconds(lambda c=cell: run_cell(c, data, base)) for _ in range(2)))
    b, a = np.polyfit(np.array(sizes, float), np.array(times), 1)
    big = run_cell(Cell("bench", "nag", 0, (0.01,) * 64, tuple(range(64))), data, base)
    with tempfile.TemporaryDirectory() as folder:
        store = RunFolder(folder)
        write = statistics.median(cpu_seconds(lambda: store.save(big)) for _ in range(5)) / 64
    nbytes = len(pickle.dumps(big)) / 64
    read = min(cpu_seconds(lambda: pickle.loads(pickle.dumps(big))) for _ in range(3)) / 64
    print(f"cell compute (CPU) time ≈ {a * 1e3:.1f} ms + {b * 1e3:.2f} ms × models (sizes {list(sizes)}, "
          f"{iterations} iterations, NAG, all metrics)")
    print(f"client CPU per model: write {write * 1e3:.3f} ms, (de)serialise {read * 1e3:.3f} ms, "
          f"{nbytes / 1024:.1f} KiB of result")
    return float(a), float(b), write + read, nbytes


def project(a: float, b: float, client_per_model: float, bytes_per_model: float, round_trip: float,
            bandwidth: float = 125e6) -> None:
    """Workers compute cells in parallel; each cell also costs o = a + round_trip of fixed time on its worker;
    the client ingests and writes every model serially. Efficiency(s) = b·s / (a + round_trip + b·s); the client
    keeps up while W · (client_per_model + bytes/bandwidth) ≤ a/s + round_trip/s + b."""
    fixed = a + round_trip
    size = int(np.ceil(19 * fixed / b))  # fixed / (fixed + b·s) < 5 %
    per_model_client = client_per_model + bytes_per_model / bandwidth
    cap = 1.0 / per_model_client
    print(f"projection: fixed cost per cell {fixed * 1e3:.1f} ms ({a * 1e3:.1f} ms in the cell, "
          f"{round_trip * 1e3:.1f} ms Dask round trip); overhead < 5 % from {size} models per cell")
    for workers in (8, 64, 512):
        worker_rate = workers / (b + fixed / size)
        rate = min(worker_rate, cap)
        limit = "client-bound" if worker_rate > cap else "worker-bound"
        print(f"  {workers:>3} workers, cells of {size}: {rate:8.0f} models/s ({limit}; workers alone "
              f"{worker_rate:.0f}, client ingest cap {cap:.0f} models/s at {bandwidth / 1e6:.0f} MB/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=350)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cell-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the 16-model timing (best taken)")
    args = parser.parse_args()
    data = load_iris()
    small_sweep(data, args.iterations, args.repeats)
    _, round_trip, _ = large_sweep(data, large_config(args.models, args.iterations), args.workers, args.cell_size)
    a, b, client_per_model, nbytes = cell_costs(data, args.iterations)
    print(f"Dask round trip per task: {round_trip * 1e3:.1f} ms")
    project(a, b, client_per_model, nbytes, round_trip)


if __name__ == "__main__":
    main()
