"""The ``--optimizers`` grammar: a method's spec ``NAME[:KEY=VALUE…]`` read into an optimiser, and a list of
methods, whose values may be lists (``gd,momentum:mu=0.5,0.9,adam``), read once per command into a
:class:`MethodList` (docs/optimizers.md).

A spec's text is parsed once per process (:func:`read_spec` remembers it while the registry stays the same); building
the optimiser at a learning rate (:meth:`Spec.build`) reads no text.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Optimizer, Rule, Variants, rules, words
from .external import LIBRARIES, External, check_external, read_external
from .plugins import from_entry_point
from .registry import OptimizerClass, known_classes, optimizer_class, optimizer_names
from .schedule import SCHEDULE_KEYS, scheduled


# -- one method ----------------------------------------------------------------------------------------------------
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
    for member in (cls, *(optimizer_class(n) for n in variants.names.values())):
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
    rule = keys.get(key) or SCHEDULE_KEYS.get(key)
    if rule is None:
        raise ValueError(f"{spec!r}: {name} has no setting {key!r}; its settings are {_keys(keys)}, and a schedule's "
                         f"{_keys(SCHEDULE_KEYS)}")
    try:
        return key, rule.parse(text)
    except ValueError:
        raise ValueError(f"{spec!r}: {key} must be {rule.text}, got {text!r} ({name} takes "
                         f"{_keys(keys)})") from None


def _chosen(cls: OptimizerClass, given: dict[str, object]) -> OptimizerClass:
    """The class a spec's settings pick: ``cls``, or the family member its variant key names."""
    variants = _variants(cls)
    if variants is None or variants.key not in given:
        return cls
    value = given[variants.key]  # one of the names' keys, read by their rule (None for "none")
    return optimizer_class(variants.names["none" if value is None else str(value)])


def _refuse_unused(spec: str, cls: OptimizerClass, chosen: OptimizerClass, given: dict[str, object]) -> None:
    """Settings that the picked class would ignore (the Armijo constants without a line search) are refused."""
    variants = _variants(cls)
    fields = rules(chosen)
    unused = sorted(key for key in given if key not in fields and (variants is None or key != variants.key))
    if not unused or variants is None:
        return
    holders = [(value, name) for value, name in variants.names.items()
               if all(key in rules(optimizer_class(name)) for key in unused)]
    base = variants.names.get("none", cls.name)
    where = ", ".join(f"{name}, or {base}:{variants.key}={value}" for value, name in holders)
    raise ValueError(f"{spec!r}: {', '.join(unused)} only appl{'ies' if len(unused) == 1 else 'y'} with "
                     f"{variants.needs or f'another {variants.key}'} ({where})")


@dataclass(frozen=True)
class Spec:
    """A method's spec read: the class it names and its settings (``lr`` among them when the spec sets it)."""

    cls: OptimizerClass
    settings: tuple[tuple[str, Any], ...]

    def build(self, lr: float | np.ndarray = 0.01) -> Optimizer[Any]:
        """The optimiser, with ``lr`` as its learning rate unless the spec sets its own."""
        fields = rules(self.cls)
        default = {"lr": lr} if "lr" in fields else {}
        optimizer: Optimizer[Any] = self.cls(**{**default, **dict(self.settings)})
        return optimizer


def read_spec(spec: str) -> Spec:
    """The class and settings of ``NAME[:KEY=VALUE…]``, each key and value checked against the class's rules
    (see :func:`parse_optimizer`); remembered per text while the known optimisers stay the same. A name nothing
    registered is looked up among the installed packages' entry points (:mod:`.plugins`)."""
    name = spec.strip().split(":")[0].strip()
    if name in LIBRARIES:
        return _read_external(spec)
    if name not in optimizer_names():
        from_entry_point(name)
    return _read(spec, known_classes())


@functools.cache
def _read_external(spec: str) -> Spec:
    """``torch:CLASS[:KEY=VALUE…]`` or ``optax:NAME[:KEY=VALUE…]``, checked by building it once."""
    library, target, options, lr = read_external(spec)
    read = Spec(External, (("library", library), ("target", target), ("options", options),
                           *((("lr", lr),) if lr is not None else ())))
    try:
        check_external(spec, read.build())  # type: ignore[arg-type]
    except ValueError as error:
        raise ValueError(str(error) if str(error).startswith(repr(spec)) else f"{spec!r}: {error}") from None
    return read


@functools.cache
def _read(spec: str, known: tuple[OptimizerClass, ...]) -> Spec:
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
    if "schedule" in given:
        try:
            chosen = scheduled(chosen)
        except ValueError as error:
            raise ValueError(f"{spec!r}: {error}") from None
    elif given.keys() & SCHEDULE_KEYS.keys():
        raise ValueError(f"{spec!r}: {', '.join(sorted(given.keys() & SCHEDULE_KEYS.keys()))} only with a schedule "
                         f"(schedule=step, cosine or warmup-cosine)")
    _refuse_unused(spec, cls, chosen, given)
    fields = rules(chosen)
    read = Spec(chosen, tuple((key, value) for key, value in given.items() if key in fields))
    try:
        read.build()  # the class's own checks (its __post_init__) speak now, not when the run starts
    except ValueError as error:
        raise ValueError(f"{spec!r}: {error}") from None
    return read



def parse_optimizer(spec: str, lr: float | np.ndarray = 0.01) -> Optimizer[Any]:
    """An optimiser from a command-line spec ``NAME[:KEY=VALUE[:KEY=VALUE…]]``.

    ``NAME`` is one of :func:`~.registry.optimizer_names` (the built-in methods and any registered); ``lr`` is
    the default learning rate (a number, or an ``(M, 1)`` column for stacked models) unless the spec sets its
    own. Each key and value is checked against the class's hyper-parameter rules; a key given twice, or one that
    does not apply (the Armijo constants without a line search), is refused. The spec itself is the method's name
    in results and files (the caller keeps it).

    Examples: ``nag``, ``nag:restart=function``, ``momentum:mu=0.8``, ``adam:lr=0.001:beta1=0.8``.

    Raises
    ------
    ValueError
        naming the spec, the key, what it must be and the keys the method has.
    """
    return read_spec(spec).build(lr)


# -- a list of methods ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodList:
    """An ``--optimizers`` value read once (:func:`parse_methods`): the methods as typed (list values kept: what
    a tuned sweep tunes), their single specs (one per setting: what a comparison or an untuned sweep runs) and
    the methods that set their own learning rate."""

    methods: tuple[str, ...]
    specs: tuple[str, ...]
    own_lr: tuple[str, ...] = ()


def split_methods(text: str) -> list[str]:
    """Cut a comma-separated ``--optimizers`` value into methods, keeping list values whole.

    A comma is followed either by the next method (its text starts with an optimiser's name) or by one more
    value of the list being given: ``gd,momentum:mu=0.5,0.9,adam`` is ``gd``, ``momentum:mu=0.5,0.9`` and
    ``adam``. Optimiser names are never numbers, so numeric lists are never ambiguous.
    """
    methods: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if part and methods and _continues(methods[-1], part.split(":")[0].strip()):
            methods[-1] += "," + part
        elif part:
            methods.append(part)
    return methods


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _continues(method: str, head: str) -> bool:
    """Is ``head`` one more value of the list that ``method`` ends with? A number after a numeric list is; a word
    that names no optimiser after a list of words is (``nag:restart=gradient,function``); anything else starts
    the next method, so that a misspelt name is reported as one."""
    last = method.rsplit(":", 1)[-1]
    if "=" not in last or head in optimizer_names() or head in LIBRARIES or "=" in head:
        return False
    previous = last.rsplit(",", 1)[-1].partition("=")[2].strip()
    return _is_number(head) == _is_number(previous)


def _settings_of(method: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """``name`` and every combination of the listed values, as ``(key, value)`` pairs in the order given."""
    name, *parts = method.split(":")
    if name.strip() in LIBRARIES and parts:  # torch:CLASS, optax:NAME
        name, parts = f"{name.strip()}:{parts[0].strip()}", parts[1:]
    keys, choices = [], []
    for part in parts:
        key, sep, values = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{method!r}: expected KEY=VALUE after ':', got {part!r}")
        listed = [v.strip() for v in values.split(",")]
        if any(not v for v in listed) or len(set(listed)) != len(listed):
            raise ValueError(f"{method!r}: the values of {key.strip()} must be distinct and not empty")
        keys.append(key.strip())
        choices.append(listed)
    if len(set(keys)) != len(keys):
        raise ValueError(f"{method!r}: a hyper-parameter is set twice")
    return [(name.strip(), list(zip(keys, combo, strict=True))) for combo in itertools.product(*choices)]


def expand_method(method: str, lrs: Sequence[float]) -> list[tuple[str, float]]:
    """Every ``(setting, lr)`` of a method's grid: ``setting`` is the spec without its learning rate, ``lr`` from
    the method's own ``lr=`` values when it names some, else from ``lrs``. Every setting is read (and so checked)
    once.

    >>> expand_method("momentum:mu=0.5,0.9", [0.01, 0.1])
    [('momentum:mu=0.5', 0.01), ('momentum:mu=0.5', 0.1), ('momentum:mu=0.9', 0.01), ('momentum:mu=0.9', 0.1)]
    """
    grid: list[tuple[str, float]] = []
    for name, pairs in _settings_of(method):
        for key, value in pairs:
            if key == "lr":
                read_spec(f"{name}:lr={value}")  # names the method, the key and its rule for 'lr=abc'
        own = [float(v) for k, v in pairs if k == "lr"]
        setting = ":".join([name, *(f"{k}={v}" for k, v in pairs if k != "lr")])
        read_spec(setting)  # raises ValueError naming the spec when a value does not fit
        grid.extend((setting, float(lr)) for lr in own or lrs)
    return grid


def expand_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """The single specs of methods that may hold lists (``momentum:mu=0.5,0.9`` → ``momentum:mu=0.5``,
    ``momentum:mu=0.9``); a listed ``lr`` stays part of each spec. What ``compare`` and an untuned sweep run."""
    return tuple(":".join([name, *(f"{k}={v}" for k, v in pairs)])
                 for method in methods for name, pairs in _settings_of(method))


def parse_methods(text: str) -> MethodList:
    """Read an ``--optimizers`` value (methods, list values allowed; see :func:`split_methods`) once: every method
    and setting checked, none named twice. Raises ValueError with a message that names what is wrong."""
    methods = tuple(split_methods(text))
    if not methods:
        raise ValueError("name at least one optimiser")
    if len(set(methods)) != len(methods):
        raise ValueError(f"a method is named twice in {text!r}")
    for method in methods:
        expand_method(method, (0.01,))
    specs = expand_methods(methods)
    if len(set(specs)) != len(specs):
        raise ValueError(f"a setting is named twice in {text!r}")
    for spec in specs:
        read_spec(spec)  # what the command will build; read here, once
    own_lr = tuple(m for m in methods if any(key == "lr" for _, pairs in _settings_of(m) for key, _ in pairs))
    return MethodList(methods, specs, own_lr)
