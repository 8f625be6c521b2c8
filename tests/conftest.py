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


@pytest.fixture(scope="session")
def iris() -> dl.Dataset:
    return dl.load_iris()


@pytest.fixture(scope="session")
def iris_split(iris):
    return dl.train_test_split(iris, test_size=0.25, seed=0)
