"""The optimisers known by name: the built-in ones and any registered with :func:`register_optimizer`.

A method's command-line spec (``gd``, ``momentum:mu=0.8``, ``gd-armijo:lr=1``) is its one name everywhere:
terminal table, figure legends, report.md, history.csv, file names. Its class says what it is (``label``)
and which ``KEY=VALUE`` settings it takes (its hyper-parameter fields and their rules, :mod:`.base`).
"""

from __future__ import annotations

import re
from dataclasses import is_dataclass
from typing import Any, TypeVar, cast

from .adam import Adam, AdamW
from .base import Optimizer
from .gd import GD, ArmijoGD, Polyak
from .lbfgs import LBFGS
from .momentum import Momentum, SutskeverNAG
from .nag import NAG, RestartedNAG
from .scaled import AdaGrad, RMSProp

T = TypeVar("T")

OptimizerClass = type[Optimizer[Any]]
BUILT_IN: tuple[OptimizerClass, ...] = (GD, NAG, RestartedNAG, Momentum, SutskeverNAG, Adam, ArmijoGD, AdaGrad, RMSProp,
                                         AdamW, LBFGS, Polyak)
_REGISTRY: dict[str, OptimizerClass] = {cls.name: cls for cls in BUILT_IN}


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def register_optimizer(cls: type[T]) -> type[T]:
    """Make an optimiser class known by its ``name`` everywhere a built-in one is: :func:`~.spec.parse_optimizer`,
    ``descentlab compare --optimizers``, sweeps, figures and reports (its ``label``), checkpoints and resume.

    ``cls`` is a frozen dataclass of hyper-parameters with class attributes ``name`` (the command-line name)
    and ``label`` (what it is, shown beside the name) and methods ``init(x0) -> state`` and
    ``step(state, oracle) -> state`` (see :class:`descentlab.optim.base.Optimizer`); a spec's ``KEY=VALUE``
    sets a field (float fields read as numbers, or give the field a rule with :func:`~.base.hyper`); a field
    ``lr`` receives the run's learning rate, in a sweep an ``(M, 1)`` column (one per stacked model), so the
    update should broadcast. The state must be a dataclass of arrays, numbers and None with the iterate in
    ``x``: it is checkpointed without further code. Registering a name again replaces the earlier class (a
    notebook cell run twice). Returns ``cls``, so it serves as a class decorator.

    Raises
    ------
    ValueError
        when ``cls`` lacks one of those, or its name is a built-in method's or not a plain word.
    """
    name = getattr(cls, "name", None)
    missing = [a for a in ("init", "step") if not callable(getattr(cls, a, None))]
    if not (is_dataclass(cls) and isinstance(name, str) and isinstance(getattr(cls, "label", None), str)) or missing:
        raise ValueError(f"{cls!r} is not an optimiser: it needs to be a dataclass with class attributes name and "
                         f"label (text) and methods init(x0) and step(state, oracle)")
    if not _NAME.fullmatch(name):
        raise ValueError(f"an optimiser name is one word of letters, digits, '-', '_', '+' and '.' that starts with "
                         f"a letter or digit (it names files and command-line specs), got {name!r}")
    if any(cls is not known and name.lower() == known.name for known in BUILT_IN):
        raise ValueError(f"{name!r} is a built-in optimiser; give {cls.__name__} a name of its own")
    _REGISTRY[name] = cast(OptimizerClass, cls)
    return cls


def optimizer_names() -> list[str]:
    """The names :func:`~.spec.parse_optimizer` knows: the built-in ones, then those registered."""
    return list(_REGISTRY)


def known_classes() -> tuple[OptimizerClass, ...]:
    """Every class known by name, in order (what a spec read earlier depends on)."""
    return tuple(_REGISTRY.values())


def optimizer_class(name: str) -> OptimizerClass:
    """The class registered as ``name`` (raises ValueError naming the known ones)."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"unknown optimiser {name!r}; choose from: {', '.join(_REGISTRY)}")
    return cls


def describe(spec: str) -> str:
    """What the method named by ``spec`` (``NAME[:KEY=VALUE…]``) is, e.g. ``"heavy-ball momentum"``; empty for a
    name nobody registered."""
    cls = _REGISTRY.get(spec.partition(":")[0].strip())
    return cls.label if cls is not None else ""


def label(spec: str) -> str:
    """The name with its description beside it, for legends and reports: ``"momentum:mu=0.8 (heavy-ball
    momentum)"``."""
    description = describe(spec)
    return f"{spec} ({description})" if description else spec
