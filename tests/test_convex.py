"""Multinomial logistic regression, MLP([d, k]), is convex: there the theorems are the oracle.

GD with step 1/L:  f(x_k) − f* ≤ L‖x0 − x*‖² / (2k)           (Beck & Teboulle 2009, Thm 3.1)
NAG with step 1/L: f(p_k) − f* ≤ 2L‖x0 − x*‖² / (k+1)²         (Beck & Teboulle 2009, Thm 4.4)
checked at every iteration, with x*, f* from SciPy's L-BFGS run to a gradient norm of ~1e-10.
"""

import numpy as np
import pytest
from test_optimizers import GradientAtP  # the original submission's defect: gradient at p

import descentlab as dl
from descentlab.network import lipschitz_bound

scipy_optimize = pytest.importorskip("scipy.optimize")


def solve(net, data, x0, weight_decay=0.0):
    """x*, f* to high precision; x* moved to the affine slice the iterates live in.

    The loss is invariant under adding one vector to every class's weights and biases, and the gradient
    is orthogonal to that direction, so GD and NAG keep the class-mean of each column of W and of b as
    they were at x0 (with weight decay, only b's). The minimiser the theorems need is the one in that slice.
    """
    objective = net.objective(data.X, data.y, weight_decay)
    result = scipy_optimize.minimize(
        lambda th: tuple(np.copy(v) for v in objective.loss_and_grad(th)), x0, jac=True, method="L-BFGS-B",
        options={"maxiter": 100_000, "gtol": 1e-14, "ftol": 1e-17, "maxcor": 50},
    )
    x_star = dl.Params(result.x.copy(), net.slots)
    start = dl.Params(x0, net.slots)
    for name in ("W0", "b0") if weight_decay == 0 else ("b0",):
        x_star[name][...] += start[name].mean(axis=0) - x_star[name].mean(axis=0)
    grad_norm = np.linalg.norm(objective.loss_and_grad(x_star.flat)[1])
    assert grad_norm < 1e-8
    return x_star.flat, float(objective.loss(x_star.flat))


@pytest.fixture(scope="module")
def raw_iris_problem():
    data = dl.load_iris()  # raw features: badly conditioned, not linearly separable
    net = dl.MLP([4, 3])
    x0 = net.init(seed=1).flat
    x_star, f_star = solve(net, data, x0)
    return net, data, x0, x_star, f_star, lipschitz_bound(data.X)


def gap(net, data, x0, optimizer, f_star, iterations, weight_decay=0.0):
    history = dl.fit(net, dl.Params(x0, net.slots), data, optimizer, iterations, weight_decay=weight_decay)
    return history.history.train_loss - f_star


def test_lipschitz_bound_dominates_the_hessian(raw_iris_problem):
    net, data, x0, x_star, _, L = raw_iris_problem
    objective = net.objective(data.X, data.y)
    rng = np.random.default_rng(0)
    for _ in range(20):  # ‖∇f(a) − ∇f(b)‖ ≤ L‖a − b‖ at random pairs near the path
        a = x_star + rng.normal(scale=3.0, size=x0.size)
        b = a + rng.normal(scale=0.1, size=x0.size)
        ga = objective.loss_and_grad(a)[1].copy()
        gb = objective.loss_and_grad(b)[1]
        assert np.linalg.norm(ga - gb) <= L * np.linalg.norm(a - b)


def test_gd_obeys_its_bound_at_every_iteration(raw_iris_problem):
    net, data, x0, x_star, f_star, L = raw_iris_problem
    k = np.arange(1, 2001)
    g = gap(net, data, x0, dl.GD(lr=1 / L), f_star, 2000)
    assert np.all(g[1:] <= L * np.sum((x0 - x_star) ** 2) / (2 * k))
    assert np.all(g >= -1e-12)


def test_nag_obeys_its_bound_at_every_iteration_and_gd_would_not(raw_iris_problem):
    net, data, x0, x_star, f_star, L = raw_iris_problem
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
        g = gap(net, data, x0, optimizer, f_star, 3000)
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
    g = gap(net, data, x0, dl.NAG(lr=1 / L, restart=restart), f_star, 4000, wd)
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
