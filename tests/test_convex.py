"""Multinomial logistic regression, MLP([d, k]), is convex: there the theorems are the oracle.

GD with step 1/L:  f(x_k) − f* ≤ L‖x0 − x*‖² / (2k)           (Beck & Teboulle 2009, Thm 3.1)
NAG with step 1/L: f(p_k) − f* ≤ 2L‖x0 − x*‖² / (k+1)²         (Beck & Teboulle 2009, Thm 4.4)
checked at every iteration, with x*, f* from SciPy's L-BFGS run to a gradient norm of ~1e-10.

Both need a minimiser x*. Raw Iris has none: setosa is linearly separable from the other two species (petal
length ≤ 1.9 cm against ≥ 3.0 cm), so the plain cross-entropy keeps falling along that direction and any "x*"
is only where a solver stopped (test_raw_iris_has_no_minimiser). The Iris problem here therefore carries the
L2 penalty (λ/2)·Σ‖W_l‖² on the weights (``weight_decay``; biases are not penalised, yet the loss still grows
without bound as the biases' differences do, since every class has samples), which is strongly convex in the
weights and has a minimiser, unique up to the shift of all biases by one constant.

NAG's bound is a necessary condition, not a check of NAG: on this problem NAG with the gradient at p, NAG with
its momentum one step early and Adam at lr 0.1 obey it too (test_the_bound_does_not_single_out_nag; heavy ball
and Sutskever at μ = 0.9 and Adam at 0.01 break it here). What singles NAG out is its rate, tested at the end of
this file on two quadratics where the theory separates the methods.
"""

import dataclasses
import functools

import numpy as np
import one_model
import pytest
from test_optimizers import GradientAtP  # the original submission's defect: gradient at p

import descentlab as dl
from descentlab.core.network import lipschitz_bound
from descentlab.optim.optimizers import next_t

scipy_optimize = pytest.importorskip("scipy.optimize")


def solve(net, data, x0, weight_decay=0.0):
    """x*, f* to high precision; x* moved to the affine slice the iterates live in.

    The loss is invariant under adding one vector to every class's weights and biases, and the gradient
    is orthogonal to that direction, so GD and NAG keep the class-mean of each column of W and of b as
    they were at x0 (with weight decay, only b's). The minimiser the theorems need is the one in that slice.
    """
    objective = net.objective(data.X, data.y, weight_decay)
    result = scipy_optimize.minimize(
        lambda th: tuple(np.copy(v) for v in one_model.loss_and_grad(objective, th)), x0, jac=True, method="L-BFGS-B",
        options={"maxiter": 100_000, "gtol": 1e-14, "ftol": 1e-17, "maxcor": 50},
    )
    x_star = dl.Params(result.x.copy(), net.slots)
    start = dl.Params(x0, net.slots)
    for name in ("W0", "b0") if weight_decay == 0 else ("b0",):
        x_star[name][...] += start[name].mean(axis=0) - x_star[name].mean(axis=0)
    grad_norm = np.linalg.norm(one_model.loss_and_grad(objective, x_star.flat)[1])
    assert grad_norm < 1e-8
    return x_star.flat, float(one_model.loss(objective, x_star.flat))


IRIS_WEIGHT_DECAY = 1e-3  # small: the problem stays badly conditioned (L/λ ≈ 3·10⁴), but it has a minimiser


@pytest.fixture(scope="module")
def iris_problem():
    data = dl.load_iris()  # raw features: badly conditioned; separable, hence the penalty
    net = dl.MLP([4, 3])
    x0 = net.init(seed=1).flat
    x_star, f_star = solve(net, data, x0, IRIS_WEIGHT_DECAY)
    return net, data, x0, x_star, f_star, lipschitz_bound(data.X, IRIS_WEIGHT_DECAY)


def test_raw_iris_has_no_minimiser(iris):
    # D raises the setosa score by 2.45 − petal length: positive on every setosa flower, negative on every other.
    # Along D the loss falls at every point, ∇f·D = (1/S) Σ_s (ŷ_setosa,s − [y_s = setosa])(2.45 − petal_s) < 0,
    # so the unpenalised loss has no stationary point at all; with the penalty it has one.
    petal = iris.X[:, 2]
    assert petal[iris.y == 0].max() <= 1.9 < 3.0 <= petal[iris.y != 0].min()
    net = dl.MLP([4, 3])
    D = dl.Params(np.zeros(net.n_params), net.slots)
    D["W0"][0, 2], D["b0"][0, 0] = -1.0, 2.45
    plain, penalised = net.objective(iris.X, iris.y), net.objective(iris.X, iris.y, IRIS_WEIGHT_DECAY)
    x_stop = scipy_optimize.minimize(lambda th: tuple(np.copy(v) for v in one_model.loss_and_grad(plain, th)),
                                     net.init(seed=1).flat, jac=True, method="L-BFGS-B").x
    rng = np.random.default_rng(0)
    for x in [x_stop, *(rng.normal(scale=5.0, size=net.n_params) for _ in range(20))]:
        assert one_model.loss_and_grad(plain, x)[1] @ D.flat < 0
    assert one_model.loss(plain, x_stop + 10.0 * D.flat) < one_model.loss(plain, x_stop)
    x_star, _ = solve(net, iris, net.init(seed=1).flat, IRIS_WEIGHT_DECAY)
    assert one_model.loss(penalised, x_star + 10.0 * D.flat) > one_model.loss(penalised, x_star)


def gap(net, data, x0, optimizer, f_star, iterations, weight_decay=IRIS_WEIGHT_DECAY):
    history = dl.fit(net, dl.Params(x0, net.slots), data, optimizer, iterations, weight_decay=weight_decay)
    return history.history.train_loss - f_star


def test_lipschitz_bound_dominates_the_hessian(iris_problem):
    net, data, x0, x_star, _, L = iris_problem
    objective = net.objective(data.X, data.y, IRIS_WEIGHT_DECAY)
    rng = np.random.default_rng(0)
    for _ in range(20):  # ‖∇f(a) − ∇f(b)‖ ≤ L‖a − b‖ at random pairs near the path
        a = x_star + rng.normal(scale=3.0, size=x0.size)
        b = a + rng.normal(scale=0.1, size=x0.size)
        ga = one_model.loss_and_grad(objective, a)[1].copy()
        gb = one_model.loss_and_grad(objective, b)[1]
        assert np.linalg.norm(ga - gb) <= L * np.linalg.norm(a - b)


def test_gd_obeys_its_bound_at_every_iteration(iris_problem):
    net, data, x0, x_star, f_star, L = iris_problem
    k = np.arange(1, 2001)
    g = gap(net, data, x0, dl.GD(lr=1 / L), f_star, 2000)
    assert np.all(g[1:] <= L * np.sum((x0 - x_star) ** 2) / (2 * k))
    assert np.all(g >= -1e-12)


def test_nag_obeys_its_bound_at_every_iteration_and_gd_would_not(iris_problem):
    net, data, x0, x_star, f_star, L = iris_problem
    k = np.arange(1, 2001)
    bound = 2 * L * np.sum((x0 - x_star) ** 2) / (k + 1) ** 2
    assert np.all(gap(net, data, x0, dl.NAG(lr=1 / L), f_star, 2000)[1:] <= bound)
    # The O(1/k²) bound is a real constraint here: GD, an O(1/k) method, breaks it.
    assert np.any(gap(net, data, x0, dl.GD(lr=1 / L), f_star, 2000)[1:] > bound)


def test_gradient_at_p_converges_measurably_slower():
    # A well-conditioned problem, where NAG's look-ahead gradient damps the stiff directions at once.
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 3))
    y = np.repeat(np.arange(3), 80)
    data = dl.Dataset(means[y] + 1.2 * rng.normal(size=(240, 3)), y)
    net = dl.MLP([3, 3])
    x0 = net.init(seed=1).flat
    _, f_star = solve(net, data, x0)
    L = lipschitz_bound(data.X)

    def iterations_to(optimizer, level=1e-9):
        g = gap(net, data, x0, optimizer, f_star, 3000, 0.0)
        return int(np.flatnonzero(g <= level)[0]) if np.any(g <= level) else 3000

    right, wrong = iterations_to(dl.NAG(lr=1 / L)), iterations_to(GradientAtP(lr=1 / L))
    assert wrong >= 3 * right, (right, wrong)


@pytest.mark.parametrize("restart", ["function", "gradient"])
def test_nag_with_restart_converges_linearly_on_a_strongly_convex_problem(restart):
    data = dl.load_iris()
    net = dl.MLP([4, 3])
    x0 = net.init(seed=1).flat
    wd = 0.01
    _, f_star = solve(net, data, x0, weight_decay=wd)
    L = lipschitz_bound(data.X, wd)
    g = gap(net, data, x0, dl.RestartedNAG(lr=1 / L, restart=restart), f_star, 4000, wd)
    plain = gap(net, data, x0, dl.NAG(lr=1 / L), f_star, 4000, wd)
    assert g[-1] < 1e-11 and g[-1] < 1e-5 * plain[-1]
    # Linear: log(gap) falls along a straight line once the fast transient is over.
    window = np.flatnonzero((g < 1e-3) & (g > 1e-10))
    slope, intercept = np.polyfit(window, np.log(g[window]), 1)
    rate = np.exp(slope)
    residual = np.log(g[window]) - (slope * window + intercept)
    assert rate < 0.997 and np.abs(residual).max() < 3.0, (rate, np.abs(residual).max())
    # Plain NAG is sublinear here: its gap shrinks by far less than the restarted rate predicts.
    assert plain[-1] > g[window[0]] * rate ** (4000 - window[0])


def test_the_bound_does_not_single_out_nag(iris_problem):
    net, data, x0, x_star, f_star, L = iris_problem
    k = np.arange(1, 2001)
    bound = 2 * L * np.sum((x0 - x_star) ** 2) / (k + 1) ** 2
    for impostor in (GradientAtP(lr=1 / L), MomentumOneStepEarly(lr=1 / L), dl.Adam(lr=0.1)):
        assert np.all(gap(net, data, x0, impostor, f_star, 2000)[1:] <= bound)


# -- NAG told apart by its rate --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MomentumOneStepEarly(dl.NAG):
    """NAG whose factor sequence starts one step early, 0.2818, 0.4340, … (t_0 = (1+√5)/2 instead of 1)."""

    def init(self, x0):
        return dataclasses.replace(super().init(x0), t=next_t(1.0))


@functools.cache
def rotated_quadratic(log10_lowest, n, seed=0):
    """f(x) = ½ (x − x*)ᵀ U diag(λ) Uᵀ (x − x*) with n eigenvalues λ log-spaced over [10^log10_lowest, 1] (L = 1),
    U a random rotation (so no method gains from working per coordinate), x0 = 0 and x* = U·1: x0 − x* has a
    unit component along every eigenvector."""
    eigenvalues = np.logspace(log10_lowest, 0.0, n)
    U = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))[0]
    Q = (U * eigenvalues) @ U.T
    x_star = U @ np.ones(n)

    def oracle(x):
        g = (x - x_star) @ Q
        return 0.5 * np.sum((x - x_star) * g, axis=-1), g

    return oracle, np.zeros(n), x_star


def gaps(optimizer, oracle, x0, iterations):
    state, out = optimizer.init(x0), np.empty(iterations + 1)
    out[0] = oracle(x0)[0]
    for k in range(1, iterations + 1):
        state = optimizer.step(state, oracle)
        out[k] = oracle(state.x)[0]
    return out


def sublinear_signature(optimizer):
    """On f with eigenvalues log-spaced over [10⁻⁷, 1] and K = 2000 ≪ √κ ≈ 3000, the gap after k steps is set
    by the directions of curvature below ~1/k (GD) or ~1/k² (NAG): a unit component per eigenvector makes GD's
    gap ≈ c/k and NAG's ≈ c/k². Returns whether NAG's bound holds at every k and the exponent of a power law
    fitted to the gap over k ∈ [K/8, K]."""
    oracle, x0, x_star = rotated_quadratic(-7.0, 200)
    g = gaps(optimizer, oracle, x0, 2000)
    k = np.arange(1, 2001)
    within_bound = bool(np.all(g[1:] <= 2.0 * np.sum((x0 - x_star) ** 2) / (k + 1) ** 2))  # L = 1
    window = np.arange(250, 2001)
    return within_bound, float(np.polyfit(np.log(window), np.log(g[window]), 1)[0])


def linear_signature(optimizer):
    """On f with eigenvalues in [0.1, 1] (κ = 10), NAG's look-ahead gradient shrinks every direction by the
    factor 1 − lr·λ ≤ 0.9 per step, and the gap falls geometrically; the same momentum applied with the gradient
    at p (heavy ball with NAG's factors → 1) damps the stiff directions only by ∏ √β_k ~ k^(−3/2), a power
    law. Returns the factor by which the gap falls from k = 200 to k = 400."""
    oracle, x0, _ = rotated_quadratic(-1.0, 50)
    g = gaps(optimizer, oracle, x0, 400)
    return float(g[200] / g[400])


def test_nag_has_its_rates():
    within_bound, exponent = sublinear_signature(dl.NAG(lr=1.0))
    assert within_bound and -2.1 < exponent < -1.9, exponent  # O(1/k²), and the theory's exponent
    assert linear_signature(dl.NAG(lr=1.0)) > 1e6  # geometric: 3·10¹⁰ measured
    gd_bound, gd_exponent = sublinear_signature(dl.GD(lr=1.0))
    assert not gd_bound and -1.1 < gd_exponent < -0.9  # the same problem gives GD its O(1/k)


@pytest.mark.parametrize("variant", [
    dl.Momentum(lr=1.0, mu=0.9), dl.SutskeverNAG(lr=1.0, mu=0.9), dl.Adam(lr=0.001), dl.Adam(lr=0.01),
    dl.Adam(lr=0.1), dl.Adam(lr=1.0),
], ids=["heavy-ball-0.9", "sutskever-0.9", "adam-1e-3", "adam-1e-2", "adam-0.1", "adam-1"])
def test_methods_without_nags_factors_miss_its_sublinear_rate(variant):
    # Constant momentum μ is GD with step lr/(1 − μ) along the flat directions: O(1/k), exponent −1.00 measured.
    # Adam (exponents −1.78, −1.60, −1.43, +1.12 measured at these lr) is not an O(1/k²) method either.
    _, exponent = sublinear_signature(variant)
    assert exponent > -1.85, exponent


def test_nag_with_its_gradient_at_p_misses_the_linear_rate():
    # Along flat directions both are the same ODE discretised (same O(1/k²), exponent −2.03 measured), so only
    # the stiff directions tell them apart: polynomial decay, the gap falls ~2³ = 8 from k = 200 to 400.
    assert sublinear_signature(GradientAtP(lr=1.0))[1] < -1.9
    assert linear_signature(GradientAtP(lr=1.0)) < 20.0


def test_momentum_one_step_early_has_nags_rates_and_is_caught_only_by_its_first_steps():
    # t_0 = φ obeys the same recursion t_{k+1}² − t_{k+1} = t_k², so Beck–Teboulle's proof goes through with a
    # larger constant: no rate separates it from NAG. test_optimizers catches it by NAG's hand-computed steps.
    within_bound, exponent = sublinear_signature(MomentumOneStepEarly(lr=1.0))
    assert within_bound and exponent < -1.9 and linear_signature(MomentumOneStepEarly(lr=1.0)) > 1e6
    from test_optimizers import nag_matches_hand_computation

    assert not nag_matches_hand_computation(MomentumOneStepEarly(lr=0.2))
