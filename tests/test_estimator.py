"""DescentClassifier: scikit-learn's own estimator checks, its tools, and agreement with the core."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import descentlab as dl  # noqa: E402
from descentlab.estimator import DescentClassifier  # noqa: E402


# Every check of scikit-learn's check_estimator passes; none needs to be marked as an expected failure. Two are
# skipped by scikit-learn itself when their optional inputs are missing: the array-API check (needs
# SCIPY_ARRAY_API=1 and array-api-strict) and the pandas-input check (pandas is not a test dependency).
@parametrize_with_checks([DescentClassifier()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_check_estimator_passes_as_a_whole():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(DescentClassifier(), on_skip=None)  # the two skips above are reported by the parametrized test


def test_it_is_reachable_from_the_package_root():
    assert dl.DescentClassifier is DescentClassifier


def test_fit_is_the_core_fit(iris_split):
    train, test = iris_split
    model = DescentClassifier(hidden_layer_sizes=(16,), optimizer="nag", lr=0.01, iterations=120).fit(train.X, train.y)
    net = dl.MLP([4, 16, 3])
    core = dl.fit(net, net.init(seed=0), train, dl.NAG(lr=0.01), iterations=120)
    np.testing.assert_array_equal(model.loss_curve_, core.history.train_loss)
    np.testing.assert_array_equal(model.params_.flat, core.params.flat)
    np.testing.assert_array_equal(model.predict_proba(test.X), net.predict_proba(core.params, test.X))
    assert model.score(test.X, test.y) == np.mean(net.predict(core.params, test.X) == test.y)
    assert model.n_iter_ == 120 and len(model.loss_curve_) == 121


def test_string_labels_and_standardisation_round_trip(iris):
    names = np.array(["setosa", "versicolor", "virginica"])[iris.y]
    model = DescentClassifier(standardize=True, iterations=200, lr=0.1).fit(iris.X * 100.0, names)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    predicted = model.predict(iris.X * 100.0)
    assert set(predicted) <= set(model.classes_) and np.mean(predicted == names) > 0.9
    mean, std = iris.X.mean(axis=0) * 100.0, iris.X.std(axis=0) * 100.0
    np.testing.assert_allclose(model.standardizer_.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(model.standardizer_.scale, std, rtol=1e-12)


def test_get_and_set_params():
    model = DescentClassifier(lr=0.05, optimizer="gd")
    assert model.get_params()["lr"] == 0.05 and model.get_params()["optimizer"] == "gd"
    model.set_params(lr=0.2, hidden_layer_sizes=(8, 4))
    assert model.lr == 0.2 and model.hidden_layer_sizes == (8, 4)


def test_pipeline_and_cross_validation(iris):
    pipeline = make_pipeline(StandardScaler(), DescentClassifier(lr=0.1, iterations=200))
    scores = cross_val_score(pipeline, iris.X, iris.y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85


def test_grid_search_over_learning_rate_and_optimizer(iris):
    search = GridSearchCV(DescentClassifier(iterations=150), {"lr": [0.005, 0.02], "optimizer": ["gd", "nag"]}, cv=3)
    search.fit(iris.X, iris.y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["optimizer"] in ("gd", "nag") and search.best_params_["lr"] in (0.005, 0.02)
    # With 150 steps from the same start, NAG's training loss beats GD's at either step size.
    for lr in (0.005, 0.02):
        gd = DescentClassifier(iterations=150, lr=lr, optimizer="gd").fit(iris.X, iris.y).loss_curve_[-1]
        nag = DescentClassifier(iterations=150, lr=lr, optimizer="nag").fit(iris.X, iris.y).loss_curve_[-1]
        assert nag < gd


def test_bad_hyper_parameters_are_reported_at_fit(iris):
    with pytest.raises(ValueError, match="learning rate"):
        DescentClassifier(lr=-1.0).fit(iris.X, iris.y)
    with pytest.raises(ValueError, match="unknown optimiser"):
        DescentClassifier(optimizer="newton").fit(iris.X, iris.y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        DescentClassifier().fit(iris.X[:10], np.zeros(10))
