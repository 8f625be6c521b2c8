"""report.html and curves.png made by a separate process, so that the command waits for neither.

Importing matplotlib and drawing the figure takes longer (about 0.9 s on a 2-core machine) than everything else
the default ``descentlab compare`` does, and rendering report.html (markdown-it, 4.8 MB with plotly.js) about a
tenth of it. The command therefore writes every other file first, then hands both *views* to a *drawer*: a new
process, in its own session (a Ctrl-C in the terminal does not reach it), that receives the page (plain data, a
:class:`~descentlab.reporting.report_html.Page`) and the histories through an unnamed temporary file, writes
report.html, then draws the same figure :func:`descentlab.reporting.plots.plot_curves` draws, each atomically.
The drawer inherits the run folder's lock (an open file description holding an exclusive ``flock``) and keeps it
until both are written, so no other run can write into the folder meanwhile; if one fails it still makes the
other and writes which failed and why to ``curves-error.txt`` (:data:`ERROR_NAME`). ``python bench/startup.py``
measures what this buys, and docs/architecture.md ("Decisions") says why it is done this way.

Usage: ``figure = FigureJob()``; pass ``figure`` as ``draw=`` and ``figure.page`` as ``write_html=`` to
:func:`~descentlab.reporting.write.write_run` (they only record the views asked for), then
``figure.start(lock_fd, lock_path)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

ERROR_NAME = "curves-error.txt"
VIEWS = ("report.html", "curves.png")  # what the drawer makes, in this order
DRAWING = "making report.html and curves.png"  # written after the drawer's pid into the lock file it holds
def _drawer_environment() -> dict[str, str]:
    """This process's environment, with the folder holding this descentlab first on the drawer's path: the drawer
    runs with ``-P`` (the working directory, where a user's own ``pickle.py`` may lie, is not on its path), so it
    must still find the very package that started it."""
    here = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (here, os.environ.get("PYTHONPATH"))))}


_STARTED: list[subprocess.Popen[bytes]] = []  # kept: a drawer's Popen collected mid-command could meet a Ctrl-C


class FigureError(Exception):
    """report.html or curves.png could not be made; the message is the first line of :data:`ERROR_NAME`."""


@dataclasses.dataclass
class Drawer:
    """A started drawer: its process and the figure it writes (last, after report.html)."""

    process: subprocess.Popen[bytes] | None  # None: it was drawn in this process (no second process could start)
    path: Path

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else os.getpid()

    def done(self) -> bool:
        """Whether both views are written (or the drawer has failed and said why)."""
        return self.process is None or self.process.poll() is not None

    def wait(self) -> None:
        """Wait until the drawer has finished; raises :class:`FigureError` if it failed."""
        if self.process is not None and self.process.wait() != 0:
            raise FigureError(failure(self.path.parent) or f"the drawer of {self.path} exited with code "
                              f"{self.process.returncode} and left no reason")


class FigureJob:
    """The views a run asks for: the figure, recorded by ``__call__`` (with
    :func:`~descentlab.reporting.plots.plot_curves`'s arguments), and report.html, recorded by :meth:`page`;
    both made by the process :meth:`start` starts."""

    def __init__(self) -> None:
        self._job: tuple[Any, ...] | None = None
        self._page: tuple[str, Any] | None = None

    def page(self, path: str | Path, page: Any) -> Path:
        """Record report.html (a :class:`~descentlab.reporting.report_html.Page`, plain data) for the drawer, which
        writes it before curves.png."""
        self._page = (str(path), page)
        return Path(path)

    def __call__(self, results: Mapping[str, Any], path: str | Path, title: str = "",
                 x_axis: str = "iterations") -> Path:
        from ..optim.registry import label  # not .plots: matplotlib stays out of this process

        # only what the figure shows: no optimiser or state, whose classes (a registered optimiser defined in a
        # script or notebook) the drawer process could not import; the labels are taken here, where they are known
        light = {name: dataclasses.replace(result, optimizer=None, state=None, batches=None)
                 for name, result in results.items()}
        self._job = (light, str(path), title, x_axis, {name: label(name) for name in results})
        return Path(path)

    def start(self, lock_fd: int | None = None, lock_path: Path | None = None) -> Drawer:
        """Start the drawer; it inherits ``lock_fd`` (an open descriptor of the run folder's ``flock``-ed lock file
        ``lock_path``) and removes that file and closes it once both views are written. If no process can be
        started the views are made here (the same files), and the lock stays with the caller."""
        if self._job is None:
            raise RuntimeError("no figure was asked for")
        path = Path(self._job[1])
        where = (str(path), lock_fd, None if lock_path is None else str(lock_path), _identity(path.parent))
        try:
            with tempfile.TemporaryFile() as job, _sigint_ignored():  # a pipe would block us until it is read
                pickle.dump(where, job, protocol=pickle.HIGHEST_PROTOCOL)  # read first: a failure can be written
                pickle.dump(self._job, job, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(self._page, job, protocol=pickle.HIGHEST_PROTOCOL)
                job.seek(0)
                process = subprocess.Popen(
                    [sys.executable, "-P", "-m", "descentlab.reporting.figure_process"], stdin=job,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, env=_drawer_environment(),
                    pass_fds=() if lock_fd is None else (lock_fd,), start_new_session=True)
            _STARTED.append(process)
        except OSError:  # no second process (a process limit, say): make the views here, as slowly as before
            try:
                _make_views(self._job, self._page)
            except ViewError as error:
                raise FigureError(str(error)) from error.__cause__
            return Drawer(None, path)
        return Drawer(process, path)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while the drawer is started: it inherits that through ``exec``, and Python then leaves it
    ignored, so not even a SIGINT sent to its pid while it starts up ends it (its own session already keeps the
    terminal's Ctrl-C away). Off the main thread, where handlers cannot change, it is left as it is."""
    import signal

    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def failure(folder: Path) -> str | None:
    """The reason the drawer of the run in ``folder`` gave for not making its views (None: no failure)."""
    try:
        text = (folder / ERROR_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text.splitlines()[0] if text.strip() else f"{folder / ERROR_NAME} is empty"


def missing_views(folder: Path) -> str:
    """The views the run in ``folder`` lacks, as ``"report.html and curves.png"``, one name, or ``""``."""
    return " and ".join(name for name in VIEWS if not (folder / name).exists())


def _write_error(path: Path, error: BaseException) -> None:
    """curves-error.txt, atomically: the reason on the first line, then the traceback."""
    import traceback

    reason = str(error) if isinstance(error, ViewError) else _reason("curves.png could not be drawn", error)
    cause = error.__cause__ if isinstance(error, ViewError) and error.__cause__ is not None else error
    text = f"{reason}\n\n" + "".join(traceback.format_exception(cause))
    target = path.parent / ERROR_NAME
    temporary = path.parent / f".{ERROR_NAME}.{os.getpid()}.tmp"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)


def _release(lock_fd: int | None, lock_path: str | None) -> None:
    """Give up the run folder's lock as :meth:`descentlab.cli.outputs.RunLock.release` does: remove the lock file
    while still holding it (if it is still the file we hold), then close."""
    if lock_fd is None:
        return
    try:
        if lock_path is not None and os.stat(lock_path).st_ino == os.fstat(lock_fd).st_ino:
            os.unlink(lock_path)
    except OSError:  # already gone
        pass
    finally:
        os.close(lock_fd)


def _identity(folder: Path) -> tuple[int, int] | None:
    """The folder's device and inode (None: it is gone): a folder removed and made again is another one."""
    try:
        status = os.stat(folder)
    except OSError:
        return None
    return status.st_dev, status.st_ino


class ViewError(Exception):
    """A view could not be made: the message says which and why, ``__cause__`` is the error itself."""


def _make_views(job: tuple[Any, ...], page: tuple[str, Any] | None, ours: Callable[[], bool] = lambda: True) -> None:
    """Write report.html (when one was asked for), then draw curves.png, even when report.html failed; then
    raise :class:`ViewError` for the first failure. Nothing is written once ``ours()`` is false: the run folder
    was removed (or replaced) meanwhile, and writing would make it again."""
    failures: list[tuple[str, Exception]] = []
    if page is not None and ours():
        try:
            from descentlab.reporting.report_html import write_page

            write_page(*page)
        except Exception as error:  # noqa: BLE001 - told once curves.png is drawn too
            failures.append(("report.html could not be written", error))
    results, path, title, x_axis, labels = job
    try:
        from descentlab.reporting.plots import plot_curves

        if ours():
            plot_curves(results, path, title=title, x_axis=x_axis, labels=labels)
    except Exception as error:  # noqa: BLE001 - told below
        failures.append(("curves.png could not be drawn", error))
    if failures:  # the first is told; missing_views says what is missing
        what, first = failures[0]
        raise ViewError(_reason(what, first)) from first


def _reason(what: str, error: BaseException) -> str:
    return f"{what}: {type(error).__name__}: {error}"


def _drawer() -> int:
    """The drawer process: draw the figure it is sent, or write why it could not."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited as ignored already (see _sigint_ignored)
    path, lock_fd, lock_path, folder = pickle.load(sys.stdin.buffer)  # from the command, through an unnamed file

    def ours() -> bool:
        return _identity(Path(path).parent) == folder

    try:
        job = pickle.load(sys.stdin.buffer)  # a failure here is written down too
        _make_views(job, pickle.load(sys.stdin.buffer), ours)
        return 0
    except BaseException as error:  # noqa: BLE001 - whatever it was, it must not be silent
        if ours():
            _write_error(Path(path), error)
        return 1
    finally:
        _release(lock_fd, lock_path)


if __name__ == "__main__":
    sys.exit(_drawer())
