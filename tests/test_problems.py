"""Benchmark problems: stored optimal values against an independent solver, the quadratic's exact constants, the
built-in data and TOML suites (one line naming the key for a malformed file)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from descentlab.benchmarking.problems import (
    Logistic,
    Problem,
    ProblemError,
    Quadratic,
    convex_objective,
    load_problem_data,
    newton_f_star,
    read_suite,
    suite,
)


def _lbfgs_f_star(X: np.ndarray, y: np.ndarray, k: int, weight_decay: float) -> float:
    """f* of L2-regularised multinomial logistic regression by scipy's L-BFGS-B on a loss written here."""
    S, d = X.shape
    Y = np.eye(k)[y]

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[: k * d].reshape(k, d), theta[k * d :]
        z = X @ W.T + b
        shift = z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z - shift).sum(axis=1, keepdims=True)) + shift
        p = np.exp(z - log_norm)
        loss = float(np.mean(log_norm[:, 0] - np.sum(Y * z, axis=1))) + 0.5 * weight_decay * float(np.sum(W * W))
        G = (p - Y) / S
        return loss, np.concatenate([(G.T @ X + weight_decay * W).ravel(), G.sum(axis=0)])

    result = minimize(loss_and_grad, np.zeros(k * (d + 1)), jac=True, method="L-BFGS-B",
                      options={"maxiter": 100_000, "ftol": 1e-16, "gtol": 1e-12, "maxcor": 50})
    return float(result.fun)


@pytest.mark.parametrize("name", ["wine-logistic", "breast_cancer-logistic"])
def test_stored_f_star_agrees_with_lbfgs(name: str) -> None:
    problem = next(p for p in suite("small") if p.name == name)
    objective, test = convex_objective(problem)
    assert isinstance(objective, Logistic) and test is not None
    rest = objective.rest
    independent = _lbfgs_f_star(rest.X, rest.y, rest.n_classes, problem.weight_decay)
    assert problem.f_star is not None
    assert abs(problem.f_star - independent) <= 1e-10 * abs(independent)
    # the stored value is a minimum of descentlab's own objective: no point L-BFGS-B finds is lower
    assert independent >= problem.f_star * (1 - 1e-12)
    # and the check can fail: a different penalty gives a value outside the tolerance
    other = _lbfgs_f_star(rest.X, rest.y, rest.n_classes, problem.weight_decay * 1.001)
    assert abs(problem.f_star - other) > 1e-10 * abs(other)


def test_newtons_hessian_is_the_derivative_of_its_gradient() -> None:
    from descentlab.benchmarking.problems import _softmax_hessian, _softmax_loss

    rng = np.random.default_rng(3)
    U = np.hstack([rng.normal(size=(40, 4)), np.ones((40, 1))])
    y, theta, decay, h = rng.integers(0, 3, 40), rng.normal(size=(3, 5)), 0.05, 1e-6
    hessian = _softmax_hessian(_softmax_loss(theta, U, y, 3, decay)[2], U, decay)
    columns = []
    for i in range(theta.size):
        step = np.zeros(theta.size)
        step[i] = h
        plus, minus = (_softmax_loss(theta + sign * step.reshape(theta.shape), U, y, 3, decay)[1] for sign in (1, -1))
        columns.append((plus - minus).ravel() / (2 * h))
    np.testing.assert_allclose(hessian, np.array(columns).T, atol=1e-8)


def test_newtons_method_on_digits_agrees_with_lbfgs() -> None:
    # 650 parameters: the Hessian made block by block takes well under a second (an einsum over every index took
    # seconds per evaluation, and a line search evaluated it at every trial point)
    problem = Problem("d", kind="logistic", data="digits", weight_decay=0.01)
    objective, _ = convex_objective(problem)
    assert isinstance(objective, Logistic)
    rest = objective.rest
    independent = _lbfgs_f_star(rest.X, rest.y, rest.n_classes, problem.weight_decay)
    assert abs(newton_f_star(problem) - independent) <= 1e-9 * independent


def test_logistic_solution_is_stationary_for_descentlabs_objective() -> None:
    problem = next(p for p in suite("small") if p.name == "wine-logistic")
    objective, _ = convex_objective(problem)
    loss, grad = objective.value_and_grad(objective.solution[None, :])
    assert np.linalg.norm(grad) < 1e-12
    assert loss[0] == problem.f_star
    shifted = objective.nearest_solution(objective.solution + 3.0)  # biases shifted alike: still a minimiser
    assert objective.value(shifted[None, :])[0] == pytest.approx(problem.f_star, rel=1e-14)


def test_quadratic_constants_are_exact() -> None:
    q = Quadratic(dimension=20, condition=1e3, seed=4)
    x_star = np.linalg.solve(q.A, q.b)
    assert np.allclose(q.x_star, x_star, rtol=1e-10, atol=1e-12)
    assert q.f_star == pytest.approx(-0.5 * q.b @ x_star, rel=1e-12)
    eigenvalues = np.linalg.eigvalsh(q.A)
    assert eigenvalues[0] == pytest.approx(q.mu, rel=1e-10) and eigenvalues[-1] == pytest.approx(q.L, rel=1e-10)
    x = np.stack([q.start(0), q.start(1)])
    value, grad = q.value_and_grad(x)
    assert np.allclose(value, [0.5 * v @ q.A @ v - q.b @ v for v in x])
    assert np.allclose(grad, x @ q.A - q.b)


def test_gd_on_the_quadratic_follows_its_exact_rate() -> None:
    """GD at step 1/L: f − f* ≤ (1 − 1/κ)^{2k} (f(x₀) − f*), and the slowest component attains the rate."""
    q = Quadratic(dimension=10, condition=100.0, seed=1)
    x = q.start(0)[None, :]
    gap0 = q.value(x)[0] - q.f_star
    for k in range(1, 301):
        x = x - q.value_and_grad(x)[1] / q.L
        assert q.value(x)[0] - q.f_star <= (1 - 1 / 100) ** (2 * k) * gap0 * (1 + 1e-9)


def test_small_suite_has_its_problems_and_data() -> None:
    problems = suite("small")
    assert [p.name for p in problems] == ["iris-mlp", "wine-mlp", "breast_cancer-mlp", "digits-mlp",
                                          "wine-logistic", "breast_cancer-logistic", "quadratic-k1e3"]
    assert all((p.f_star is not None) == p.convex for p in problems)
    shapes = {p.data: (load_problem_data(p).X.shape, load_problem_data(p).n_classes) for p in problems if p.data}
    assert shapes["wine"] == ((178, 13), 3) and shapes["breast_cancer"] == ((569, 30), 2)
    assert shapes["digits"] == ((1797, 64), 10) and shapes["iris"] == ((150, 4), 3)


def test_data_equal_scikit_learns() -> None:
    from sklearn import datasets

    for name, loader in (("wine", datasets.load_wine), ("breast_cancer", datasets.load_breast_cancer),
                         ("digits", datasets.load_digits)):
        bunch = loader()
        data = load_problem_data(next(p for p in suite("small") if p.data == name))
        assert np.array_equal(data.X, bunch.data)
        assert [data.class_names[c] for c in data.y] == [str(bunch.target_names[t]) for t in bunch.target]


def test_toml_suite_with_a_user_csv(tmp_path) -> None:
    (tmp_path / "mine.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(40)))
    (tmp_path / "suite.toml").write_text(
        '[[problem]]\nname = "mine"\ndata = "mine.csv"\ntarget = "label"\nhidden = [4, 3]\nactivation = "tanh"\n'
        'init_sigma = 0.5\nstandardize = false\niterations = 20\ndelta = 0.2\n'
        '[[problem]]\nname = "q"\nkind = "quadratic"\ndimension = 5\ncondition = 10.0\nlrs = [0.05]\n')
    mine, quadratic = read_suite(tmp_path / "suite.toml")
    assert mine.hidden == (4, 3) and mine.activation == "tanh" and mine.iterations == 20 and not mine.standardize
    assert list(load_problem_data(mine).class_names) == ["x", "y"]
    assert quadratic.f_star == pytest.approx(Quadratic(5, 10.0, 0).f_star) and quadratic.lrs == (0.05,)


@pytest.mark.parametrize(("body", "message"), [
    ('[[problem]]\nname = "a"\nhiden = [4]\n', "unknown key 'hiden'"),
    ('[[problem]]\nname = "a"\nhidden = [4, "x"]\n', "key 'hidden' must be a list of numbers"),
    ('[[problem]]\nname = "a"\niterations = 0\n', "key 'iterations' must be a whole number"),
    ('[[problem]]\nname = "a"\nkind = "svm"\n', "key 'kind' must be one of"),
    ('[[problem]]\nname = "a"\nstandardize = "yes"\n', "key 'standardize' must be true or false"),
    ('[[problem]]\nname = "a"\n[[problem]]\nname = "a"\n', "problem name 'a' is used twice"),
    ('[[problem]]\nhidden = [3]\n', "key 'name' must be"),
    ('[[problem]]\nname = "a"\nkind = "logistic"\n', "key 'weight_decay' must be > 0"),
    ('[[problem]\nname = "a"\n', "not a TOML file"),
    ('name = "a"\n', "unknown key 'name'"),
    ('[[problem]]\nname = "a"\ntest_size = 1.5\n', "key 'test_size' must be in (0, 1)"),
    ('[[problem]]\nname = "q"\nkind = "quadratic"\ndimension = 100000\n', "key 'dimension' must be at most 4096"),
    ('[[problem]]\nname = "q"\nkind = "quadratic"\ncondition = 0.5\n', "key 'condition' (L/μ) must be at least 1"),
])
def test_malformed_toml_names_the_key(tmp_path, body: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ProblemError) as error:
        read_suite(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)
