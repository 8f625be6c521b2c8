"""Step-size schedules on any method (``:schedule=…``): the factor of each kind, the step size of every iteration
in history.csv, bit-for-bit resume, the refusals, and sweep --tune choosing between schedules."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

import descentlab as dl
from descentlab.cli.main import main
from descentlab.experiments.checkpoint import resume, write_checkpoint
from descentlab.experiments.config import CompareConfig
from descentlab.optim.schedule import step_size


@pytest.mark.parametrize("spec, expected", [
    ("gd", [0.1] * 6),
    ("gd:schedule=constant", [0.1] * 6),
    ("gd:schedule=step:every=2:decay=0.5", [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]),
    ("adam:schedule=cosine:horizon=4", [0.1 * 0.5 * (1 + math.cos(math.pi * min(k, 4) / 4)) for k in range(6)]),
    ("momentum:schedule=warmup-cosine:warmup=2:horizon=4",
     [0.05, 0.1, 0.1, 0.1 * 0.5 * (1 + math.cos(math.pi / 2)), 0.0, 0.0]),
])
def test_each_schedule_multiplies_the_learning_rate(spec, expected):
    optimizer = dl.parse_optimizer(spec, lr=0.1)
    assert [step_size(optimizer, k) for k in range(6)] == pytest.approx(expected, rel=1e-15, abs=1e-18)


def test_a_scheduled_step_is_the_method_at_the_scheduled_rate():
    x0 = np.array([[1.0, -2.0]])

    def oracle(x):
        return 0.5 * np.sum(x * x, axis=-1), x

    scheduled = dl.parse_optimizer("gd:schedule=step:every=1:decay=0.5", lr=0.4)
    state = scheduled.init(x0)
    x = x0
    for k in range(4):
        state = scheduled.step(state, oracle)
        x = x - 0.4 * 0.5**k * x
        assert np.array_equal(state.x, x)


def test_history_csv_records_the_step_size_and_a_resumed_run_is_bit_for_bit(tmp_path):
    specs = "adam:schedule=warmup-cosine:warmup=5:horizon=20,gd:schedule=step:every=4:decay=0.5,polyak:f_star=0"
    out = tmp_path / "run"
    assert main(["compare", "--optimizers", specs, "--iterations", "20", "--hidden", "4", "--lr", "0.05",
                 "--out", str(out), "--quiet"]) == 0
    with open(out / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    adam = [row["step_size"] for row in rows if row["method"].startswith("adam")]
    assert adam[0] == "" and [float(v) for v in adam[1:6]] == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    gd = [float(row["step_size"]) for row in rows if row["method"].startswith("gd") and row["iteration"] != "0"]
    assert gd == [0.05] * 4 + [0.025] * 4 + [0.0125] * 4 + [0.00625] * 4 + [0.003125] * 4
    assert {row["step_size"] for row in rows if row["method"] == "polyak:f_star=0"} == {""}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"]["gd:schedule=step:every=4:decay=0.5"]["optimizer"]["every"] == 4

    data = dl.load_iris()
    config = CompareConfig(optimizers=tuple(specs.split(",")), iterations=20, hidden=(4,), lr=0.05)
    whole = dl.compare(data, config)
    asked = iter(range(100))
    cut = dl.compare(data, config, should_stop=lambda: next(asked) >= 7)
    assert cut.interrupted
    write_checkpoint(cut, tmp_path / "checkpoint", data, {"command": "compare"})
    resumed = resume(tmp_path / "checkpoint", data)
    for name, result in whole.results.items():
        assert resumed.results[name].params.flat.tobytes() == result.params.flat.tobytes(), name


@pytest.mark.parametrize("spec, says", [
    ("gd:warmup=3", "only with a schedule"),
    ("gd:schedule=cosine", "needs horizon=N"),
    ("gd:schedule=warmup-cosine:horizon=10", "needs warmup >= 1"),
    ("gd:schedule=linear", "schedule must be constant or step or cosine or warmup-cosine"),
    ("polyak:f_star=0:schedule=step", "polyak has no learning rate"),
])
def test_a_schedule_that_cannot_apply_is_refused_in_one_line(spec, says, capsys):
    assert main(["compare", "--optimizers", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and spec in err


def test_sweep_tune_chooses_between_schedules(tmp_path):
    out = tmp_path / "tuned"
    assert main(["sweep", "--tune", "--optimizers", "gd:schedule=constant,step:every=5:decay=0.5", "--lr", "0.5,1",
                 "--seeds", "2", "--iterations", "15", "--hidden", "3", "--out", str(out), "--quiet"]) == 0
    with open(out / "sweep.csv", newline="") as file:
        settings = {row["setting"] for row in csv.DictReader(file)}
    assert {"gd:schedule=constant:every=5:decay=0.5:lr=0.5", "gd:schedule=step:every=5:decay=0.5:lr=1.0"} <= settings
