"""An optimiser defined here, registered, works by name wherever a built-in one does: the spec parser, compare
(library and command line), figures and reports, checkpoints and resume (bit for bit), and sweeps (in this
process and on Dask workers)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from history_text import history_numbers

import descentlab as dl
from descentlab.cli.main import main
from descentlab.experiments.checkpoint import resume, write_checkpoint
from descentlab.experiments.config import CompareConfig, SweepConfig
from descentlab.experiments.sweeprun import sweep
from descentlab.optim.base import Oracle
from descentlab.optim.registry import label
from descentlab.reporting.plots import curves_figure


@dataclass(frozen=True)
class SignState:
    """Iterate, per-coordinate step and the gradient's sign at the last step (all (M, P)), count k."""

    x: np.ndarray
    step: np.ndarray
    sign: np.ndarray
    k: int = 0


@dataclass(frozen=True)
class SignDescent:
    """Sign descent whose per-coordinate step shrinks where the gradient's sign flips (Rprop without growth):
    ``s ← shrink·s where sign(g) ≠ sign(g_prev)``, ``x ← x − s ⊙ sign(g)``, ``s_0 = lr``."""

    name: ClassVar[str] = "sign"
    label: ClassVar[str] = "sign descent, step shrinking on a sign flip"

    lr: float = 0.01
    shrink: float = 0.5

    def init(self, x0: np.ndarray) -> SignState:
        x = np.array(x0, dtype=np.float64)
        return SignState(x=x, step=np.ones_like(x) * self.lr, sign=np.zeros_like(x))

    def step(self, state: SignState, oracle: Oracle) -> SignState:
        _, gradient = oracle(state.x)
        sign = np.sign(gradient)
        step = np.where(sign * state.sign < 0.0, self.shrink * state.step, state.step)
        return SignState(x=state.x - step * sign, step=step, sign=sign, k=state.k + 1)


dl.register_optimizer(SignDescent)
CONFIG = CompareConfig(optimizers=("sign:shrink=0.7", "gd"), iterations=40, batch_size=32, engine="numpy")


def _stop_after(calls: int):
    asked = iter(range(calls + 1))
    return lambda: next(asked, calls) >= calls


def test_its_spec_is_parsed_with_its_keys():
    assert dl.parse_optimizer("sign:shrink=0.25", lr=0.1) == SignDescent(lr=0.1, shrink=0.25)
    with pytest.raises(ValueError, match=r"'sign:rate=1': sign has no setting 'rate'; its settings are "
                                         r"lr \(a number\); shrink \(a number\)"):
        dl.parse_optimizer("sign:rate=1")
    with pytest.raises(ValueError, match=r"shrink must be a number, got 'abc'"):
        dl.parse_optimizer("sign:shrink=abc")
    assert label("sign:shrink=0.7") == "sign:shrink=0.7 (sign descent, step shrinking on a sign flip)"


def test_registration_refuses_what_is_not_an_optimiser_or_takes_a_built_in_name():
    with pytest.raises(ValueError, match="not an optimiser"):
        dl.register_optimizer(int)

    @dataclass(frozen=True)
    class Impostor(SignDescent):
        name: ClassVar[str] = "nag"

    with pytest.raises(ValueError, match="'nag' is a built-in optimiser"):
        dl.register_optimizer(Impostor)
    for name, refused in (("NAG", "'NAG' is a built-in optimiser"), ("..", "an optimiser name is one word"),
                          ("a/b", "an optimiser name is one word"), ("sign:x", "an optimiser name is one word"),
                          ("", "an optimiser name is one word"), ("-x", "an optimiser name is one word")):
        with pytest.raises(ValueError, match=refused):
            dl.register_optimizer(type("Odd", (Impostor,), {"name": name}))


def test_compare_runs_it_and_the_figure_and_report_name_it(tmp_path):
    comparison = dl.compare(config=CONFIG)
    assert list(comparison.results) == ["sign:shrink=0.7", "gd"]
    loss = comparison.results["sign:shrink=0.7"].history.train_loss
    assert loss[-1] < loss[0]
    legend = [t.get_text() for t in curves_figure(comparison.results).axes[0].get_legend().get_texts()]
    assert legend == [label("sign:shrink=0.7"), label("gd")]


def test_the_command_line_runs_it_by_name(tmp_path):
    out = tmp_path / "run"
    assert main(["compare", "--optimizers", "sign:shrink=0.7,gd", "--iterations", "20", "--out", str(out),
                 "--quiet"]) == 0
    with open(out / "history.csv", newline="") as file:
        methods = {row["method"] for row in csv.DictReader(file)}
    assert methods == {"sign:shrink=0.7", "gd"}
    assert "sign:shrink=0.7 (sign descent, step shrinking on a sign flip)" in (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"]["sign:shrink=0.7"]["optimizer"] == {"class": "SignDescent", "lr": 0.01, "shrink": 0.7}
    assert (out / "models" / "sign:shrink=0.7.safetensors").is_file()  # named as typed (issue 21)


@pytest.mark.parametrize("stop_at", [5, 55])
def test_an_interrupted_run_resumes_bit_for_bit(tmp_path, stop_at):
    data = dl.load_iris()
    whole = dl.compare(data, CONFIG)
    cut = dl.compare(data, CONFIG, should_stop=_stop_after(stop_at))
    assert cut.interrupted
    write_checkpoint(cut, tmp_path / "checkpoint", data, {"command": "compare"})
    resumed = resume(tmp_path / "checkpoint", data)
    for name, result in whole.results.items():
        again = resumed.results[name]
        assert np.array_equal(again.params.flat, result.params.flat)
        for column, values in result.history.as_dict().items():
            assert np.array_equal(again.history.as_dict()[column], values, equal_nan=True), (name, column)


def test_the_command_line_resumes_it(tmp_path):
    out = tmp_path / "run"
    argv = ["compare", "--optimizers", "gd,sign", "--iterations", "30", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    whole = history_numbers(out / "history.csv")
    cut = dl.compare(config=CompareConfig(optimizers=("gd", "sign"), iterations=30), should_stop=_stop_after(40))
    assert cut.interrupted
    write_checkpoint(cut, tmp_path / "checkpoint", dl.load_iris(), {"command": "compare"})
    assert main(["compare", "--resume", str(tmp_path / "checkpoint"), "--quiet"]) == 0
    assert history_numbers(tmp_path / "history.csv") == whole


def test_a_sweep_runs_it_per_learning_rate():
    config = SweepConfig(base=CompareConfig(iterations=20, hidden=(6,)), optimizers=("sign", "gd"),
                         lrs=(0.01, 0.05), seeds=2)
    result = sweep(config=config)
    rows = [row for row in result.rows if row["optimizer"] == "sign"]
    assert [(row["lr"], row["seed"]) for row in rows] == [(0.01, 0), (0.01, 1), (0.05, 0), (0.05, 1)]
    single = dl.compare(config=CompareConfig(iterations=20, hidden=(6,), lr=0.05, seed=0, optimizers=("sign",)))
    assert rows[2]["final_train_loss"] == pytest.approx(single.results["sign"].final["train_loss"], rel=1e-12)


def test_a_sweep_on_dask_workers_knows_it():
    distributed = pytest.importorskip("distributed")
    config = SweepConfig(base=CompareConfig(iterations=10, hidden=(4,)), optimizers=("sign",), lrs=(0.02,), seeds=2)
    here = sweep(config=config)
    # no fixed dashboard port: other test runs on this machine may hold it (a warning, an error here)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) \
            as cluster, distributed.Client(cluster, set_as_default=False) as client:
        there = sweep(config=config, client=client)
    assert np.array_equal(there.results["sign"].history.train_loss, here.results["sign"].history.train_loss)


@dataclass(frozen=True)
class TaggedState:
    x: np.ndarray
    tag: str = "started"
    k: int = 0


@dataclass(frozen=True)
class FlaggedState:
    x: np.ndarray
    flipped: bool = False
    k: int = 0


@dataclass(frozen=True)
class Tagged:
    """GD whose state carries a word (which no checkpoint can hold) or a flag (which one can)."""

    name: ClassVar[str] = "tagged"
    label: ClassVar[str] = "steepest descent with a word in its state"

    lr: float = 0.01
    flag: float = 0.0  # 1: keep a bool in the state instead of the word

    def init(self, x0: np.ndarray) -> TaggedState | FlaggedState:
        x = np.array(x0, dtype=np.float64)
        return FlaggedState(x=x) if self.flag else TaggedState(x=x)

    def step(self, state, oracle: Oracle):
        _, gradient = oracle(state.x)
        if self.flag:
            return FlaggedState(x=state.x - self.lr * gradient, flipped=not state.flipped, k=state.k + 1)
        return TaggedState(x=state.x - self.lr * gradient, tag="stepped", k=state.k + 1)


def test_a_state_no_checkpoint_could_hold_is_refused_before_any_training():
    dl.register_optimizer(Tagged)
    trained = []
    config = CompareConfig(optimizers=("gd", "tagged"), iterations=30, engine="numpy")
    with pytest.raises(ValueError, match=r"^tagged: cannot checkpoint field tag of TaggedState: str; a state's "
                                         r"fields are arrays, numbers or None"):
        dl.compare(dl.load_iris(), config, callback=lambda *step: trained.append(step))
    assert trained == []  # not even the first method began


def test_a_state_with_a_flag_is_interrupted_and_resumed_bit_for_bit(tmp_path):
    dl.register_optimizer(Tagged)
    config = CompareConfig(optimizers=("tagged:flag=1",), iterations=30, engine="numpy")
    data = dl.load_iris()
    whole = dl.compare(data, config)
    cut = dl.compare(data, config, should_stop=_stop_after(11))
    assert cut.interrupted
    write_checkpoint(cut, tmp_path / "checkpoint", data, {"command": "compare"})
    resumed = resume(tmp_path / "checkpoint", data)
    (name,) = whole.results
    assert resumed.results[name].params.flat.tobytes() == whole.results[name].params.flat.tobytes()
    assert resumed.results[name].state.flipped == whole.results[name].state.flipped
