"""Every run has a status in compare, and the report's words follow it (issue 12, items 2 and 5)."""

import csv
import json

from descentlab.cli.main import main
from descentlab.data.dataset import load_iris, train_test_split
from descentlab.experiments.statistics import STUCK_TOLERANCE, chance_loss
from descentlab.optim.registry import label as method_label


def _run(tmp_path, *options):
    assert main(["compare", *options, "--quiet", "--out", str(tmp_path)]) == 0
    return json.loads((tmp_path / "summary.json").read_text()), (tmp_path / "report.md").read_text()


def test_runs_at_chance_are_stuck_and_no_speed_up_is_claimed(tmp_path, capsys):
    summary, report = _run(tmp_path, "--lr", "1")
    train, _ = train_test_split(load_iris(), 0.25, seed=0)
    chance = chance_loss(train.y, 3)
    assert summary["data"]["chance_loss"] == chance
    for name in ("gd", "nag"):
        loss = summary["methods"][name]["final"]["train_loss"]
        assert loss > (1 - STUCK_TOLERANCE) * chance and summary["methods"][name]["status"] == "stuck"
        assert f"- **{method_label(name)} is stuck**" in report
    assert "No speed-up is claimed" in report and "fewer iterations" not in report
    assert "| stuck |" in report
    assert "stuck" in capsys.readouterr().out
    with open(tmp_path / "history.csv", newline="") as file:  # the CSV carries each method's status too
        rows = list(csv.DictReader(file))
    assert {(row["method"], row["status"]) for row in rows} == {("gd", "stuck"), ("nag", "stuck")}


def test_a_healthy_comparison_discusses_test_loss_and_accuracy_from_its_numbers(tmp_path):
    summary, report = _run(tmp_path)
    methods = summary["methods"]
    assert {m["status"] for m in methods.values()} == {"ok"}
    gd, nag = (methods[n]["final"] for n in ("gd", "nag"))
    assert nag["test_loss"] < gd["test_loss"]
    assert (f"**Test loss.** {method_label('nag')} has the lowest test loss, {nag['test_loss']:.4g}, against "
            f"{gd['test_loss']:.4g} for {method_label('gd')}" in report)
    n_test = summary["data"]["n_test"]
    counts = sorted(round(f["test_accuracy"] * n_test) for f in (gd, nag))
    assert f"classifies {counts[1]} of {n_test} test samples correctly" in report
    assert f"{counts[1] - counts[0]} sample{'' if counts[1] - counts[0] == 1 else 's'} apart" in report


def test_ties_and_a_single_iteration_read_right(tmp_path):
    _, report = _run(tmp_path, "--iterations", "1", "--optimizers", "gd,gd-armijo")
    assert "After 1 iteration " in report and "1 iterations" not in report
    training = next(line for line in report.splitlines() if line.startswith("- **Training loss.**"))
    assert "end at the same training loss" in training and "higher" not in training and "×" not in training
