"""Memory a run will need, estimated before anything is allocated, so that a size no machine can hold
(``--hidden 1000000000``, ``sweep --seeds 100000000``) is refused in one line instead of dying half-way."""

from __future__ import annotations

import os
from collections.abc import Sequence

BYTES = 8  # float64
# Vectors of P parameters alive at once while one model trains: the iterate, the optimiser's state (at most three
# more), the gradient, a trial point and copies the loop keeps; generous on purpose.
PARAMETER_COPIES = 8
# Arrays of S × (width) per layer: pre-activations, activations and their backward counterparts.
ACTIVATION_COPIES = 3


class TooLarge(ValueError):
    """A run that needs more memory than the machine has."""


def physical_memory() -> int | None:
    """Bytes of RAM of this machine, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def n_parameters(sizes: Sequence[int]) -> int:
    """Weights and biases of a fully connected network with these layer widths."""
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False))


def training_bytes(sizes: Sequence[int], n_samples: int, models: int = 1) -> int:
    """Working memory of ``models`` stacked models of widths ``sizes`` trained on ``n_samples`` rows."""
    per_model = n_parameters(sizes) * PARAMETER_COPIES + n_samples * sum(sizes) * ACTIVATION_COPIES
    return models * per_model * BYTES


def results_bytes(sizes: Sequence[int], iterations: int, models: int) -> int:
    """What the results of ``models`` models keep: the final parameters and a history of K + 1 entries of seven
    fields each."""
    return models * (n_parameters(sizes) + 7 * (iterations + 1)) * BYTES


def check_fits(what: str, needed: int, advice: str, memory: int | None = None) -> None:
    """Raise :class:`TooLarge` naming ``what`` when ``needed`` bytes exceed the machine's memory.

    ``memory`` defaults to :func:`physical_memory`; nothing is checked where it is unknown.
    """
    memory = physical_memory() if memory is None else memory
    if memory is not None and needed > memory:
        raise TooLarge(f"{what} would need about {_gigabytes(needed)} of memory and this machine has "
                       f"{_gigabytes(memory)}: {advice}")


def _gigabytes(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n < 1e15 else f"{n / 1e9:.1e} GB"
