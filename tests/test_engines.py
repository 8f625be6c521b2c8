"""The engine protocol: every engine computes what the reference engine (the derivation written out) computes, to
rounding, for every activation, one model and a stack, float64 and float32; ``engine="auto"`` picks by run length;
numba's cache lands outside the package folder."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import descentlab as dl
from descentlab import Want
from descentlab.core import engines
from descentlab.core.engines import AUTO_COMPILED_FROM, choose_engine, engine_factory
from descentlab.core.engines.base import Batch, Evaluation

NEEDS_NUMBA = pytest.mark.skipif(not engines.compiled_available(), reason="needs numba")
FAST = ["numpy", pytest.param("compiled", marks=NEEDS_NUMBA), pytest.param("simd", marks=NEEDS_NUMBA)]
EVERYTHING = Want.GRADIENT | Want.CORRECT
TOLERANCE = {np.float64: (1e-12, 1e-14), np.float32: (2e-4, 1e-5)}


def _case(sizes, activation, models, dtype, seed=0):
    rng = np.random.default_rng(seed)
    net = dl.MLP(sizes, activation)
    X, y = rng.normal(size=(23, sizes[0])), rng.integers(0, sizes[-1], 23)
    x = np.stack([net.init(seed=seed + m).flat for m in range(models)]).astype(dtype)
    return net, X, y, x


@pytest.mark.parametrize("engine", FAST)
@pytest.mark.parametrize("activation", sorted(dl.ACTIVATIONS))
@pytest.mark.parametrize("models", [1, 4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_engine_agrees_with_the_reference_engine(engine, activation, models, dtype):
    net, X, y, x = _case([3, 6, 5, 4], activation, models, dtype)
    reference = dl.Objective(net, X, y, 0.05, dtype=dtype, engine="reference").evaluate(x, EVERYTHING)
    fast = dl.Objective(net, X, y, 0.05, dtype=dtype, engine=engine)
    rtol, atol = TOLERANCE[dtype]
    for want in (EVERYTHING, Want.LOSS):
        result = fast.evaluate(x, want)
        assert result.loss.shape == (models,) and result.loss.dtype == dtype
        np.testing.assert_allclose(result.loss, reference.loss, rtol=rtol)
    result = fast.evaluate(x, EVERYTHING)
    assert result.gradient is not None and result.gradient.shape == x.shape and result.gradient.dtype == dtype
    np.testing.assert_allclose(result.gradient, reference.gradient, rtol=rtol * 100, atol=atol)
    np.testing.assert_array_equal(result.correct, reference.correct)


@pytest.mark.parametrize("engine", FAST)
@pytest.mark.parametrize("rows", [600, 1000])
def test_a_stack_too_large_for_the_caches_is_evaluated_in_chunks_with_the_same_numbers(engine, rows, monkeypatch):
    # 11 models, 3 to a chunk: four chunks of 2 or 3 models (two workspace sizes), each chunk's numbers those of the
    # chunk evaluated alone, bit for bit; the whole stack's those of the reference engine to rounding. Beyond the
    # compiled kernels' whole-stack size; with 600 rows one model is within it (the kernels' backward pass for each
    # chunk), with 1000 not (BLAS's)
    from descentlab.core.engines import compiled

    net, X, y, x = _chunked_case(monkeypatch, rows)
    assert (rows * (3 * 6 + 6 * 5 + 5 * 4) <= compiled.FUSED_MAX_MACS) == (rows == 600)
    chunked = dl.Objective(net, X, y, 0.05, engine=engine)
    alone = dl.Objective(net, X, y, 0.05, engine=engine)
    reference = dl.Objective(net, X, y, 0.05, engine="reference").evaluate(x, EVERYTHING)
    for _ in range(2):  # the second call reuses the chunks' buffers
        result = chunked.evaluate(x, EVERYTHING)
        for part in (slice(0, 2), slice(2, 5), slice(5, 8), slice(8, 11)):
            part_alone = alone.evaluate(x[part], EVERYTHING)
            assert np.array_equal(result.loss[part], part_alone.loss)
            assert np.array_equal(result.gradient[part], part_alone.gradient)
        np.testing.assert_array_equal(result.correct, reference.correct)
        np.testing.assert_allclose(result.gradient, reference.gradient, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(result.loss, reference.loss, rtol=1e-12)
    kernel = getattr(chunked._engine, "fused", chunked._engine)  # the compiled engine hands large stacks to NumPy's
    assert sorted(kernel._works) == [(2, rows), (3, rows)]  # it did work in chunks
    assert np.array_equal(chunked.evaluate(x, Want.LOSS).loss, result.loss)
    assert chunked.evaluate(x, Want.LOSS).gradient is None and chunked.evaluate(x, Want.LOSS).correct is None


def _chunked_case(monkeypatch, rows=1000):
    """11 models of 3 → 6 → 5 → 4 on ``rows`` rows, 3 models to a chunk: four chunks of 2 or 3 models."""
    from descentlab.core.engines import fused

    net, _, _, x = _case([3, 6, 5, 4], "softplus", 11, np.float64)
    X, y = np.random.default_rng(1).normal(size=(rows, 3)), np.arange(rows) % 4
    monkeypatch.setattr(fused, "CHUNK_BYTES", 3 * 6 * len(y) * 8)
    return net, X, y, x


def _blocked_case(monkeypatch, rows=1000):
    """3 models of 3 → 6 → 5 → 4 on ``rows`` rows, one model's widest layer too large: blocks of at most 60
    samples (17 of 58 or 59 for 1000 rows)."""
    from descentlab.core.engines import fused

    net, _, _, x = _case([3, 6, 5, 4], "softplus", 3, np.float64)
    X, y = np.random.default_rng(1).normal(size=(rows, 3)), np.arange(rows) % 4
    monkeypatch.setattr(fused, "CHUNK_BYTES", 6 * 60 * 8)
    return net, X, y, x


@pytest.mark.parametrize("engine", FAST)
@pytest.mark.parametrize("rows", [600, 1000])
def test_a_model_too_large_for_the_caches_is_evaluated_in_blocks_of_samples_that_add_up(engine, rows, monkeypatch):
    # each model's loss and gradient are the sums of its blocks' parts: the reference engine's numbers to
    # rounding, the correct counts exactly, and each model's the same bits in the stack as alone. Within the
    # compiled kernels' size with 600 rows (their backward pass would read the whole batch: BLAS's then), not 1000
    net, X, y, x = _blocked_case(monkeypatch, rows)
    blocked = dl.Objective(net, X, y, 0.05, engine=engine)
    kernel = getattr(blocked._engine, "fused", blocked._engine)
    sizes = [block.S for block in kernel.blocks]
    assert sum(sizes) == rows and len(sizes) == -(-rows // 60) and max(sizes) - min(sizes) <= 1
    reference = dl.Objective(net, X, y, 0.05, engine="reference").evaluate(x, EVERYTHING)
    for _ in range(2):  # the second call reuses the blocks' buffers
        result = blocked.evaluate(x, EVERYTHING)
        np.testing.assert_array_equal(result.correct, reference.correct)
        np.testing.assert_allclose(result.gradient, reference.gradient, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(result.loss, reference.loss, rtol=1e-12)
    assert sorted(kernel._works) == sorted({(1, size) for size in sizes})
    for m in range(3 if engine == "numpy" or rows == 1000 else 0):  # 600 rows: one model alone is the kernels'
        alone = blocked.evaluate(x[m:m + 1], EVERYTHING)
        assert np.array_equal(alone.loss, result.loss[m:m + 1])
        assert np.array_equal(alone.gradient, result.gradient[m:m + 1])
    loss_only = blocked.evaluate(x, Want.LOSS)
    assert np.array_equal(loss_only.loss, result.loss) and loss_only.gradient is None and loss_only.correct is None
    assert np.array_equal(blocked.evaluate(x, Want.CORRECT).correct, result.correct)


@contextlib.contextmanager
def _on_threads(objective, threads, chunk):
    """``objective``'s engine with its chunks (or blocks) evaluated by ``chunk(evaluate_chunk, x, want, *block)``,
    on ``threads``."""
    from descentlab.core.engines import fused

    kernel = getattr(objective._engine, "fused", objective._engine)
    evaluate_chunk = kernel.evaluate_chunk
    kernel.evaluate_chunk = lambda x, want, *block: chunk(evaluate_chunk, x, want, *block)
    token = fused.CHUNK_THREADS.set(threads)
    try:
        yield
    finally:
        fused.CHUNK_THREADS.reset(token)


@pytest.mark.parametrize("engine", FAST)
@pytest.mark.parametrize("split", ["chunks of models", "blocks of samples"])
def test_the_chunks_shared_out_among_threads_give_the_numbers_of_one_thread(engine, split, monkeypatch):
    # blocks finish out of order on three threads, and their gradients are still added in block order
    import threading
    import time

    net, X, y, x = (_chunked_case if split == "chunks of models" else _blocked_case)(monkeypatch)
    one = dl.Objective(net, X, y, 0.05, engine=engine).evaluate(x, EVERYTHING)
    shared, seen = dl.Objective(net, X, y, 0.05, engine=engine), set()

    def slowly(evaluate_chunk, x, want, *block):  # long enough for each helper to take a chunk of the four
        seen.add(threading.get_ident())
        time.sleep(0.2 if split == "chunks of models" else 0.01)
        return evaluate_chunk(x, want, *block)

    with _on_threads(shared, 3, slowly):
        result = shared.evaluate(x, EVERYTHING)
    assert len(seen) == 3
    assert np.array_equal(result.loss, one.loss) and np.array_equal(result.correct, one.correct)
    assert np.array_equal(result.gradient, one.gradient)


class _Interrupted(BaseException):
    """A Ctrl-C of the test's own (pytest keeps KeyboardInterrupt for itself)."""


@pytest.mark.parametrize("failing", ["caller", "first helper", "interrupt while waiting"])
def test_an_error_in_a_chunk_ends_the_others_and_reaches_the_caller_once_no_thread_is_working(failing, monkeypatch):
    # three threads, four chunks; the caller's chunks take 0.2 s, the helpers' 0.6 s. The caller's first chunk or
    # the first helper's fails after 0.1 s, or a Ctrl-C comes at 0.5 s while the caller (its two chunks done)
    # waits for the helpers. Nothing may be left working (writing into the stack's arrays) when the error
    # reaches the caller, and no chunk may be begun after it
    import signal
    import threading
    import time


    net, X, y, x = _chunked_case(monkeypatch)
    objective, caller, lock = dl.Objective(net, X, y, engine="numpy"), threading.get_ident(), threading.Lock()
    started, working, helpers = [], [0], []

    def chunk(evaluate_chunk, part, want, *block):
        on_caller = threading.get_ident() == caller
        with lock:
            started.append(part.shape[0])
            first_helper = not on_caller and not helpers
            helpers.extend([] if on_caller else [threading.get_ident()])
        if (failing == "caller" and on_caller) or (failing == "first helper" and first_helper):
            time.sleep(0.1)
            raise RuntimeError("this chunk failed")
        with lock:
            working[0] += 1
        try:
            time.sleep(0.2 if on_caller else 0.6)
        finally:
            with lock:
                working[0] -= 1
        return evaluate_chunk(part, want, *block)

    def interrupt(signum, frame):
        raise _Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    if failing == "interrupt while waiting":
        threading.Timer(0.5, signal.pthread_kill, (caller, signal.SIGUSR1)).start()
    expected = _Interrupted if failing.startswith("interrupt") else RuntimeError
    try:
        with _on_threads(objective, 3, chunk), pytest.raises(expected):
            objective.evaluate(x, EVERYTHING)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert working[0] == 0
    assert len(started) == (4 if failing.startswith("interrupt") else 3)


def test_the_helpers_keep_the_callers_numpy_error_settings(monkeypatch):
    # overflowing models under np.errstate(all="ignore"), as fit evaluates them: no warning from any thread (the
    # tests turn warnings into errors, so a helper's would come back as the evaluation's error)
    import time
    import warnings


    net, X, y, x = _chunked_case(monkeypatch)
    objective = dl.Objective(net, X, y, engine="numpy")

    def slowly(evaluate_chunk, part, want, *block):  # every thread takes a chunk
        time.sleep(0.1)
        return evaluate_chunk(part, want, *block)

    with _on_threads(objective, 3, slowly), np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = objective.evaluate(x * 1e300, EVERYTHING)
    assert not np.isfinite(result.loss).all()  # the inputs did overflow
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("engine", FAST)
@pytest.mark.parametrize("models", [2, 6000])
def test_a_nan_logit_is_the_prediction_as_in_numpy_argmax(engine, models):
    # z_L = (1, NaN, 0) for every model: the first NaN is the maximum (np.argmax), so label 1 counts as correct;
    # 2 models go through the compiled kernels' output layer, 6 000 through the NumPy engine's
    net = dl.MLP([4, 3], "tanh")
    x = np.zeros((models, net.n_params))
    x[:, -3:] = [1.0, np.nan, 0.0]
    X, y = np.zeros((1, 4)), np.array([1])
    reference = dl.Objective(net, X, y, engine="reference").evaluate(x, EVERYTHING)
    with np.errstate(invalid="ignore"):
        result = dl.Objective(net, X, y, engine=engine).evaluate(x, EVERYTHING)
    assert reference.correct is not None and set(reference.correct) == {1}
    np.testing.assert_array_equal(result.correct, reference.correct)
    assert np.isnan(result.loss).all()


@pytest.mark.skipif(not engines.compiled_available(), reason="needs numba")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("derivative", [True, False])
def test_the_compiled_softplus_is_the_one_formula_bit_for_bit(dtype, derivative):
    # z = 1·a + b through a 1 → 1 layer, so the compiled path sees exactly the values the formula sees; b = −0.0
    # keeps a −0.0 input −0.0
    from descentlab.core.engines.compiled import kernels, softplus_layer

    rng = np.random.default_rng(3)
    info = np.finfo(dtype)
    edges = np.array([0.0, -0.0, info.tiny, -info.tiny, info.smallest_subnormal, info.max, -info.max, 745.2, -745.2,
                      103.9, -103.9, 36.7, -36.7, np.inf, -np.inf, np.nan, -np.nan], dtype)
    bits = np.int64 if dtype == np.float64 else np.int32
    patterns = rng.integers(np.iinfo(bits).min, np.iinfo(bits).max, 20000, dtype=bits).view(dtype)  # any float
    z = np.concatenate([(rng.standard_normal(400) * scale).astype(dtype) for scale in (1, 30, 1e4)]
                       + [edges, patterns])
    stack = z.reshape(1, 1, -1)
    a, dh, work = (np.empty_like(stack) for _ in range(3))
    with np.errstate(all="ignore"):
        softplus_layer(kernels(), np.array([[1.0, -0.0]], dtype), 0, stack.copy(), work, a, dh, derivative)
        z_f, a_f, dh_f = stack.copy(), np.empty_like(stack), np.empty_like(stack)
        dl.ACTIVATIONS["softplus"].fill(z_f, a_f, dh_f, derivative)
    # and the step that adds the bias to BLAS's products of large stacks, against the NumPy engine's
    from descentlab.core.engines.compiled import bias_softplus
    from descentlab.core.engines.fused import bias_then

    bias = np.full((1, 1, 1), -0.0, dtype)
    z_b, a_b, dh_b = stack.copy(), np.empty_like(stack), np.empty_like(stack)
    z_n, a_n, dh_n = stack.copy(), np.empty_like(stack), np.empty_like(stack)
    with np.errstate(all="ignore"):
        bias_softplus(kernels(), z_b, bias, a_b, dh_b, derivative)
        bias_then(dl.ACTIVATIONS["softplus"].fill)(z_n, bias, a_n, dh_n, derivative)
    # every number to the bit; a NaN stays NaN (the compiler may hand back another NaN's payload bits)
    pairs = [(a, a_f), (a_b, a_n)] + ([(dh, dh_f), (dh_b, dh_n)] if derivative else [])
    for got, expected in pairs:
        nan = np.isnan(expected)
        assert np.array_equal(np.isnan(got), nan)
        assert np.array_equal(got[~nan].view(bits), expected[~nan].view(bits))


@NEEDS_NUMBA
@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps, reason="needs an extended long double")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_simd_softplus_is_within_two_ulp_of_the_exact_value(dtype):
    """The simd engine's own exp and log1p: h(z) and h′(z) = σ(z) within 2 ulp of their value in long double, for
    any input; 0 where that is below 2^-1021; ±inf and ±0 exact; NaN stays NaN. Softplus's NumPy formula takes σ
    as e^{ln σ}, up to 16 ulp off for z ≈ −26: the two differ in their last bits, so simd is an engine of its own."""
    from descentlab.core.engines.compiled import kernels

    rng = np.random.default_rng(4)
    info = np.finfo(dtype)
    edges = np.array([0.0, -0.0, info.tiny, -info.tiny, info.max, -info.max, 708.0, -708.0, 708.5, -708.5, 36.7,
                      -36.7, np.inf, -np.inf, np.nan], dtype)
    bits = np.int64 if dtype == np.float64 else np.int32
    patterns = rng.integers(np.iinfo(bits).min, np.iinfo(bits).max, 20000, dtype=bits).view(dtype)
    z = np.concatenate([(rng.standard_normal(4000) * scale).astype(dtype) for scale in (1, 30, 1e3)]
                       + [edges, patterns]).reshape(1, 1, -1)
    h, sigma = np.empty_like(z), np.empty_like(z)
    kernels().bias_softplus_simd(z, np.full((1, 1, 1), -0.0, dtype), h, sigma, True)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN inputs; the spacing after the largest float
        exact = z.astype(np.longdouble)
        u = np.exp(-np.abs(exact))
        expected_h = (np.maximum(exact, 0) + np.log1p(u)).astype(dtype)
        expected_sigma = (np.where(exact >= 0, 1, u) / (1 + u)).astype(dtype)
        formula_h, formula_sigma = np.empty_like(z), np.empty_like(z)
        dl.ACTIVATIONS["softplus"].fill(z.copy(), formula_h, formula_sigma, True)
        for got, expected in ((h, expected_h), (sigma, expected_sigma)):
            nan = np.isnan(expected)
            assert np.array_equal(np.isnan(got), nan)
            special = np.isinf(z) | (z == 0)
            assert np.array_equal(got[special], expected[special])
            tiny = np.abs(expected) < 2.0**-1021  # the simd exp gives 0 below e^-708
            assert np.all(got[tiny] <= 2.0**-1021)
            rest = ~nan & ~tiny & np.isfinite(expected)
            assert np.all(np.abs(got - expected)[rest] <= 2 * np.spacing(np.abs(expected[rest])))
    assert np.any(sigma[~np.isnan(sigma)] != formula_sigma[~np.isnan(sigma)])


@pytest.mark.parametrize("engine", ["reference", *FAST])
def test_logistic_regression_has_no_hidden_layer_and_still_agrees(engine):
    net, X, y, x = _case([3, 4], "softplus", 2, np.float64)
    reference = dl.Objective(net, X, y, engine="reference").evaluate(x, EVERYTHING)
    result = dl.Objective(net, X, y, engine=engine).evaluate(x, EVERYTHING)
    np.testing.assert_allclose(result.gradient, reference.gradient, rtol=1e-12, atol=1e-15)


def test_the_reference_engine_matches_the_per_sample_jacobian_chain():
    from reference import reference_loss_and_grad

    net, X, y, x = _case([3, 6, 5, 4], "tanh", 1, np.float64, seed=2)
    result = dl.Objective(net, X, y, engine="reference").evaluate(x, Want.GRADIENT)
    loss, grads = reference_loss_and_grad(net, dl.Params(x[0], net.slots), X, y)
    assert result.loss[0] == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(result.gradient[0], np.concatenate([grads[n].ravel() for n in grads]), rtol=1e-11)


def test_a_wrong_engine_is_caught_by_the_comparison():
    """The agreement test can fail: an engine that forgets (B5)'s h′ (softplus forward, h′ = 1 backward) is far
    from the reference, beyond the tolerances the agreement test allows."""
    net, X, y, x = _case([3, 6, 4], "softplus", 1, np.float64)
    softplus = dl.ACTIVATIONS["softplus"]

    def forgets_the_derivative(z, a, d, derivative):
        softplus.fill(z, a, d, False)
        if derivative:
            d.fill(1.0)

    class ForgetsTheDerivative:
        def __init__(self, net, batch: Batch) -> None:
            wrong = dl.MLP(net.sizes, dataclasses.replace(softplus, fill=forgets_the_derivative))
            self.inner = engine_factory("numpy")(wrong, batch)

        def evaluate(self, x, want) -> Evaluation:
            return self.inner.evaluate(x, want)

    batch = dl.Objective(net, X, y).batch
    wrong_result = ForgetsTheDerivative(net, batch).evaluate(x, Want.GRADIENT)
    wrong = wrong_result.gradient.copy()
    right_result = engine_factory("reference")(net, batch).evaluate(x, Want.GRADIENT)
    right = right_result.gradient
    np.testing.assert_allclose(wrong_result.loss, right_result.loss, rtol=1e-13)  # the same forward pass
    assert np.abs(wrong - right).max() > 1e-3
    rtol, atol = TOLERANCE[np.float64]
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(wrong, right, rtol=rtol, atol=atol)


def test_a_stack_of_one_and_the_same_model_in_a_bigger_stack_agree():
    net, X, y, x = _case([4, 5, 3], "softplus", 3, np.float64)
    objective = dl.Objective(net, X, y, engine="numpy")
    stacked = objective.evaluate(x, EVERYTHING)
    stacked_gradient = stacked.gradient.copy()
    for m in range(3):
        one = objective.evaluate(x[m : m + 1], EVERYTHING)
        assert one.loss[0] == pytest.approx(stacked.loss[m], rel=1e-14)
        np.testing.assert_allclose(one.gradient[0], stacked_gradient[m], rtol=1e-13, atol=1e-16)


def test_auto_takes_the_compiled_engine_only_for_long_runs(monkeypatch):
    monkeypatch.setattr(engines, "compiled_available", lambda: True)
    assert choose_engine("auto", 0) == "numpy"
    assert choose_engine("auto", AUTO_COMPILED_FROM - 1) == "numpy"
    assert choose_engine("auto", AUTO_COMPILED_FROM) == "compiled"
    assert choose_engine("numpy", 10**9) == "numpy" and choose_engine("compiled", 0) == "compiled"
    monkeypatch.setattr(engines, "compiled_available", lambda: False)
    assert choose_engine("auto", 10**9) == "numpy"
    with pytest.raises(ValueError, match="engine must be one of"):
        choose_engine("gpu")


def test_auto_is_the_default_everywhere(capsys):
    import inspect

    from descentlab.cli.main import main

    assert engines.DEFAULT_ENGINE == "auto"
    assert inspect.signature(dl.fit).parameters["engine"].default == "auto"
    assert inspect.signature(dl.Objective).parameters["engine"].default == "auto"
    assert dl.CompareConfig().engine == "auto"
    assert main(["compare", "--help"]) == 0
    assert "(default: auto)" in " ".join(capsys.readouterr().out.split())


def test_a_short_default_fit_equals_the_numpy_engine_bit_for_bit(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 16, 3])
    a = dl.fit(net, net.init(seed=0), train, dl.GD(lr=0.01), iterations=30)
    b = dl.fit(net, net.init(seed=0), train, dl.GD(lr=0.01), iterations=30, engine="numpy")
    np.testing.assert_array_equal(a.history.train_loss, b.history.train_loss)


@pytest.mark.skipif(not engines.compiled_available(), reason="needs numba")
def test_numba_caches_its_kernels_outside_the_package_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    code = ("import numpy as np, descentlab as dl; net = dl.MLP([2, 3, 2]);"
            "o = dl.Objective(net, np.ones((2, 2)), np.array([0, 1]), engine='compiled');"
            "o.evaluate(net.init().flat[None], dl.Want.GRADIENT)")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=600)
    cached = list((tmp_path / "cache" / "descentlab" / "numba").rglob("*.nbi"))
    assert cached, "numba wrote no index under $XDG_CACHE_HOME/descentlab/numba"
    package = Path(dl.__file__).parent
    assert not any(package in path.parents for path in cached)


def test_a_user_chosen_numba_cache_dir_is_kept(tmp_path, monkeypatch):
    from descentlab.core.engines.cache import numba_cache_dir

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert numba_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert numba_cache_dir() == tmp_path / "xdg" / "descentlab" / "numba"


def test_auto_stays_on_numpy_where_numba_could_not_cache_its_kernels(monkeypatch, tmp_path):
    monkeypatch.setattr(engines, "compiled_available", lambda: True)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "a-file" / "below"))
    (tmp_path / "a-file").write_text("")
    assert engines.choose_engine("auto", 10**9) == "numpy"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "fine"))
    assert engines.choose_engine("auto", 10**9) == "compiled"


@pytest.mark.skipif(not engines.compiled_available(), reason="needs numba")
def test_the_compiled_engine_with_an_unwritable_cache_is_one_usage_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "a-file" / "below")}
    run = subprocess.run([sys.executable, "-m", "descentlab", "compare", "--engine", "compiled", "--out",
                          str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"descentlab compare: error: argument --engine: numba's kernel cache {tmp_path / 'a-file' / 'below'} cannot "
        "be written (Not a directory); set NUMBA_CACHE_DIR to a writable folder (see descentlab compare --help)"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("engine, iterations, ran", [("auto", 20, "numpy"), ("numpy", 20, "numpy"),
                                                     ("reference", 5, "reference"), *[
    pytest.param("auto", engines.AUTO_COMPILED_FROM, "compiled",
                 marks=pytest.mark.skipif(not engines.compiled_available(), reason="needs numba"))]])
def test_summary_json_names_the_engine_that_ran(tmp_path, engine, iterations, ran):
    from descentlab.experiments.summary import summarize

    config = dl.CompareConfig(optimizers=("gd",), iterations=iterations, hidden=(2,), engine=engine)
    summary = summarize(dl.compare(dl.load_iris(), config))
    # the configuration too is the run's as it ran: a checkpoint or report made from it names that engine
    assert (summary["engine"], summary["config"]["engine"]) == (ran, ran)


def test_the_blocks_gradients_are_added_in_block_order_whatever_order_they_finish_in():
    from descentlab.core.engines.fused import InOrder

    parts = np.random.default_rng(0).normal(size=(20, 7)) * np.logspace(-8, 8, 20)[:, None]
    in_order = parts[0].copy()
    for part in parts[1:]:
        in_order += part
    total = np.empty(7)
    adder = InOrder(total)
    for block in np.random.default_rng(1).permutation(20):
        adder.add(int(block), parts[block])
    assert total.tobytes() == in_order.tobytes() and adder.early == {} and adder.next == 20
