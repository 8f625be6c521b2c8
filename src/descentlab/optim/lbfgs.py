"""Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989) with an Armijo backtracking line search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import OPEN_UNIT, POSITIVE, WHOLE, Oracle, check, hyper, per_model, start


@dataclass(frozen=True, slots=True)
class LBFGSState:
    """The iterate ``x`` ``(M, P)``; the last ``m`` pairs ``s_i = x_{i+1} − x_i``, ``y_i = g_{i+1} − g_i`` as
    ``(M, m, P)`` stacks, oldest first, with ``rho_i = 1/(y_iᵀs_i)`` ``(M, m)`` (0 for an empty slot); the initial
    scaling ``gamma`` ``(M, 1)``; the last gradient and step (to form the next pair); the count k."""

    x: np.ndarray
    s: np.ndarray
    y: np.ndarray
    rho: np.ndarray
    gamma: np.ndarray
    last_gradient: np.ndarray
    last_step: np.ndarray
    k: int = 0


def _remember(state: LBFGSState, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The memory with the newest pair appended (the oldest dropped), for the models whose pair has curvature
    ``yᵀs > 1e-10`` (L1); the others keep their memory."""
    s, y = state.last_step, g - state.last_gradient
    ys = np.sum(y * s, axis=-1, keepdims=True)
    keep = ys > 1e-10
    rho = np.divide(1.0, ys, out=np.zeros_like(ys), where=keep)
    shifted = (np.concatenate([old[:, 1:], new[:, None]], axis=1) for old, new in ((state.s, s), (state.y, y)))
    new_s, new_y = (np.where(keep[:, :, None], new, old) for new, old in zip(shifted, (state.s, state.y),
                                                                              strict=True))
    new_rho = np.where(keep, np.concatenate([state.rho[:, 1:], rho], axis=1), state.rho)
    yy = np.sum(y * y, axis=-1, keepdims=True)
    gamma = np.where(keep, np.divide(ys, yy, out=np.ones_like(ys), where=keep), state.gamma)
    return new_s, new_y, new_rho, gamma


def two_loop(g: np.ndarray, s: np.ndarray, y: np.ndarray, rho: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """The direction ``d = −H g`` of the two-loop recursion (L2), newest pair first, then oldest first; an empty
    slot (``rho = 0``) adds nothing."""
    q = -g
    alphas = []
    for i in reversed(range(s.shape[1])):
        alpha = rho[:, i : i + 1] * np.sum(s[:, i] * q, axis=-1, keepdims=True)
        q = q - alpha * y[:, i]
        alphas.append(alpha)
    r = gamma * q
    for i, alpha in zip(range(s.shape[1]), reversed(alphas), strict=True):
        beta = rho[:, i : i + 1] * np.sum(y[:, i] * r, axis=-1, keepdims=True)
        r = r + (alpha - beta) * s[:, i]
    return r


@dataclass(frozen=True)
class LBFGS:
    r"""L-BFGS with memory ``m`` and an Armijo backtracking line search (docs/derivation.md, L1–L4).

    The direction ``d_k = −H_k g_k`` comes from the two-loop recursion over the last ``m`` pairs, with
    ``H_k^0 = γ_k I``, ``γ_k = sᵀy / yᵀy`` of the newest pair (1 before the first); a pair without curvature
    (``yᵀs ≤ 1e-10``) is not stored, and a direction that is not a descent direction is replaced by ``−g_k``.
    The line search tries ``t = lr`` (``lr · min(1, 1/‖g_0‖₁)`` at the first iteration, as torch.optim.LBFGS) and
    multiplies it by ``shrink`` until

    .. math:: L(x_k + t d_k) \le L(x_k) + c\, t\, g_k^\top d_k,

    at most ``max_backtracks`` times. Each trial is a function evaluation (``oracle.loss``), counted by the
    training loop; the gradient at the accepted point is the next iteration's.
    """

    name: ClassVar[str] = "lbfgs"
    label: ClassVar[str] = "limited-memory BFGS, Armijo line search"

    lr: float | np.ndarray = hyper(1.0, POSITIVE)
    m: int = hyper(10, WHOLE)
    c: float = hyper(1e-4, OPEN_UNIT)
    shrink: float = hyper(0.5, OPEN_UNIT)
    max_backtracks: int = hyper(30, WHOLE)

    def __post_init__(self) -> None:
        check(self)
        if self.m < 1:
            raise ValueError(f"L-BFGS needs a memory m >= 1, got {self.m}")

    def init(self, x0: np.ndarray) -> LBFGSState:
        x = start(x0)
        models, size = x.shape[:-1], x.shape[-1]
        pairs = np.zeros((*models, self.m, size), dtype=x.dtype)
        return LBFGSState(x=x, s=pairs, y=pairs.copy(), rho=np.zeros((*models, self.m), dtype=x.dtype),
                          gamma=per_model(x, 1.0), last_gradient=np.zeros_like(x), last_step=np.zeros_like(x))

    def step(self, state: LBFGSState, oracle: Oracle) -> LBFGSState:
        loss, gradient = oracle(state.x)
        g = np.array(gradient)  # the trial evaluations may reuse the oracle's buffer
        s, y, rho, gamma = _remember(state, g) if state.k else (state.s, state.y, state.rho, state.gamma)
        d = two_loop(g, s, y, rho, gamma)  # (L2)
        slope = np.sum(g * d, axis=-1, keepdims=True)
        d = np.where(slope < 0.0, d, -g)  # (L3)
        slope = np.sum(g * d, axis=-1, keepdims=True)
        t = per_model(state.x, self.lr)
        if state.k == 0:
            l1 = np.sum(np.abs(g), axis=-1, keepdims=True)
            t = t * np.minimum(1.0, np.divide(1.0, l1, out=np.ones_like(l1), where=l1 > 0.0))
        t = self._search(state.x, np.array(loss)[..., None], d, slope, t, oracle)  # a copy: trials reuse buffers
        return LBFGSState(x=state.x + t * d, s=s, y=y, rho=rho, gamma=gamma, last_gradient=g, last_step=t * d,
                          k=state.k + 1)

    def _search(self, x: np.ndarray, f: np.ndarray, d: np.ndarray, slope: np.ndarray, t: np.ndarray,
                oracle: Oracle) -> np.ndarray:
        """The accepted step of each model (L4); "not <=" so that a NaN trial loss is no decrease."""
        for _ in range(self.max_backtracks):
            failed = ~(np.asarray(oracle.loss(x + t * d))[..., None] <= f + self.c * t * slope)  # (L4)
            if not failed.any():
                break
            t = np.where(failed, t * self.shrink, t)
        return t
