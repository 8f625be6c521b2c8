"""Objective.evaluate: what Want asks for is what Evaluation holds, for a stack of M models (M = 1 is one model)."""

import numpy as np
import pytest

import descentlab as dl
from descentlab import Evaluation, Want


@pytest.fixture
def problem(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 5, 3])
    return net, net.objective(train.X, train.y), np.stack([net.init(seed=s).flat for s in range(3)])


def test_the_loss_alone_is_the_default(problem):
    net, objective, stack = problem
    result = objective.evaluate(stack)
    assert isinstance(result, Evaluation)
    assert result.loss.shape == (3,) and result.gradient is None and result.correct is None


@pytest.mark.parametrize("models", [1, 3])
def test_gradient_and_correct_come_with_the_shapes_of_the_stack(problem, models):
    net, objective, stack = problem
    x = stack[:models]
    result = objective.evaluate(x, Want.GRADIENT | Want.CORRECT)
    assert result.loss.shape == (models,) and result.correct.shape == (models,)
    assert result.gradient.shape == (models, net.n_params)
    for m in range(models):
        loss, grads = net.loss_and_grad(net.init(seed=m), *_rows(objective))
        assert result.loss[m] == pytest.approx(loss, rel=1e-14)
        np.testing.assert_allclose(result.gradient[m], grads.flat, rtol=1e-12, atol=1e-16)
        assert result.correct[m] == np.sum(net.predict(net.init(seed=m), _rows(objective)[0]) == objective.y)


def test_want_loss_is_always_computed_and_flags_combine(problem):
    assert Want.LOSS | Want.GRADIENT == Want.GRADIENT
    assert Want.GRADIENT not in Want.CORRECT
    _, objective, stack = problem
    loss = objective.evaluate(stack).loss
    for want in (Want.GRADIENT, Want.CORRECT, Want.GRADIENT | Want.CORRECT):
        assert np.array_equal(objective.evaluate(stack, want).loss, loss)


def test_an_evaluation_is_frozen(problem):
    _, objective, stack = problem
    result = objective.evaluate(stack)
    with pytest.raises(AttributeError):
        result.loss = np.zeros(3)  # type: ignore[misc]


def test_a_single_parameter_vector_is_refused_by_evaluate(problem):
    _, objective, stack = problem
    with pytest.raises(ValueError, match=r"stack of models of shape \(M, 43\)"):
        objective.evaluate(stack[0])


def _rows(objective):
    return np.asarray(objective.batch.A0).T, objective.y
