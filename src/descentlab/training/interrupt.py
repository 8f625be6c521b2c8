"""The interrupt: what runs between two iterations of the loop — the caller's callback and ``should_stop``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .results import History


def after_each(callback: Callable[[int, History], None] | None, should_stop: Callable[[], bool] | None,
               iterations: int) -> Callable[[int, History], bool]:
    """What runs after iteration k is recorded: the callback, then the interrupt (``should_stop``, asked before
    the last iteration only); True means stop. The caller's code runs under the caller's floating-point error
    settings, not the loop's."""
    if callback is None and should_stop is None:
        return _carry_on
    errors = np.geterr()

    def after(k: int, history: History) -> bool:
        with np.errstate(**errors):
            if callback is not None:
                callback(k, history)
            return k < iterations and should_stop is not None and should_stop()

    return after


def _carry_on(k: int, history: History) -> bool:
    return False
