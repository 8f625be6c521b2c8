"""What an optimiser is, what it asks of the training loop, and how its hyper-parameters are declared.

An optimiser is a frozen dataclass of hyper-parameters with class attributes ``name`` (its command-line name)
and ``label`` (the description shown beside it), and two methods:

* ``init(x0) -> state``: a state whose ``x`` is an independent copy of ``x0``;
* ``step(state, oracle) -> state``: one iteration, where ``oracle(point) -> (loss, gradient)`` is evaluated at
  points the optimiser chooses, and ``oracle.loss(point)`` gives a function value alone (line search,
  function restart), which the training loop counts separately.

Models are always a stack: ``x`` has shape ``(M, P)`` (one model is ``M = 1``), losses ``(M,)``, per-model
scalars (NAG's ``t``, a line search's step) ``(M, 1)``, and a learning rate is a float or an ``(M, 1)`` column.
The gradient an oracle returns may live in a buffer that its next call overwrites, so an optimiser copies what
it keeps. States are frozen and steps never write into an existing array, so a state handed out earlier stays
valid; ``state.x`` is always the iterate the method would export.

A hyper-parameter field may carry a :class:`Rule` (``lr: float = hyper(0.01, POSITIVE)``): the command-line
parser (:func:`descentlab.optim.registry.parse_optimizer`) reads ``KEY=VALUE`` with it, and :func:`check`
refuses a value it does not accept in the Python API. A field without a rule is read by its type: a float as a
finite number, an int as a whole number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np


class Oracle(Protocol):
    """The loss of M stacked models and its gradient, at points the optimiser chooses (implemented, with
    evaluation counts, by the training loop)."""

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(loss (M,), gradient (M, P))`` at ``x`` of shape ``(M, P)``; the gradient may be a reused buffer."""
        ...

    def loss(self, x: np.ndarray, models: np.ndarray | None = None) -> np.ndarray:
        """The loss alone, ``(M,)``, at ``x`` of shape ``(M, P)``; ``models`` (``(M,)`` booleans, default all)
        marks the models that need it, the only ones whose function evaluations it counts (passed only when some
        model of a stack does not: an oracle for one model never sees it)."""
        ...


class State(Protocol):
    """What every optimiser state offers: the iterate the method would export, ``(M, P)``."""

    @property
    def x(self) -> np.ndarray: ...


StateT = TypeVar("StateT")


class Optimizer(Protocol[StateT]):
    """One first-order method: hyper-parameters (a frozen dataclass), a ``name``, a ``label``, and its rule."""

    name: ClassVar[str]
    label: ClassVar[str]

    def init(self, x0: np.ndarray) -> StateT: ...

    def step(self, state: StateT, oracle: Oracle) -> StateT: ...


# -- hyper-parameter rules --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """What a hyper-parameter must be: ``text`` for messages (``"a number > 0"``), ``parse`` to read it from a
    spec (raises ValueError for text that breaks the rule) and ``accepts`` to check a Python value."""

    text: str
    parse: Callable[[str], object]
    accepts: Callable[[object], bool]


def number(text: str, ok: Callable[[float], bool]) -> Rule:
    """A finite number for which ``ok`` holds; ``text`` says which (``"a number in [0, 1)"``)."""

    def parse(word: str) -> float:
        value = float(word)  # ValueError for text that is not a number
        if not (math.isfinite(value) and ok(value)):
            raise ValueError(word)
        return value

    def accepts(value: object) -> bool:
        if not isinstance(value, int | float | np.integer | np.floating) or isinstance(value, bool):
            return False
        return math.isfinite(value) and ok(float(value))

    return Rule(text, parse, accepts)


def _positive_values(value: object) -> bool:
    # a learning rate may be an (M, 1) column, one value per stacked model, wherever a number is allowed
    if isinstance(value, bool) or isinstance(value, str):
        return False
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return bool(values.size and np.all(np.isfinite(values)) and np.all(values > 0.0))


def _whole(word: str) -> int:
    value = int(word)  # "2.5" is not a count
    if value < 0:
        raise ValueError(word)
    return value


def words(*choices: str) -> Rule:
    """One of ``choices``, case-insensitive; ``"none"`` reads as None."""

    def parse(word: str) -> str | None:
        if word.lower() not in choices:
            raise ValueError(word)
        return None if word.lower() == "none" else word.lower()

    return Rule(" or ".join(choices), parse, lambda value: (value is None and "none" in choices) or value in choices)


POSITIVE = Rule("a number > 0", number("", lambda v: v > 0.0).parse, _positive_values)
UNIT = number("a number in [0, 1)", lambda v: 0.0 <= v < 1.0)
OPEN_UNIT = number("a number in (0, 1)", lambda v: 0.0 < v < 1.0)
WHOLE = Rule("a whole number >= 0", _whole,
             lambda v: isinstance(v, int | np.integer) and not isinstance(v, bool) and bool(v >= 0))
NUMBER = number("a number", lambda v: True)
NONNEGATIVE = number("a number >= 0", lambda v: v >= 0.0)


def hyper(default: Any, rule: Rule) -> Any:
    """A hyper-parameter field with its rule: ``mu: float = hyper(0.9, UNIT)``."""
    return field(default=default, metadata={"rule": rule})


_BY_TYPE = {"float": NUMBER, "int": WHOLE}


def rules(cls: type) -> dict[str, Rule]:
    """The settable hyper-parameters of an optimiser class and their rules, in field order: a field's own
    :func:`hyper` rule, else by its annotation (float: a finite number; int: a whole number >= 0)."""
    found: dict[str, Rule] = {}
    for f in fields(cls):
        rule = f.metadata.get("rule") or _BY_TYPE.get(f.type if isinstance(f.type, str) else f.type.__name__)
        if rule is not None and f.init:
            found[f.name] = rule
    return found


def check(optimizer: object, keys: Sequence[str] | None = None) -> None:
    """Refuse hyper-parameters (all, or those named in ``keys``) their rules do not accept: the Python API's
    counterpart of the spec parser."""
    for name, rule in rules(type(optimizer)).items():
        if keys is not None and name not in keys:
            continue
        value = getattr(optimizer, name)
        if not rule.accepts(value):
            what = "the learning rate" if name == "lr" else name
            raise ValueError(f"{what} must be {rule.text}, got {value!r}")


def hyper_parameters(optimizer: Any) -> dict[str, Any]:
    """The optimiser's hyper-parameters by name."""
    return {f.name: getattr(optimizer, f.name) for f in fields(optimizer)}


def same_optimizer(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same method with the same hyper-parameters; a per-model ``(M, 1)`` learning
    rate compares by value (a dataclass's ``==`` cannot tell two arrays apart)."""
    mine, theirs = hyper_parameters(a), hyper_parameters(b)
    return type(a) is type(b) and all(np.array_equal(mine[key], theirs[key]) for key in mine)


@dataclass(frozen=True)
class Variants:
    """A spec key that picks the class within a family: ``gd:line_search=armijo`` is ``gd-armijo``.

    ``names`` maps each value to the registered name it selects; the value is passed on as a hyper-parameter
    when the selected class has a field ``key`` (``nag:restart=function`` is RestartedNAG(restart="function")).
    ``needs`` says what the other variants' settings need, for the message when one is given without it.
    """

    key: str
    names: Mapping[str, str]
    needs: str = ""


# -- small helpers shared by the update rules ----------------------------------------------------------------------
def start(x0: np.ndarray) -> np.ndarray:
    """An independent copy of the starting point: float32 stays float32, anything else becomes float64."""
    x0 = np.asarray(x0)
    return np.array(x0, dtype=x0.dtype if x0.dtype == np.float32 else np.float64, copy=True)


def per_model(x: np.ndarray, value: float | np.ndarray) -> np.ndarray:
    """One value per model, in ``x``'s precision: an ``(M, 1)`` column for ``x`` of shape ``(M, P)`` (``value``
    a number, or already such a column)."""
    return np.full(x.shape[:-1] + (1,), value, dtype=x.dtype)
