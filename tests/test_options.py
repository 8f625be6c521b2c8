"""Issue 21: initialisation is a choice, and every option that shapes a run is declared once and means the same in
compare, train, sweep and sweep --tune (issue 19: no option silently dropped on its way to the configuration)."""

from __future__ import annotations

import itertools
import json
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

import descentlab as dl
from descentlab.cli.common import compare_config
from descentlab.cli.main import _parse, main
from descentlab.cli.names import INIT_NAMES
from descentlab.cli.parser import RUN, build_parser, dest, run_fields
from descentlab.core.network import INIT_SCHEMES
from descentlab.experiments.config import CompareConfig

# the variance of a layer's weights, written out from the papers rather than read from INIT_SCHEMES
VARIANCE = {"glorot": lambda n_in, n_out: 2 / (n_in + n_out), "he": lambda n_in, n_out: 2 / n_in,
            "lecun": lambda n_in, n_out: 1 / n_in}


def test_the_help_names_every_scheme_the_network_has():
    assert INIT_NAMES == tuple(INIT_SCHEMES)


@pytest.mark.parametrize("scheme", ["glorot", "he", "lecun"])
def test_each_layer_has_the_variance_of_its_scheme_over_many_draws(scheme):
    net = dl.MLP([30, 50, 8, 3], activation="relu")
    draws = np.stack([net.init(seed, scheme=scheme).flat for seed in range(400)])  # 400 × 1,969 parameters
    for W, b in zip(net.slots[0::2], net.slots[1::2], strict=True):
        n_out, n_in = W.shape
        weights = draws[:, W.start : W.stop].ravel()  # at least 400 × 24 draws
        expected = VARIANCE[scheme](n_in, n_out)
        # the sample variance of n normal draws has relative standard deviation sqrt(2/n) <= 1.5 %: 6 of them
        assert abs(weights.var() / expected - 1) < 6 * np.sqrt(2 / weights.size), (W.name, weights.var(), expected)
        assert abs(weights.mean()) < 6 * np.sqrt(expected / weights.size)
        assert not draws[:, b.start : b.stop].any()  # biases start at 0
    assert not np.array_equal(net.init(0, scheme=scheme).flat, net.init(1, scheme=scheme).flat)


def test_the_normal_scheme_is_the_assignments_draw_bit_for_bit():
    net = dl.MLP([4, 16, 3])
    expected = np.random.default_rng(7).normal(0.5, 0.3, net.n_params)
    assert np.array_equal(net.init(7, mu=0.5, sigma=0.3).flat, expected)
    assert np.array_equal(net.init(7, mu=0.5, sigma=0.3, scheme="normal").flat, expected)
    assert np.array_equal(net.init(3).flat, np.random.default_rng(3).normal(0.0, 1.0, net.n_params))


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="glorot, he, lecun"):
        dl.MLP([4, 3]).init(0, scheme="xavier")


# -- one place decides a flag --------------------------------------------------------------------------------------
def test_every_run_option_is_a_configuration_field_and_every_field_has_an_option():
    options = set(run_fields())
    assert options <= {f.name for f in fields(CompareConfig)}
    # what each command sets itself: its methods and (compare, train) learning rate and x-axis
    assert {f.name for f in fields(CompareConfig)} - options == {"lr", "optimizers", "x_axis"}


# Every run option given a value that is not its default, with the configuration value it must become.
NOT_DEFAULT = {
    "hidden": (["--hidden", "5", "4"], (5, 4)), "activation": (["--activation", "tanh"], "tanh"),
    "seed": (["--seed", "3"], 3), "test_size": (["--test-size", "0.3"], 0.3),
    "data": (["--data", "{csv}"], "{csv}"), "target": (["--target", "label"], "label"),
    "iterations": (["--iterations", "7"], 7), "init": (["--init", "he"], "he"),
    "init_mu": (["--init-mu", "0.25"], 0.25), "init_sigma": (["--init-sigma", "0.5"], 0.5),
    "weight_decay": (["--weight-decay", "0.01"], 0.01), "batch_size": (["--batch-size", "9"], 9),
    "standardize": (["--standardize"], True), "engine": (["--engine", "reference"], "reference"),
}


@pytest.mark.parametrize("command", ["compare", "train", "sweep"])
def test_each_run_option_reaches_its_field_in_every_command(command, tmp_path):
    assert set(NOT_DEFAULT) == set(run_fields())
    csv = str(tmp_path / "d.csv")
    words = [word.format(csv=csv) for flags, _ in NOT_DEFAULT.values() for word in flags]
    args, given = _parse([command, *words])
    assert given >= set(run_fields())
    config = compare_config(args, csv)
    for name, (_, value) in NOT_DEFAULT.items():
        expected = value.format(csv=csv) if isinstance(value, str) else value
        assert getattr(config, name) == expected != getattr(CompareConfig(), name), name


def test_the_run_options_are_declared_once_with_one_meaning():
    parser = build_parser()
    helps = {}
    for command in ("compare", "train", "sweep"):
        sub = parser.commands[command]  # type: ignore[attr-defined]
        for option in RUN:
            flag = option[0][0]  # type: ignore[index]
            action = next(a for a in sub._actions if flag in a.option_strings)  # read, never changed
            helps.setdefault(flag, set()).add(action.help)
            assert action.dest == dest(option)  # type: ignore[arg-type]
    assert all(len(texts) == 1 for texts in helps.values()), helps


def _run(*words: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "descentlab", *words], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("words", "said"), [
    (["compare", "--optimizer", "adam"], "descentlab compare: error: unrecognized arguments: --optimizer adam "
                                         "(see descentlab compare --help)"),
    (["train", "--optimizers", "adam"], "descentlab train: error: unrecognized arguments: --optimizers adam "
                                        "(see descentlab train --help)"),
    (["compare", "--iter", "5"], "(see descentlab compare --help)"),
    (["sweep", "--init", "he", "--init-sigma", "0.5"], "--init-sigma: only with --init normal"),
])
def test_abbreviations_are_refused_and_errors_name_the_commands_help(words, said, tmp_path):
    run = _run(*words, cwd=tmp_path)
    assert run.returncode == 2 and said in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert not list(tmp_path.iterdir())


def test_compare_records_the_scheme_and_starts_from_it(tmp_path):
    run = _run("compare", "--init", "he", "--iterations", "3", "--optimizers", "gd", "--out", "r", "--quiet",
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["config"]["init"] == "he"
    _, _, metadata = dl.load_model(tmp_path / "r" / "models" / "gd.safetensors")
    assert metadata["training"]["init"] == "he"
    data = dl.load_iris()
    train, _ = dl.train_test_split(data, test_size=0.25, seed=0)
    net = dl.MLP([4, 16, 3])
    first = float((tmp_path / "r" / "history.csv").read_text().splitlines()[1].split(",")[2])
    assert first == net.loss(net.init(0, scheme="he"), train.X, train.y)
    assert "--init he" in (tmp_path / "r" / "report.md").read_text()


def test_sweep_takes_the_run_options_with_compares_meaning(tmp_path):
    shared = ["--optimizers", "nag", "--iterations", "20", "--init", "lecun", "--weight-decay", "0.01",
              "--batch-size", "16", "--standardize", "--hidden", "6", "--engine", "numpy", "--quiet"]
    assert main(["compare", *shared, "--lr", "0.05", "--out", str(tmp_path / "c")]) == 0
    assert main(["sweep", *shared, "--lr", "0.05", "--seeds", "1", "--out", str(tmp_path / "s")]) == 0
    history = (tmp_path / "c" / "history.csv").read_text().splitlines()
    header, last = history[0].split(","), history[-1].split(",")
    swept = (tmp_path / "s" / "sweep.csv").read_text().splitlines()
    row = dict(zip(swept[0].split(","), swept[1].split(","), strict=True))
    assert float(row["final_train_loss"]) == float(last[header.index("train_loss")])
    assert float(row["final_test_accuracy"]) == float(last[header.index("test_accuracy")])
    report = (tmp_path / "s" / "report.md").read_text()
    command = shlex.split(report.split("Reproduce: `")[1].split("`")[0])
    assert {"--standardize"} <= set(command)
    pairs = set(itertools.pairwise(command))
    assert {("--init", "lecun"), ("--weight-decay", "0.01"), ("--batch-size", "16")} <= pairs


def test_sweep_tune_takes_the_run_options(tmp_path):
    assert main(["sweep", "--tune", "--optimizers", "gd", "--lr", "0.1", "--seeds", "2", "--iterations", "5",
                 "--init", "glorot", "--batch-size", "20", "--weight-decay", "0.001", "--quiet", "--out",
                 str(tmp_path / "t")]) == 0
    report = (tmp_path / "t" / "report.md").read_text()
    assert "--init glorot --weight-decay 0.001 --batch-size 20" in report


def test_the_estimator_starts_from_its_scheme():
    pytest.importorskip("sklearn")
    X, y = dl.load_iris().X, dl.load_iris().y
    fitted = dl.DescentClassifier(init="glorot", iterations=0, random_state=5).fit(X, y)
    assert np.array_equal(fitted.params_.flat, dl.MLP([4, 16, 3]).init(5, scheme="glorot").flat)


def _seed_curves(run: Path, key: str) -> dict[str, np.ndarray]:
    """Per method, its seeds' ``key`` curves (iterations × seeds, seeds in order) read from the run's cell files."""
    import pyarrow.parquet as pq

    curves: dict[str, dict[int, list[float]]] = {}
    for cell in sorted((run / "cells").glob("*.parquet")):
        table = pq.read_table(cell).to_pydict()
        for method, seed, curve in zip(table["method"], table["seed"], table[key], strict=True):
            curves.setdefault(method, {})[seed] = curve
    return {method: np.array([seeds[s] for s in sorted(seeds)]).T for method, seeds in curves.items()}


def test_compare_seeds_draws_the_median_and_quartiles_of_the_seeds_and_each_seed_on_request(tmp_path, capsys,
                                                                                            monkeypatch):
    from descentlab.reporting import plots

    drawn = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (drawn.append(fig), save(fig, path))[1])
    shared = ["--iterations", "30", "--engine", "numpy", "--quiet", "--optimizers", "gd,nag", "--lr", "0.05",
              "--seed", "1"]
    for runs in ([], ["--show-runs"]):
        assert main(["compare", *shared, "--seeds", "3", *runs, "--out", str(tmp_path / f"c{len(runs)}")]) == 0
    assert main(["sweep", *shared, "--seeds", "3", "--out", str(tmp_path / "s")]) == 0  # compare --seeds is it
    assert (tmp_path / "c0" / "sweep.csv").read_text() == (tmp_path / "s" / "sweep.csv").read_text()
    drawn.pop()
    curves = _seed_curves(tmp_path / "c1", "history_train_loss")
    plain, each = (figure.axes[0] for figure in drawn)  # the training loss panels of sweep.png, without and with
    assert [line.get_label() for line in plain.lines] == ["gd (steepest descent), lr 0.05",
                                                          "nag (accelerated gradient, Nesterov 1983), lr 0.05"]
    assert len(each.lines) == 2 * (3 + 1)  # per method, its 3 seeds' thin lines, then the median
    for index, method in enumerate(("gd", "nag")):
        seeds = curves[method]
        assert seeds.shape == (31, 3)
        thin, median = each.lines[4 * index : 4 * index + 3], each.lines[4 * index + 3]
        for seed, line in enumerate(thin):
            assert np.array_equal(line.get_ydata(), seeds[:, seed])
        assert np.array_equal(median.get_ydata(), np.median(seeds, axis=1))
        assert np.array_equal(plain.lines[index].get_ydata(), median.get_ydata())
        band = each.collections[index].get_paths()[0].vertices
        for k in range(31):
            at = band[band[:, 0] == k, 1]
            assert (at.min(), at.max()) == (np.percentile(seeds[k], 25), np.percentile(seeds[k], 75))
    # one split for every seed, that of --seed: seed 1's run is compare --seed 1's single run, test numbers too
    assert main(["compare", *shared, "--out", str(tmp_path / "one")]) == 0
    rows = [row.split(",") for row in (tmp_path / "c1" / "sweep.csv").read_text().splitlines()]
    assert len(rows) == 1 + 2 * 3 and {row[0] for row in rows[1:]} == {"gd", "nag"}
    history = [line.split(",") for line in (tmp_path / "one" / "history.csv").read_text().splitlines()]
    for method in ("gd", "nag"):
        seed1 = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == method and r[2] == "1"), strict=True))
        last = dict(zip(history[0], [r for r in history if r[0] == method][-1], strict=True))
        assert (float(seed1["final_train_loss"]), float(seed1["final_test_loss"])) == (
            float(last["train_loss"]), float(last["test_loss"]))
    # statuses per seed in summary.json, as sweep.csv lists them; the paired readings in the terminal, as report.md
    summary = json.loads((tmp_path / "c1" / "summary.json").read_text())
    for method in ("gd", "nag"):
        assert summary["methods"][method]["status_per_seed"] == {
            "0.05": [r[rows[0].index("status")] for r in rows[1:] if r[0] == method]}
    assert summary["methods"]["gd"]["status_per_seed"]["0.05"] == ["ok", "ok", "high-loss"]  # each sweep names it:
    said, err = capsys.readouterr()
    assert [line for line in err.splitlines() if line.startswith("hint:")] == 3 * [
        "hint: gd at lr 0.05 (seed 2) ended with a loss above guessing the class frequencies: try a smaller --lr than "
        "0.05"]
    said = " ".join(said.split())  # rich folds long lines
    report = (tmp_path / "c1" / "report.md").read_text().splitlines()
    readings = [row.split(" | ")[-1].rstrip(" |") for row in report if row.startswith("| nag (")
                and " | 0.05 | " in row][1:]  # the status table's row first, then one per metric
    assert len(readings) == 3 and said.count(f"nag vs gd: {'; '.join(readings)}") == 3
    assert main(["compare", "--show-runs", "--out", str(tmp_path / "x")]) == 2  # one seed: nothing to show apart
    assert "--show-runs: only with --seeds N > 1" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["compare", "--seeds", "2", "--optimizers", "adam:lr=0.1", "--out", str(tmp_path / "x")]) == 1
    assert "'adam:lr=0.1' sets its own lr" in capsys.readouterr().err and not (tmp_path / "x").exists()
def test_ctrl_c_while_compare_seeds_writes_its_files_says_how_to_finish_it(tmp_path, capsys, monkeypatch):
    """``compare --seeds`` is a sweep: a press while its files are written (every cell saved) is the sweep's two
    lines, not a bare 'interrupted', and ``compare --resume`` of its folder names the command that finishes it."""
    import descentlab.cli.sweep as sweep_command

    def pressed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    run = tmp_path / "c"
    options = ["--iterations", "20", "--engine", "numpy", "--quiet", "--optimizers", "gd,nag", "--lr", "0.05",
               "--seeds", "3"]
    with monkeypatch.context() as patch:
        patch.setattr(sweep_command, "_finish", pressed)
        assert main(["compare", *options, "--out", str(run)]) == 130
    assert capsys.readouterr().err == (f"interrupted: 2 of 2 cells are saved in {run}/cells/\n"
                                       f"Finish it with: descentlab sweep --resume {run}\n")
    assert main(["compare", "--resume", str(run)]) == 1
    assert capsys.readouterr().err == (f"error: {run}: the folder of a sweep (compare --seeds runs one); finish it "
                                       f"with: descentlab sweep --resume {run}\n")
    assert main(["sweep", "--resume", str(run), "--quiet"]) == 0
    assert main(["sweep", *options, "--out", str(tmp_path / "s")]) == 0
    assert (run / "sweep.csv").read_text() == (tmp_path / "s" / "sweep.csv").read_text()


