"""Sign descent, declared to descentlab by the entry point ``signsgd`` (tests/test_plugins.py)."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class SignState:
    x: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class SignSGD:
    name: ClassVar[str] = "signsgd"
    label: ClassVar[str] = "sign descent, from an installed package"
    lr: float = 0.01

    def init(self, x0):
        return SignState(x=np.array(x0, dtype=np.float64))

    def step(self, state, oracle):
        _, g = oracle(state.x)
        return SignState(x=state.x - self.lr * np.sign(g), k=state.k + 1)
