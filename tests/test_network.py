import numpy as np
import one_model
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import reference_loss_and_grad

import descentlab as dl
from descentlab.core.gradcheck import gradcheck


@pytest.mark.parametrize("hidden", [1, 2, 3, 16, 100])
def test_parameter_count_is_8nh_plus_3_and_the_sum_of_tensor_sizes(hidden):
    net = dl.MLP([4, hidden, 3])
    assert net.n_params == 8 * hidden + 3
    assert net.n_params == sum(size for _, _, size in net.describe())
    assert [shape for _, shape, _ in net.describe()] == [(hidden, 4), (hidden, 1), (3, hidden), (3, 1)]


def test_init_draws_every_parameter_from_the_seeded_normal():
    net = dl.MLP([4, 16, 3])
    p = net.init(seed=7, mu=0.5, sigma=2.0)
    assert np.array_equal(p.flat, np.random.default_rng(7).normal(0.5, 2.0, 131))
    assert p["W0"].shape == (16, 4) and p["b1"].shape == (3, 1)


@pytest.mark.parametrize("hidden", [1, 16])
@pytest.mark.parametrize("samples", [1, 112])
def test_analytic_gradient_equals_finite_differences_for_every_entry(iris_split, hidden, samples):
    train, _ = iris_split
    net = dl.MLP([4, hidden, 3])
    params = net.init(seed=3, sigma=1.0)
    report = gradcheck(net, params, train.X[:samples], train.y[:samples])
    assert [t.checked for t in report.tensors] == [size for _, _, size in net.describe()]
    assert report.max_rel_error < 1e-6, report


SHAPES = [[4, 1, 3], [4, 16, 3], [2, 5, 4], [3, 4, 6, 2], [4, 3]]


@pytest.mark.parametrize("sizes", SHAPES)
@pytest.mark.parametrize("activation", sorted(dl.ACTIVATIONS))
def test_vectorised_gradient_equals_the_per_sample_jacobian_chain(sizes, activation):
    rng = np.random.default_rng(sum(sizes))
    net = dl.MLP(sizes, activation)
    params = net.init(seed=1, sigma=0.7)
    X = rng.normal(size=(9, sizes[0]))
    y = rng.integers(0, sizes[-1], size=9)
    loss, grads = net.loss_and_grad(params, X, y)
    ref_loss, ref_grads = reference_loss_and_grad(net, params, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name in grads:
        scale = np.abs(ref_grads[name]).max()
        assert np.abs(grads[name] - ref_grads[name]).max() <= 1e-12 * scale, name


def test_reference_comparison_catches_a_broken_gradient():
    # The oracle must be able to fail: a gradient with one sign flipped is far from the reference.
    net = dl.MLP([4, 3, 3])
    params = net.init(seed=2)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 4)), rng.integers(0, 3, 5)
    _, grads = net.loss_and_grad(params, X, y)
    _, ref = reference_loss_and_grad(net, params, X, y)
    broken = -grads["b0"]
    assert np.abs(broken - ref["b0"]).max() > 1e-3 * np.abs(ref["b0"]).max()


def test_stacked_models_equal_separate_evaluations(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 5, 3])
    stack = np.stack([net.init(seed=s).flat for s in range(4)])
    objective = net.objective(train.X, train.y)
    losses, grads, correct = one_model.loss_grad_and_correct(objective, stack)
    grads = grads.copy()
    for m in range(4):
        loss, grad, c = one_model.loss_grad_and_correct(objective, stack[m])
        assert losses[m] == pytest.approx(loss, rel=1e-14)
        assert np.allclose(grads[m], grad, rtol=1e-13, atol=1e-16)
        assert correct[m] == c


def test_probabilities_sum_to_one_and_predict_is_their_argmax(iris):
    net = dl.MLP([4, 16, 3])
    params = net.init(seed=0)
    proba = net.predict_proba(params, iris.X)
    assert proba.shape == (150, 3)
    assert np.allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert np.array_equal(net.predict(params, iris.X), proba.argmax(axis=1))


def test_huge_weights_give_a_finite_loss_and_gradient(iris):
    # e^z for z ≈ 10^4 overflows any naive softplus or softmax; conftest turns that into an error.
    net = dl.MLP([4, 16, 3])
    params = net.init(seed=0, sigma=300.0)
    loss, grads = net.loss_and_grad(params, iris.X, iris.y)
    assert np.isfinite(loss) and loss > 100
    assert np.all(np.isfinite(grads.flat))


def test_loss_and_grad_leaves_its_inputs_alone_and_returns_independent_arrays(iris):
    net = dl.MLP([4, 4, 3])
    params = net.init(seed=0)
    before = params.flat.copy()
    X = iris.X.copy()
    _, g1 = net.loss_and_grad(params, X, iris.y)
    _, g2 = net.loss_and_grad(net.init(seed=1), X, iris.y)
    assert np.array_equal(params.flat, before) and np.array_equal(X, iris.X)
    assert not np.array_equal(g1.flat, g2.flat)


def test_params_from_arrays_checks_names_and_shapes():
    net = dl.MLP([4, 2, 3])
    arrays = net.init(seed=0).as_dict()
    assert np.array_equal(net.params(arrays).flat, net.init(seed=0).flat)
    with pytest.raises(ValueError, match="W0 has shape"):
        net.params({**arrays, "W0": np.zeros((4, 2))})
    with pytest.raises(ValueError, match="missing \\['b1'\\]"):
        net.params({k: v for k, v in arrays.items() if k != "b1"})


def test_bad_architecture_and_labels_are_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        dl.MLP([4, 1])
    with pytest.raises(ValueError, match="at least 1"):
        dl.MLP([4, 0, 3])
    net = dl.MLP([4, 3])
    with pytest.raises(ValueError, match="class indices in 0..2"):
        net.loss_and_grad(net.init(), np.zeros((2, 4)), np.array([0, 3]))
    with pytest.raises(ValueError, match="shape \\(S, 4\\)"):
        net.loss_and_grad(net.init(), np.zeros((2, 5)), np.array([0, 1]))


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 12), min_size=0, max_size=3),
    d=st.integers(1, 5),
    k=st.integers(2, 5),
    S=st.integers(1, 12),
    activation=st.sampled_from(sorted(dl.ACTIVATIONS)),
    seed=st.integers(0, 2**16),
)
def test_random_architectures_match_the_reference(widths, d, k, S, activation, seed):
    rng = np.random.default_rng(seed)
    net = dl.MLP([d, *widths, k], activation)
    params = net.init(seed=seed, sigma=0.5)
    X = rng.normal(size=(S, d))
    y = rng.integers(0, k, size=S)  # classes may be absent from the batch
    loss, grads = net.loss_and_grad(params, X, y)
    ref_loss, ref = reference_loss_and_grad(net, params, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name in grads:
        assert np.allclose(grads[name], ref[name], rtol=1e-10, atol=1e-13 * max(1.0, np.abs(ref[name]).max()))


def test_weight_decay_gradient_equals_finite_differences(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 5, 3])
    theta = net.init(seed=2, sigma=0.5).flat
    objective = net.objective(train.X, train.y, weight_decay=0.3)
    _, grad = one_model.loss_and_grad(objective, theta)
    grad = grad.copy()
    h = 1e-5
    for i in range(net.n_params):
        e = np.zeros(net.n_params)
        e[i] = h
        numeric = (one_model.loss(objective, theta + e) - one_model.loss(objective, theta - e)) / (2 * h)
        assert numeric == pytest.approx(grad[i], rel=1e-6, abs=1e-9)
    # Biases are not penalised: their gradient is the same with and without the penalty.
    _, plain = one_model.loss_and_grad(net.objective(train.X, train.y), theta)
    view, plain_view = dl.Params(grad, net.slots), dl.Params(plain, net.slots)
    assert np.array_equal(view["b0"], plain_view["b0"]) and np.array_equal(view["b1"], plain_view["b1"])
    assert np.allclose(view["W1"] - plain_view["W1"], 0.3 * dl.Params(theta, net.slots)["W1"], rtol=1e-12)


ENGINE_CASES = [
    ([4, 16, 3], "softplus", 0.0),
    ([4, 3], "softplus", 0.0),
    ([4, 9, 8, 3], "softplus", 0.05),
    ([4, 7, 6, 5, 3], "tanh", 0.0),
    ([4, 5, 3], "relu", 0.1),
    ([4, 6, 4, 3], "sigmoid", 0.0),
    ([4, 5, 3], "identity", 0.0),
]


@pytest.mark.parametrize(("sizes", "activation", "weight_decay"), ENGINE_CASES)
def test_compiled_engine_equals_numpy_engine(iris_split, sizes, activation, weight_decay):
    """The numba kernels compute the same loss, gradient and accuracy as the NumPy path, one model or stacked."""
    pytest.importorskip("numba")
    train, _ = iris_split
    net = dl.MLP(sizes, activation)
    for flat in (net.init(seed=3).flat, np.stack([net.init(seed=s).flat for s in range(3)])):
        plain = dl.Objective(net, train.X, train.y, weight_decay)
        fast = dl.Objective(net, train.X, train.y, weight_decay, engine="compiled")
        loss, grad, correct = one_model.loss_grad_and_correct(plain, flat)
        loss_c, grad_c, correct_c = one_model.loss_grad_and_correct(fast, flat)
        np.testing.assert_allclose(loss_c, loss, rtol=1e-14)
        np.testing.assert_allclose(grad_c, grad, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(correct_c, correct)
        forward, forward_correct = one_model.loss_and_correct(fast, flat)
        np.testing.assert_allclose(forward, loss, rtol=1e-14)
        np.testing.assert_array_equal(forward_correct, correct)


def test_compiled_engine_matches_the_per_sample_reference():
    pytest.importorskip("numba")
    net = dl.MLP([3, 6, 5, 4], "softplus")
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(9, 3)), rng.integers(0, 4, 9)
    params = net.init(seed=4, sigma=2.0)
    loss, grad = one_model.loss_and_grad(dl.Objective(net, X, y, engine="compiled"), params.flat)
    ref_loss, ref = reference_loss_and_grad(net, params, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    for name in params:
        np.testing.assert_allclose(dl.Params(grad, net.slots)[name], ref[name], rtol=1e-11, atol=1e-14)


def test_compiled_training_follows_numpy_training(iris_split):
    pytest.importorskip("numba")
    train, test = iris_split
    net = dl.MLP([4, 16, 3])
    for optimizer in (dl.GD(lr=0.01), dl.NAG(lr=0.01)):
        a = dl.fit(net, net.init(seed=0), train, optimizer, iterations=200, test=test)
        b = dl.fit(net, net.init(seed=0), train, optimizer, iterations=200, test=test, engine="compiled")
        np.testing.assert_allclose(b.params.flat, a.params.flat, rtol=1e-10, atol=1e-12)
        for field in ("train_loss", "test_loss", "grad_norm"):
            np.testing.assert_allclose(getattr(b.history, field), getattr(a.history, field), rtol=1e-10)
        np.testing.assert_array_equal(b.history.test_accuracy, a.history.test_accuracy)


def test_unknown_engine_is_refused(iris_split):
    train, _ = iris_split
    with pytest.raises(ValueError, match="engine must be one of"):
        dl.Objective(dl.MLP([4, 3]), train.X, train.y, engine="gpu")
