"""scikit-learn's MLPClassifier on the single problem: timing only.

It has no softplus, so it runs logistic hidden units; full-batch SGD without momentum, no L2, no early stop,
350 epochs, so it does the same amount of work per iteration as the other GD implementations.
"""

from __future__ import annotations

import time
import warnings

from problems import Problem
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier


def gd_seconds(problem: Problem) -> float:
    model = MLPClassifier(
        hidden_layer_sizes=(problem.net.sizes[1],),
        activation="logistic",
        solver="sgd",
        learning_rate_init=problem.lr,
        momentum=0.0,
        batch_size=problem.X.shape[0],
        alpha=0.0,
        max_iter=problem.iterations,
        shuffle=False,
        tol=0.0,
        n_iter_no_change=problem.iterations + 1,
        random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(problem.X, problem.y)
    seconds = time.perf_counter() - start
    assert model.n_iter_ == problem.iterations
    return seconds
