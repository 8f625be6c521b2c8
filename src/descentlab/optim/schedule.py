"""Step-size schedules on any method with a learning rate: ``:schedule=constant|step|cosine|warmup-cosine``
multiplies the method's ``lr`` at iteration k by a factor (docs/optimizers.md).

A scheduled method is its class with the schedule's keys added (:func:`scheduled`): the same state (the count
``k`` of the state decides the factor, so a checkpoint needs nothing more), the same checks, and a step that runs
the method at ``lr · factor(k)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .base import OPEN_UNIT, WHOLE, Oracle, hyper, rules, words

KINDS = ("constant", "step", "cosine", "warmup-cosine")


@dataclass(frozen=True)
class Schedule:
    """The factor of the learning rate at iteration k = 0, 1, …:

    * ``constant``: 1;
    * ``step``: ``decay^⌊k / every⌋``;
    * ``cosine``: ``½ (1 + cos(π · min(k, horizon) / horizon))``;
    * ``warmup-cosine``: ``(k + 1) / warmup`` for ``k < warmup``, then the cosine over the ``horizon − warmup``
      iterations after it.
    """

    schedule: str | None = hyper("constant", words(*KINDS))
    warmup: int = hyper(0, WHOLE)
    decay: float = hyper(0.1, OPEN_UNIT)
    every: int = hyper(100, WHOLE)
    horizon: int = hyper(0, WHOLE)

    def __post_init__(self) -> None:
        check_schedule(self)

    def factor(self, k: int) -> float:
        """The multiplier of the learning rate at iteration ``k``."""
        if self.schedule == "step":
            return float(self.decay ** (k // self.every))
        if self.schedule == "warmup-cosine" and k < self.warmup:
            return (k + 1) / self.warmup
        if self.schedule in ("cosine", "warmup-cosine"):
            done = min(k, self.horizon) - self.warmup if self.schedule == "warmup-cosine" else min(k, self.horizon)
            span = self.horizon - (self.warmup if self.schedule == "warmup-cosine" else 0)
            return 0.5 * (1.0 + math.cos(math.pi * done / span))
        return 1.0


SCHEDULE_KEYS = rules(Schedule)


def check_schedule(schedule: Any) -> None:
    """Refuse a schedule whose keys do not fit its kind, in one line naming the key."""
    kind = schedule.schedule
    if kind == "step" and schedule.every < 1:
        raise ValueError("schedule=step needs every >= 1 (iterations between two decays)")
    if kind in ("cosine", "warmup-cosine") and schedule.horizon <= (schedule.warmup if kind == "warmup-cosine" else 0):
        raise ValueError(f"schedule={kind} needs horizon=N, the iterations over which it decays (more than warmup)")
    if kind == "warmup-cosine" and schedule.warmup < 1:
        raise ValueError("schedule=warmup-cosine needs warmup >= 1 (iterations of the linear warm-up)")


def _step(self: Any, state: Any, oracle: Oracle) -> Any:
    now = object.__new__(type(self).method)  # checked once already; lr · factor may reach 0 (the cosine's end)
    for f in fields(now):
        object.__setattr__(now, f.name, getattr(self, f.name))
    object.__setattr__(now, "lr", self.lr * Schedule.factor(self, state.k))
    return now.step(state, oracle)


def _post_init(self: Any) -> None:
    type(self).method.__post_init__(self)  # the method's own checks
    check_schedule(self)


@functools.cache
def scheduled(cls: type) -> type:
    """``cls`` with the schedule's keys (:class:`Schedule`), stepping at ``lr · factor(k)``.

    Raises
    ------
    ValueError
        when ``cls`` has no learning rate ``lr`` to multiply.
    """
    if "lr" not in rules(cls):
        raise ValueError(f"{getattr(cls, 'name', cls.__name__)} has no learning rate (lr) for a schedule to multiply")
    own = {f.name: f for f in fields(Schedule)}
    namespace: dict[str, Any] = {"__annotations__": {name: f.type for name, f in own.items()},
                                 **{name: hyper(f.default, f.metadata["rule"]) for name, f in own.items()},
                                 "step": _step, "__post_init__": _post_init, "__module__": cls.__module__,
                                 "method": cls}
    return dataclass(frozen=True)(type(cls.__name__, (cls,), namespace))


def step_size(optimizer: Any, k: int) -> float | None:
    """The learning rate a method used at iteration ``k`` (its schedule applied); None for a method without one."""
    lr = getattr(optimizer, "lr", None)
    if lr is None:
        return None
    value = float(np.asarray(lr).reshape(-1)[0])
    return value * Schedule.factor(optimizer, k) if hasattr(type(optimizer), "method") else value
