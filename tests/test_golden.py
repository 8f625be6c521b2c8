"""Behaviour kept through the training-core redesign: files recorded with the code before it
(tests/golden/, written by the commands in each test) must come out again on the NumPy engine, every number
within 1e-12 relative, and a resumed run must equal the uninterrupted run bit for bit.

Why 1e-12 across machines and not bit for bit: OpenBLAS picks its kernels by processor, and kernels block their
products differently. The files were recorded on an Intel Xeon (SkylakeX kernels); on an AMD EPYC (Haswell
kernels) the unchanged code reproduces them to 4.9e-14 relative at worst (the seven-method batch-32 run's
grad_norm), a rounding difference that a change in behaviour exceeds by orders of magnitude. Bit-for-bit claims
are made where they hold: within one machine (a resumed run against the uninterrupted one, below)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import descentlab as dl
from descentlab.cli.main import main
from descentlab.experiments.checkpoint import checkpoint_config, resume, write_checkpoint
from descentlab.experiments.compare import compare
from descentlab.experiments.config import CompareConfig

GOLDEN = Path(__file__).parent / "golden"
SEVEN = "gd,nag,nag-restart,momentum,sutskever,adam,gd-armijo"
TOLERANCE = 1e-12


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def _assert_same_table(made: Path, golden: Path) -> None:
    new, old = _rows(made), _rows(golden)
    assert len(new) == len(old) and list(new[0])[: len(old[0])] == list(old[0])  # columns may only be added
    for row_new, row_old in zip(new, old, strict=True):
        for key, value in row_old.items():
            try:
                expected = float(value)
            except ValueError:
                assert row_new[key] == value, (key, row_new, row_old)
                continue
            got = float(row_new[key])
            assert abs(got - expected) <= TOLERANCE * max(1.0, abs(expected)), (key, got, expected, row_old)


def test_the_default_compare_history_is_unchanged(tmp_path):
    # descentlab compare --out c
    assert main(["compare", "--out", str(tmp_path / "c"), "--quiet", "--engine", "numpy"]) == 0
    _assert_same_table(tmp_path / "c" / "history.csv", GOLDEN / "compare-default-history.csv")


def test_a_sweep_of_all_seven_methods_is_unchanged(tmp_path):
    # descentlab sweep --optimizers gd,nag,nag-restart,momentum,sutskever,adam,gd-armijo --lr 0.01,0.05 --seeds 3
    #   --iterations 120 --out s
    assert main(["sweep", "--optimizers", SEVEN, "--lr", "0.01,0.05", "--seeds", "3", "--iterations", "120",
                 "--out", str(tmp_path / "s"), "--quiet", "--engine", "numpy"]) == 0
    _assert_same_table(tmp_path / "s" / "sweep.csv", GOLDEN / "sweep-seven-methods.csv")


def _stop_after(calls: int):
    asked = iter(range(calls + 1))
    return lambda: next(asked, calls) >= calls


@pytest.mark.parametrize("stop_at", [1, 170, 1000])
def test_a_resumed_run_equals_the_uninterrupted_golden_run(tmp_path, stop_at):
    # the golden file: descentlab compare --optimizers <all seven> --iterations 300 --batch-size 32 --out r
    config = CompareConfig(optimizers=tuple(SEVEN.split(",")), iterations=300, batch_size=32, engine="numpy")
    data = dl.load_iris()
    cut = compare(data, config, should_stop=_stop_after(stop_at))
    assert cut.interrupted
    write_checkpoint(cut, tmp_path / "checkpoint", data, {"command": "compare"})
    assert checkpoint_config(tmp_path / "checkpoint")[0] == config
    whole = resume(tmp_path / "checkpoint", data)
    uninterrupted = compare(data, config)
    rows = _rows(GOLDEN / "compare-seven-methods-batch32-history.csv")
    for name, result in whole.results.items():
        golden = [row for row in rows if row["method"] == name]
        history = result.history.as_dict()
        same_machine = uninterrupted.results[name].history.as_dict()
        assert len(golden) == 301 and set(history) == set(golden[0]) - {"method", "iteration"}
        for column, values in history.items():
            expected = np.array([float(row[column]) for row in golden])
            assert np.allclose(values, expected, rtol=TOLERANCE, atol=TOLERANCE), (name, column)
            assert np.array_equal(values, same_machine[column]), (name, column)
