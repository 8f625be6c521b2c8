import dataclasses
import re

import numpy as np
import one_model
import pytest

import descentlab as dl


@pytest.fixture(scope="module")
def setting(iris_split):
    train, test = iris_split
    net = dl.MLP([4, 16, 3])
    return net, net.init(seed=0), train, test


def test_history_has_k_plus_one_entries_measured_at_the_exported_iterate(setting):
    net, p0, train, test = setting
    result = dl.fit(net, p0, train, dl.NAG(lr=0.01), iterations=20, test=test)
    h = result.history
    assert len(h) == 21 and result.iterations == 20 and result.stopped is None
    # Re-run the optimiser by hand: entry k is the loss at p_k, not at the look-ahead q_k.
    objective = net.objective(train.X, train.y)
    opt = dl.NAG(lr=0.01)
    state = opt.init(p0.flat)
    for k in range(21):
        if k:
            state = opt.step(state, lambda x: tuple(np.copy(v) for v in one_model.loss_and_grad(objective, x)))
        assert h.train_loss[k] == net.loss(net.params(dict(dl.Params(state.x, net.slots))), train.X, train.y)
        assert h.test_accuracy[k] == np.mean(net.predict(dl.Params(state.x, net.slots), test.X) == test.y)
    assert np.array_equal(result.params.flat, state.x)
    _, g = net.loss_and_grad(result.params, train.X, train.y)
    assert h.grad_norm[-1] == pytest.approx(np.linalg.norm(g.flat), rel=1e-12)


def test_same_seed_gives_identical_history_and_inputs_are_untouched(setting):
    net, p0, train, test = setting
    before = p0.flat.copy()
    a = dl.fit(net, p0, train, dl.NAG(lr=0.01), iterations=30, test=test)
    b = dl.fit(net, net.init(seed=0), train, dl.NAG(lr=0.01), iterations=30, test=test)
    for name, values in a.history.as_dict().items():
        assert np.array_equal(values, getattr(b.history, name)), name
    assert np.array_equal(p0.flat, before)
    assert a.params.flat is not p0.flat


def test_gd_decreases_the_training_loss_monotonically_at_lr_001(setting):
    net, p0, train, test = setting
    loss = dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=350).history.train_loss
    assert np.all(np.diff(loss) < 0)
    assert np.all(np.isnan(dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=2).history.test_loss))


def test_gd_moves_every_parameter_tensor(setting):
    # The original defect: misspelled keys meant GD updated nothing.
    net, p0, train, _ = setting
    p1 = dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=1).params
    for name in p0:
        assert not np.array_equal(p1[name], p0[name]), name
    _, g = net.loss_and_grad(p0, train.X, train.y)
    assert np.allclose(p1.flat, p0.flat - 0.01 * g.flat, rtol=1e-15, atol=0)


@pytest.mark.parametrize("sigma,lr", [(10.0, 0.01), (1.0, 1.0), (10.0, 1.0)])
def test_harsh_settings_raise_no_floating_point_warning(setting, sigma, lr):
    net, _, train, test = setting
    result = dl.fit(net, net.init(seed=0, sigma=sigma), train, dl.NAG(lr=lr), iterations=350, test=test)
    assert np.all(np.isfinite(result.params.flat))
    assert len(result.history) == result.iterations + 1
    # fit silences floating-point warnings on purpose (it detects divergence itself), so replay the same
    # steps outside it, where conftest turns any overflow or invalid operation into an error.
    objective, test_objective = net.objective(train.X, train.y), net.objective(test.X, test.y)
    optimizer = dl.NAG(lr=lr)
    state = optimizer.init(net.init(seed=0, sigma=sigma).flat)
    for _ in range(350):
        state = optimizer.step(state, (lambda x: one_model.loss_and_grad(objective, x)))
        one_model.loss_and_correct(test_objective, state.x)
    assert np.array_equal(state.x, result.params.flat)


def test_a_diverging_run_stops_with_the_last_finite_iterate(setting):
    net, p0, train, test = setting
    result = dl.fit(net, p0, train, dl.GD(lr=1e200), iterations=50, test=test)
    assert result.stopped is not None and "non-finite" in result.stopped
    assert result.iterations < 50 and len(result.history) == result.iterations + 1
    assert np.all(np.isfinite(result.params.flat))
    assert np.all(np.isfinite(result.history.train_loss))


def test_callback_sees_every_iteration(setting):
    net, p0, train, _ = setting
    seen = []
    dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=5, callback=lambda k, h: seen.append(k))
    assert seen == [0, 1, 2, 3, 4, 5]


def test_minibatches_cover_every_row_once_per_epoch_and_follow_the_seed():
    from descentlab.training.batches import Batches

    batches = Batches(10, 4, seed=3)
    epoch = [next(batches) for _ in range(3)]
    assert [b.size for b in epoch] == [4, 4, 2]
    assert sorted(np.concatenate(epoch).tolist()) == list(range(10))
    again = Batches(10, 4, seed=3)
    assert all(np.array_equal(a, next(again)) for a in epoch)


def test_minibatch_training_is_seeded_and_full_batch_is_the_default(setting):
    net, p0, train, test = setting
    full = dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=10)
    same = dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=10, batch_size=train.n_samples)
    assert np.array_equal(full.params.flat, same.params.flat)
    a = dl.fit(net, p0, train, dl.NAG(lr=0.01), iterations=30, batch_size=16, seed=1)
    b = dl.fit(net, p0, train, dl.NAG(lr=0.01), iterations=30, batch_size=16, seed=1)
    c = dl.fit(net, p0, train, dl.NAG(lr=0.01), iterations=30, batch_size=16, seed=2)
    assert np.array_equal(a.params.flat, b.params.flat) and not np.array_equal(a.params.flat, c.params.flat)
    assert a.history.grad_evals[-1] == 30
    # One step on the first batch is exactly GD on those 16 rows.
    from descentlab.training.batches import Batches

    rows = next(Batches(train.n_samples, 16, seed=1))
    _, g = net.loss_and_grad(p0, train.X[rows], train.y[rows])
    one = dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=1, batch_size=16, seed=1)
    assert np.allclose(one.params.flat, p0.flat - 0.01 * g.flat, rtol=1e-15, atol=0)


@pytest.mark.parametrize("spec", ["gd", "nag", "momentum"])
def test_loss_only_history_has_the_same_losses_and_evaluation_counts(iris_split, spec):
    train, test = iris_split
    net = dl.MLP([4, 16, 3])
    p0 = net.init(seed=0)
    full = dl.fit(net, p0, train, dl.parse_optimizer(spec), iterations=60, test=test)
    lean = dl.fit(net, p0, train, dl.parse_optimizer(spec), iterations=60, test=test, metrics="loss")
    np.testing.assert_array_equal(lean.params.flat, full.params.flat)
    np.testing.assert_array_equal(lean.history.train_loss, full.history.train_loss)
    np.testing.assert_array_equal(lean.history.grad_evals, full.history.grad_evals)
    for field in ("train_accuracy", "test_loss", "test_accuracy", "grad_norm"):
        assert np.all(np.isnan(getattr(lean.history, field)))
    with pytest.raises(ValueError, match="metrics must be"):
        dl.fit(net, p0, train, dl.GD(), iterations=1, metrics="some")


def test_float32_training_follows_float64(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 16, 3])
    p0 = net.init(seed=0)
    p32 = dl.Params(p0.flat.astype(np.float32), net.slots)
    r64 = dl.fit(net, p0, train, dl.NAG(lr=0.01), iterations=50, metrics="loss")
    r32 = dl.fit(net, p32, train, dl.NAG(lr=0.01), iterations=50, metrics="loss")
    assert r32.params.flat.dtype == np.float32
    np.testing.assert_allclose(r32.history.train_loss, r64.history.train_loss, rtol=1e-4)
    objective = dl.Objective(net, train.X, train.y, dtype=np.float32)
    with pytest.raises(ValueError, match="float64 but this objective computes in float32"):
        one_model.loss(objective, p0.flat)


@pytest.mark.parametrize("spec", ["gd", "nag", "nag:restart=function", "momentum", "sutskever", "adam",
                                  "gd-armijo:lr=1"])
@pytest.mark.parametrize("batch_size", [None, 20])
def test_an_interrupted_run_resumes_to_bit_identical_parameters(iris_split, spec, batch_size):
    train, test = iris_split
    net = dl.MLP([4, 6, 3])
    p0 = net.init(seed=3)

    def run(**extra):
        return dl.fit(net, p0, train, dl.parse_optimizer(spec, lr=0.05), iterations=60, test=test,
                      batch_size=batch_size, seed=7, **extra)

    whole = run()
    calls = iter(range(10**6))
    first = run(should_stop=lambda: next(calls) == 23)
    assert first.interrupted and first.iterations == 23 and len(first.history) == 24
    rest = run(resume=first)
    assert not rest.interrupted and rest.iterations == 60
    assert np.array_equal(rest.params.flat, whole.params.flat)  # bit for bit
    for name, values in whole.history.as_dict().items():
        np.testing.assert_array_equal(getattr(rest.history, name), values, err_msg=name)


@pytest.mark.parametrize("stop_at", [2, 20])
def test_a_stack_with_a_diverged_model_resumes_to_the_uninterrupted_run(iris_split, stop_at):
    # model 1 goes non-finite within a few steps; the others carry on, and so must a resumed run
    train, test = iris_split
    net = dl.MLP([4, 6, 3])
    p0 = dl.Params(np.stack([net.init(seed=s).flat for s in range(3)]), net.slots)

    def run(**extra):
        return dl.fit(net, p0, train, dl.GD(lr=np.array([[0.05], [1e300], [0.1]])), iterations=40, test=test,
                      **extra)

    whole = run()
    assert "models [1]" in whole.stopped and np.isfinite(whole.params.flat).all()
    calls = iter(range(10**6))
    first = run(should_stop=lambda: next(calls) == stop_at)
    assert first.interrupted and first.state is not None and np.isfinite(first.params.flat).all()
    rest = run(resume=first)
    assert rest.stopped == whole.stopped
    assert np.array_equal(rest.params.flat, whole.params.flat)
    for name, values in whole.history.as_dict().items():
        np.testing.assert_array_equal(getattr(rest.history, name), values, err_msg=name)


def test_only_interrupted_runs_can_be_resumed(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 3])
    done = dl.fit(net, net.init(), train, dl.GD(), iterations=5)
    with pytest.raises(ValueError, match="only an interrupted run"):
        dl.fit(net, net.init(), train, dl.GD(), iterations=10, resume=done)


@pytest.mark.parametrize("other", [dl.Adam(), dl.Momentum(), dl.GD(lr=0.02), dl.RestartedNAG(restart="function")])
def test_resuming_with_another_optimiser_is_refused_naming_both(iris_split, other):
    train, test = iris_split
    net = dl.MLP([4, 16, 3])
    asked = iter([False, False, True])
    started_with = dl.NAG() if isinstance(other, dl.NAG) else dl.GD()
    first = dl.fit(net, net.init(), train, started_with, iterations=10, should_stop=lambda: next(asked))
    assert first.interrupted
    with pytest.raises(ValueError, match=rf"interrupted with {re.escape(repr(first.optimizer))} with another "
                                         rf"optimiser, {re.escape(repr(other))}"):
        dl.fit(net, net.init(), train, other, iterations=10, resume=first)
    # without its optimiser (as read back from a checkpoint) the state's type still tells them apart
    anonymous = dataclasses.replace(first, optimizer=None)
    if type(other.init(np.zeros(1))) is not type(first.state):
        with pytest.raises(ValueError, match=rf"whose state is {type(first.state).__name__} with another optimiser"):
            dl.fit(net, net.init(), train, other, iterations=10, resume=anonymous)
