"""The optimisers known by name: the seven built-in ones and any registered with :func:`register_optimizer`.

A method's command-line spec (``gd``, ``momentum:mu=0.8``, ``gd-armijo:lr=1``) is its one name everywhere:
terminal table, figure legends, report.md, history.csv, file names. Its class says what it is (``label``)
and which ``KEY=VALUE`` settings it takes (its hyper-parameter fields and their rules, :mod:`.base`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from typing import Any, TypeVar, cast

import numpy as np

from .adam import Adam
from .base import Optimizer, Rule, Variants, rules, words
from .gd import GD, ArmijoGD
from .momentum import Momentum, SutskeverNAG
from .nag import NAG, RestartedNAG

T = TypeVar("T")

OptimizerClass = type[Optimizer[Any]]
BUILT_IN: tuple[OptimizerClass, ...] = (GD, NAG, RestartedNAG, Momentum, SutskeverNAG, Adam, ArmijoGD)
_REGISTRY: dict[str, OptimizerClass] = {cls.name: cls for cls in BUILT_IN}


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def register_optimizer(cls: type[T]) -> type[T]:
    """Make an optimiser class known by its ``name`` everywhere a built-in one is: :func:`parse_optimizer`,
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
    """The names :func:`parse_optimizer` knows: the built-in ones, then those registered."""
    return list(_REGISTRY)


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


# -- specs ---------------------------------------------------------------------------------------------------------
def _variants(cls: type) -> Variants | None:
    variants = getattr(cls, "variants", None)
    return variants if isinstance(variants, Variants) else None


def settings(cls: type) -> dict[str, Rule]:
    """The keys a spec of ``cls`` takes, with their rules: its fields and, when a key picks the class within a
    family (:class:`~.base.Variants`), that key (after the first field) and the other members' fields."""
    own = rules(cls)
    variants = _variants(cls)
    if variants is None:
        return own
    keys = dict(list(own.items())[:1])
    keys[variants.key] = words(*variants.names)
    for member in (cls, *(_REGISTRY[n] for n in variants.names.values())):
        for key, rule in rules(member).items():
            keys.setdefault(key, rule)
    return keys


def _keys(keys: dict[str, Rule]) -> str:
    return "; ".join(f"{key} ({rule.text})" for key, rule in keys.items())


def _setting(spec: str, name: str, keys: dict[str, Rule], setting: str) -> tuple[str, object]:
    """One ``KEY=VALUE`` of a spec, parsed and checked; the message names the key, its rule and the keys."""
    key, sep, text = (part.strip() for part in setting.partition("="))
    if not sep or not key:
        raise ValueError(f"{spec!r}: expected KEY=VALUE after ':', got {setting!r}; {name} takes {_keys(keys)}")
    if key not in keys:
        raise ValueError(f"{spec!r}: {name} has no setting {key!r}; its settings are {_keys(keys)}")
    try:
        return key, keys[key].parse(text)
    except ValueError:
        raise ValueError(f"{spec!r}: {key} must be {keys[key].text}, got {text!r} ({name} takes "
                         f"{_keys(keys)})") from None


def _chosen(cls: OptimizerClass, given: dict[str, object]) -> OptimizerClass:
    """The class a spec's settings pick: ``cls``, or the family member its variant key names."""
    variants = _variants(cls)
    if variants is None or variants.key not in given:
        return cls
    value = given[variants.key]  # one of the names' keys, read by their rule (None for "none")
    return _REGISTRY[variants.names["none" if value is None else str(value)]]


def _refuse_unused(spec: str, cls: OptimizerClass, chosen: OptimizerClass, given: dict[str, object]) -> None:
    """Settings that the picked class would ignore (the Armijo constants without a line search) are refused."""
    variants = _variants(cls)
    fields = rules(chosen)
    unused = sorted(key for key in given if key not in fields and (variants is None or key != variants.key))
    if not unused or variants is None:
        return
    holders = [(value, name) for value, name in variants.names.items()
               if all(key in rules(_REGISTRY[name]) for key in unused)]
    base = variants.names.get("none", cls.name)
    where = ", ".join(f"{name}, or {base}:{variants.key}={value}" for value, name in holders)
    raise ValueError(f"{spec!r}: {', '.join(unused)} only appl{'ies' if len(unused) == 1 else 'y'} with "
                     f"{variants.needs or f'another {variants.key}'} ({where})")


def parse_optimizer(spec: str, lr: float | np.ndarray = 0.01) -> Optimizer[Any]:
    """An optimiser from a command-line spec ``NAME[:KEY=VALUE[:KEY=VALUE…]]``.

    ``NAME`` is one of :func:`optimizer_names` (``gd, nag, nag-restart, momentum, sutskever, adam, gd-armijo``
    and any registered); ``lr`` is the default learning rate (a number, or an ``(M, 1)`` column for stacked
    models) unless the spec sets its own. Each key and value is checked against the class's hyper-parameter
    rules; a key given twice, or one that does not apply (the Armijo constants without a line search), is
    refused. The spec itself is the method's name in results and files (the caller keeps it).

    Examples: ``nag``, ``nag:restart=function``, ``momentum:mu=0.8``, ``adam:lr=0.001:beta1=0.8``.

    Raises
    ------
    ValueError
        naming the spec, the key, what it must be and the keys the method has.
    """
    name, *texts = spec.strip().split(":")
    cls = optimizer_class(name)
    keys = settings(cls)
    given: dict[str, object] = {}
    for text in texts:
        key, value = _setting(spec, name, keys, text)
        if key in given:
            raise ValueError(f"{spec!r}: {key} is set twice")
        given[key] = value
    chosen = _chosen(cls, given)
    _refuse_unused(spec, cls, chosen, given)
    fields = rules(chosen)
    hyper = {key: value for key, value in given.items() if key in fields}
    optimizer: Optimizer[Any] = chosen(**{**({"lr": lr} if "lr" in fields else {}), **hyper})
    return optimizer


# -- other processes -----------------------------------------------------------------------------------------------
def registered_classes() -> tuple[OptimizerClass, ...]:
    """The classes registered beyond the built-in ones (what another process has to learn)."""
    return tuple(cls for cls in _REGISTRY.values() if cls not in BUILT_IN)


@dataclass(frozen=True)
class WithRegistered:
    """``function`` wrapped to run in another process (a Dask worker) that knows the optimisers registered here:
    it registers ``classes`` (shipped with the task by pickling) before calling ``function``."""

    function: Callable[..., Any]
    classes: tuple[OptimizerClass, ...]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for cls in self.classes:
            register_optimizer(cls)
        return self.function(*args, **kwargs)


def with_registered(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a task for another process: unchanged when nothing was registered, else
    :class:`WithRegistered`."""
    classes = registered_classes()
    return WithRegistered(function, classes) if classes else function
