import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab.cli.main import main
from descentlab.core.gradcheck import DEFAULT_ETA, crosses_kink, gradcheck, numeric_gradient


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
        shifted = dl.Params(params.flat + 1e-2 * np.cos(np.arange(params.size)), params.slots)
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
    return sizes, params, X, y  # relu near its kink included: gradcheck must recognise stencils crossing it


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


def _documented_gradcheck_line(marker):
    import shlex
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "docs" / "index.md"  # Getting started (README's until issue 24)
    (line,) = [ln for ln in readme.read_text(encoding="utf-8").splitlines() if ln.startswith("descentlab gradcheck")
               and marker in ln]
    return shlex.split(line.split("#")[0])[1:]


def test_the_documented_check_of_the_assignment_catches_a_gradient_missing_one_over_s(monkeypatch, capsys):
    args = _documented_gradcheck_line("--samples")
    assert main(args) == 0
    correct = dl.MLP.loss_and_grad

    def summed_not_averaged(self, params, X, y):  # the gradient of Σ_s, not of its mean
        loss, grads = correct(self, params, X, y)
        return loss, dl.Params(grads.flat * np.shape(y)[0], grads.slots)

    monkeypatch.setattr(dl.MLP, "loss_and_grad", summed_not_averaged)
    assert main(args) == 1
    assert "FAIL" in capsys.readouterr().out
    # Why the documented line does not use one sample: there S = 1 and the mistake is invisible.
    assert main([*args[: args.index("--samples")], "--samples", "1"]) == 0


# -- relu: stencils that cross the kink ------------------------------------------------------------------------
def _relu_forgetting_its_mask():
    """relu's value with the derivative of the identity: the classic backward-pass mistake."""
    relu = dl.ACTIVATIONS["relu"]

    def fill(z, a, d, derivative):
        relu.fill(z, a, d, derivative)
        if derivative:
            d.fill(1.0)

    return dataclasses.replace(relu, fill=fill)


@pytest.mark.parametrize("width, seed", [(16, 0), (16, 3), (32, 2), (64, 0), (64, 1)])
def test_a_correct_relu_gradient_passes_at_the_default_step(iris_split, width, seed):
    train, _ = iris_split
    net = dl.MLP([4, width, 3], "relu")
    params = net.init(seed=seed)
    report = gradcheck(net, params, train.X, train.y)
    assert report.ok and report.max_rel_error < 1e-7, report
    assert report.kink_rechecked > 0 and report.kink_skipped == 0
    # Those entries are why: at the default step their difference quotient measures no derivative at all.
    idx = np.arange(net.n_params)
    crossing = crosses_kink(net, params.flat, train.X, idx, DEFAULT_ETA * np.maximum(1.0, np.abs(params.flat)))
    assert crossing.sum() == report.kink_rechecked
    analytic = net.loss_and_grad(params, train.X, train.y)[1].flat[crossing]
    plain = numeric_gradient(net, params, train.X, train.y, idx[crossing])
    assert np.max(np.abs(plain - analytic) / np.abs(analytic)) > 1e-5


def test_a_stencil_crosses_the_kink_exactly_when_a_pre_activation_changes_sign(iris_split):
    # One hidden layer: W0[j, m] and b0[j] move z_j = W0[j]·x + b0[j] linearly, along ±2h·x_m (±2h for b0),
    # and nothing else; W1, b1 move no pre-activation of a hidden unit.
    train, _ = iris_split
    net = dl.MLP([4, 32, 3], "relu")
    params = net.init(seed=2, sigma=1.5)
    h = 0.05 * np.maximum(1.0, np.abs(params.flat))  # a large step, so that many stencils cross
    crossing = crosses_kink(net, params.flat, train.X, np.arange(net.n_params), h)
    z = params["W0"] @ train.X.T + params["b0"]  # (32, S)
    hW = h[net.slots[0].start : net.slots[0].stop].reshape(32, 4)
    reach_W = 2 * hW[:, :, None] * np.abs(train.X.T)[None]  # (32, 4, S): how far z_j moves along W0[j, m]
    expected_W = np.any(np.abs(z)[:, None, :] < reach_W, axis=-1)
    expected_b = np.any(np.abs(z) < 2 * h[net.slots[1].start : net.slots[1].stop][:, None], axis=-1)
    assert expected_W.sum() > 10 and expected_b.sum() > 3
    np.testing.assert_array_equal(crossing[net.slots[0].start : net.slots[0].stop], expected_W.ravel())
    np.testing.assert_array_equal(crossing[net.slots[1].start : net.slots[1].stop], expected_b)
    assert not crossing[net.slots[2].start :].any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_wrong_relu_gradient_still_fails(iris_split, seed):
    train, _ = iris_split
    params = dl.MLP([4, 16, 3], "relu").init(seed=seed)
    no_mask = gradcheck(dl.MLP([4, 16, 3], _relu_forgetting_its_mask()), params, train.X, train.y)
    assert not no_mask.ok and no_mask["W0"].max_rel_error > 0.1 and no_mask["W1"].max_rel_error < 1e-7
    flipped = gradcheck(SignFlipped([4, 16, 3], "relu", "b0"), params, train.X, train.y)
    assert not flipped.ok and flipped["b0"].max_rel_error == pytest.approx(2.0, rel=1e-6)


def test_an_entry_exactly_at_the_kink_is_reported_and_the_check_is_incomplete():
    # Sample 0 is the origin and b0[1] = 0: z_1 of sample 0 is 0 for any W0, and b0[1] moves it across the kink
    # however small the step. relu has no derivative there; every other entry is judged as usual, but a check
    # that left an entry unjudged is not a pass (issue 20).
    rng = np.random.default_rng(0)
    X = np.vstack([np.zeros(3), rng.normal(size=(9, 3))])
    y = rng.integers(0, 3, size=10)
    net = dl.MLP([3, 5, 3], "relu")
    params = net.init(seed=4)
    params["b0"][1, 0] = 0.0
    report = gradcheck(net, params, X, y)
    assert report.kink_skipped == 1 and report["b0"].kink_skipped == 1 and report["b0"].checked == 4
    assert report.max_rel_error < 1e-7 and report["W0"].checked == 15
    assert report.verdict == "INCOMPLETE" and not report.ok


def test_cli_relu_gradcheck_passes_and_says_which_entries_crossed_the_kink(monkeypatch, capsys):
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "descentlab", "gradcheck", "--activation", "relu", "--hidden", "64"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "crossed a kink of relu" in run.stdout and "PASS" in run.stdout
    monkeypatch.setitem(dl.ACTIVATIONS, "relu", _relu_forgetting_its_mask())
    assert main(["gradcheck", "--activation", "relu", "--hidden", "64"]) == 1
    assert "FAIL" in capsys.readouterr().out


# -- issue 20: a check that cannot be fooled either way -----------------------------------------------------------
def test_large_parameters_and_raw_features_no_longer_fail_a_correct_gradient(wine_csv, capsys):
    # Both FAILed with a fixed step (3.8e-6 and 6.2e-5): truncation error, not the gradient (torch agrees)
    assert main(["gradcheck", "--activation", "tanh", "--hidden", "16", "16", "--init-sigma", "5"]) == 0
    assert main(["gradcheck", "--data", str(wine_csv), "--hidden", "16", "--seed", "5"]) == 0
    assert capsys.readouterr().out.count("PASS") == 2


# Seeds the fixed step of 3e-4 FAILed (correct gradients): tanh σ = 3 / 5: 2/10 and 6/10 seeds, softplus 1/10 and
# 4/10, relu [8, 8, 8] σ = 3: 2/15; a few of each here.
@pytest.mark.parametrize("activation, hidden, sigma, seed", [
    ("tanh", [16, 16], 3.0, 3), ("tanh", [16, 16], 5.0, 0), ("tanh", [16, 16], 5.0, 3), ("softplus", [16, 16], 3.0, 1),
    ("softplus", [16, 16], 5.0, 0), ("softplus", [16, 16], 5.0, 4), ("relu", [8, 8, 8], 3.0, 2),
    ("relu", [8, 8, 8], 3.0, 5),
])
def test_no_false_fail_at_large_initial_scales(iris_split, activation, hidden, sigma, seed):
    train, _ = iris_split
    net = dl.MLP([4, *hidden, 3], activation)
    report = gradcheck(net, net.init(seed=seed, sigma=sigma), train.X, train.y)
    assert report.verdict == "PASS" and report.max_rel_error < 1e-7, report


class Broken(dl.MLP):
    """A backward pass with one planted mistake."""

    def __init__(self, sizes, activation, mistake):
        super().__init__(sizes, activation)
        self.mistake = mistake

    def loss_and_grad(self, params, X, y):
        loss, grads = super().loss_and_grad(params, X, y)
        if self.mistake == "summed":  # the gradient of Σ_s, not of the mean
            return loss, dl.Params(grads.flat * np.shape(y)[0], grads.slots)
        if self.mistake == "transposed":  # rows of W1's gradient swapped
            grads["W1"][...] = grads["W1"][::-1].copy()
        elif self.mistake == "relative-1e-5":
            grads["W0"][...] *= 1 + 1e-5
        elif self.mistake == "doubled-W0":
            grads["W0"][...] *= 2.0
        elif self.mistake == "flipped-b0":
            grads["b0"][...] *= -1.0
        return loss, grads


@pytest.mark.parametrize("mistake", ["summed", "transposed", "relative-1e-5", "doubled-W0", "flipped-b0"])
def test_planted_mistakes_fail_where_the_step_adapts(wine_csv, iris_split, mistake):
    train, _ = iris_split
    hard = Broken([4, 16, 16, 3], "tanh", mistake)
    assert gradcheck(hard, hard.init(seed=1, sigma=5.0), train.X, train.y).verdict == "FAIL"
    wine = dl.load_csv(wine_csv)
    raw = Broken([13, 16, 3], "softplus", mistake)
    assert gradcheck(raw, raw.init(seed=5), wine.X, wine.y).verdict == "FAIL"
    rng = np.random.default_rng(0)  # integer features: many pre-activations at whole numbers
    X = rng.integers(-3, 4, size=(40, 5)).astype(float)
    relu = Broken([5, 8, 3], "relu", mistake)
    assert gradcheck(relu, relu.init(seed=2), X, rng.integers(0, 3, size=40)).verdict == "FAIL"


def test_a_tensor_with_unjudged_entries_is_never_a_pass(monkeypatch, tmp_path, capsys):
    # Integer data and b0 = −W0·x0: every hidden pre-activation of sample 0 sits on relu's kink, so no entry of W0
    # or b0 can be judged. A doubled dW0 and a sign-flipped db0 both PASSed with "checked 0".
    rng = np.random.default_rng(1)
    X = rng.integers(1, 4, size=(12, 3)).astype(float)
    y = rng.integers(0, 3, size=12)
    net = dl.MLP([3, 4, 3], "relu")
    params = net.init(seed=0)
    params["b0"][...] = -(params["W0"] @ X[0])[:, None]
    for model in (net, Broken([3, 4, 3], "relu", "doubled-W0"), Broken([3, 4, 3], "relu", "flipped-b0")):
        report = gradcheck(model, params, X, y)
        assert report.verdict == "INCOMPLETE" and not report.ok
        assert report["W0"].checked == 0 and report["W0"].kink_skipped == 12 and report["b0"].unjudged == 4
    path = tmp_path / "ints.csv"
    lines = [f"{int(a)},{int(b)},{int(c)},{k}\n" for (a, b, c), k in zip(X, y, strict=True)]
    path.write_text("a,b,c,label\n" + "".join(lines))
    original = dl.MLP.init

    def on_the_kink(self, *args, **kwargs):  # the point above, for the command line's first training sample
        p = original(self, *args, **kwargs)
        x0 = dl.train_test_split(dl.load_csv(path), test_size=0.25, seed=0)[0].X[0]
        p["b0"][...] = -(p["W0"] @ x0)[:, None]
        return p

    monkeypatch.setattr(dl.MLP, "init", on_the_kink)
    assert main(["gradcheck", "--data", str(path), "--activation", "relu", "--hidden", "4"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "INCOMPLETE" in out and "PASS" not in out
    assert "16 entries were not judged (12 of W0, 4 of b0)" in out and "within the smallest step of a kink" in out


def test_a_fail_says_what_to_try(capsys):
    assert main(["gradcheck", "--hidden", "4", "--threshold", "1e-30"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "FAIL" in out and "look at its formula" in out and "--samples 1" in out


@pytest.mark.parametrize("eps", ["1e-25", "1e-300", "1e308", "1e-9", "0.5"])
def test_a_step_the_difference_quotient_cannot_use_is_refused(eps):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "descentlab", "gradcheck", "--eps", eps], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1 and "PASS" not in run.stdout, run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--eps" in lines[0] and "Warning" not in run.stderr, run.stderr
    assert ("cannot resolve the gradient" if float(eps) < 1e-8 else "not local") in lines[0]
    assert main(["gradcheck", "--hidden", "4", "--eps", "1e-8"]) in (0, 1)  # the ends of the range are allowed
    assert main(["gradcheck", "--hidden", "4", "--eps", "0.1"]) in (0, 1)
