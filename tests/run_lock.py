"""A run folder's lock seen from outside, as another process sees it: held or not, and waiting for it (a finished
``compare`` keeps it while its drawer writes report.html and curves.png)."""

from __future__ import annotations

import time
from pathlib import Path

from descentlab.cli.outputs import folder_in_use

locked = folder_in_use


def wait_for_drawer(folder: Path, timeout: float = 120.0) -> None:
    """Return once nobody holds ``folder``'s run lock (the drawer of curves.png has finished)."""
    deadline = time.monotonic() + timeout
    while locked(folder):
        assert time.monotonic() < deadline, f"{folder} is still locked after {timeout} s"
        time.sleep(0.01)
