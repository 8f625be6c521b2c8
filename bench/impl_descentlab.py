"""descentlab itself, through its public API, on the reference problems."""

from __future__ import annotations

import time

import numpy as np
from problems import Problem

import descentlab as dl
from descentlab.training.fit import blas_threads


def _optimizer(method: str, lr: np.ndarray | float) -> dl.GD | dl.NAG:
    lr = np.asarray(lr)[:, None] if np.ndim(lr) else float(lr)
    return dl.GD(lr=lr) if method == "gd" else dl.NAG(lr=lr)  # type: ignore[arg-type]


def fit(problem: Problem, method: str, metrics: str = "loss", engine: str = "numpy"):
    """``dl.fit`` (one model, or all stacked models at once); the time is the loop's own."""
    train = dl.Dataset(problem.X, problem.y)
    test = dl.Dataset(problem.X_test, problem.y_test) if problem.X_test is not None else None
    params = dl.Params(problem.p0, problem.net.slots)
    result = dl.fit(
        problem.net,
        params,
        train,
        _optimizer(method, problem.lr),
        problem.iterations,
        test=test if metrics == "all" else None,
        metrics=metrics,
        engine=engine,
    )
    return result.history.train_loss, result.params.flat, result.seconds


def steps_only(problem: Problem, method: str, engine: str = "numpy"):
    """The optimiser stepping on ``dl.Objective`` without ``fit``, keeping the loss of each gradient evaluation
    (at q_k for NAG) as the peers do: the like-for-like case for NAG."""
    objective = dl.Objective(problem.net, problem.X, problem.y, engine=engine)
    losses = np.empty((problem.iterations,) + problem.p0.shape[:-1])
    k = 0

    one = problem.p0.ndim == 1

    def oracle(x):
        nonlocal k
        result = objective.evaluate(x[None] if one else x, dl.Want.GRADIENT)
        loss, grad = (result.loss[0], result.gradient[0]) if one else (result.loss, result.gradient)
        losses[k] = loss
        k += 1
        return loss, grad

    optimizer = _optimizer(method, problem.lr)
    state = optimizer.init(problem.p0)
    models = 1 if one else problem.p0.shape[0]
    with blas_threads(problem.net, problem.X.shape[0], models, problem.p0.itemsize):  # as fit chooses them
        start = time.perf_counter()
        for _ in range(problem.iterations):
            state = optimizer.step(state, oracle)
        seconds = time.perf_counter() - start
    return losses, state.x, seconds


def fit_one_by_one(problem: Problem, method: str, engine: str = "numpy"):
    """The sweep's models trained one after another, each with its own ``dl.fit``."""
    train = dl.Dataset(problem.X, problem.y)
    losses, finals, seconds = [], [], 0.0
    for m in range(problem.p0.shape[0]):
        lr = float(np.asarray(problem.lr)[m])
        result = dl.fit(
            problem.net,
            dl.Params(problem.p0[m], problem.net.slots),
            train,
            _optimizer(method, lr),
            problem.iterations,
            metrics="loss",
            engine=engine,
        )
        losses.append(result.history.train_loss)
        finals.append(result.params.flat)
        seconds += result.seconds
    return np.stack(losses, axis=1), np.stack(finals), seconds


def large_steps(problem: Problem, steps: int, engine: str = "numpy") -> tuple[list[float], list[float]]:
    """``steps`` full-batch GD iterations (forward, backward, update) with ``dl.Objective`` in the data's
    dtype, on the threads ``fit`` would choose; returns the loss at each iterate and the time of each iteration."""
    objective = dl.Objective(problem.net, problem.X, problem.y, dtype=problem.X.dtype, engine=engine)
    x = problem.p0.copy()
    losses, times = [], []
    with blas_threads(problem.net, problem.X.shape[0], 1, problem.X.dtype.itemsize):
        for _ in range(steps):
            start = time.perf_counter()
            result = objective.evaluate(x[None], dl.Want.GRADIENT)
            loss, grad = result.loss[0], result.gradient[0]
            x -= problem.lr * grad
            times.append(time.perf_counter() - start)
            losses.append(float(loss))
    return losses, times
