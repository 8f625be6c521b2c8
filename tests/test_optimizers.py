"""NAG as ASSIGNMENT.md task 8 fixes it, checked against a step worked out by hand; and each of the three
known defects (gradient at p, t_0 = 0, p_{k−1} aliasing the new iterate) is shown to be caught."""

import dataclasses
import json
import math

import numpy as np
import pytest

import descentlab as dl
from descentlab.optim.optimizers import GDState, NAGState, next_t


def quadratic_oracle(calls=None):
    """f(x) = ½ xᵀ A x with A = diag(1, 4): ∇f(x) = A x. Records every point it is asked about."""
    A = np.array([1.0, 4.0])

    def oracle(x):
        if calls is not None:
            calls.append(np.array(x))
        return 0.5 * (x * (A * x)).sum(axis=-1), A * x

    oracle.loss = lambda x: oracle(x)[0]  # a function value alone (line search, function restart)
    return oracle


def run(optimizer, steps, x0=(1.0, 1.0), calls=None):
    oracle = quadratic_oracle(calls)
    state = optimizer.init(np.array(x0))
    states = [state]
    for _ in range(steps):
        state = optimizer.step(state, oracle)
        states.append(state)
    return states


def test_momentum_factors_are_the_task_8_sequence():
    expected = [0.0, 0.281754, 0.434043, 0.531064, 0.598779, 0.648923, 0.687646]
    assert np.allclose(dl.nag_momentum(7), expected, atol=5e-7)
    assert next_t(1.0) == pytest.approx((1 + math.sqrt(5)) / 2, rel=1e-15)


# Hand-worked, lr = 0.2, x0 = (1, 1), ∇f(x) = (x₁, 4x₂):
#   k=0: p1 = q0 − 0.2·(1, 4)               = (0.8, 0.2);  t1 = (1+√5)/2; q1 = p1 + 0·(p1 − p0) = p1
#   k=1: p2 = q1 − 0.2·(0.8, 0.8)           = (0.64, 0.04)  — so far exactly GD
#        q2 = p2 + 0.281754…·(p2 − p1)      = (0.64 − 0.0450807, 0.04 − 0.0450807)
#   k=2: p3 = q2 − 0.2·(q2₁, 4 q2₂)         = (0.8·q2₁, 0.2·q2₂)
def hand_p3():
    beta1 = (next_t(1.0) - 1.0) / next_t(next_t(1.0))
    q2 = np.array([0.64, 0.04]) + beta1 * (np.array([0.64, 0.04]) - np.array([0.8, 0.2]))
    return np.array([0.8 * q2[0], 0.2 * q2[1]]), q2


def nag_matches_hand_computation(optimizer) -> bool:
    states = run(optimizer, 3)
    p3, _ = hand_p3()
    return (
        np.allclose(states[1].x, [0.8, 0.2], rtol=1e-15)
        and np.allclose(states[2].x, [0.64, 0.04], rtol=1e-15)
        and np.allclose(states[3].x, p3, rtol=1e-14)
    )


def test_first_two_nag_steps_equal_gd_and_the_third_matches_the_hand_computation():
    nag = run(dl.NAG(lr=0.2), 3)
    gd = run(dl.GD(lr=0.2), 2)
    assert np.array_equal(nag[1].x, gd[1].x) and np.array_equal(nag[2].x, gd[2].x)
    p3, q2 = hand_p3()
    assert np.allclose(nag[2].q, q2, rtol=1e-15)
    assert np.allclose(nag[3].x, p3, rtol=1e-14)
    assert not np.allclose(nag[3].x, run(dl.GD(lr=0.2), 3)[3].x)
    assert nag_matches_hand_computation(dl.NAG(lr=0.2))


def test_nag_asks_for_the_gradient_at_the_look_ahead_point_only():
    calls = []
    states = run(dl.NAG(lr=0.2), 4, calls=calls)
    assert len(calls) == 4
    for k, point in enumerate(calls):
        assert np.array_equal(point, states[k].q)
    assert not np.array_equal(calls[2], states[2].x)  # q_2 ≠ p_2 once momentum is on


# -- the known defects, each as it was written, must be caught ---------------------------------------------
@dataclasses.dataclass(frozen=True)
class GradientAtP(dl.NAG):
    def step(self, state, oracle):
        _, grad = oracle(state.x)  # the original submission: gradient at p, not q
        p_new = state.q - self.lr * grad
        t_new = next_t(state.t)
        q_new = p_new + ((state.t - 1) / t_new) * (p_new - state.x)
        return NAGState(p_new, q_new, t_new, state.k + 1)


@dataclasses.dataclass(frozen=True)
class TStartsAtZero(dl.NAG):
    def init(self, x0):
        return dataclasses.replace(super().init(x0), t=0.0)  # first factor becomes −1


@dataclasses.dataclass(frozen=True)
class PreviousAliasesNew(dl.NAG):
    def step(self, state, oracle):
        _, grad = oracle(state.q)
        p_new = state.q - self.lr * grad
        t_new = next_t(state.t)
        p_prev = p_new  # "p_{k−1} = new parameters": momentum is always zero
        q_new = p_new + ((state.t - 1) / t_new) * (p_new - p_prev)
        return NAGState(p_new, q_new, t_new, state.k + 1)


@pytest.mark.parametrize("defect", [GradientAtP, TStartsAtZero, PreviousAliasesNew])
def test_each_known_defect_fails_the_hand_computation(defect):
    assert not nag_matches_hand_computation(defect(lr=0.2))


def test_gd_step_is_the_formula_and_does_not_touch_its_input():
    x0 = np.array([1.0, -2.0])
    state = dl.GD(lr=0.1).init(x0)
    assert state.x is not x0
    new = dl.GD(lr=0.1).step(state, quadratic_oracle())
    assert np.allclose(new.x, [1.0 - 0.1 * 1.0, -2.0 + 0.1 * 8.0], rtol=1e-15)
    assert np.array_equal(state.x, [1.0, -2.0]) and new.k == 1 and isinstance(new, GDState)


def test_steps_broadcast_over_stacked_models():
    x0 = np.array([[1.0, 1.0], [2.0, -1.0]])
    stacked = run(dl.NAG(lr=0.2), 5, x0=x0)[-1].x
    for m in range(2):
        assert np.allclose(stacked[m], run(dl.NAG(lr=0.2), 5, x0=x0[m])[-1].x, rtol=1e-15)


@pytest.mark.parametrize("lr", [0.0, -1.0, float("nan"), float("inf")])
def test_learning_rate_must_be_positive(lr):
    with pytest.raises(ValueError, match="learning rate"):
        dl.NAG(lr=lr)


# -- the rest of the suite: two steps each, worked by hand on f(x) = ½(x₁² + 4x₂²), x0 = (1, 1) ----------------
def test_heavy_ball_first_two_steps():
    # v1 = −0.2·(1, 4) = (−0.2, −0.8), x1 = (0.8, 0.2); ∇f(x1) = (0.8, 0.8)
    # v2 = 0.5·v1 − 0.2·(0.8, 0.8) = (−0.26, −0.56), x2 = (0.54, −0.36)
    states = run(dl.Momentum(lr=0.2, mu=0.5), 2)
    assert np.allclose(states[1].x, [0.8, 0.2], rtol=1e-15)
    assert np.allclose(states[2].x, [0.54, -0.36], rtol=1e-15)


def test_sutskever_first_two_steps_take_the_gradient_at_x_plus_mu_v():
    # step 0: look-ahead x0 + 0.5·0 = x0, v1 = (−0.2, −0.8), x1 = (0.8, 0.2)
    # step 1: look-ahead x1 + 0.5·v1 = (0.7, −0.2), ∇f = (0.7, −0.8), v2 = 0.5·v1 − 0.2·(0.7, −0.8) = (−0.24, −0.24)
    calls = []
    states = run(dl.SutskeverNAG(lr=0.2, mu=0.5), 2, calls=calls)
    assert np.allclose(calls[1], [0.7, -0.2], rtol=1e-15)
    assert np.allclose(states[2].x, [0.56, -0.04], rtol=1e-15)


def test_adam_first_two_steps():
    # k=1: m = 0.1·g0 = (0.1, 0.4), v = 0.001·g0² = (0.001, 0.016); m̂ = (1, 4), v̂ = (1, 16) ⇒ x1 ≈ x0 − 0.1·(1, 1)
    # k=2: g1 = (0.9, 3.6); m = (0.18, 0.72), m̂ = m/0.19; v = (0.001809, 0.028944), v̂ = v/0.001999
    states = run(dl.Adam(lr=0.1), 2)
    eps = 1e-8
    x1 = np.array([1 - 0.1 * 1 / (1 + eps), 1 - 0.1 * 4 / (4 + eps)])
    assert np.allclose(states[1].x, x1, rtol=1e-15)
    m_hat = np.array([0.18, 0.72]) / 0.19
    v_hat = np.array([0.001809, 0.028944]) / 0.001999
    assert np.allclose(states[2].x, x1 - 0.1 * m_hat / (np.sqrt(v_hat) + eps), rtol=1e-12)


def test_armijo_backtracks_until_sufficient_decrease():
    # step 1: f0 = 2.5, ‖g‖² = 17; s = 1 gives (0, −3), f = 18 — rejected; s = 0.5 gives (0.5, −1), f = 2.125 ≤ 2.49915
    # step 2: f = 2.125, g = (0.5, −4); s = 1 gives (0, 3) — rejected; s = 0.5 gives (0.25, 1), f = 2.03125 — accepted
    calls = []
    states = run(dl.ArmijoGD(lr=1.0), 2, calls=calls)
    assert np.allclose(states[1].x, [0.5, -1.0], rtol=1e-15) and float(states[1].step_size[0]) == 0.5
    assert np.allclose(states[2].x, [0.25, 1.0], rtol=1e-15)
    assert len(calls) == 6  # per step: one gradient, two trial values (the plain oracle serves both here)


def test_restarted_nag_starts_like_nag_and_resets_when_its_condition_holds():
    plain, restarted = run(dl.NAG(lr=0.2), 2), run(dl.RestartedNAG(lr=0.2, restart="gradient"), 2)
    assert np.array_equal(plain[2].x, restarted[2].x) and np.array_equal(plain[2].q, restarted[2].q)
    A = np.array([1.0, 4.0])
    for restart in ("gradient", "function"):
        states = run(dl.RestartedNAG(lr=0.24, restart=restart), 60, x0=(3.0, -2.0))
        assert int(np.sum(states[-1].restarts)) > 0
        for before, after in zip(states[:-1], states[1:], strict=True):
            reset = after.restarts[0] > before.restarts[0]
            f = lambda x: 0.5 * float(x @ (A * x))  # noqa: E731
            condition = (
                float((A * before.q) @ (after.x - before.x)) > 0 if restart == "gradient" else f(after.x) > f(before.x)
            )
            assert reset == condition
            if reset:
                assert np.array_equal(after.q, after.x) and float(after.t[0]) == 1.0


def test_sutskever_with_the_nesterov_schedule_is_nag_exactly(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 16, 3])
    p0 = net.init(seed=0)
    a = dl.fit(net, p0, train, dl.NAG(lr=0.01), iterations=100)
    b = dl.fit(net, p0, train, dl.SutskeverNAG(lr=0.01, mu="nesterov"), iterations=100)
    assert np.allclose(a.params.flat, b.params.flat, rtol=1e-12, atol=1e-13)
    assert np.allclose(a.history.train_loss, b.history.train_loss, rtol=1e-12)


def test_pytorch_style_nesterov_is_sutskever_shifted_to_the_look_ahead_point():
    # PyTorch SGD(nesterov=True): buf ← μ buf + g(θ); θ ← θ − lr (g(θ) + μ buf), with θ = x + μ v.
    lr, mu = 0.1, 0.7
    oracle = quadratic_oracle()
    theta, buf = np.array([1.0, 1.0]), np.zeros(2)
    state = dl.SutskeverNAG(lr=lr, mu=mu).init(theta)
    for _ in range(25):
        g = oracle(theta)[1]
        buf = mu * buf + g
        theta = theta - lr * (g + mu * buf)
        state = dl.SutskeverNAG(lr=lr, mu=mu).step(state, oracle)
        assert np.allclose(theta, state.x + mu * state.v, rtol=1e-13, atol=1e-15)


def test_parse_optimizer_specs():
    from descentlab.optim.optimizers import parse_optimizer

    assert parse_optimizer("nag", lr=0.05) == dl.NAG(lr=0.05)
    m = parse_optimizer("momentum:mu=0.5", lr=0.02)
    assert (m.lr, m.mu, m.name, m.label) == (0.02, 0.5, "momentum", "heavy-ball momentum")
    assert parse_optimizer("nag-restart") == dl.RestartedNAG(restart="gradient")
    assert parse_optimizer("nag:restart=function") == dl.RestartedNAG(restart="function")  # the key picks the class
    assert parse_optimizer("nag-restart:restart=none") == dl.NAG()
    assert parse_optimizer("gd-armijo:line_search=none") == dl.GD()
    assert parse_optimizer("adam:lr=0.001").lr == 0.001
    with pytest.raises(ValueError, match="unknown optimiser 'sgd'"):
        parse_optimizer("sgd")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_optimizer("momentum:0.5")
    with pytest.raises(ValueError, match=r"mu must be a number in \[0, 1\)"):
        parse_optimizer("momentum:mu=1.5")


@pytest.mark.parametrize(
    "spec, says",
    [
        ("adam:lr=abc", r"'adam:lr=abc': lr must be a number > 0, got 'abc' \(adam takes lr \(a number > 0\); "
                        r"beta1 \(a number in \[0, 1\)\); beta2 .*; eps \(a number > 0\)\)"),
        ("momentum:mu=abc", r"mu must be a number in \[0, 1\), got 'abc' \(momentum takes lr .*; mu "),
        ("gd:foo=3", r"gd has no setting 'foo'; its settings are lr \(a number > 0\); line_search \(none or armijo\)"),
        ("momentum:beta=0.9", r"momentum has no setting 'beta'; its settings are lr \(a number > 0\); mu \(a number"),
        ("gd-armijo:max_backtracks=2.5", r"max_backtracks must be a whole number >= 0, got '2.5'"),
        ("gd-armijo:max_backtracks=-1", r"max_backtracks must be a whole number >= 0, got '-1'"),
        ("gd-armijo:c=abc", r"c must be a number in \(0, 1\), got 'abc'"),
        ("adam:eps=inf", r"eps must be a number > 0, got 'inf'"),
        ("nag:restart=sometimes", r"restart must be none or function or gradient, got 'sometimes'"),
        ("sutskever:mu=1", r"mu must be a number in \[0, 1\) or nesterov, got '1'"),
        ("adam:lr=0.1:lr=0.2", r"lr is set twice"),
        ("gd:name=x", r"gd has no setting 'name'"),
        # settings that would be accepted and then ignored: the Armijo constants without a line search
        ("gd:c=0.5", r"c only applies with a line search"),
        ("gd-armijo:line_search=none:shrink=0.5", r"shrink only applies with a line search"),
    ],
)
def test_optimizer_settings_are_refused_with_the_key_its_rule_and_the_valid_keys(spec, says):
    from descentlab.optim.optimizers import parse_optimizer

    with pytest.raises(ValueError, match=says):
        parse_optimizer(spec)


def test_optimizer_settings_that_apply_are_read_with_their_types():
    from descentlab.optim.optimizers import parse_optimizer

    gd = parse_optimizer("gd:line_search=armijo:c=0.3:max_backtracks=7")
    assert isinstance(gd, dl.ArmijoGD)
    assert (gd.c, gd.max_backtracks, type(gd.max_backtracks)) == (0.3, 7, int)
    assert parse_optimizer("sutskever:mu=NESTEROV").mu == "nesterov"
    assert parse_optimizer("nag-restart:restart=function").restart == "function"


@pytest.mark.parametrize("bad", [{"max_backtracks": 2.5}, {"max_backtracks": True}, {"c": "0.1"}, {"shrink": 1.0}])
def test_armijo_constants_are_checked_in_the_python_api_too(bad):
    with pytest.raises(ValueError, match="Armijo needs"):
        dl.ArmijoGD(**bad)


def test_armijo_rejects_a_trial_step_whose_loss_is_nan():
    """f(x) = x² for |x| < 10, NaN outside; from x = 1 (g = 2) with lr 100 the trials are x = 1 − 2s for
    s = 100, 50, 25, 12.5, 6.25 (all outside: NaN, no sufficient decrease), 3.125 (x = −5.25, f = 27.6 > 1),
    1.5625 (x = −2.125, f = 4.5 > 1) and 0.78125 (x = −0.5625, f = 0.316 ≤ 1 − 1e-4·s·4): accepted."""

    def loss(x):
        return float(x[0] ** 2) if abs(x[0]) < 10.0 else float("nan")

    def oracle(x):
        return loss(x), 2.0 * x

    oracle.loss = loss
    gd = dl.ArmijoGD(lr=100.0)
    state = gd.step(gd.init(np.ones(1)), oracle)
    assert float(np.ravel(state.step_size)[0]) == 0.78125
    assert state.x[0] == 1.0 - 2.0 * 0.78125


@pytest.mark.parametrize("spec", ["gd", "gd-armijo:lr=1", "nag", "nag-restart", "nag:restart=function", "momentum",
                                  "sutskever", "sutskever:mu=nesterov", "adam", "adagrad", "rmsprop", "adamw",
                                  "lbfgs:m=2", "polyak:f_star=0"])
def test_every_state_goes_to_arrays_and_back_and_then_steps_as_before(spec):
    from descentlab.optim.optimizers import parse_optimizer
    from descentlab.optim.state import state_from_arrays, state_to_arrays

    optimizer = parse_optimizer(spec, lr=0.2)
    states = run(optimizer, 3, x0=np.array([[1.0, 1.0], [2.0, -1.0]]))
    arrays, description = state_to_arrays(states[-1])
    json_only = json.loads(json.dumps(description))
    back = state_from_arrays(optimizer, json_only, {key: value.copy() for key, value in arrays.items()})
    assert type(back) is type(states[-1]) and back.k == 3
    oracle = quadratic_oracle()
    assert np.array_equal(optimizer.step(back, oracle).x, optimizer.step(states[-1], oracle).x)
    other = dl.GD() if isinstance(optimizer, dl.Adam | dl.AdamW) else dl.Adam()
    with pytest.raises(ValueError, match="is not a state of"):
        state_from_arrays(other, json_only, arrays)


def test_per_model_scalars_are_columns():
    x0 = np.ones((3, 2))
    assert run(dl.NAG(lr=0.1), 1, x0=x0)[-1].t.shape == (3, 1)
    assert run(dl.ArmijoGD(lr=0.1), 1, x0=x0)[-1].step_size.shape == (3, 1)
    assert not hasattr(dl.GD().init(x0), "step_size")
