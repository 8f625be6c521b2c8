"""Objective.evaluate for tests that hold one model as a (P,) vector (or any stack): the loss, gradient and correct
count shaped as the parameters were, copied so a later evaluation cannot change them."""

from __future__ import annotations

import numpy as np

from descentlab import Want


def _evaluate(objective, x, want):
    x = np.asarray(x)
    result = objective.evaluate(x.reshape(-1, x.shape[-1]), want)
    lead = x.shape[:-1]
    gradient = None if result.gradient is None else result.gradient.reshape(x.shape).copy()
    correct = None if result.correct is None else result.correct.reshape(lead)
    return result.loss.reshape(lead), gradient, correct


def loss(objective, x):
    return _evaluate(objective, x, Want.LOSS)[0]


def loss_and_grad(objective, x):
    value, gradient, _ = _evaluate(objective, x, Want.GRADIENT)
    return value, gradient


def loss_and_correct(objective, x):
    value, _, correct = _evaluate(objective, x, Want.CORRECT)
    return value, correct


def loss_grad_and_correct(objective, x):
    return _evaluate(objective, x, Want.GRADIENT | Want.CORRECT)
