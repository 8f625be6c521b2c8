"""Sweeps cell by cell, here and on a real Dask cluster (two worker processes on loopback): the same bits,
nothing lost when a worker dies or the client is interrupted, one clear line when the cluster cannot work."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import descentlab as dl
from descentlab.experiments.cells import Cell, cut, run_cell
from descentlab.experiments.cluster import ClusterError, check_workers
from descentlab.experiments.config import CompareConfig, SweepConfig
from descentlab.experiments.runfolder import RunFolder, read_cell
from descentlab.experiments.summary import sweep_csv
from descentlab.experiments.sweeprun import CellRunner, sweep, sweep_layout
from descentlab.experiments.sweeprun import sweep as run_sweep
from descentlab.reporting.write import write_sweep
from descentlab.training.results import HISTORY_FIELDS

distributed = pytest.importorskip("distributed")

CONFIG = SweepConfig(base=CompareConfig(iterations=40, hidden=(6,)), optimizers=("gd", "nag", "adam"),
                     lrs=(0.01, 0.3, 3.0), seeds=5)
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}  # a subprocess's noise is not the test's subject


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as local, \
            distributed.Client(local, set_as_default=False) as client:
        yield local, client


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("in-process")
    result = sweep(config=CONFIG, out=out, cell_size=4)
    write_sweep(result, out)
    return result, out


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder but its timings."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "timings.json"}


def _same_histories(a, b) -> None:
    assert list(a.results) == list(b.results)
    for name in a.results:
        for field in HISTORY_FIELDS:
            assert np.array_equal(getattr(a.results[name].history, field), getattr(b.results[name].history, field),
                                  equal_nan=True), (name, field)
        assert np.array_equal(a.results[name].params.flat, b.results[name].params.flat)


def test_a_stacked_model_does_not_depend_on_the_other_models_of_its_cell(iris):
    base = CompareConfig(iterations=60)
    alone = [run_cell(Cell("sweep", "nag", "nag", (0.05,), (seed,)), iris, base) for seed in (0, 9, 30)]
    together = run_cell(Cell("sweep", "nag", "nag", (0.05,), tuple(range(31))), iris, base)
    for result, seed in zip(alone, (0, 9, 30), strict=True):
        for field in HISTORY_FIELDS:
            assert np.array_equal(getattr(result.history, field)[:, 0], getattr(together.history, field)[:, seed])
        assert np.array_equal(result.params[0], together.params[seed])
        assert result.rows[0] == together.rows[seed]


def test_the_layout_cuts_each_methods_grid_into_blocks_of_seeds():
    cells = sweep_layout(CONFIG, cell_size=7)  # 3 learning rates: two seeds a cell
    assert [c.size for c in cells] == [6, 6, 3] * 3
    assert [(lr, s) for c in cells[:3] for s in c.seeds for lr in c.lrs] == \
        [(lr, s) for s in range(5) for lr in CONFIG.lrs]
    assert [c.seeds for c in sweep_layout(CONFIG, cell_size=1)[:5]] == [(s,) for s in range(5)]  # one seed at least
    assert len({c.key() for c in cells}) == len(cells)
    assert cut("sweep", "nag", "nag", [0.1], [0], 0, 4) == cut("sweep", "nag", "nag", [0.1], [0], 0, 4)
    one, other = cut("sweep", "nag", "nag", [0.1], [0], 0, 4), cut("sweep", "nag", "nag", [0.1], [1], 0, 4)
    assert one[0].key() != other[0].key()
    assert cells[0].key("one configuration") != cells[0].key("another")  # a cell of another sweep never matches


def test_cells_give_the_sweep_of_one_stack_per_method(in_process, iris):
    result, _ = in_process
    whole = sweep(config=CONFIG, cell_size=1000)  # one cell per method: today's single stack
    _same_histories(result, whole)
    assert sweep_csv(result) == sweep_csv(whole)


@pytest.mark.skipif(not dl.core.engines.compiled_available(), reason="needs numba")
def test_auto_picks_one_engine_for_the_whole_sweep_whatever_the_cell_size(monkeypatch):
    from descentlab.core import engines

    config = SweepConfig(base=CompareConfig(iterations=30, hidden=(4,)), optimizers=("gd",), lrs=(0.1,), seeds=4)
    monkeypatch.setattr(engines, "AUTO_COMPILED_FROM", 100)  # the sweep's 120 model-iterations pass; a cell's 30 not
    in_cells, in_one = sweep(config=config, cell_size=1), sweep(config=config, cell_size=4)
    assert sweep_csv(in_cells) == sweep_csv(in_one)
    on_numpy = sweep(config=dataclasses.replace(config, base=dataclasses.replace(config.base, engine="numpy")))
    assert sweep_csv(on_numpy) != sweep_csv(in_one)  # the compiled engine ran (its last digits differ)


def test_a_cluster_sweep_equals_the_in_process_sweep_bit_for_bit(cluster, in_process, tmp_path):
    _, client = cluster
    result, folder = in_process
    remote = sweep(config=CONFIG, client=client, out=tmp_path, cell_size=4)
    write_sweep(remote, tmp_path)
    _same_histories(result, remote)
    assert _files(tmp_path) == _files(folder)
    saved = read_cell(next((tmp_path / "cells").glob("sweep-nag-*.parquet")))
    assert saved.cell.method == "nag" and saved.history.train_loss.shape == (41, saved.cell.size)


def test_a_worker_killed_mid_sweep_changes_nothing(cluster, tmp_path):
    # cells of one model and 400 iterations, long enough that a worker is still busy when the client hears of
    # the first finished cell on a loaded machine (with the module's 40 iterations all were often done by then)
    local, client = cluster
    config = SweepConfig(base=dataclasses.replace(CONFIG.base, iterations=400), optimizers=("gd", "nag"),
                         lrs=(0.01, 0.3), seeds=3)
    result = sweep(config=config, out=tmp_path / "in-process", cell_size=4)
    pids = client.run(os.getpid)
    killed: list[int] = []

    def kill_a_busy_worker(cell_result, resumed):
        if killed:
            return
        busy = [address for address, tasks in client.processing().items() if tasks]
        if busy:
            killed.append(pids[busy[0]])
            os.kill(pids[busy[0]], signal.SIGKILL)

    remote = sweep(config=config, client=client, out=tmp_path / "remote", cell_size=1, on_cell=kill_a_busy_worker)
    assert killed, "no worker was busy when the first cell finished"
    client.wait_for_workers(2, timeout=30)
    assert killed[0] not in client.run(os.getpid).values()  # the nanny replaced the killed worker
    _same_histories(result, remote)


def test_workers_with_another_descentlab_are_refused_before_any_work(cluster, monkeypatch):
    _, client = cluster
    check_workers(client)  # the same version: accepted
    monkeypatch.setattr(dl, "__version__", "9.9.9")
    with pytest.raises(ClusterError, match=r"2 of 2 Dask workers cannot run this sweep: worker tcp://127\.0\.0\.1:"
                                           r"\d+ has descentlab 0\.1\.0, this client has 9\.9\.9"):
        check_workers(client)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_and_exit_1(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "descentlab", "sweep", "--scheduler", address, "--seeds", "2",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: cannot reach the Dask scheduler at {address} within 5 s "
                                        + done.stderr.split("within 5 s ", 1)[1].strip()]
    assert time.perf_counter() - started < 30
    assert not list((tmp_path / "run").glob("cells/*"))


def test_without_dask_a_cluster_is_refused_in_one_line(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None; from descentlab.cli.main import main; "
            f"sys.exit(main(['sweep', '--workers', '2', '--out', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 1
    assert done.stderr == ("error: running on a Dask cluster needs Dask: pip install 'dask[distributed]' bokeh (in a "
                           "clone of descentlab: pip install -e '.[dask]')\n")


def test_a_cluster_sweep_interrupted_with_ctrl_c_and_resumed_ends_identical(tmp_path):
    from descentlab.cli.main import main

    run, reference = tmp_path / "run", tmp_path / "reference"
    # 1000 iterations: with 100, a loaded machine once let the whole sweep finish (exit 0) between the first
    # cell's file and the Ctrl-C this test sends on seeing it
    options = ["--optimizers", "gd,nag", "--lr", "0.1", "--seeds", "8", "--iterations", "1000", "--hidden", "6",
               "--cell-size", "1", "--quiet"]
    # as a terminal does: Ctrl-C goes to the whole process group, the Dask workers included
    client = subprocess.Popen([sys.executable, "-m", "descentlab", "sweep", *options, "--workers", "2", "--out",
                               str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while not list(run.glob("cells/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(client.pid, signal.SIGINT)
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 130, stderr
    saved = len(list(run.glob("cells/*.parquet")))
    assert 1 <= saved < 16, "the interrupt should land mid-sweep"
    assert stderr == (f"interrupted: {saved} of 16 cells are saved in {run}/cells/\n"
                      f"Finish it with: descentlab sweep --resume {run}\n")  # nothing else: no worker tracebacks
    resumed = subprocess.run([sys.executable, "-m", "descentlab", "sweep", "--resume", str(run), "--quiet"],
                             capture_output=True, text=True, env=ENV, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert main(["sweep", *options, "--out", str(reference)]) == 0  # uninterrupted, in this process
    assert _files(run) == _files(reference)


@pytest.mark.parametrize("group", [False, True], ids=["kill", "timeout"])
def test_a_cluster_sweep_stopped_by_sigterm_is_ctrl_c_leaves_nothing_running_and_resumes(tmp_path, group):
    """SIGTERM to the command (kill), or to its whole process group (timeout, Slurm, systemd): the two lines of
    Ctrl-C, exit 143 (128 + SIGTERM), no worker, fork server or resource tracker left, no leaked-semaphore
    warning (warnings are not silenced here), and the resume finishes the sweep as if uninterrupted."""
    import psutil

    run, reference = tmp_path / "run", tmp_path / "reference"
    options = ["--optimizers", "gd,nag", "--lr", "0.1", "--seeds", "8", "--iterations", "1000", "--hidden", "6",
               "--cell-size", "1", "--quiet"]
    client = subprocess.Popen([sys.executable, "-m", "descentlab", "sweep", *options, "--workers", "2", "--out",
                               str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while not list(run.glob("cells/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.02)
    processes = psutil.Process(client.pid).children(recursive=True)
    if group:
        os.killpg(client.pid, signal.SIGTERM)
    client.send_signal(signal.SIGTERM)
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 143, stderr
    saved = len(list(run.glob("cells/*.parquet")))
    assert 1 <= saved < 16, "the signal should land mid-sweep"
    assert stderr == (f"interrupted: {saved} of 16 cells are saved in {run}/cells/\n"
                      f"Finish it with: descentlab sweep --resume {run}\n")
    assert len(processes) >= 3  # the resource tracker, the fork server and the workers forked from it
    _, alive = psutil.wait_procs(processes, timeout=10)  # the fork server leaves when it sees its parent gone
    assert not alive, [p.cmdline() for p in alive]
    assert not (run / ".descentlab.lock").exists()
    resumed = subprocess.run([sys.executable, "-m", "descentlab", "sweep", "--resume", str(run), "--quiet"],
                             capture_output=True, text=True, env=ENV, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    from descentlab.cli.main import main

    assert main(["sweep", *options, "--out", str(reference)]) == 0
    assert _files(run) == _files(reference)


def test_ctrl_c_amid_cluster_start_up_is_one_line_and_leaves_nothing_running(tmp_path):
    run = tmp_path / "run"
    client = subprocess.Popen([sys.executable, "-m", "descentlab", "sweep", "--seeds", "2", "--iterations", "2000",
                               "--quiet", "--workers", "2", "--out", str(run)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**ENV, "PYTHONUNBUFFERED": "1"},
                              start_new_session=True)
    assert client.stdout is not None
    for line in client.stdout:
        if "cells" in line:  # the last line before the cluster starts
            break
    time.sleep(0.5)
    os.killpg(client.pid, signal.SIGINT)
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 130, stderr
    saved = len(list(run.glob("cells/*.parquet")))
    assert stderr in ("interrupted: before the sweep began; nothing was saved\n",  # the usual case
                      f"interrupted: {saved} of 2 cells are saved in {run}/cells/\n"  # a fast start: the sweep began
                      f"Finish it with: descentlab sweep --resume {run}\n"), stderr
    deadline = time.monotonic() + 10  # the fork server leaves when it sees its parent gone
    with pytest.raises(ProcessLookupError):  # then the process group is empty: no worker left running
        while time.monotonic() < deadline:
            os.killpg(client.pid, 0)
            time.sleep(0.1)


def test_a_scheduler_killed_mid_sweep_is_one_line_and_the_sweep_resumes(tmp_path):
    address, run = f"tcp://127.0.0.1:{_free_port()}", tmp_path / "run"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", address.rsplit(":", 1)[1], "--dashboard-address", "127.0.0.1:0"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, start_new_session=True)
    try:
        options = ["--optimizers", "gd,nag", "--lr", "0.1", "--seeds", "8", "--iterations", "1000", "--hidden", "6",
                   "--cell-size", "1", "--quiet"]
        sweep_run = subprocess.Popen([sys.executable, "-m", "descentlab", "sweep", *options, "--scheduler", address,
                                      "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=ENV)
        deadline = time.monotonic() + 120
        while not list(run.glob("cells/*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(scheduler.pid, signal.SIGKILL)
        _, stderr = sweep_run.communicate(timeout=120)
    finally:
        for process in (scheduler, worker):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    saved = len(list(run.glob("cells/*.parquet")))
    assert sweep_run.returncode == 1, stderr
    assert stderr.startswith("lost the Dask cluster (") and stderr.endswith(
        f"): {saved} of 16 cells are saved in {run}/cells/\nFinish it with: descentlab sweep --resume {run}\n"), stderr
    assert stderr.count("\n") == 2  # nothing else: no ERROR records of distributed's, no traceback


def test_resume_runs_only_missing_or_damaged_cells(in_process, tmp_path, iris):
    result, folder = in_process
    for path in (folder / "cells").glob("*.parquet"):
        (tmp_path / "cells").mkdir(exist_ok=True)
        (tmp_path / "cells" / path.name).write_bytes(path.read_bytes())
    (tmp_path / "manifest.json").write_bytes((folder / "manifest.json").read_bytes())
    cells = sweep_layout(CONFIG, 4)
    digest = CellRunner(iris, CONFIG, 45).digest
    RunFolder(tmp_path).cell_path(cells[0], digest).unlink()
    RunFolder(tmp_path).cell_path(cells[5], digest).write_bytes(b"PAR1 damaged")
    flipped = RunFolder(tmp_path).cell_path(cells[7], digest)
    data = bytearray(flipped.read_bytes())
    data[len(data) // 3] ^= 0x10  # one bit, inside the column data
    flipped.write_bytes(bytes(data))
    ran = []
    resumed = run_sweep(config=CONFIG, out=tmp_path, cell_size=4,
                        on_cell=lambda r, saved: None if saved else ran.append(r.cell))
    assert ran == [cells[0], cells[5], cells[7]]
    _same_histories(result, resumed)


def test_a_run_folder_of_another_sweep_is_refused(in_process):
    _, folder = in_process
    other = SweepConfig(base=CONFIG.base, optimizers=("gd",), lrs=CONFIG.lrs, seeds=CONFIG.seeds)
    with pytest.raises(ValueError, match="holds another sweep"):
        sweep(config=other, out=folder, cell_size=4)


def test_the_tuned_sweep_on_the_cluster_and_resumed_equals_the_tuned_sweep_in_process(cluster, iris, tmp_path):
    from descentlab.experiments.config import TuneConfig
    from descentlab.experiments.tuning import run_tuned, tuned_models

    _, client = cluster
    config = TuneConfig(base=CompareConfig(iterations=30, hidden=(5,)), methods=("gd", "momentum:mu=0.5,0.9"),
                        lrs=(0.01, 0.2), repetitions=3)
    plain = run_tuned(iris, config)  # default cells, in this process, nothing written
    remote = run_tuned(iris, config, runner=CellRunner(iris, config, tuned_models(config), client, tmp_path, 4))
    assert remote.rows == plain.rows and remote.choice == plain.choice
    for a, b in zip(plain.groups, remote.groups, strict=True):
        assert a.cell == b.cell
        for field in HISTORY_FIELDS:
            assert np.array_equal(getattr(a.history, field), getattr(b.history, field), equal_nan=True)
    tune = sorted((tmp_path / "cells").glob("tune-*.parquet"))
    final = sorted((tmp_path / "cells").glob("final-*.parquet"))
    assert (len(tune), len(final)) == (3 * 2, 2)  # 3 settings × 2 cells of 2 lrs × ≤ 2 repetitions; 2 methods × 1
    tune[0].unlink()
    final[1].write_bytes(b"damaged")
    fresh: list[int] = []
    runner = CellRunner(iris, config, tuned_models(config), None, tmp_path, 4,
                        on_cell=lambda result, resumed: None if resumed else fresh.append(result.cell.size))
    resumed = run_tuned(iris, config, runner=runner)
    assert len(fresh) == 2 and resumed.rows == plain.rows


def test_a_second_sweep_into_a_folder_in_use_is_refused_in_one_line(tmp_path, capsys):
    from descentlab.cli.main import main
    from descentlab.cli.outputs import claim_run_folder

    with claim_run_folder(tmp_path, "sweep", overwrite=False, resuming=True):  # as a running sweep holds it
        assert main(["sweep", "--seeds", "1", "--iterations", "5", "--quiet", "--out", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"error: {tmp_path} is in use by another descentlab run (process {os.getpid()})")
    assert err.count("\n") == 1 and not list(tmp_path.glob("cells/*"))
    assert out == ""  # refused before it says anything of a plan it will not run
    assert main(["sweep", "--seeds", "1", "--iterations", "5", "--quiet", "--out", str(tmp_path)]) == 0  # let go


def test_the_folder_stays_held_while_the_sweep_writes_its_files(tmp_path, capsys, monkeypatch):
    """The run folder is let go only once every file is written: a second sweep started while the first writes
    its reports is refused, as during training."""
    import descentlab.cli.sweep as sweep_command
    from descentlab.cli.main import main

    second: list[int] = []
    write = sweep_command._finish

    def write_while_another_tries(*args: object) -> str:
        second.append(main(["sweep", "--resume", str(tmp_path), "--quiet"]))
        return write(*args)

    monkeypatch.setattr(sweep_command, "_finish", write_while_another_tries)
    assert main(["sweep", "--seeds", "1", "--iterations", "5", "--quiet", "--out", str(tmp_path)]) == 0
    assert second == [1] and f"{tmp_path} is in use by another descentlab run" in capsys.readouterr().err
    assert (tmp_path / "sweep.csv").is_file()


def test_work_run_in_threads_comes_back_in_order_and_one_failure_stops_the_others():
    """The benchmark waits on a cluster for all problems at once (``in_threads``): results in the items' order
    whatever order they finish in, and an error in one thread makes the others' waits stop (as a Ctrl-C does)
    before it is raised, so no thread is left waiting on the cluster."""
    from descentlab.experiments.cluster import _ctrl_c_as_flag, in_threads

    finished: list[int] = []
    assert in_threads(lambda n: (time.sleep(0.15 * (3 - n)), finished.append(n), n * n)[2], [0, 1, 2],
                      finished.append) == [0, 1, 4]
    assert finished == [2, 4, 1, 1, 0, 0]  # each result reported as its thread finishes: in reverse

    stopped: list[int] = []

    def wait_on_the_cluster(n: int) -> int:
        if n == 1:
            raise ValueError("problem 1 is malformed")
        with _ctrl_c_as_flag() as pressed:  # as DaskExecutor and gather wait, looking for a press
            deadline = time.monotonic() + 30
            while not pressed and time.monotonic() < deadline:
                time.sleep(0.01)
            stopped.append(n)
            raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(ValueError, match="problem 1 is malformed"):
        in_threads(wait_on_the_cluster, [0, 1, 2])
    assert sorted(stopped) == [0, 2] and time.monotonic() - started < 5


def test_a_ctrl_c_while_the_local_cluster_shuts_down_is_not_lost():
    """A press during the shut-down of a block that had ended well is raised once the cluster is closed: it was
    collected and dropped, so a Ctrl-C just after a benchmark's last problem ended in exit 0 (a hostile pass)."""
    from descentlab.experiments.cluster import dask_client

    with pytest.raises(KeyboardInterrupt), dask_client(workers=1, dashboard=False) as client:
        close = client.close

        def pressed_while_closing() -> None:
            client.close = close  # once: Client.__del__ closes again
            os.kill(os.getpid(), signal.SIGINT)  # the terminal's press, delivered to this process
            close()

        client.close = pressed_while_closing
    assert client.status == "closed"


@pytest.mark.parametrize("command", [["sweep", "--seeds", "1"], ["benchmark", "--problems", "iris-mlp"]])
def test_more_local_workers_than_four_per_core_is_refused_before_any_process_starts(command, tmp_path, capsys):
    """``--workers 100000`` forked worker after worker until the machine stalled (a hostile pass)."""
    from descentlab.cli.main import main
    from descentlab.cli.parser import LOCAL_WORKERS_MAX

    assert LOCAL_WORKERS_MAX == 4 * (os.cpu_count() or 1)
    assert main([*command, "--workers", str(LOCAL_WORKERS_MAX + 1), "--out", str(tmp_path / "x")]) == 2
    assert f"must be between 1 and {LOCAL_WORKERS_MAX}, got {LOCAL_WORKERS_MAX + 1}" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
