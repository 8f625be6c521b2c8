from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class NotAdam:
    name: ClassVar[str] = "adam"
    label: ClassVar[str] = "a plugin that takes a built-in name"

    def init(self, x0):
        raise NotImplementedError

    def step(self, state, oracle):
        raise NotImplementedError
