"""JAX peers: the whole run as one jit-compiled lax.scan (and vmap over models for the sweep).

jax.nn.softplus is logaddexp(z, 0), exact. Compilation happens in a warm-up call that is not timed.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from problems import Problem

jax.config.update("jax_enable_x64", True)


def _loss(params, X, y):
    W0, b0, W1, b1 = params
    z2 = W1 @ jax.nn.softplus(W0 @ X.T + b0) + b1  # columns, as descentlab
    return jnp.mean(jax.nn.logsumexp(z2, axis=0) - jnp.take_along_axis(z2, y[None, :], axis=0)[0])


def _metrics(params, X, y):
    W0, b0, W1, b1 = params
    z2 = W1 @ jax.nn.softplus(W0 @ X.T + b0) + b1
    loss = jnp.mean(jax.nn.logsumexp(z2, axis=0) - jnp.take_along_axis(z2, y[None, :], axis=0)[0])
    return loss, jnp.mean(jnp.argmax(z2, axis=0) == y)


def _runner(method: str, K: int, metrics: bool):
    value_and_grad = jax.value_and_grad(_loss)

    def run(params, lr, X, y, X_test, y_test):
        def gd_body(p, _):
            loss, g = value_and_grad(p, X, y)
            extra = (_metrics(p, X, y), _metrics(p, X_test, y_test)) if metrics else ()
            return [a - lr * b for a, b in zip(p, g, strict=True)], (loss, extra)

        def nag_body(carry, _):
            p, q, t = carry
            loss, g = value_and_grad(q, X, y)  # gradient (and logged loss) at the look-ahead point
            p_new = [a - lr * b for a, b in zip(q, g, strict=True)]
            t_new = (1.0 + jnp.sqrt(1.0 + 4.0 * t * t)) / 2.0
            q_new = [a + ((t - 1.0) / t_new) * (a - b) for a, b in zip(p_new, p, strict=True)]
            extra = (_metrics(p, X, y), _metrics(p, X_test, y_test)) if metrics else ()
            return (p_new, q_new, t_new), (loss, extra)

        # The metrics are returned, so that the compiler cannot drop them as unused.
        if method == "gd":
            final, (losses, extra) = jax.lax.scan(gd_body, params, None, length=K)
            return final, losses, extra
        (p, _, _), (losses, extra) = jax.lax.scan(
            nag_body, (params, params, jnp.asarray(1.0, params[0].dtype)), None, length=K
        )
        return p, losses, extra

    return run


def prepare(problem: Problem, method: str, metrics: bool = False):
    """Compile the run (not timed) and return ``once()``: one timed call, as ``(losses, final parameters, seconds)``."""
    fn = _runner(method, problem.iterations, metrics)
    stacked = np.ndim(problem.p0) == 2
    if stacked:
        fn = jax.vmap(fn, in_axes=(0, 0, None, None, None, None))
    fn = jax.jit(fn)
    params = [jnp.asarray(a) for a in problem.unpack(problem.p0)]
    lr = jnp.asarray(problem.lr)
    X, y = jnp.asarray(problem.X), jnp.asarray(problem.y)
    X_test = jnp.asarray(problem.X_test) if problem.X_test is not None else X
    y_test = jnp.asarray(problem.y_test) if problem.y_test is not None else y
    jax.block_until_ready(fn(params, lr, X, y, X_test, y_test))  # compile

    def once():
        start = time.perf_counter()
        final, losses, _ = jax.block_until_ready(fn(params, lr, X, y, X_test, y_test))
        seconds = time.perf_counter() - start
        flat = np.concatenate(
            [np.asarray(a).reshape(a.shape[0], -1) if stacked else np.asarray(a).ravel() for a in final], axis=-1
        )
        losses = np.asarray(losses)
        return (losses.T if stacked else losses), flat, seconds

    return once


def run(problem: Problem, method: str, metrics: bool = False, repeats: int = 1):
    """Compile once, then time ``repeats`` calls; returns the losses, final parameters and the time of each call."""
    once = prepare(problem, method, metrics)
    runs = [once() for _ in range(repeats)]
    return runs[-1][0], runs[-1][1], [seconds for _, _, seconds in runs]


def large_steps(problem: Problem, steps: int):
    value_and_grad = jax.value_and_grad(_loss)

    @jax.jit
    def step(params, X, y):
        loss, g = value_and_grad(params, X, y)
        return [a - problem.lr * b for a, b in zip(params, g, strict=True)], loss

    params = [jnp.asarray(a) for a in problem.unpack(problem.p0)]
    X, y = jnp.asarray(problem.X), jnp.asarray(problem.y)
    jax.block_until_ready(step(params, X, y))  # compile (not timed, not counted)
    losses, times = [], []
    for _ in range(steps):
        start = time.perf_counter()
        params, loss = jax.block_until_ready(step(params, X, y))
        times.append(time.perf_counter() - start)
        losses.append(float(loss))
    return losses, times
