"""Steepest descent: with a constant step (:class:`GD`), with Armijo backtracking (:class:`ArmijoGD`) and with
Polyak's step (:class:`Polyak`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import NUMBER, OPEN_UNIT, POSITIVE, WHOLE, Oracle, Variants, check, hyper, per_model, start

# ``gd:line_search=armijo`` is gd-armijo and ``gd-armijo:line_search=none`` is gd (the spec key of one class)
LINE_SEARCH = Variants("line_search", {"none": "gd", "armijo": "gd-armijo"}, needs="a line search")


@dataclass(frozen=True, slots=True)
class GDState:
    """Steepest descent: the iterate ``x = θ_k`` ``(M, P)`` and the iteration count k."""

    x: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class GD:
    r"""Steepest descent with a constant step (task 7; docs/derivation.md, G1).

    .. math:: \theta_{k+1} = \theta_k - \mathrm{lr}\,\nabla L(\theta_k)

    Parameters
    ----------
    lr : float or (M, 1) array, > 0
    """

    name: ClassVar[str] = "gd"
    label: ClassVar[str] = "steepest descent"
    variants: ClassVar[Variants] = LINE_SEARCH

    lr: float | np.ndarray = hyper(0.01, POSITIVE)

    def __post_init__(self) -> None:
        check(self)

    def init(self, x0: np.ndarray) -> GDState:
        return GDState(x=start(x0))

    def step(self, state: GDState, oracle: Oracle) -> GDState:
        _, gradient = oracle(state.x)
        return GDState(x=state.x - self.lr * gradient, k=state.k + 1)  # (G1)


@dataclass(frozen=True, slots=True)
class ArmijoGDState:
    """The iterate ``x`` ``(M, P)``, the count k and the step each model accepted last, ``(M, 1)``."""

    x: np.ndarray
    step_size: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class ArmijoGD:
    r"""Steepest descent with Armijo backtracking (docs/derivation.md, G2–G3).

    Every iteration starts from ``s = lr`` and multiplies it by ``shrink`` until the sufficient-decrease
    condition holds, at most ``max_backtracks`` times (after that the smallest step is taken):

    .. math:: L(\theta_k - s\,g) \le L(\theta_k) - c\, s\, \|g\|^2, \qquad g = \nabla L(\theta_k)

    Each trial is a function evaluation, ``oracle.loss``, which the training loop counts for the models still
    searching (in a stack, a model's count is what it would be alone). A NaN trial loss is no decrease.

    Parameters
    ----------
    lr : float or (M, 1) array, > 0: the first trial step
    c, shrink : in (0, 1)
    max_backtracks : whole number >= 0
    """

    name: ClassVar[str] = "gd-armijo"
    label: ClassVar[str] = "steepest descent, Armijo line search"
    variants: ClassVar[Variants] = LINE_SEARCH

    lr: float | np.ndarray = hyper(0.01, POSITIVE)
    c: float = hyper(1e-4, OPEN_UNIT)
    shrink: float = hyper(0.5, OPEN_UNIT)
    max_backtracks: int = hyper(50, WHOLE)

    def __post_init__(self) -> None:
        check(self, ("lr",))
        try:
            check(self, ("c", "shrink", "max_backtracks"))
        except ValueError:
            raise ValueError(f"Armijo needs 0 < c < 1, 0 < shrink < 1 and a whole max_backtracks >= 0, got "
                             f"c={self.c!r}, shrink={self.shrink!r}, max_backtracks={self.max_backtracks!r}") from None

    def init(self, x0: np.ndarray) -> ArmijoGDState:
        x = start(x0)
        return ArmijoGDState(x=x, step_size=per_model(x, self.lr))

    def step(self, state: ArmijoGDState, oracle: Oracle) -> ArmijoGDState:
        loss, gradient = oracle(state.x)
        g = np.array(gradient)  # the trial evaluations may reuse the oracle's buffer
        L = np.asarray(loss)[..., None]
        decrease = self.c * np.sum(g * g, axis=-1, keepdims=True)  # c ‖g‖² of (G2)
        s = per_model(state.x, self.lr)
        trial = state.x - s * g  # (G3)
        searching = np.ones(len(trial), dtype=bool)  # every model needs the first trial, later ones only some
        for _ in range(self.max_backtracks):
            # "not <=" rather than ">": a NaN trial loss is no decrease, so it fails too
            failed = ~(np.asarray(_trial_loss(oracle, trial, searching))[..., None] <= L - s * decrease)  # (G2)
            if not failed.any():
                break
            searching = failed[..., 0]
            s = np.where(failed, s * self.shrink, s)
            trial = state.x - s * g  # (G3)
        return ArmijoGDState(x=trial, step_size=s, k=state.k + 1)


@dataclass(frozen=True)
class Polyak:
    r"""Steepest descent with Polyak's step (Polyak 1987; docs/derivation.md, Y1), for problems whose optimal
    loss ``f_star`` is known (0 for a network that can fit its training data exactly):

    .. math:: \theta_{k+1} = \theta_k - \frac{\max(L(\theta_k) - f^\star, 0)}{\|\nabla L(\theta_k)\|^2}\,
        \nabla L(\theta_k)

    A model whose gradient is exactly zero stays where it is; a loss below ``f_star`` takes no step.
    """

    name: ClassVar[str] = "polyak"
    label: ClassVar[str] = "steepest descent, Polyak's step"

    f_star: float | None = hyper(None, NUMBER)

    def __post_init__(self) -> None:
        if self.f_star is None:
            raise ValueError("polyak needs the optimal loss f*: give it as polyak:f_star=VALUE (f_star=0 when the "
                             "network can fit its training data)")
        check(self)

    def init(self, x0: np.ndarray) -> GDState:
        return GDState(x=start(x0))

    def step(self, state: GDState, oracle: Oracle) -> GDState:
        loss, gradient = oracle(state.x)
        squared = np.sum(gradient * gradient, axis=-1, keepdims=True)
        gap = np.maximum(np.asarray(loss)[..., None] - self.f_star, 0.0)
        size = np.divide(gap, squared, out=np.zeros_like(squared), where=squared > 0.0)  # (Y1)
        return GDState(x=state.x - size * gradient, k=state.k + 1)  # (Y1)


def _trial_loss(oracle: Oracle, trial: np.ndarray, searching: np.ndarray) -> np.ndarray:
    """The loss at ``trial``, naming the models that need it only when some do not (an oracle for one model, or
    any stack all of whose models search, is asked as ``oracle.loss(x)``)."""
    return oracle.loss(trial) if searching.all() else oracle.loss(trial, searching)
