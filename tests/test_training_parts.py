"""The parts of the training loop (descentlab.training: oracle, guard, recorder, batches) and what fit makes of
them: one model in, one model out; a stack in, a stack out; a stack interrupted and resumed like one model."""

import contextlib

import numpy as np
import pytest

import descentlab as dl
from descentlab.core.objective import Objective, Want
from descentlab.training.batches import Batches
from descentlab.training.guard import DivergenceGuard, NonFiniteStart
from descentlab.training.oracle import CountingOracle
from descentlab.training.recorder import Recorder


@pytest.fixture(scope="module")
def setting(iris_split):
    train, test = iris_split
    net = dl.MLP([4, 6, 3])
    return net, train, test


def _stack(net, seeds):
    return np.stack([net.init(seed=s).flat for s in seeds])


def test_the_oracle_counts_the_methods_calls_and_serves_a_measured_point_from_its_cache(setting):
    net, train, _ = setting
    objective = Objective(net, train.X, train.y)
    oracle = CountingOracle(objective)
    x = _stack(net, [0, 1])
    oracle.measure(x)  # the loop's measurement: not the method's call
    assert (oracle.grad_evals, oracle.func_evals) == (0, 0)
    measured = oracle.grad
    loss, grad = oracle(x)
    assert grad is measured  # served from the cache, not evaluated again
    assert oracle.loss(x) is loss and (oracle.grad_evals, oracle.func_evals) == (1, 1)
    kept = grad.copy()
    other = x + 0.0  # equal values, another array: points are matched by identity, so this one is evaluated
    loss_other, grad_other = oracle(other)
    assert oracle.grad_evals == 2 and oracle.point is other
    np.testing.assert_array_equal(loss_other, loss)
    np.testing.assert_array_equal(grad_other, kept)
    oracle.loss(x + 1.0)  # a function value elsewhere: counted, and it leaves the cache alone
    assert oracle.func_evals == 2 and oracle.point is other


def test_the_guard_keeps_the_last_finite_parameters_of_a_diverging_model_and_lets_the_others_go_on():
    x0 = np.zeros((3, 2))
    guard = DivergenceGuard(x0, one_model=False)
    x1 = np.ones((3, 2))
    assert guard.check(1, x1, np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]))
    x2 = 2 * np.ones((3, 2))
    assert guard.check(2, x2, np.array([1.0, np.inf, 3.0]), np.array([1.0, 1.0, np.nan]))
    np.testing.assert_array_equal(guard.last_finite, [[2, 2], [1, 1], [1, 1]])
    assert guard.dead.tolist() == [False, True, True] and "2 of 3 models" in guard.stopped
    x3 = 3 * np.ones((3, 2))
    assert guard.check(3, x3, np.array([1.0, 1.0, 1.0]), None)  # a gone model stays gone
    np.testing.assert_array_equal(guard.last_finite, [[3, 3], [1, 1], [1, 1]])
    with pytest.raises(NonFiniteStart, match=r"models \[1\]"):
        DivergenceGuard(x0, one_model=False).check(0, x0, np.array([1.0, np.nan, 1.0]), None)


def test_one_model_going_non_finite_ends_the_run_naming_loss_or_gradient():
    x0 = np.zeros((1, 2))
    guard = DivergenceGuard(x0, one_model=True)
    assert not guard.check(4, x0, np.array([1.0]), np.array([np.inf]))
    assert "gradient became non-finite at iteration 4" in guard.stopped
    guard = DivergenceGuard(x0, one_model=True)
    assert not guard.check(4, x0, np.array([np.nan]), None) and "loss became non-finite" in guard.stopped
    with pytest.raises(NonFiniteStart, match="the initial parameters give"):
        DivergenceGuard(x0, one_model=True).check(0, x0, np.array([np.inf]), None)


def test_the_recorder_grows_its_history_and_shows_one_model_as_flat_fields(setting):
    net, train, _ = setting
    objective = Objective(net, train.X, train.y)
    for models, one_model, shape in ((1, True, (4,)), (1, False, (4, 1)), (2, False, (4, 2))):
        recorder = Recorder(objective.S, None, "all", 3, models, one_model)
        oracle = CountingOracle(objective)
        x = _stack(net, range(models))
        for k in range(4):
            recorder.measure(k, oracle, x)
            recorder.write(k, oracle, None)
        history = recorder.recorded(3)
        assert history.train_loss.shape == shape and np.all(np.isfinite(history.grad_norm))
        np.testing.assert_allclose(history.grad_norm.reshape(4, models)[0],
                                   np.linalg.norm(objective.evaluate(x, Want.GRADIENT).gradient, axis=1))
    with pytest.raises(ValueError, match="metrics must be"):
        Recorder(objective.S, None, "most", 3, 1, True)


def test_fit_returns_the_shape_it_was_given(setting):
    net, train, test = setting
    one = dl.fit(net, net.init(seed=0), train, dl.GD(lr=0.05), iterations=5, test=test)
    assert one.params.flat.shape == (net.n_params,) and one.history.test_loss.shape == (6,)
    many = dl.fit(net, dl.Params(_stack(net, [0, 1, 2]), net.slots), train, dl.GD(lr=0.05), iterations=5, test=test)
    assert many.params.flat.shape == (3, net.n_params) and many.history.test_loss.shape == (6, 3)
    np.testing.assert_array_equal(many.params.flat[0], one.params.flat)
    np.testing.assert_array_equal(many.history.grad_evals[:, 0], one.history.grad_evals)


@pytest.mark.parametrize("batch_size", [None, 20])
def test_a_stack_of_models_is_interrupted_and_resumed_bit_for_bit(setting, batch_size):
    net, train, test = setting
    params = dl.Params(_stack(net, [0, 5]), net.slots)

    def run(**extra):
        return dl.fit(net, params, train, dl.NAG(lr=0.05), iterations=30, test=test, batch_size=batch_size, **extra)

    whole = run()
    calls = iter(range(100))
    first = run(should_stop=lambda: next(calls) == 11)
    assert first.interrupted and first.history.train_loss.shape == (12, 2)
    rest = run(resume=first)
    np.testing.assert_array_equal(rest.params.flat, whole.params.flat)
    for name, values in whole.history.as_dict().items():
        np.testing.assert_array_equal(getattr(rest.history, name), values, err_msg=name)


def test_batches_resume_where_they_stopped():
    batches = Batches(10, 4, seed=3)
    next(batches)
    saved = batches.state()
    later = [next(batches) for _ in range(5)]
    again = Batches(10, 4, seed=99)
    again.restore(saved)
    assert all(np.array_equal(a, next(again)) for a in later)


_DIGITS_SIZED_FIT = """
import hashlib, sys
import contextlib

import numpy as np
import descentlab as dl
from descentlab.core.engines import fused
rng = np.random.default_rng(0)
X, y = rng.standard_normal((1347, 64)), rng.integers(0, 10, 1347)
data = dl.Dataset(X, y, tuple(f"x{i}" for i in range(64)), tuple(str(i) for i in range(10)))
net = dl.MLP([64, 16, 10])
stack = dl.Params(np.stack([net.init(seed=seed).flat for seed in range(30)]), net.slots)  # 3 chunks of 10
if sys.argv[1] == "blocks":  # one model, its samples in 5 blocks of 269 or 270
    fused.CHUNK_BYTES, stack = 16 * 270 * 8, dl.Params(stack.flat[0], net.slots)
result = dl.fit(net, stack, data, dl.NAG(lr=0.05), iterations=20, engine="numpy")
print(hashlib.sha256(result.params.flat.tobytes() + result.history.grad_norm.tobytes()).hexdigest())
"""


@pytest.mark.parametrize("split", ["chunks", "blocks"])
def test_a_small_problem_gives_the_same_bits_whatever_threads_blas_is_given(split):
    """As in process (BLAS on every core) and on a Dask worker (one thread): OpenBLAS's reductions split
    differently by thread count, so fit itself chooses one thread for matrices this small, and gives BLAS's threads
    to the stack's chunks, or to a model's blocks of samples (1, 2 or 3 threads here), whose numbers do not depend
    on the thread that makes them."""
    import os
    import subprocess
    import sys

    digests = {subprocess.run([sys.executable, "-c", _DIGITS_SIZED_FIT, split], capture_output=True, text=True,
                              check=True, env={**os.environ, "OPENBLAS_NUM_THREADS": threads,
                                               "OMP_NUM_THREADS": threads},
                              timeout=300).stdout for threads in ("1", "2", "3")}
    assert len(digests) == 1, digests


def test_an_evaluation_in_chunks_trains_on_one_blas_thread_and_one_large_product_on_blas_own():
    """64 digits-sized models are evaluated a few at a time, and one model on 60000 × 784 → 256 a block of samples
    at a time, whose products are small: one BLAS thread (with a core busy elsewhere, two threads waiting on each
    other made such a sweep 2.7× slower; bench/RESULTS.md), and BLAS's threads take the chunks instead. A model
    evaluated whole whose products are large (100 samples, 3000 → 1000 → 10) keeps BLAS's own threads."""
    from threadpoolctl import threadpool_info

    from descentlab.core.engines.fused import CHUNK_THREADS
    from descentlab.training.fit import SMALL_WORK, blas_threads

    def blas_thread_counts() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    default = blas_thread_counts()
    for net, rows, models in ((dl.MLP([64, 32, 10]), 1797, 64), (dl.MLP([784, 256, 10]), 60000, 1)):
        with blas_threads(net, rows, models, 8):
            assert blas_thread_counts() == {1}
            assert CHUNK_THREADS.get() == max(default)  # BLAS's threads go to the chunks
    wide = dl.MLP([3000, 1000, 10])
    assert 100 * wide.n_params >= SMALL_WORK
    with blas_threads(wide, 100, 1, 8):
        assert blas_thread_counts() == default and CHUNK_THREADS.get() == 1
    assert blas_thread_counts() == default and CHUNK_THREADS.get() == 1


def test_two_fits_in_two_threads_keep_blas_on_one_thread_until_both_end_and_then_give_its_threads_back():
    """BLAS's thread count is the process's: fit A ends while fit B, in another thread, still trains; B must go on
    with one BLAS thread (its numbers those of a fit alone), and BLAS must have its own count again after both."""
    import threading

    from threadpoolctl import threadpool_info

    def blas_thread_counts() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    iris = dl.load_iris()
    net = dl.MLP([4, 16, 3])
    alone = dl.fit(net, net.init(seed=0), iris, dl.GD(lr=0.05), iterations=30, engine="numpy")
    default, b_started, a_done, seen_by_b = blas_thread_counts(), threading.Event(), threading.Event(), []

    def a_waits_for_b(k, history):
        if k == 1:
            assert b_started.wait(60)

    def b_outlives_a(k, history):
        if k == 1:
            b_started.set()
            assert a_done.wait(60)
        if k == 2:
            seen_by_b.append(blas_thread_counts())

    def fit_a():
        dl.fit(net, net.init(seed=1), iris, dl.GD(lr=0.05), iterations=5, callback=a_waits_for_b, engine="numpy")
        a_done.set()

    results = []
    threads = [threading.Thread(target=fit_a),
               threading.Thread(target=lambda: results.append(dl.fit(
                   net, net.init(seed=0), iris, dl.GD(lr=0.05), iterations=30, callback=b_outlives_a,
                   engine="numpy")))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert seen_by_b == [{1}]  # A had ended: BLAS still on one thread for B
    assert blas_thread_counts() == default
    assert results[0].params.flat.tobytes() == alone.params.flat.tobytes()


def test_fit_chooses_blas_threads_for_the_rows_its_steps_see(monkeypatch):
    """A mini-batch of 1000 rows of 60000 × 784 → 256 is one large product, not split: BLAS's threads pay for it
    (1.6× per step against one thread), though the whole set, measured at every iterate, is split in blocks."""
    from descentlab.training import fit as fit_module

    seen, chosen = [], fit_module.blas_threads

    def recorded(net, rows, models, itemsize):
        seen.append(rows)
        return chosen(net, rows, models, itemsize)

    monkeypatch.setattr(fit_module, "blas_threads", recorded)
    iris, net = dl.load_iris(), dl.MLP([4, 16, 3])
    dl.fit(net, net.init(seed=0), iris, dl.GD(lr=0.05), iterations=2, batch_size=32)
    assert seen == [32] + [iris.n_samples] * 3  # the steps', then the whole set's at each of the 3 measurings
    seen.clear()
    dl.fit(net, net.init(seed=0), iris, dl.GD(lr=0.05), iterations=2)
    assert seen == [iris.n_samples]
    large = dl.MLP([784, 256, 10])
    assert isinstance(chosen(large, 1000, 1, 4), contextlib.nullcontext)
    assert not isinstance(chosen(large, 60000, 1, 4), contextlib.nullcontext)


def test_a_fit_gives_other_threads_their_blas_limits_back_and_an_interrupt_on_entry_leaves_blas_as_it_was(
        monkeypatch):
    """threadpoolctl lets one thread at a time set OpenBLAS's count until it gives control back: after a fit, a
    limit set in another thread (scikit-learn's, say) must still work; and a Ctrl-C right after fit limited BLAS
    must not leave it limited."""
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    from descentlab.training import fit as fit_module

    def blas_thread_counts() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    iris, net = dl.load_iris(), dl.MLP([4, 16, 3])
    default = blas_thread_counts()
    dl.fit(net, net.init(seed=0), iris, dl.GD(lr=0.05), iterations=2, engine="numpy")
    seen = []

    def limited_elsewhere():
        with threadpool_limits(1, user_api="blas"):
            seen.append(blas_thread_counts())

    other = threading.Thread(target=limited_elsewhere)
    other.start()
    other.join(60)
    assert seen == [{1}] and blas_thread_counts() == default

    class Interrupting:
        def set(self, threads):
            raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "CHUNK_THREADS", Interrupting())
    with pytest.raises(KeyboardInterrupt):
        dl.fit(net, net.init(seed=0), iris, dl.GD(lr=0.05), iterations=2, engine="numpy")
    assert blas_thread_counts() == default and fit_module._ONE_BLAS_THREAD._fits == 0


def test_with_mini_batches_of_one_large_product_the_steps_keep_blas_threads_and_the_measuring_takes_them(
        monkeypatch):
    """1000-row batches of 784 → 256 → 10 are one product each, which BLAS's threads make faster; the whole
    training set of 1200 rows, measured at every iterate, is split into blocks, which the threads take instead."""
    from threadpoolctl import threadpool_info

    from descentlab.core.engines.fused import CHUNK_THREADS
    from descentlab.training.recorder import Clock

    def threads_now() -> tuple[set[int], int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}, CHUNK_THREADS.get()

    seen: dict[str, set] = {"step": set(), "measure": set()}
    step, measure = Clock.step, Clock.measure

    def stepping(self, *args):
        seen["step"].add(str(threads_now()))
        return step(self, *args)

    def measuring(self, *args):
        seen["measure"].add(str(threads_now()))
        return measure(self, *args)

    monkeypatch.setattr(Clock, "step", stepping)
    monkeypatch.setattr(Clock, "measure", measuring)
    rng = np.random.default_rng(0)
    data = dl.Dataset(rng.standard_normal((1200, 784)), rng.integers(0, 10, 1200), tuple(f"x{i}" for i in range(784)),
                      tuple(str(i) for i in range(10)))
    net = dl.MLP([784, 256, 10])
    default = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    dl.fit(net, net.init(seed=0, sigma=0.05), data, dl.GD(lr=0.1), iterations=2, batch_size=1000, engine="numpy")
    assert seen["step"] == {str((default, 1))}
    assert seen["measure"] == {str(({1}, max(default)))}
