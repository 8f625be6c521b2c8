"""Parameters as one flat float64 vector with named, shaped views.

Optimisers see only ``Params.flat`` (shape ``(P,)``, or ``(M, P)`` for M models stacked on a leading axis);
the network sees the views ``W0, b0, W1, b1, …`` shaped as in the derivation (``W_l`` is
``(n_{l+1}, n_l)``, ``b_l`` is ``(n_{l+1}, 1)``). A view shares memory with ``flat``: writing through one
changes the other, which is why the library copies before it hands parameters to anyone who may write.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Slot:
    """Where one named tensor lives inside the flat vector."""

    name: str
    shape: tuple[int, ...]
    start: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def stop(self) -> int:
        return self.start + self.size


def make_slots(layout: Sequence[tuple[str, tuple[int, ...]]]) -> tuple[Slot, ...]:
    """Lay the named tensors one after another in the order given."""
    starts = itertools.accumulate((math.prod(shape) for _, shape in layout), initial=0)  # one more than the slots
    return tuple(Slot(name, tuple(map(int, shape)), at) for (name, shape), at in zip(layout, starts, strict=False))


class Params(Mapping[str, np.ndarray]):
    """A flat parameter vector with named views.

    Parameters
    ----------
    flat : (P,) or (M, P) float array
        The parameters, one model per row when 2-D. Not copied.
    slots : sequence of Slot
        Name, shape and offset of each tensor; their sizes must add up to P.

    Examples
    --------
    >>> p = Params(np.arange(5.0), make_slots([("W0", (2, 2)), ("b0", (1, 1))]))
    >>> p["W0"]
    array([[0., 1.],
           [2., 3.]])
    """

    __slots__ = ("flat", "slots", "_index")

    def __init__(self, flat: np.ndarray, slots: Sequence[Slot]) -> None:
        slots = tuple(slots)
        total = slots[-1].stop if slots else 0
        if flat.ndim not in (1, 2) or flat.shape[-1] != total:
            raise ValueError(f"flat parameter array of shape {flat.shape} does not hold {total} parameters")
        self.flat = flat
        self.slots = slots
        self._index = {slot.name: slot for slot in slots}

    def __getitem__(self, name: str) -> np.ndarray:
        slot = self._index[name]
        return self.flat[..., slot.start : slot.stop].reshape(self.flat.shape[:-1] + slot.shape)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def size(self) -> int:
        """Number of parameters of one model."""
        return self.flat.shape[-1]

    def copy(self) -> Params:
        """An independent copy (the views of the copy point into the new vector)."""
        return Params(self.flat.copy(), self.slots)

    def as_dict(self) -> dict[str, np.ndarray]:
        """Plain, independent arrays by name."""
        return {name: np.array(self[name]) for name in self}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{s.name}{s.shape}" for s in self.slots)
        models = f", models={self.flat.shape[0]}" if self.flat.ndim == 2 else ""
        return f"Params({shapes}{models})"
