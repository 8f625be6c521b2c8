import numpy as np
import pytest

from descentlab.core.activations import ACTIVATIONS, sigmoid, softplus

Z = np.linspace(-30.0, 30.0, 241)
EXTREME = np.array([-1e308, -1e4, -745.0, -710.0, -50.0, 0.0, 50.0, 710.0, 745.0, 1e4, 1e308])


def test_softplus_and_sigmoid_match_the_textbook_formulas_where_those_are_safe():
    # ln(1 + e^z) written with log1p is accurate for z ≤ 30 (e^30 is far from overflow).
    assert np.allclose(softplus(Z), np.log1p(np.exp(Z)), rtol=1e-14, atol=0)
    assert np.allclose(softplus(Z), np.logaddexp(0.0, Z), rtol=1e-14, atol=0)
    assert np.allclose(sigmoid(Z), 1.0 / (1.0 + np.exp(-Z)), rtol=1e-14, atol=0)


def test_extreme_inputs_do_not_overflow_and_have_the_right_limits():
    # conftest makes overflow raise, so merely evaluating these is part of the test.
    sp = softplus(EXTREME)
    assert np.all(np.isfinite(sp))
    assert sp[0] == 0.0 and sp[-1] == 1e308 and sp[6] == 50.0
    s = sigmoid(EXTREME)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[5] == 0.5
    for act in ACTIVATIONS.values():
        value, derivative = act.value_and_derivative(EXTREME[1:-1])
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(derivative))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_equals_central_difference(name):
    act = ACTIVATIONS[name]
    z = Z[np.abs(Z) > 1e-3]  # relu has a kink at 0
    h = 1e-6
    numeric = (act.value(z + h) - act.value(z - h)) / (2 * h)
    value, derivative = act.value_and_derivative(z)
    assert np.allclose(value, act.value(z), rtol=0, atol=0)
    assert np.allclose(derivative, numeric, rtol=1e-7, atol=1e-9)


def test_softplus_derivative_is_the_sigmoid():
    assert np.array_equal(ACTIVATIONS["softplus"].derivative(Z), sigmoid(Z))


def test_unknown_activation_lists_the_choices():
    from descentlab.core.activations import get_activation

    with pytest.raises(ValueError, match="softplus, relu, tanh, sigmoid, identity"):
        get_activation("swish")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_the_value_does_not_depend_on_whether_the_derivative_is_wanted(name):
    """``fill`` (the one formula every engine calls) gives the same h with and without h′, extremes included."""
    h = ACTIVATIONS[name]
    z = np.concatenate([np.linspace(-40.0, 40.0, 801), [-1e300, -745.0, -1e-300, 0.0, 1e-300, 745.0, 1e300]])
    value, derivative = h.value_and_derivative(z)
    a, d = np.empty_like(z), np.empty_like(z)
    h.fill(z.copy(), a, d, False)
    np.testing.assert_array_equal(a, value)
    assert np.all(np.isfinite(derivative))


def _sech_squared(z: float) -> float:
    """sech²(z) = 4/(e^z + e^−z)² to 40 significant digits (decimal arithmetic), the reference below."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 40
        e = Decimal(z).exp()
        return float(4 / (e + 1 / e) ** 2)


def test_tanh_derivative_keeps_its_relative_accuracy_in_the_tails():
    # 1 − tanh² is 0 from |z| ≈ 19 on and off by orders of magnitude before; sech² itself is a normal float
    # up to |z| ≈ 354, and so must the derivative be, to a few ulps, with no overflow (conftest raises on it).
    z = np.concatenate([np.linspace(-350.0, 350.0, 1401), [-20.0, -15.0, -1e-8, 0.0, 1e-8, 15.0, 20.0]])
    reference = np.array([_sech_squared(float(v)) for v in z])
    tanh = ACTIVATIONS["tanh"]
    for derivative in (tanh.derivative(z), _filled_derivative(tanh, z)):
        assert np.max(np.abs(derivative - reference) / reference) < 1e-14
    assert np.any(np.abs((1.0 - np.tanh(z) ** 2) - reference) / reference > 0.5)  # what the old form gave


def _filled_derivative(act, z):
    a, d = np.empty_like(z), np.empty_like(z)
    act.fill(z.copy(), a, d, True)
    return d
