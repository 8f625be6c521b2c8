"""The straightforward NumPy code a user would write first: allocating, np.logaddexp softplus, one model."""

from __future__ import annotations

import time

import numpy as np
from problems import Problem


def _loss_and_grad(W0, b0, W1, b1, X, Y):
    S = X.shape[0]
    z1 = X @ W0.T + b0.T
    a1 = np.logaddexp(0.0, z1)
    z2 = a1 @ W1.T + b1.T
    z2 = z2 - z2.max(axis=1, keepdims=True)
    p = np.exp(z2)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(Y * np.log(p), axis=1))
    d2 = (p - Y) / S
    dW1, db1 = d2.T @ a1, d2.sum(axis=0)[:, None]
    d1 = (d2 @ W1) * (0.5 * (1.0 + np.tanh(0.5 * z1)))  # σ(z) without overflow
    dW0, db0 = d1.T @ X, d1.sum(axis=0)[:, None]
    return loss, (dW0, db0, dW1, db1)


def gd(problem: Problem) -> tuple[np.ndarray, np.ndarray, float]:
    X, lr = problem.X, problem.lr
    Y = np.eye(problem.net.sizes[-1])[problem.y]
    params = problem.unpack(problem.p0)
    losses = np.empty(problem.iterations + 1)
    start = time.perf_counter()
    for k in range(problem.iterations + 1):
        losses[k], grads = _loss_and_grad(*params, X, Y)
        if k < problem.iterations:
            params = [p - lr * g for p, g in zip(params, grads, strict=True)]
    seconds = time.perf_counter() - start
    return losses, np.concatenate([p.ravel() for p in params]), seconds


def large_steps(problem: Problem, steps: int) -> tuple[list[float], list[float]]:
    Y = np.eye(problem.net.sizes[-1], dtype=problem.X.dtype)[problem.y]
    params = problem.unpack(problem.p0)
    losses, times = [], []
    for _ in range(steps):
        start = time.perf_counter()
        loss, grads = _loss_and_grad(*params, problem.X, Y)
        params = [p - problem.lr * g for p, g in zip(params, grads, strict=True)]
        times.append(time.perf_counter() - start)
        losses.append(float(loss))
    return losses, times
