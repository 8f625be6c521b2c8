"""torch.optim and optax by name (``torch:CLASS``, ``optax:NAME``): on descentlab's exact gradients they equal the
built-in methods where the rules coincide and the library run natively on the same problem, move a stack as each
model alone, resume bit for bit, and run in compare and sweep through the real command."""

from __future__ import annotations

import csv
import importlib.util
import os

import numpy as np
import pytest
from test_baselines import Problem, ours, relative

import descentlab as dl
from descentlab.cli.main import main
from descentlab.experiments.checkpoint import resume, write_checkpoint
from descentlab.experiments.config import CompareConfig
from descentlab.optim.optimizers import parse_optimizer


def needs(library):
    return pytest.mark.skipif(importlib.util.find_spec(library) is None and not os.environ.get("CI"),
                              reason=f"{library} is not installed (CI installs it with the test extra)")


@needs("torch")
@pytest.mark.parametrize("spec, built_in", [("torch:SGD", "gd"), ("torch:SGD:momentum=0.9", "momentum:mu=0.9"),
                                            ("torch:Adam", "adam")])
def test_torch_equals_the_built_in_method_with_the_same_rule(spec, built_in):
    problem = Problem()
    mine = ours(parse_optimizer(spec, lr=0.01), problem)[0]
    assert relative(mine, ours(parse_optimizer(built_in, lr=0.01), problem)[0]) <= 1e-12
    assert relative(mine, problem.x0) > 1e-3


@needs("optax")
@pytest.mark.parametrize("spec, built_in", [("optax:sgd", "gd"), ("optax:sgd:momentum=0.9", "momentum:mu=0.9"),
                                            ("optax:adam:eps=1e-8", "adam")])
def test_optax_equals_the_built_in_method_with_the_same_rule(spec, built_in):
    problem = Problem()
    mine = ours(parse_optimizer(spec, lr=0.01), problem)[0]
    assert relative(mine, ours(parse_optimizer(built_in, lr=0.01), problem)[0]) <= 1e-12


@needs("torch")
def test_torch_equals_torch_run_natively():
    import torch

    problem = Problem()
    p = torch.tensor(problem.x0)
    native = torch.optim.RAdam([p], lr=0.01, weight_decay=0.001)
    for _ in range(100):
        p.grad = torch.from_numpy(problem(p.numpy())[1])
        native.step()
    mine = ours(parse_optimizer("torch:RAdam:weight_decay=0.001", lr=0.01), problem)[0]
    assert relative(mine, p.numpy()) <= 1e-12


@needs("optax")
def test_optax_equals_optax_run_natively():
    import jax
    import optax

    jax.config.update("jax_enable_x64", True)
    problem = Problem()
    transform = optax.lion(learning_rate=1e-3, b1=0.95)
    x = problem.x0.copy()
    state = transform.init(x)
    for _ in range(100):
        updates, state = transform.update(problem(np.asarray(x))[1], state, x)
        x = optax.apply_updates(x, updates)
    mine = ours(parse_optimizer("optax:lion:learning_rate=1e-3:b1=0.95"), problem)[0]
    assert relative(mine, np.asarray(x)) <= 1e-12


@pytest.mark.parametrize("spec", [pytest.param("torch:Adam", marks=needs("torch")),
                                  pytest.param("optax:adam", marks=needs("optax"))])
def test_a_stack_moves_as_each_model_alone(spec):
    problem = Problem()
    x0 = np.stack([problem.net.init(seed=seed).flat for seed in range(3)])
    lrs = np.array([[0.01], [0.03], [0.1]])
    stacked = ours(parse_optimizer(spec, lr=lrs), problem, steps=20, x0=x0)
    for m in range(3):
        alone = ours(parse_optimizer(spec, lr=float(lrs[m, 0])), problem, steps=20, x0=x0[m])
        assert relative(stacked[m], alone[0]) <= 1e-14, m


@needs("torch")
@needs("optax")
def test_an_interrupted_run_resumes_bit_for_bit(tmp_path):
    data = dl.load_iris()
    config = CompareConfig(optimizers=("torch:NAdam", "optax:adamw:weight_decay=0.01"), iterations=20, hidden=(3,),
                           engine="numpy")
    whole = dl.compare(data, config)
    asked = iter(range(100))
    cut = dl.compare(data, config, should_stop=lambda: next(asked) >= 7)
    assert cut.interrupted
    write_checkpoint(cut, tmp_path / "checkpoint", data, {"command": "compare"})
    resumed = resume(tmp_path / "checkpoint", data)
    for name, result in whole.results.items():
        assert resumed.results[name].params.flat.tobytes() == result.params.flat.tobytes(), name


@needs("torch")
@needs("optax")
def test_the_commands_run_them_by_name(tmp_path):
    specs = "torch:SGD:momentum=0.9:nesterov=true,optax:lion:learning_rate=1e-3,gd"
    assert main(["compare", "--optimizers", specs, "--iterations", "10", "--hidden", "3", "--quiet", "--out",
                 str(tmp_path / "c")]) == 0
    assert main(["sweep", "--optimizers", "torch:Adam,optax:adam", "--lr", "0.01,0.02", "--seeds", "2",
                 "--iterations", "10", "--hidden", "3", "--quiet", "--out", str(tmp_path / "s")]) == 0
    with open(tmp_path / "s" / "sweep.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    finals = {m: [float(r["final_train_loss"]) for r in rows if r["optimizer"] == m]
              for m in ("torch:Adam", "optax:adam")}
    assert finals["torch:Adam"] == pytest.approx(finals["optax:adam"], rel=1e-10) and len(finals["optax:adam"]) == 4


@pytest.mark.parametrize("spec, says", [("torch:Nope", "torch.optim cannot make 'Nope'"),
                                        ("torch:SGD:foo=1", "unexpected keyword argument 'foo'"),
                                        ("optax:nope", "optax cannot make 'nope'")])
def test_a_wrong_name_or_key_is_refused_in_one_line(spec, says, capsys):
    if importlib.util.find_spec(spec.partition(":")[0]) is None and not os.environ.get("CI"):
        pytest.skip("library not installed")
    assert main(["compare", "--optimizers", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err
