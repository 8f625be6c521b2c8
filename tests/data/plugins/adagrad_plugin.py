from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from descentlab.optim.scaled import ScaledState  # x, v and the count k: checkpointed as it is


@dataclass(frozen=True)
class MyAdaGrad:
    name: ClassVar[str] = "my-adagrad"
    label: ClassVar[str] = "AdaGrad, from a plugin file"
    lr: float = 0.01  # --lr, or my-adagrad:lr=0.1

    def init(self, x0):
        return ScaledState(x=np.array(x0, dtype=np.float64), v=np.zeros(np.shape(x0)))

    def step(self, state, oracle):
        g = oracle(state.x)[1]
        v = state.v + g * g
        return ScaledState(x=state.x - self.lr * (g / (np.sqrt(v) + 1e-10)), v=v, k=state.k + 1)
