"""Issue 20: the verdicts of the command line say what the runs did — statuses, selection that counts failures,
counts that belong to each model, and report text that matches the run."""

import csv
import json
import math

import numpy as np

import descentlab as dl
from descentlab.cli.main import main
from descentlab.experiments.compare import compare
from descentlab.experiments.config import CompareConfig
from descentlab.experiments.tuning import choose
from descentlab.optim.optimizers import parse_optimizer
from descentlab.reporting.write import write_run


def _compare(tmp_path, *options):
    assert main(["compare", *options, "--quiet", "--engine", "numpy", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    with open(tmp_path / "history.csv", newline="") as file:
        statuses = {row["method"]: row["status"] for row in csv.DictReader(file)}
    return summary, (tmp_path / "report.md").read_text(), statuses


def test_a_loss_that_grew_by_eleven_orders_of_magnitude_is_diverged_not_stuck(tmp_path):
    summary, report, statuses = _compare(tmp_path, "--lr", "1e12", "--optimizers", "gd", "--iterations", "20")
    gd = summary["methods"]["gd"]
    assert math.isfinite(gd["final"]["train_loss"]) and gd["final"]["train_loss"] > 1e11
    assert gd["status"] == statuses["gd"] == "diverged"
    assert "**gd (steepest descent) diverged**" in report and "learned nothing" not in report


def test_a_run_that_learned_is_never_stuck(tmp_path, wine_csv):
    # raw wine, Adam: 65 % training accuracy (largest class 40 %) at a loss far above the chance loss
    summary, report, statuses = _compare(tmp_path, "--data", str(wine_csv), "--optimizers", "gd,adam",
                                         "--iterations", "100")
    adam, chance = summary["methods"]["adam"], summary["data"]
    assert adam["final"]["train_loss"] > chance["chance_loss"] and adam["final"]["train_accuracy"] > 0.6
    assert adam["status"] == statuses["adam"] == "high-loss"
    line = next(ln for ln in report.splitlines() if ln.startswith("- **adam"))
    assert "has a high loss" in line and "learned something" in line and "learned nothing" not in line
    assert f"({100 * chance['chance_accuracy']:.1f} %)" in line
    gd = summary["methods"]["gd"]  # GD at the level of the class sizes on both counts: stuck, and said so
    assert gd["status"] == "stuck" and gd["final"]["train_accuracy"] <= chance["chance_accuracy"] + 0.01
    assert "it learned nothing beyond the class sizes" in report


def _rows(method, lr, validation, statuses):
    return [{"method": method, "setting": f"{method}:lr={lr!r}", "lr": lr, "phase": "tune", "status": s,
             "validation_loss": v} for v, s in zip(validation, statuses, strict=True)]


def test_the_choice_counts_failed_runs_against_their_setting():
    # lr 0.5: 6 ok runs with low losses and 4 diverged; lr 0.1: 10 ok. The median rule picked 0.5.
    rows = (_rows("nag", 0.5, [0.1] * 6 + [0.2] * 4, ["ok"] * 6 + ["diverged"] * 4)
            + _rows("nag", 0.1, [0.3] * 10, ["ok"] * 10))
    assert choose(rows)["nag"]["lr"] == 0.1 and choose(rows)["nag"]["warning"] is None
    # stuck runs count as failures too, with the losses they ended at (chance level, ~1.1)
    stuck = _rows("gd", 2.0, [1.0980] * 10, ["stuck"] * 10) + _rows("gd", 0.5, [1.0981] * 10, ["stuck"] * 10)
    chosen = choose(stuck)["gd"]
    assert chosen["lr"] == 0.5 and chosen["median_validation_loss"] == math.inf and chosen["failed"] == 10
    assert chosen["warning"].startswith("no setting of gd in this grid trains")
    mixed = _rows("adam", 0.1, [0.3] * 8 + [1.1] * 2, ["ok"] * 8 + ["stuck"] * 2)
    assert choose(mixed)["adam"]["warning"] == "the chosen setting of adam is not ok on every tune run (2 stuck of 10)"


def test_a_grid_where_nothing_trains_is_flagged_everywhere(tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["sweep", "--tune", "--optimizers", "gd,nag", "--lr", "0.5,20", "--seeds", "2", "--iterations", "30",
                 "--hidden", "4", "--engine", "numpy", "--out", str(out)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    summary = json.loads((out / "summary.json").read_text())
    report = " ".join((out / "report.md").read_text().split())
    for method in ("gd", "nag"):
        warning = summary["methods"][method]["warning"]
        assert warning.startswith(f"no setting of {method} in this grid trains")
        assert f"warning: {warning}" in err and f"**Warning: {warning}.**" in report
        assert summary["methods"][method]["median_validation_loss"] is None  # +∞ is not JSON
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_a_line_search_counts_each_models_evaluations_as_if_it_ran_alone(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 16, 3])
    starts = np.stack([net.init(seed=s).flat for s in range(4)])
    optimizer = parse_optimizer("gd-armijo", lr=1.0)
    stacked = dl.fit(net, dl.Params(starts, net.slots), train, optimizer, iterations=30, engine="numpy")
    alone = [dl.fit(net, dl.Params(starts[m], net.slots), train, optimizer, iterations=30, engine="numpy")
             for m in range(4)]
    counts = [int(r.history.func_evals[-1]) for r in alone]
    assert len(set(counts)) > 1  # the models need different numbers of trials
    np.testing.assert_array_equal(stacked.history.func_evals[-1], counts)
    np.testing.assert_array_equal(stacked.history.func_evals, np.stack([r.history.func_evals for r in alone], 1))


def test_function_restart_counts_one_function_evaluation_per_step(iris_split):
    train, _ = iris_split
    net = dl.MLP([4, 16, 3])
    result = dl.fit(net, net.init(seed=0), train, parse_optimizer("nag:restart=function", lr=0.1), iterations=350)
    assert result.history.func_evals[-1] == 350 and result.history.grad_evals[-1] == 350


def test_the_report_describes_the_batches_the_run_used(tmp_path):
    _, report, _ = _compare(tmp_path, "--batch-size", "64", "--iterations", "5")
    setup = next(line for line in report.splitlines() if line.startswith("- Training:"))
    assert "full-batch" not in setup and "mini-batches of 64 of the 112 training rows" in setup
    _, full, _ = _compare(tmp_path / "full", "--iterations", "5")
    assert "5 full-batch iterations" in full
    assert main(["sweep", "--optimizers", "gd", "--lr", "0.1", "--seeds", "2", "--iterations", "5", "--batch-size",
                 "32", "--quiet", "--out", str(tmp_path / "s")]) == 0
    sweep_report = (tmp_path / "s" / "report.md").read_text()
    assert "5 iterations on mini-batches of 32 of the 112 training rows" in sweep_report
    assert main(["sweep", "--tune", "--optimizers", "gd", "--lr", "0.1", "--seeds", "2", "--iterations", "5",
                 "--batch-size", "32", "--quiet", "--out", str(tmp_path / "t")]) == 0
    tuned_report = (tmp_path / "t" / "report.md").read_text()
    assert "5 iterations on mini-batches of 32 training rows" in tuned_report and "full-batch" not in tuned_report


def test_an_interrupted_run_links_only_a_figure_it_has(tmp_path, iris):
    asked = iter(range(10**6))
    comparison = compare(iris, CompareConfig(iterations=50), should_stop=lambda: next(asked) == 20)
    assert comparison.interrupted
    write_run(comparison, tmp_path)  # what compare writes after the first Ctrl-C: every file, curves.png last
    assert "(curves.png)" in (tmp_path / "report.md").read_text() and (tmp_path / "curves.png").is_file()


def test_time_counts_the_methods_own_work_and_recording_apart(iris_split, monkeypatch):
    # A virtual clock that advances by 1 per evaluation of the loss: time is then a count of evaluations, and
    # the accounting can be checked exactly, with no timing in the test.
    import time

    from descentlab.core.objective import Objective

    train, test = iris_split
    now = [0.0]
    evaluate = Objective.evaluate

    def counted(self, *args, **kwargs):
        now[0] += 1.0
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(Objective, "evaluate", counted)
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    net, K = dl.MLP([4, 16, 3]), 20
    runs = {name: dl.fit(net, net.init(seed=0), train, parse_optimizer(name, lr=0.1), iterations=K, test=test,
                         engine="numpy") for name in ("gd", "nag")}
    for name, result in runs.items():
        # one gradient per step: GD's is computed while measuring x_k and reused by the step, still its own work
        np.testing.assert_array_equal(result.step_seconds, [0.0] + [1.0] * K, err_msg=name)
        assert result.method_seconds == K
    # recording: the test loss at every iterate (K + 1), plus for NAG the metrics at p_k, where it takes no gradient
    assert runs["gd"].record_seconds == K + 2 and runs["nag"].record_seconds == 2 * K + 2


def test_history_csv_has_each_iterations_seconds_and_curves_can_be_drawn_against_them(tmp_path):
    assert main(["compare", "--iterations", "5", "--x-axis", "seconds", "--quiet", "--engine", "numpy",
                 "--out", str(tmp_path)]) == 0
    with open(tmp_path / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name in ("gd", "nag"):
        seconds = [float(r["seconds"]) for r in rows if r["method"] == name]
        assert len(seconds) == 6 and seconds[0] == 0.0 and all(s > 0 for s in seconds[1:])
        assert math.isclose(sum(seconds), summary["methods"][name]["seconds"], rel_tol=1e-12)
        assert summary["methods"][name]["recording_seconds"] > 0
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
