"""Shared fixtures. Floating-point overflow, invalid operations and division by zero raise: in this code
base they are bugs, not noise (underflow is inherent in the stable formulas and stays quiet). pytest's
configuration turns every warning into an error as well."""

from __future__ import annotations

import numpy as np
import pytest

import descentlab as dl


@pytest.fixture(autouse=True)
def _strict_floating_point():
    old = np.seterr(over="raise", invalid="raise", divide="raise", under="ignore")
    yield
    np.seterr(**old)


@pytest.fixture(autouse=True)
def _ctrl_c_handler_left_as_found():
    """No test may leave Ctrl-C handled differently: every later subprocess would inherit it (an ignored SIGINT
    made a later test's Ctrl-C reach nothing)."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    yield
    assert signal.getsignal(signal.SIGINT) is before, "this test left SIGINT's handler changed"


@pytest.fixture(scope="session")
def iris() -> dl.Dataset:
    return dl.load_iris()


@pytest.fixture(scope="session")
def iris_split(iris):
    return dl.train_test_split(iris, test_size=0.25, seed=0)


@pytest.fixture(scope="session")
def wine_csv(tmp_path_factory):
    """scikit-learn's wine data exported to CSV the way a user would: raw features (proline up to 1,680)."""
    import csv

    from sklearn.datasets import load_wine

    wine = load_wine()
    path = tmp_path_factory.mktemp("wine") / "wine.csv"
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*wine.feature_names, "target"])
        for x, y in zip(wine.data, wine.target, strict=True):
            writer.writerow([*map(repr, x.tolist()), wine.target_names[y]])
    return path
