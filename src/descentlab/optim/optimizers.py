"""First-order optimisers on flat parameter vectors.

Each optimiser is a frozen dataclass of hyper-parameters with two methods:

* ``init(x0) -> state``: a state whose ``x`` is an independent copy of ``x0``;
* ``step(state, oracle) -> state``: one iteration, where ``oracle(point) -> (loss, grad)`` is evaluated at
  points the optimiser chooses. The gradient it returns may live in a buffer that the next call overwrites,
  so an optimiser copies what it keeps. Methods that need a function value alone (line search, function
  restart) call ``oracle.loss(point)`` when the oracle has it, which the training loop counts separately.

``state.x`` is always the iterate the method would export. States are frozen and steps never write into an
existing array, so a state handed out earlier stays valid. All arithmetic broadcasts, so ``x`` may be one
model ``(P,)`` or M models ``(M, P)``; per-model scalars (NAG's ``t``, a line search's step) have shape
``x.shape[:-1] + (1,)`` (NAG keeps ``t`` a plain float for one model, which is cheaper). A learning rate may be
such an ``(M, 1)`` column too, one value per model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np

Oracle = Callable[[np.ndarray], tuple[Any, np.ndarray]]


class Optimizer(Protocol):
    @property
    def name(self) -> str: ...

    def init(self, x0: np.ndarray) -> Any: ...

    def step(self, state: Any, oracle: Oracle) -> Any: ...


def _check_positive(name: str, value: Any) -> None:
    # A per-model array (shape (M, 1), one value per stacked model) is allowed wherever a scalar is.
    values = np.asarray(value, dtype=np.float64)
    if not (values.size and np.all(np.isfinite(values)) and np.all(values > 0.0)):
        what = "the learning rate" if name == "lr" else name
        raise ValueError(f"{what} must be a positive number, got {value}")


def _check_unit(name: str, value: float, closed: bool = False) -> None:
    if not isinstance(value, int | float | np.floating) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number in [0, 1{']' if closed else ')'}, got {value!r}")
    ok = 0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0
    if not (math.isfinite(value) and ok):
        raise ValueError(f"{name} must be in [0, 1{']' if closed else ')'}, got {value}")


def _value(oracle: Oracle, x: np.ndarray) -> Any:
    """A function value alone: ``oracle.loss`` when the oracle offers it, else the full oracle."""
    loss_only = getattr(oracle, "loss", None)
    return loss_only(x) if loss_only is not None else oracle(x)[0]


def _per_model(x: np.ndarray, value: float) -> np.ndarray:
    return np.full(x.shape[:-1] + (1,), value, dtype=x.dtype)


def _start(x0: np.ndarray) -> np.ndarray:
    """An independent copy of the starting point: float32 stays float32, anything else becomes float64."""
    x0 = np.asarray(x0)
    return np.array(x0, dtype=x0.dtype if x0.dtype == np.float32 else np.float64, copy=True)


def hyper_parameters(optimizer: Any) -> dict[str, Any]:
    """The optimiser's hyper-parameters by name (without its display name)."""
    return {f.name: getattr(optimizer, f.name) for f in fields(optimizer) if f.name != "name"}


# -- steepest descent ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GDState:
    """Steepest descent: the iterate ``x = θ_k``, the iteration count k, and the last accepted step."""

    x: np.ndarray
    k: int = 0
    step_size: Any = None


@dataclass(frozen=True)
class GD:
    r"""Steepest descent (task 7; eq. G1 of docs/derivation.md), optionally with Armijo backtracking.

    .. math:: \theta_{k+1} = \theta_k - s_k\,\nabla L(\theta_k)

    With ``line_search=None`` the step is constant, ``s_k = lr``. With ``line_search="armijo"`` every
    iteration starts from ``s = lr`` and multiplies it by ``shrink`` until the sufficient-decrease condition

    .. math:: L(\theta_k - s\,g) \le L(\theta_k) - c\, s\, \|g\|^2, \qquad g = \nabla L(\theta_k)

    holds (at most ``max_backtracks`` times; after that the smallest step is taken). Each trial is a
    function evaluation through the oracle, counted by the training loop.

    Parameters
    ----------
    lr : float
        Step size (> 0); the first trial step with a line search.
    line_search : None or "armijo"
    c, shrink, max_backtracks : Armijo constants (0 < c < 1, 0 < shrink < 1).
    """

    lr: float = 0.01
    line_search: str | None = None
    c: float = 1e-4
    shrink: float = 0.5
    max_backtracks: int = 50
    name: str = "gd"

    def __post_init__(self) -> None:
        _check_positive("lr", self.lr)
        if self.line_search not in (None, "armijo"):
            raise ValueError(f"line_search must be None or 'armijo', got {self.line_search!r}")
        counts = isinstance(self.max_backtracks, int | np.integer) and not isinstance(self.max_backtracks, bool)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (self.c, self.shrink))
        if not (counts and numbers and 0.0 < self.c < 1.0 and 0.0 < self.shrink < 1.0 and self.max_backtracks >= 0):
            raise ValueError(f"Armijo needs 0 < c < 1, 0 < shrink < 1 and a whole max_backtracks >= 0, got "
                             f"c={self.c!r}, shrink={self.shrink!r}, max_backtracks={self.max_backtracks!r}")

    def init(self, x0: np.ndarray) -> GDState:
        return GDState(x=_start(x0), k=0)

    def step(self, state: GDState, oracle: Oracle) -> GDState:
        loss, grad = oracle(state.x)
        if self.line_search is None:
            return GDState(x=state.x - self.lr * grad, k=state.k + 1, step_size=self.lr)  # (G1)
        grad = np.array(grad)  # the trial evaluations may reuse the oracle's buffer
        loss = np.asarray(loss)[..., None]
        decrease = self.c * np.sum(grad * grad, axis=-1, keepdims=True)
        s = _per_model(state.x, self.lr)
        trial = state.x - s * grad
        for _ in range(self.max_backtracks):
            # "not <=" rather than ">": a NaN trial loss is no decrease, so it fails too
            failed = ~(np.asarray(_value(oracle, trial))[..., None] <= loss - s * decrease)
            if not failed.any():
                break
            s = np.where(failed, s * self.shrink, s)
            trial = state.x - s * grad
        return GDState(x=trial, k=state.k + 1, step_size=s)


# -- Nesterov 1983 -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NAGState:
    """Nesterov's method: exported iterate ``x = p_k``, look-ahead ``q = q_k``, ``t = t_k``, count k,
    the loss at ``p_k`` when a function restart needs it, and how many restarts happened so far."""

    x: np.ndarray
    q: np.ndarray
    t: Any
    k: int = 0
    loss: Any = None
    restarts: Any = 0


def next_t(t: Any) -> Any:
    r""":math:`t_{k+1} = (1 + \sqrt{1 + 4 t_k^2}) / 2` (eq. N2); floats or arrays."""
    if isinstance(t, float):  # one model: plain floats are several times cheaper than 1-element arrays
        return (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
    return (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0


def nag_momentum(n: int) -> np.ndarray:
    """The first n momentum factors ``(t_k − 1)/t_{k+1}``, k = 0 … n−1, from ``t_0 = 1``.

    They start 0, 0.281754, 0.434043, 0.531064, … : the first factor multiplies ``p_1 − p_0`` in ``q_1``,
    the second ``p_2 − p_1`` in ``q_2``, and so on.
    """
    factors = np.empty(n)
    t = 1.0
    for k in range(n):
        t_new = float(next_t(t))
        factors[k] = (t - 1.0) / t_new
        t = t_new
    return factors


@dataclass(frozen=True)
class NAG:
    r"""Nesterov's accelerated gradient (1983), as Beck & Teboulle (2009) state it (task 8).

    With ``p_0 = q_0 = θ_0`` and ``t_0 = 1``, for k = 0, 1, …:

    .. math::
        p_{k+1} &= q_k - \mathrm{lr}\,\nabla L(q_k)                          \quad (N1)\\
        t_{k+1} &= \bigl(1 + \sqrt{1 + 4 t_k^2}\bigr)/2                      \quad (N2)\\
        q_{k+1} &= p_{k+1} + \frac{t_k - 1}{t_{k+1}}\,(p_{k+1} - p_k)        \quad (N3)

    The gradient is taken at the look-ahead point q, never at p; ``p_k`` in (N3) is the iterate before
    the step. The first two steps are plain gradient steps (the factor is 0 at k = 0, and q_1 = p_1).
    ``state.x`` is ``p_k``, the iterate that is exported.

    Adaptive restart (O'Donoghue & Candès 2015) resets the momentum, ``t_{k+1} = 1`` and ``q_{k+1} = p_{k+1}``,
    when ``restart="function"`` and ``L(p_{k+1}) > L(p_k)`` (one extra function evaluation per step), or
    when ``restart="gradient"`` and ``∇L(q_k)ᵀ(p_{k+1} − p_k) > 0`` (free: the gradient is at hand).

    Parameters
    ----------
    lr : float
        Step size, > 0; ``1/L`` for an L-smooth convex loss gives the O(1/k²) bound.
    restart : None, "function" or "gradient"
    """

    lr: float = 0.01
    restart: str | None = None
    name: str = "nag"

    def __post_init__(self) -> None:
        _check_positive("lr", self.lr)
        if self.restart not in (None, "function", "gradient"):
            raise ValueError(f"restart must be None, 'function' or 'gradient', got {self.restart!r}")

    def init(self, x0: np.ndarray) -> NAGState:
        p0 = _start(x0)
        t0 = _per_model(p0, 1.0) if p0.ndim > 1 else 1.0
        return NAGState(x=p0, q=p0.copy(), t=t0, k=0,
                        restarts=np.zeros(p0.shape[:-1] + (1,), dtype=np.int64))

    def step(self, state: NAGState, oracle: Oracle) -> NAGState:
        _, grad = oracle(state.q)
        p_new = state.q - self.lr * grad  # (N1) gradient at the look-ahead point q_k
        t_new = next_t(state.t)  # (N2)
        q_new = p_new + ((state.t - 1.0) / t_new) * (p_new - state.x)  # (N3) state.x is p_k
        if self.restart is None:
            return NAGState(x=p_new, q=q_new, t=t_new, k=state.k + 1, restarts=state.restarts)
        loss_new = None
        if self.restart == "gradient":
            reset = np.sum(grad * (p_new - state.x), axis=-1, keepdims=True) > 0.0
        else:
            loss_old = _value(oracle, state.x) if state.loss is None else state.loss
            loss_new = np.asarray(_value(oracle, p_new))
            reset = (loss_new > np.asarray(loss_old))[..., None]
        return NAGState(
            x=p_new,
            q=np.where(reset, p_new, q_new),
            t=np.where(reset, 1.0, t_new),
            k=state.k + 1,
            loss=loss_new,
            restarts=state.restarts + reset.astype(np.int64),
        )


# -- constant-momentum methods -------------------------------------------------------------------------------
@dataclass(frozen=True)
class MomentumState:
    """Iterate ``x``, velocity ``v`` (``x_k − x_{k−1}``), count k and, for a Nesterov schedule, ``t_k``."""

    x: np.ndarray
    v: np.ndarray
    k: int = 0
    t: float = 1.0


@dataclass(frozen=True)
class Momentum:
    r"""Polyak's heavy ball.

    .. math:: v_{k+1} = \mu v_k - \mathrm{lr}\,\nabla L(x_k), \qquad x_{k+1} = x_k + v_{k+1},\quad v_0 = 0

    Parameters
    ----------
    lr : float, > 0
    mu : float in [0, 1), the momentum; ``mu = 0`` is GD.
    """

    lr: float = 0.01
    mu: float = 0.9
    name: str = "momentum"

    def __post_init__(self) -> None:
        _check_positive("lr", self.lr)
        _check_unit("mu", self.mu)

    def init(self, x0: np.ndarray) -> MomentumState:
        x = _start(x0)
        return MomentumState(x=x, v=np.zeros_like(x))

    def step(self, state: MomentumState, oracle: Oracle) -> MomentumState:
        _, grad = oracle(state.x)
        v = self.mu * state.v - self.lr * grad
        return MomentumState(x=state.x + v, v=v, k=state.k + 1)


@dataclass(frozen=True)
class SutskeverNAG:
    r"""Nesterov's method in the constant-momentum form of Sutskever et al. (2013).

    .. math:: v_{k+1} = \mu_k v_k - \mathrm{lr}\,\nabla L(x_k + \mu_k v_k), \qquad x_{k+1} = x_k + v_{k+1}

    With ``mu`` a number, μ_k = mu. With ``mu="nesterov"``, μ_k = (t_{k−1} − 1)/t_k (0 for k = 0, 1): then
    ``x_k = p_k`` and ``x_k + μ_k v_k = q_k`` of :class:`NAG` exactly, because ``v_k = p_k − p_{k−1}``.

    PyTorch's ``SGD(nesterov=True)``, Keras and optax keep the look-ahead point ``θ_k = x_k + μ v_k`` as
    their variable and the buffer ``b_k = −v_k/lr``: ``b_{k+1} = μ b_k + ∇L(θ_k)``,
    ``θ_{k+1} = θ_k − lr(∇L(θ_k) + μ b_{k+1})`` — the same sequence, shifted to the look-ahead point
    (docs/optimizers.md has the algebra).
    """

    lr: float = 0.01
    mu: float | str = 0.9
    name: str = "sutskever"

    def __post_init__(self) -> None:
        _check_positive("lr", self.lr)
        if isinstance(self.mu, str):
            if self.mu != "nesterov":
                raise ValueError(f"mu must be a number in [0, 1) or 'nesterov', got {self.mu!r}")
        else:
            _check_unit("mu", self.mu)

    def init(self, x0: np.ndarray) -> MomentumState:
        x = _start(x0)
        return MomentumState(x=x, v=np.zeros_like(x), t=1.0)

    def step(self, state: MomentumState, oracle: Oracle) -> MomentumState:
        if self.mu == "nesterov":
            # μ_k = (t_{k−1} − 1)/t_k with t_{−1} = t_0 = 1: state.t holds t_{k−1} before the first update.
            t_prev, t_now = (1.0, 1.0) if state.k == 0 else (state.t, float(next_t(state.t)))
            mu = (t_prev - 1.0) / t_now
            t_keep = t_now
        else:
            mu, t_keep = float(self.mu), state.t
        _, grad = oracle(state.x + mu * state.v)
        v = mu * state.v - self.lr * grad
        return MomentumState(x=state.x + v, v=v, k=state.k + 1, t=t_keep)


# -- Adam ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdamState:
    """Iterate ``x``, first and second moment estimates ``m``, ``v``, and the count k."""

    x: np.ndarray
    m: np.ndarray
    v: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class Adam:
    r"""Adam (Kingma & Ba 2015) with bias correction.

    .. math::
        m_{k+1} &= \beta_1 m_k + (1-\beta_1) g_k, \qquad v_{k+1} = \beta_2 v_k + (1-\beta_2) g_k^2\\
        x_{k+1} &= x_k - \mathrm{lr}\,\frac{m_{k+1}/(1-\beta_1^{k+1})}{\sqrt{v_{k+1}/(1-\beta_2^{k+1})} + \epsilon}
    """

    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    name: str = "adam"

    def __post_init__(self) -> None:
        _check_positive("lr", self.lr)
        _check_unit("beta1", self.beta1)
        _check_unit("beta2", self.beta2)
        _check_positive("eps", self.eps)

    def init(self, x0: np.ndarray) -> AdamState:
        x = _start(x0)
        return AdamState(x=x, m=np.zeros_like(x), v=np.zeros_like(x))

    def step(self, state: AdamState, oracle: Oracle) -> AdamState:
        _, grad = oracle(state.x)
        k = state.k + 1
        m = self.beta1 * state.m + (1.0 - self.beta1) * grad
        v = self.beta2 * state.v + (1.0 - self.beta2) * grad * grad
        m_hat = m / (1.0 - self.beta1**k)
        v_hat = v / (1.0 - self.beta2**k)
        return AdamState(x=state.x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps), m=m, v=v, k=k)


# -- names used on the command line ---------------------------------------------------------------------------
def _preset(cls: type, **fixed: Any) -> Callable[..., Any]:
    def make(**hyper: Any) -> Any:
        return cls(**{**fixed, **hyper})

    return make


OPTIMIZERS: dict[str, Callable[..., Any]] = {
    "gd": _preset(GD, name="gd"),
    "nag": _preset(NAG, name="nag"),
    "nag-restart": _preset(NAG, restart="gradient", name="nag-restart"),
    "momentum": _preset(Momentum, name="momentum"),
    "sutskever": _preset(SutskeverNAG, name="sutskever"),
    "adam": _preset(Adam, name="adam"),
    "gd-armijo": _preset(GD, line_search="armijo", name="gd-armijo"),
}


# What each KEY of a spec NAME:KEY=VALUE means: (rule shown to the user, parser of the text, or None to
# refuse values that do not satisfy the rule). The optimiser's own __post_init__ checks again (Python API).
def _number(rule: str, ok: Callable[[float], bool]) -> tuple[str, Callable[[str], Any]]:
    def parse(text: str) -> float:
        value = float(text)  # ValueError for text that is not a number
        if not (math.isfinite(value) and ok(value)):
            raise ValueError
        return value

    return rule, parse


def _count(text: str) -> int:
    value = int(text)  # "2.5" is not a count
    if value < 0:
        raise ValueError
    return value


def _word(*choices: str) -> tuple[str, Callable[[str], Any]]:
    def parse(text: str) -> str | None:
        if text.lower() not in choices:
            raise ValueError
        return None if text.lower() == "none" else text.lower()

    return " or ".join(choices), parse


def _mu_or_nesterov(text: str) -> float | str:
    if text.lower() == "nesterov":
        return "nesterov"
    return _UNIT[1](text)


_POSITIVE = _number("a number > 0", lambda v: v > 0.0)
_UNIT = _number("a number in [0, 1)", lambda v: 0.0 <= v < 1.0)
_OPEN_UNIT = _number("a number in (0, 1)", lambda v: 0.0 < v < 1.0)
_ARMIJO = {"c": _OPEN_UNIT, "shrink": _OPEN_UNIT, "max_backtracks": ("a whole number >= 0", _count)}
SETTINGS: dict[str, dict[str, tuple[str, Callable[[str], Any]]]] = {
    "gd": {"lr": _POSITIVE, "line_search": _word("none", "armijo"), **_ARMIJO},
    "nag": {"lr": _POSITIVE, "restart": _word("none", "function", "gradient")},
    "nag-restart": {"lr": _POSITIVE, "restart": _word("none", "function", "gradient")},
    "momentum": {"lr": _POSITIVE, "mu": _UNIT},
    "sutskever": {"lr": _POSITIVE, "mu": ("a number in [0, 1) or nesterov", _mu_or_nesterov)},
    "adam": {"lr": _POSITIVE, "beta1": _UNIT, "beta2": _UNIT, "eps": _POSITIVE},
    "gd-armijo": {"lr": _POSITIVE, "line_search": _word("none", "armijo"), **_ARMIJO},
}


def _keys(name: str) -> str:
    return "; ".join(f"{key} ({rule})" for key, (rule, _) in SETTINGS[name].items())


def _setting(spec: str, name: str, setting: str) -> tuple[str, Any]:
    """One ``KEY=VALUE`` of a spec, parsed and checked; the message names the key, its rule and the keys."""
    key, sep, text = (part.strip() for part in setting.partition("="))
    if not sep or not key:
        raise ValueError(f"{spec!r}: expected KEY=VALUE after ':', got {setting!r}; {name} takes {_keys(name)}")
    if key not in SETTINGS[name]:
        raise ValueError(f"{spec!r}: {name} has no setting {key!r}; its settings are {_keys(name)}")
    rule, parse = SETTINGS[name][key]
    try:
        return key, parse(text)
    except ValueError:
        raise ValueError(f"{spec!r}: {key} must be {rule}, got {text!r} ({name} takes {_keys(name)})") from None


def parse_optimizer(spec: str, lr: Any = 0.01) -> Any:
    """An optimiser from a command-line spec ``NAME[:KEY=VALUE[:KEY=VALUE…]]``.

    ``NAME`` is one of ``gd, nag, nag-restart, momentum, sutskever, adam, gd-armijo``; ``lr`` is the default
    learning rate unless the spec sets its own. The spec itself becomes the optimiser's ``name`` when it
    carries hyper-parameters, so ``momentum:mu=0.5`` and ``momentum:mu=0.9`` stay apart. Each key and value is
    checked against :data:`SETTINGS`; a key given twice, or one that does not apply (the Armijo constants
    without a line search), is refused.

    Examples: ``nag``, ``nag-restart:restart=function``, ``momentum:mu=0.8``, ``adam:lr=0.001:beta1=0.8``.

    Raises
    ------
    ValueError
        naming the spec, the key, what it must be and the keys the method has.
    """
    name, *settings = spec.strip().split(":")
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser {name!r}; choose from: {', '.join(OPTIMIZERS)}")
    given: dict[str, Any] = {}
    for setting in settings:
        key, value = _setting(spec, name, setting)
        if key in given:
            raise ValueError(f"{spec!r}: {key} is set twice")
        given[key] = value
    searching = given.get("line_search", "armijo" if name == "gd-armijo" else None) == "armijo"
    unused = sorted(key for key in _ARMIJO if key in given and not searching)
    if unused:
        raise ValueError(f"{spec!r}: {', '.join(unused)} only appl{'ies' if len(unused) == 1 else 'y'} with a line "
                         f"search (gd-armijo, or gd:line_search=armijo)")
    hyper: dict[str, Any] = {"lr": lr, **given}
    if settings:
        hyper["name"] = spec.strip()
    return OPTIMIZERS[name](**hyper)
