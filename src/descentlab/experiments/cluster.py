"""Where the cells of a sweep run: in this process (the default), or on a Dask cluster.

An executor takes cells and yields their results as they finish. :class:`InProcess` trains them one after
the other here; :class:`DaskExecutor` sends them to the workers of a ``dask.distributed.Client`` (the data are
scattered to every worker once, each cell is one task) and yields them in the order they finish. Dask is an
optional extra (``pip install 'dask[distributed]' bokeh``; in a clone, ``pip install -e '.[dask]'``); nothing here
imports it unless a cluster is asked for.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

from ..data.dataset import Dataset
from ..optim.plugins import with_registered
from .cells import Cell, CellResult, run_cell
from .config import CompareConfig

POLL = 0.05  # seconds between looks for finished cells (and for Ctrl-C)
CONNECT_TIMEOUT = 5.0  # seconds to reach a scheduler before saying it is unreachable
WORKER_TIMEOUT = 30.0  # seconds to wait for the first worker of an existing cluster
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}  # the command line handles SIGTERM as Ctrl-C (descentlab.__main__)
T = TypeVar("T")
R = TypeVar("R")


class ClusterError(RuntimeError):
    """A cluster that cannot run the sweep (unreachable, no workers, wrong descentlab, no Dask): one line."""


class InProcess:
    """Train the cells here, one after the other, in the order given."""

    def map(self, cells: Sequence[Cell], data: Dataset, base: CompareConfig,
            validation_size: float | None = None) -> Iterator[CellResult]:
        for cell in cells:
            yield run_cell(cell, data, base, validation_size)


class DaskExecutor:
    """Train the cells on the workers of a Dask client: one task per cell, the data scattered once.

    A worker that dies mid-cell is replaced by the scheduler, which runs the cell again on another worker;
    since a cell's result depends only on its content, the result is the same.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        check_workers(client)

    def map(self, cells: Sequence[Cell], data: Dataset, base: CompareConfig,
            validation_size: float | None = None) -> Iterator[CellResult]:
        """The results of ``cells`` as each task finishes, ``data`` scattered to every worker once."""
        if not cells:
            return
        with _ctrl_c_as_flag() as pressed:  # a press while the data are scattered is raised at the first look
            shared = self.client.scatter(data, broadcast=True, hash=False)
            run = uuid.uuid4().hex[:8]  # task keys unique to this call, readable on the dashboard
            task = with_registered(run_cell)  # the workers learn the plugins and optimisers known here
            futures = [self.client.submit(task, cell, shared, base, validation_size,
                                          key=f"descentlab-{cell.key()}-{run}", pure=False, retries=1)
                       for cell in cells]
            try:
                for future in _as_finished(self.client, futures, pressed):
                    result = future.result()
                    future.release()
                    yield result
            finally:
                shared.release()


def gather(client: Any, futures: Sequence[Any]) -> list[Any]:
    """The results of ``futures``, in their order, waited for as :class:`DaskExecutor` waits for cells."""
    with _ctrl_c_as_flag() as pressed:
        results = {future.key: future.result() for future in _as_finished(client, futures, pressed)}
    return [results[future.key] for future in futures]


def _as_finished(client: Any, futures: Sequence[Any], pressed: list[int]) -> Iterator[Any]:
    """Each of ``futures`` as it finishes, looked for every :data:`POLL` seconds, a press recorded in ``pressed``
    raised between looks; interrupted or failed, the tasks not yet finished are cancelled (not wanted any more)."""
    from distributed import as_completed

    finished = as_completed(futures, loop=client.loop)
    try:
        while not finished.is_empty():
            if pressed:
                raise KeyboardInterrupt
            yield from finished.next_batch(block=False)
            time.sleep(POLL)
    finally:
        client.cancel([future for future in futures if not future.done()])


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError("running on a Dask cluster needs Dask: pip install 'dask[distributed]' bokeh (in a clone "
                           "of descentlab: pip install -e '.[dask]')") from None
    return distributed


def check_workers(client: Any, timeout: float = WORKER_TIMEOUT) -> None:
    """Fail, before any work, unless the cluster has a worker and every worker runs this descentlab version."""
    from .. import __version__

    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise ClusterError(f"no Dask worker joined the scheduler at {client.scheduler.address} within "
                           f"{timeout:g} s") from None
    versions = client.get_versions(check=False, packages=["descentlab"])
    wrong = {address: info["packages"].get("descentlab") for address, info in versions["workers"].items()
             if info["packages"].get("descentlab") != __version__}
    if wrong:
        address, version = sorted(wrong.items())[0]
        what = "lacks descentlab" if version is None else f"has descentlab {version}"
        raise ClusterError(f"{len(wrong)} of {len(versions['workers'])} Dask workers cannot run this sweep: "
                           f"worker {address} {what}, this client has {__version__} (install the same version "
                           "on every worker)")


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _check_reachable(distributed: Any, address: str, timeout: float) -> None:
    """A malformed address, an unreachable one or one where no Dask scheduler answers fails here, in one line,
    before a Client exists (a Client that fails to connect complains again, slowly, when it is collected)."""
    import asyncio

    try:
        distributed.comm.get_address_host_port(address)
    except ValueError as error:
        raise ClusterError(f"--scheduler {address}: not a scheduler address like tcp://host:8786 ({error})") from None

    async def identity() -> Any:
        comm = await distributed.comm.connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        answer = asyncio.run(asyncio.wait_for(identity(), 2 * timeout))
    except (OSError, TimeoutError) as error:  # refused, timed out, unknown host (distributed retries until timeout)
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                           f"({_first_line(error)})") from None
    except Exception as error:  # TLS without certificates, a server speaking another protocol, …
        raise ClusterError(f"{address} does not answer as a Dask scheduler ({_first_line(error)})") from None
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise ClusterError(f"{address} answers, but not as a Dask scheduler")


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, dashboard: bool = True,
                timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A ``distributed.Client``: on a new ``LocalCluster`` of ``workers`` processes of one thread each (on
    loopback), or connected to the scheduler at ``scheduler``. Closed (and the local cluster shut down) on
    leaving the block."""
    distributed = _distributed()
    if (workers is None) == (scheduler is None):
        raise ValueError("give either workers or scheduler")
    if scheduler is not None:
        _check_reachable(distributed, scheduler, timeout)
        try:
            client = distributed.Client(scheduler, timeout=timeout, set_as_default=False)
        except Exception as error:  # refused, timed out, TLS without certificates, …: all mean "cannot use it"
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
                               f"({reason})") from None
        with client:
            yield client
        return
    # Workers log a warning for every cell cancelled by Ctrl-C and an error for a scheduler gone before them at
    # shut-down: expected then, and said by the command in one line, so their logs are kept quiet.
    # The scheduler's HTTP server runs even without the dashboard, on 8787 unless told otherwise: a free port
    # avoids a clash (and a warning) with any other cluster on this machine.
    import dask

    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        with _ctrl_c_as_flag() as asked:  # Ctrl-C amid start-up is acted on once the cluster can be closed
            _start_fork_server(distributed)
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0" if dashboard else None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.CRITICAL)
            client = distributed.Client(cluster, set_as_default=False)
        try:
            if asked:
                raise KeyboardInterrupt
            yield client
        finally:
            with _ctrl_c_as_flag() as late:  # a second Ctrl-C cannot tear the shut-down
                client.close()
                cluster.close()
        if late:  # a press during the shut-down of a block that had ended well: the command has not finished
            raise KeyboardInterrupt


def _start_fork_server(distributed: Any) -> None:
    """Start the process every worker is forked from (also one the nanny restarts) with Ctrl-C and SIGTERM blocked,
    which they inherit: a terminal's Ctrl-C goes to the whole process group, as do the SIGTERM of timeout, Slurm and
    systemd, and a worker it interrupts prints its traceback, or dies and is restarted (amid start-up, "Nanny failed
    to start"); stopping is the client's to handle, and it shuts its workers down. Blocked, not ignored, in the
    client: a signal meanwhile waits for the client's handler (or another thread takes it to that handler) instead
    of being lost. The resource tracker is started first, since starting it unblocks both signals."""
    import multiprocessing.forkserver
    import multiprocessing.resource_tracker

    distributed.utils.get_mp_context()  # the fork server's preloaded modules
    multiprocessing.resource_tracker.ensure_running()
    main = _main_thread()
    if main:
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_FLAGS: list[list[int]] = []  # the main thread's open flags, innermost last


@contextmanager
def _ctrl_c_as_flag() -> Iterator[list[int]]:
    """While the block runs, Ctrl-C only appends to the list it yields. In another thread the block gets the main
    thread's innermost open flag (so threads waiting on a cluster for the main thread see its press), or a list
    nothing appends to."""
    if not _main_thread():
        yield _FLAGS[-1] if _FLAGS else []
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    _FLAGS.append(pressed)
    try:
        yield pressed
    finally:
        _FLAGS.pop()
        signal.signal(signal.SIGINT, previous)


def in_threads(function: Callable[[T], R], items: Sequence[T], on_result: Callable[[R], None] | None = None
               ) -> list[R]:
    """``function(item)`` for every item, each in a thread of its own, the results in the items' order
    (``on_result`` called here as each finishes). For work that waits on a cluster: every thread's tasks are
    queued at once instead of one item's after another's. A Ctrl-C here, or an error in any thread, makes the
    threads' waits on the cluster raise :class:`KeyboardInterrupt` (their tasks cancelled); once every thread
    has ended, the first error, or else the press, is raised here."""
    failures: list[BaseException] = []
    with _ctrl_c_as_flag() as pressed, ThreadPoolExecutor(max(1, len(items))) as pool:
        futures = [pool.submit(function, item) for item in items]
        running = set(futures)
        while running:
            finished, running = wait(running, timeout=POLL, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    result = future.result()
                    if on_result is not None and not pressed:
                        on_result(result)
                except BaseException as error:  # noqa: BLE001 - raised below, once every thread has ended
                    failures.append(error)
                    pressed.append(0)  # the other threads stop at their next look
    real = [error for error in failures if not isinstance(error, KeyboardInterrupt)]
    if real:
        raise real[0]
    if pressed:
        raise KeyboardInterrupt
    return [future.result() for future in futures]
