"""The tuned comparison: splits, grids, the choice from validation data alone, and files whose numbers can be
recomputed from sweep.csv."""

import csv
import json
import math
import shlex
from pathlib import Path

import numpy as np
import pytest

import descentlab.experiments.cells as cells
import descentlab.experiments.tuning as tuning
from descentlab.cli.main import main
from descentlab.data.dataset import load_iris
from descentlab.experiments.cells import Cell, repetition_rows, run_cell
from descentlab.experiments.config import CompareConfig
from descentlab.experiments.statistics import holm, paired_comparison, run_status, sign_test, status_counts
from descentlab.experiments.tuning import (
    TuneConfig,
    choose,
    run_tuned,
)

SMALL = CompareConfig(hidden=(4,), iterations=40)


def test_the_test_rows_are_drawn_once_and_each_repetition_splits_the_rest():
    data = load_iris()
    train, validation, test = repetition_rows(data, 0.2, 0.25, split=0, seed=4)
    assert (train.size, validation.size, test.size) == (82, 30, 38)
    assert sorted([*train, *validation, *test]) == list(range(150))  # every row in exactly one part
    assert np.bincount(data.y[validation]).tolist() == [10, 10, 10]
    other = repetition_rows(data, 0.2, 0.25, split=0, seed=5)
    assert other[2].tolist() == test.tolist() and other[1].tolist() != validation.tolist()
    assert repetition_rows(data, 0.2, 0.25, split=1, seed=4)[2].tolist() != test.tolist()


def _row(method, setting, lr, seed, validation_loss, status="ok"):
    return {"method": method, "setting": f"{setting}:lr={lr!r}", "lr": lr, "seed": seed, "phase": "tune",
            "status": status, "validation_loss": validation_loss}


def test_choice_is_the_smallest_median_validation_loss_ties_to_the_smaller_lr_diverged_as_infinite():
    rows = [_row("gd", "gd", 0.1, s, v) for s, v in enumerate([0.3, 0.2, 0.9])]  # median 0.3
    rows += [_row("gd", "gd", 0.05, s, v) for s, v in enumerate([0.3, 0.3, 0.1])]  # median 0.3: tie, smaller lr
    rows += [_row("gd", "gd", 0.5, s, 0.01, "diverged" if s < 2 else "ok") for s in range(3)]  # median +inf
    choice = choose(rows)["gd"]
    assert (choice["lr"], choice["setting"], choice["median_validation_loss"]) == (0.05, "gd:lr=0.05", 0.3)
    assert choice["edge"] == "smallest"
    rows[3:6] = [_row("gd", "gd", 0.05, s, 1.0) for s in range(3)]
    assert choose(rows)["gd"]["lr"] == 0.1 and choose(rows)["gd"]["edge"] is None


def test_stacked_learning_rates_of_a_cell_equal_the_model_trained_alone():
    data = load_iris()
    both = run_cell(Cell("tune", "nag", "nag", (0.01, 0.1), (3,)), data, SMALL, 0.2)
    alone = run_cell(Cell("tune", "nag", "nag", (0.1,), (3,)), data, SMALL, 0.2)
    for key in ("train_loss", "validation_loss", "test_loss", "test_accuracy"):
        assert both.rows[1][key] == pytest.approx(alone.rows[0][key], rel=1e-12)
    assert both.history.train_loss.shape == (41, 2)
    np.testing.assert_allclose(both.history.test_loss[:, 1], alone.history.test_loss[:, 0], rtol=1e-12)


def test_changing_only_test_labels_never_changes_the_choice(monkeypatch):
    data = load_iris()
    config = TuneConfig(base=SMALL, methods=("gd", "momentum:mu=0.5,0.9"), lrs=(0.01, 0.1, 0.5), repetitions=3)
    honest = run_tuned(data, config)
    original = cells.problem

    def wrong_test_labels(*args, **kwargs):
        train, validation, test = original(*args, **kwargs)
        shifted = (test.y + 1) % test.n_classes
        return train, validation, type(test)(test.X, shifted, test.feature_names, test.class_names)

    monkeypatch.setattr(cells, "problem", wrong_test_labels)
    relabelled = run_tuned(data, config)
    assert relabelled.choice == honest.choice
    pairs = list(zip(honest.rows, relabelled.rows, strict=True))
    assert all(a["validation_loss"] == b["validation_loss"] and a["status"] == b["status"] for a, b in pairs)
    assert all(a["test_accuracy"] != b["test_accuracy"] for a, b in pairs if a["test_accuracy"] > 0.5)


def _read(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("lr", "chance_loss", "chance_accuracy", "start_train_loss", "train_loss", "train_accuracy",
                    "validation_loss", "test_loss", "test_accuracy"):
            row[key] = float(row[key])
        row["seed"] = int(row["seed"])
    return rows


def _recomputed_choice(rows):
    """The choice, recomputed from the tune rows with plain Python (independent of tuning.choose)."""
    medians = {}
    for row in rows:
        if row["phase"] == "tune":
            value = math.inf if row["status"] in ("stuck", "diverged") else row["validation_loss"]
            medians.setdefault(row["method"], {}).setdefault((row["setting"], row["lr"]), []).append(value)
    return {method: min(((v.count(math.inf), float(np.median(v)), lr, setting)
                         for (setting, lr), v in points.items()))[1:]
            for method, points in medians.items()}


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned")
    argv = ["sweep", "--tune", "--optimizers", "gd,nag,momentum:mu=0.5,0.9", "--lr", "0.01,0.1,1", "--seeds", "5",
            "--hidden", "4", "--iterations", "60", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_tuned_sweep_numbers_are_recomputed_from_its_csv(tuned_run):
    rows = _read(tuned_run / "sweep.csv")
    summary = json.loads((tuned_run / "summary.json").read_text())
    report = (tuned_run / "report.md").read_text()
    assert len(rows) == (3 + 3 + 6) * 5 + 3 * 5
    tune_seeds = {r["seed"] for r in rows if r["phase"] == "tune"}
    final_seeds = {r["seed"] for r in rows if r["phase"] == "final"}
    assert tune_seeds == set(range(5)) and final_seeds == set(range(5, 10))
    for row in rows:
        assert row["status"] == run_status(row["train_loss"], start_loss=row["start_train_loss"],
                                           train_accuracy=row["train_accuracy"], chance=row["chance_loss"],
                                           chance_acc=row["chance_accuracy"], diverged=row["status"] == "diverged")
    for method, (median, lr, setting) in _recomputed_choice(rows).items():
        m = summary["methods"][method]
        assert (m["setting"], m["lr"], m["median_validation_loss"]) == (setting, lr, median if median < math.inf
                                                                         else None)
        assert {r["setting"] for r in rows if r["phase"] == "final" and r["method"] == method} == {setting}
        for phase in ("tune", "final"):
            counts = status_counts(r["status"] for r in rows if r["phase"] == phase and r["method"] == method)
            assert m["status"][phase] == counts
        assert f"**`{setting}`** | **{median:.4f}**" in report
    final = {(r["method"], r["seed"]): r for r in rows if r["phase"] == "final"}
    family = [entry["p_value"] for comparisons in summary["paired"].values() for entry in comparisons]
    assert [entry["p_adjusted"] for comparisons in summary["paired"].values() for entry in comparisons] == holm(family)
    assert "Holm (1979)" in report and "| p (Holm) |" in report
    for other, comparisons in summary["paired"].items():
        for entry, (metric, higher) in zip(comparisons, (("train_loss", False), ("test_loss", False),
                                                         ("test_accuracy", True)), strict=True):
            seeds = sorted(final_seeds)
            values = [[math.nan if final[(m, s)]["status"] == "diverged" else final[(m, s)][metric] for s in seeds]
                      for m in ("gd", other)]
            p = paired_comparison(*values, entry["metric"], higher, seed=0)
            assert (entry["wins"], entry["ties"], entry["losses"]) == (p.wins, p.ties, p.losses)
            assert entry["median_difference"] == p.median and entry["interval_95"] == [p.low, p.high]
            assert entry["p_value"] == p.p_value == sign_test(p.wins, p.losses)
            assert f"| {p.wins} / {p.ties} / {p.losses} |" in report
    assert "mu=0.5,0.9" in report and "## Paired comparison with gd" in report


def test_tuned_report_command_reproduces_the_csv(tuned_run, tmp_path):
    report = (tuned_run / "report.md").read_text()
    command = report.split("Reproduce: `")[1].split("`")[0]
    words = shlex.split(command)
    assert words[:3] == ["descentlab", "sweep", "--tune"]
    assert main([*words[1:], "--quiet", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "sweep.csv").read_text() == (tuned_run / "sweep.csv").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["--validation-size", "0.2"], "--validation-size needs --tune"),
    (["--split-seed", "3"], "--split-seed needs --tune"),
    (["--tune", "--seed", "3"], "--seed does not apply"),
    (["--tune", "--validation-size", "0.5", "--test-size", "0.5"], "leave no training data"),
    (["--tune", "--optimizers", "momentum:mu=0.5,1.5"], "mu"),
])
def test_bad_tuned_sweeps_fail_before_training(argv, message, tmp_path, capsys):
    code = main(["sweep", *argv, "--iterations", "5", "--seeds", "1", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def _tutorial_rows(text: str) -> dict[str, list[str]]:
    """The tuned tutorial's first table: each method's cells (setting, tune and final statuses, three medians)."""
    rows = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ") and "`" in line]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


def _counts(cell: str) -> list[int]:
    return [int(n) for n in cell.split(" / ")]


def test_the_tuned_tutorials_result_is_what_its_command_reports(tmp_path):
    """The tutorial's full-size tables against the command they quote. The digits are those of the machine that
    made them: on another processor or BLAS the last bits of every product differ, and a few runs near a status
    boundary, or chaotic ones (NAG at lr 0.1), end elsewhere, as the tutorial says. So the choices and the final
    statuses must be the same, the tune statuses within 3 runs, the medians within 1 % (NAG's training loss, the
    chaotic one, within 30 %), and the verdicts the tutorial draws must hold."""
    readme = (Path(__file__).parents[1] / "docs" / "tutorials" / "tuned-comparison.md").read_text()  # was README's
    command = next(line for line in readme.splitlines()  # the full-size run, not the tutorial's small one
                   if line.startswith("descentlab sweep") and "--tune" in line and "--engine numpy" in line)
    words = shlex.split(command)
    words[words.index("--out") + 1] = str(tmp_path)
    assert main([*words[1:], "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    quoted = _tutorial_rows(readme)
    assert list(quoted) == list(summary["methods"])
    for method, m in summary["methods"].items():
        setting, tune, final, train_loss, test_loss, accuracy = quoted[method]
        assert setting == f"`{m['setting']}`"
        assert _counts(final) == list(m["status"]["final"].values())
        assert max(abs(a - b) for a, b in zip(_counts(tune), m["status"]["tune"].values(), strict=True)) <= 3
        f = m["final"]
        assert f["train_loss"]["median"] == pytest.approx(float(train_loss), rel=0.3 if method == "nag" else 0.01)
        assert f["test_loss"]["median"] == pytest.approx(float(test_loss), rel=0.01)
        assert 100 * f["test_accuracy"]["median"] == pytest.approx(float(accuracy.rstrip(" %")), rel=0.01)
    for comparisons in summary["paired"].values():
        train, *test = comparisons
        # "a lower training loss in 8 or 9 of 10 (intervals exclude zero), but no difference survives Holm"
        assert train["wins"] in (8, 9) and train["interval_95"][1] < 0 and 0.19 <= train["p_adjusted"] < 1
        assert all(p["p_adjusted"] > 0.7 for p in test)  # "on the test data every adjusted p is above 0.7"


@pytest.mark.skipif(not __import__("descentlab").core.engines.compiled_available(), reason="needs numba")
def test_auto_picks_one_engine_for_the_whole_tuned_comparison_whatever_the_cell_size(monkeypatch):
    from descentlab.core import engines
    from descentlab.experiments.config import TuneConfig
    from descentlab.experiments.sweeprun import CellRunner

    config = TuneConfig(base=CompareConfig(iterations=30, hidden=(4,)), methods=("gd",), lrs=(0.05, 0.1),
                        repetitions=2)
    monkeypatch.setattr(engines, "AUTO_COMPILED_FROM", 100)  # the comparison's 180 model-iterations pass; a cell's not
    data = load_iris()
    rows = [tuning.run_tuned(data, config, runner=CellRunner(data, config, 180, cell_size=size)).rows
            for size in (1, 64)]
    assert rows[0] == rows[1] == tuning.run_tuned(data, config).rows
    numpy = TuneConfig(base=CompareConfig(iterations=30, hidden=(4,), engine="numpy"), methods=("gd",),
                       lrs=(0.05, 0.1), repetitions=2)
    assert tuning.run_tuned(data, numpy).rows != rows[0]  # the compiled engine ran (its last digits differ)


def test_no_test_row_is_ever_trained_or_validated_on_and_split_json_says_which_rows_were(monkeypatch):
    iris = load_iris()
    numbered = type(iris)(np.column_stack([iris.X, np.arange(150)]), iris.y)  # the last feature names the row
    config = TuneConfig(base=SMALL, methods=("gd", "nag"), lrs=(0.05, 0.5), repetitions=3, split_seed=7)
    seen: list[tuple[set[int], set[int]]] = []
    original = cells.fit

    def recording_fit(net, initial, train, optimizer, test, **kwargs):
        seen.append(({int(r) for r in train.X[:, -1]}, {int(r) for r in test.X[:, -1]}))
        return original(net, initial, train, optimizer, test=test, **kwargs)

    monkeypatch.setattr(cells, "fit", recording_fit)
    tuned = run_tuned(numbered, config)
    held_out = set(tuned.split["test"])
    assert len(held_out) == 38 and len(seen) == 2 * 3 + 2 * 3  # one stack per setting and repetition, both phases
    for train, validation in seen:
        assert not held_out & (train | validation) and not train & validation
        assert train | validation | held_out == set(range(150))
    parts = [({*p["train"]}, {*p["validation"]}) for p in tuned.split["repetitions"].values()]
    assert sorted(tuned.split["repetitions"]) == [str(s) for s in range(6)] and all(p in parts for p in seen)


def test_split_json_lists_every_part_of_every_repetition(tuned_run):
    split = json.loads((tuned_run / "split.json").read_text())
    test = set(split["test"])
    assert len(test) == 38 and sorted(split["repetitions"], key=int) == [str(s) for s in range(10)]
    for parts in split["repetitions"].values():
        train, validation = set(parts["train"]), set(parts["validation"])
        assert not test & (train | validation) and not train & validation and len(validation) == 30
        assert train | validation | test == set(range(150))
    assert "no repetition's training or validation part holds a test row" in (tuned_run / "report.md").read_text()
