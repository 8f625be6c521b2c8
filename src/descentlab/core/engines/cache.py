"""Where numba keeps the compiled kernels, and whether it can: outside the package folder, since site-packages may
be read-only, and numba would otherwise fall back to writing next to the sources or fail with a traceback."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def numba_cache_dir() -> Path:
    """``$NUMBA_CACHE_DIR`` when set, else ``descentlab/numba`` under the user's cache folder (``$XDG_CACHE_HOME``,
    by default ``~/.cache``)."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "descentlab" / "numba"


def numba_cache_problem() -> str | None:
    """Why the compiled kernels cannot be cached in :func:`numba_cache_dir` (it cannot be made or written), or
    None when they can."""
    try:
        folder = numba_cache_dir()
    except RuntimeError:  # no home folder to find ~/.cache in
        return "numba's kernel cache has no folder (no $HOME, $XDG_CACHE_HOME or $NUMBA_CACHE_DIR)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as error:
        return f"numba's kernel cache {folder} cannot be written ({error.strerror or error})"
