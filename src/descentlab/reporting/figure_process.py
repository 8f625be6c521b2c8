"""curves.png drawn by a second process that starts before the training.

Importing matplotlib is the slowest part of ``descentlab compare``'s start-up (longer than loading NumPy and
training the default run together). A helper process started first imports it while this one loads NumPy and
trains, on another core when there is one; when the results are ready it receives them through a pipe and
draws the same figure :func:`~descentlab.reporting.plots.plot_curves`
draws. If the helper cannot (it died, it was killed,
its Python lacks something), the figure is drawn here instead: the file is the same either way, only the time
differs. ``python bench/startup.py`` measures what it buys.
"""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

WAIT_SECONDS = 300.0


class FigureProcess:
    """A context manager: ``with FigureProcess() as figure: … figure.draw(results, path, title, x_axis)``.

    Leaving the block ends the helper if no figure was asked of it (an error, Ctrl-C)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FigureProcess:
        try:
            self._process = subprocess.Popen([sys.executable, "-m", "descentlab.reporting.figure_process"],
                                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        except OSError:  # no second process: draw here
            self._process = None
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop()

    def draw(self, results: Mapping[str, Any], path: str | Path, title: str = "", x_axis: str = "iterations") -> Path:
        """Write curves.png to ``path`` (atomically, as :func:`~descentlab.reporting.plots.plot_curves` does)."""
        light = {name: dataclasses.replace(result, state=None, batches=None) for name, result in results.items()}
        job = pickle.dumps((light, str(path), title, x_axis), protocol=pickle.HIGHEST_PROTOCOL)
        if self._drawn_by_helper(job):
            return Path(path)
        from .plots import plot_curves

        return plot_curves(results, path, title=title, x_axis=x_axis)

    def _drawn_by_helper(self, job: bytes) -> bool:
        process, self._process = self._process, None
        if process is None or process.stdin is None:
            return False
        try:
            with process.stdin:
                process.stdin.write(job)
            return process.wait(timeout=WAIT_SECONDS) == 0
        except (OSError, subprocess.TimeoutExpired):  # the helper is gone or stuck: draw here
            _end(process)
            return False
        except BaseException:  # Ctrl-C while it draws: no figure may appear after the command has stopped
            _end(process)
            raise

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:  # no figure was asked of it: it has nothing left to do
            _end(process)


def _end(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:  # the pipe broke with the helper: nothing to flush
            pass


def _helper() -> int:
    """The second process: import matplotlib at once, then draw the one figure it is sent (if any)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's to handle, not the helper's
    from descentlab.reporting.plots import plot_curves

    job = sys.stdin.buffer.read()
    if not job:  # the command ended without asking for a figure
        return 0
    results, path, title, x_axis = pickle.loads(job)  # from the parent process, through its own pipe
    plot_curves(results, path, title=title, x_axis=x_axis)
    return 0


if __name__ == "__main__":
    sys.exit(_helper())
