"""A run folder's lock seen from outside, as another process sees it: held or not, and waiting for it (a finished
``compare`` keeps it while its drawer writes curves.png)."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

LOCK_NAME = ".descentlab.lock"


def locked(folder: Path) -> bool:
    """Whether a process holds ``folder``'s run lock now."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def wait_for_drawer(folder: Path, timeout: float = 120.0) -> None:
    """Return once nobody holds ``folder``'s run lock (the drawer of curves.png has finished)."""
    deadline = time.monotonic() + timeout
    while locked(folder):
        assert time.monotonic() < deadline, f"{folder} is still locked after {timeout} s"
        time.sleep(0.01)
