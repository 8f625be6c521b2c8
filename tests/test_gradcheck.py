import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab.cli import main
from descentlab.gradcheck import gradcheck
from descentlab.network import forward


class SignFlipped(dl.MLP):
    """A deliberately broken backward pass: one tensor's gradient has the wrong sign."""

    def __init__(self, sizes, activation, tensor):
        super().__init__(sizes, activation)
        self.tensor = tensor

    def loss_and_grad(self, params, X, y):
        loss, grads = super().loss_and_grad(params, X, y)
        grads[self.tensor][...] *= -1.0
        return loss, grads


class WrongPoint(dl.MLP):
    """The NAG-style mistake: the gradient is taken at another point than the one asked about."""

    def loss_and_grad(self, params, X, y):
        shifted = params.with_flat(params.flat + 1e-2 * np.cos(np.arange(params.size)))
        return super().loss_and_grad(shifted, X, y)


architectures = st.fixed_dictionaries(
    {
        "widths": st.lists(st.integers(1, 32), min_size=1, max_size=3),
        "d": st.integers(1, 6),
        "k": st.integers(2, 5),
        "S": st.integers(1, 24),
        "activation": st.sampled_from(sorted(dl.ACTIVATIONS)),
        "seed": st.integers(0, 2**31 - 1),
    }
)


def make_problem(a):
    rng = np.random.default_rng(a["seed"])
    sizes = [a["d"], *a["widths"], a["k"]]
    X = rng.normal(size=(a["S"], a["d"]))
    y = rng.integers(0, a["k"], size=a["S"])  # some classes may be absent from the batch
    params = dl.MLP(sizes, a["activation"]).init(seed=a["seed"], sigma=0.8)
    if a["activation"] == "relu":
        # Finite differences straddling relu's kink measure a different one-sided slope: keep away from it.
        zs = forward(dl.MLP(sizes, "relu"), params.flat, X.T)[0][:-1]
        assume(min(np.abs(z).min() for z in zs) > 0.05)
    return sizes, params, X, y


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(architectures)
def test_gradcheck_passes_for_random_networks_and_batches(a):
    sizes, params, X, y = make_problem(a)
    report = gradcheck(dl.MLP(sizes, a["activation"]), params, X, y)
    assert report.ok, report


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(architectures)
def test_gradcheck_fails_for_a_broken_gradient(a):
    sizes, params, X, y = make_problem(a)
    net = dl.MLP(sizes, a["activation"])
    _, grads = net.loss_and_grad(params, X, y)
    largest = max(grads, key=lambda name: np.abs(grads[name]).max())
    assume(np.abs(grads[largest]).max() > 1e-6)
    assert not gradcheck(SignFlipped(sizes, a["activation"], largest), params, X, y).ok
    assert not gradcheck(WrongPoint(sizes, a["activation"]), params, X, y).ok


def test_report_names_the_worst_entry_and_checks_every_entry(iris_split):
    train, _ = iris_split
    net = SignFlipped([4, 3, 3], "softplus", "b0")
    params = net.init(seed=0, sigma=0.5)
    report = gradcheck(net, params, train.X, train.y)
    assert [t.name for t in report.tensors] == ["W0", "b0", "W1", "b1"]
    assert [t.checked for t in report.tensors] == [12, 3, 9, 3]
    b0 = report["b0"]
    assert b0.max_rel_error == pytest.approx(2.0, rel=1e-6)  # |a − n| / max(|a|, |n|) with a = −n
    assert b0.analytic_at_worst == pytest.approx(-b0.numeric_at_worst, rel=1e-8)
    assert report["W0"].max_rel_error < 1e-8 and not report.ok


def test_max_entries_draws_a_seeded_subset_that_includes_the_largest_gradients(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 64, 3])
    params = net.init(seed=1)
    report = gradcheck(net, params, train.X, train.y, max_entries=10, seed=3)
    assert [t.checked for t in report.tensors] == [10, 10, 10, 3] and report.ok
    again = gradcheck(net, params, train.X, train.y, max_entries=10, seed=3)
    assert again == report


def test_cli_gradcheck_passes_and_fails_with_the_right_exit_code(capsys):
    assert main(["gradcheck", "--hidden", "16"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["gradcheck", "--hidden", "1", "--samples", "1"]) == 0
    assert main(["gradcheck", "--hidden", "4", "--threshold", "1e-30"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_three_hidden_layer_tanh_network_passes(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 7, 6, 5, 3], "tanh")
    report = gradcheck(net, net.init(seed=5, sigma=0.7), train.X, train.y)
    assert [t.name for t in report.tensors] == ["W0", "b0", "W1", "b1", "W2", "b2", "W3", "b3"]
    assert report.ok and report.max_rel_error < 1e-7  # finite-difference noise is ~1e-12 absolute


def _readme_gradcheck_line(marker):
    import shlex
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    (line,) = [ln for ln in readme.read_text(encoding="utf-8").splitlines() if ln.startswith("descentlab gradcheck")
               and marker in ln]
    return shlex.split(line.split("#")[0])[1:]


def test_the_readme_check_of_the_assignment_catches_a_gradient_missing_one_over_s(monkeypatch, capsys):
    args = _readme_gradcheck_line("--samples")
    assert main(args) == 0
    correct = dl.MLP.loss_and_grad

    def summed_not_averaged(self, params, X, y):  # the gradient of Σ_s, not of its mean
        loss, grads = correct(self, params, X, y)
        return loss, grads.with_flat(grads.flat * np.shape(y)[0])

    monkeypatch.setattr(dl.MLP, "loss_and_grad", summed_not_averaged)
    assert main(args) == 1
    assert "FAIL" in capsys.readouterr().out
    # Why the documented line does not use one sample: there S = 1 and the mistake is invisible.
    assert main([*args[: args.index("--samples")], "--samples", "1"]) == 0
