"""The classic baselines (adagrad, rmsprop, adamw, lbfgs, polyak): each agrees with an independent reference to
1e-12 relative over 100 steps in float64 from the same start (torch.optim for the first three, tests/reference.py
for L-BFGS, the formula for Polyak), on stacks as one model at a time, and resumes bit for bit."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from reference import reference_lbfgs

import descentlab as dl
from descentlab.cli.main import main
from descentlab.core.objective import Objective, Want
from descentlab.experiments.checkpoint import resume, write_checkpoint
from descentlab.experiments.config import CompareConfig
from descentlab.optim.optimizers import parse_optimizer

NEEDS_TORCH = pytest.mark.skipif(importlib.util.find_spec("torch") is None and not os.environ.get("CI"),
                                 reason="torch is not installed (CI installs it with the test extra)")


class Problem:
    """Iris, a 4-4-3 softplus network, float64: the loss and gradient of one model, counted."""

    def __init__(self, seed=0):
        train, _ = dl.train_test_split(dl.load_iris(), test_size=0.25, seed=0)
        self.net = dl.MLP([4, 4, 3])
        self.objective = Objective(self.net, train.X, train.y)
        self.x0 = self.net.init(seed=seed).flat
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        evaluation = self.objective.evaluate(np.asarray(x)[None, :], Want.GRADIENT)
        return float(evaluation.loss[0]), np.array(evaluation.gradient[0])

    def oracle(self):
        """The descentlab oracle over a stack: (loss (M,), gradient (M, P)) and loss alone."""

        def oracle(x):
            evaluation = self.objective.evaluate(x, Want.GRADIENT)
            return evaluation.loss, evaluation.gradient

        oracle.loss = lambda x: self.objective.evaluate(x, Want.LOSS).loss
        return oracle


def ours(optimizer, problem, steps=100, x0=None):
    oracle = problem.oracle()
    state = optimizer.init(np.atleast_2d(problem.x0 if x0 is None else x0))
    for _ in range(steps):
        state = optimizer.step(state, oracle)
    return state.x


def relative(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def torch_run(make, problem, steps=100):
    import torch

    p = torch.tensor(problem.x0, dtype=torch.float64)
    optimizer = make([p])
    for _ in range(steps):
        p.grad = torch.from_numpy(problem(p.numpy())[1])
        optimizer.step()
    return p.numpy()


@NEEDS_TORCH
@pytest.mark.parametrize("spec, make", [
    ("adagrad", lambda params: __import__("torch").optim.Adagrad(params, lr=0.05)),
    ("rmsprop:alpha=0.9", lambda params: __import__("torch").optim.RMSprop(params, lr=0.01, alpha=0.9)),
    ("adamw:weight_decay=0.1", lambda params: __import__("torch").optim.AdamW(params, lr=0.02, weight_decay=0.1)),
])
def test_adaptive_baselines_equal_torch_optim(spec, make):
    problem = Problem()
    lr = make([__import__("torch").zeros(1)]).defaults["lr"]
    mine = ours(parse_optimizer(spec, lr=lr), problem)[0]
    theirs = torch_run(make, problem)
    assert relative(mine, theirs) <= 1e-12
    assert relative(mine, problem.x0) > 1e-3  # it moved: the agreement is not that of two idle runs


def test_lbfgs_equals_the_reference_and_its_line_search_is_counted():
    problem = Problem()
    iterates, evaluations = reference_lbfgs(problem, problem.x0, 100, m=5)
    mine = ours(dl.LBFGS(m=5), problem)[0]
    assert relative(mine, iterates[-1]) <= 1e-12
    assert problem(iterates[-1])[0] < 0.5 * problem(problem.x0)[0]
    train, test = dl.train_test_split(dl.load_iris(), test_size=0.25, seed=0)
    history = dl.fit(problem.net, problem.net.init(seed=0), train, dl.LBFGS(m=5), iterations=100).history
    assert history.func_evals[-1] == evaluations and history.grad_evals[-1] == 100
    assert evaluations > 100  # some trials were refused: the search did work


def test_polyak_takes_the_step_its_formula_gives():
    problem = Problem()
    x = problem.x0
    for _ in range(100):
        f, g = problem(x)
        x = x - (f - 0.0) / np.sum(g * g) * g  # the sum of products as the stacked code forms it
    assert relative(ours(dl.Polyak(f_star=0.0), problem)[0], x) <= 1e-12


@pytest.mark.parametrize("spec", ["adagrad", "rmsprop", "adamw", "lbfgs:m=3", "polyak:f_star=0.1"])
def test_a_stack_of_models_moves_as_each_model_alone(spec):
    problem = Problem()
    x0 = np.stack([problem.net.init(seed=seed).flat for seed in range(3)])
    lrs = np.array([[0.01], [0.03], [0.1]])
    stacked = ours(parse_optimizer(spec, lr=lrs), problem, steps=30, x0=x0)
    for m in range(3):
        alone = ours(parse_optimizer(spec, lr=float(lrs[m, 0])), problem, steps=30, x0=x0[m])
        assert np.array_equal(stacked[m], alone[0]), m


def _stop_after(calls):
    asked = iter(range(calls + 1))
    return lambda: next(asked, calls) >= calls


def test_each_baseline_resumes_bit_for_bit(tmp_path):
    data = dl.load_iris()
    config = CompareConfig(optimizers=("adagrad", "rmsprop", "adamw", "lbfgs:lr=1:m=4", "polyak:f_star=0"),
                           iterations=30, hidden=(4,), engine="numpy")
    whole = dl.compare(data, config)
    cut = dl.compare(data, config, should_stop=_stop_after(12))
    assert cut.interrupted
    write_checkpoint(cut, tmp_path / "checkpoint", data, {"command": "compare"})
    resumed = resume(tmp_path / "checkpoint", data)
    for name, result in whole.results.items():
        assert resumed.results[name].params.flat.tobytes() == result.params.flat.tobytes(), name
        assert np.array_equal(resumed.results[name].history.func_evals, result.history.func_evals)


def test_polyak_without_f_star_is_refused_in_one_line(capsys):
    assert main(["compare", "--optimizers", "gd,polyak"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "polyak needs the optimal loss f*" in err and "f_star=" in err


def test_the_command_runs_every_baseline_by_name(tmp_path):
    import csv

    out = tmp_path / "run"
    specs = "adagrad,rmsprop,adamw,lbfgs:lr=1:m=3,polyak:f_star=0"
    assert main(["compare", "--optimizers", specs, "--iterations", "8", "--hidden", "4", "--out", str(out),
                 "--quiet"]) == 0
    with open(out / "history.csv", newline="") as file:
        last = {row["method"]: row for row in csv.DictReader(file) if row["iteration"] == "8"}
    assert set(last) == set(specs.split(","))
    assert float(last["lbfgs:lr=1:m=3"]["func_evals"]) >= 8 and float(last["adagrad"]["func_evals"]) == 0
    assert "lbfgs:lr=1:m=3 (limited-memory BFGS, Armijo line search)" in (out / "report.md").read_text()
