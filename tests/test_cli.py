"""End to end: the command line as a user runs it, every file it writes checked."""

import csv
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from history_text import history_numbers

import descentlab as dl
from descentlab.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["compare", "--out", str(out), "--quiet"]) == 0
    return out


def test_compare_writes_every_file(default_run):
    names = sorted(str(p.relative_to(default_run)) for p in default_run.rglob("*") if p.is_file())
    assert names == ["curves.png", "history.csv", "models/gd.safetensors", "models/nag.safetensors",
                     "report.html", "report.md", "split.json", "summary.json"]
    from descentlab.reporting.write import COMPARE_FILES

    assert sorted({name.split("/")[0] for name in names}) == sorted(COMPARE_FILES)  # the declared list, exactly
    assert (default_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_metrics_equal_those_recomputed_from_the_saved_models(default_run, iris):
    summary = json.loads((default_run / "summary.json").read_text())
    assert summary["network"]["n_params"] == 131 and summary["config"]["iterations"] == 350
    train, test = dl.train_test_split(iris, test_size=0.25, seed=0)
    for method in ("gd", "nag"):
        net, params, meta = dl.load_model(default_run / "models" / f"{method}.safetensors")
        final = summary["methods"][method]["final"]
        assert final["train_loss"] == net.loss(params, train.X, train.y)
        assert final["test_loss"] == net.loss(params, test.X, test.y)
        assert final["test_accuracy"] == np.mean(net.predict(params, test.X) == test.y)
        assert final["train_accuracy"] == np.mean(net.predict(params, train.X) == train.y)
        assert meta["class_names"] == ["setosa", "versicolor", "virginica"]
        assert meta["training"]["method"] == method and meta["metrics"] == final


def test_history_csv_matches_a_fresh_fit(default_run, iris):
    rows = list(csv.DictReader((default_run / "history.csv").read_text().splitlines()))
    assert len(rows) == 2 * 351
    train, test = dl.train_test_split(iris, test_size=0.25, seed=0)
    net = dl.MLP([4, 16, 3])
    result = dl.fit(net, net.init(seed=0), train, dl.NAG(lr=0.01), iterations=350, test=test)
    nag = [r for r in rows if r["method"] == "nag"]
    assert [float(r["train_loss"]) for r in nag] == result.history.train_loss.tolist()
    assert [float(r["test_accuracy"]) for r in nag] == result.history.test_accuracy.tolist()


def test_report_states_the_numbers_and_the_command(default_run):
    report = (default_run / "report.md").read_text()
    summary = json.loads((default_run / "summary.json").read_text())
    assert "![Training loss and test accuracy over the iterations](curves.png)" in report
    assert "**131 learnable parameters**" in report
    assert "descentlab compare --hidden 16 --activation softplus --lr 0.01 --iterations 350" in report
    for method in ("gd", "nag"):
        assert f"{summary['methods'][method]['final']['train_loss']:.4f}" in report


def test_report_command_reproduces_the_run(default_run, tmp_path):
    report = (default_run / "report.md").read_text()
    line = next(line for line in report.splitlines() if line.startswith("descentlab compare"))
    assert main([*shlex.split(line)[1:], "--out", str(tmp_path), "--quiet"]) == 0
    assert history_numbers(tmp_path / "history.csv") == history_numbers(default_run / "history.csv")


def test_info_describes_a_model(default_run, capsys):
    assert main(["info", "--model", str(default_run / "models" / "nag.safetensors")]) == 0
    text = capsys.readouterr().out
    assert "131" in text and "W0" in text and "setosa" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "--lr", "-1"], "--lr: must be a positive number"),
        (["compare", "--iterations", "x"], "--iterations: not a whole number"),
        (["compare", "--test-size", "1.5"], "--test-size: must be between 0 and 1"),
        (["compare", "--hidden", "0"], "--hidden: must be at least 1"),
        (["compare", "--activation", "swish"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_a_message_naming_the_argument(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_failures_exit_1_with_one_line_and_no_traceback(tmp_path, capsys):
    assert main(["info", "--model", str(tmp_path / "nope.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "no such model file" in err and "Traceback" not in err


def test_a_diverging_method_is_reported_and_the_run_completes(tmp_path, capsys):
    assert main(["compare", "--lr", "1e200", "--iterations", "20", "--out", str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "non-finite" in summary["methods"]["gd"]["stopped"]
    assert "stopped early" in (tmp_path / "report.md").read_text()
    assert "non-finite" in capsys.readouterr().err


def test_one_diverging_method_stops_alone_and_keeps_its_last_finite_parameters(tmp_path, capsys, iris):
    argv = ["compare", "--optimizers", "gd:lr=1e150,nag,adam:lr=1e200", "--iterations", "30", "--out",
            str(tmp_path), "--quiet"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    summary = json.loads((tmp_path / "summary.json").read_text())
    report = (tmp_path / "report.md").read_text()
    for name in ("gd:lr=1e150", "adam:lr=1e200"):
        stopped = summary["methods"][name]["stopped"]
        assert stopped.startswith("the training loss became non-finite at iteration")
        assert f"{name}: {stopped}" in " ".join(err.split()) and stopped in report
        k = summary["methods"][name]["iterations_done"]
        assert k < 30
        net, params, _ = dl.load_model(tmp_path / "models" / f"{name}.safetensors")  # the spec as typed
        assert np.all(np.isfinite(params.flat))
        train, _ = dl.train_test_split(iris, test_size=0.25, seed=0)
        replay = dl.fit(net, net.init(seed=0), train, dl.parse_optimizer(name), iterations=k)
        assert np.array_equal(params.flat, replay.params.flat)  # the iterate of the last finite iteration
    assert summary["methods"]["nag"]["stopped"] is None and summary["methods"]["nag"]["iterations_done"] == 30


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = readme.split("```")
    commands = [line for line in blocks[1].splitlines()[1:] if line.strip()]  # [0] is the language tag
    assert len(commands) == 2 and "descentlab compare" in commands[0]
    assert commands[1].strip() in ci


def test_help_lists_every_flag_with_its_default(capsys):
    assert main(["compare", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--lr", "--iterations", "--hidden", "--seed", "--test-size", "--init-mu", "--init-sigma",
                 "--out"):
        assert flag in text
    assert "default: 0.01" in text


def test_readme_numbers_are_those_of_the_default_run(default_run):
    summary = json.loads((default_run / "summary.json").read_text())
    readme = (ROOT / "README.md").read_text()
    for method in ("gd", "nag"):
        row = next(line for line in readme.splitlines() if line.startswith(f"| {method} "))
        cells = [c.strip() for c in row.strip("|").split("|")]
        m = summary["methods"][method]
        f = m["final"]
        assert cells[1:] == [f"{f['train_loss']:.4f}", f"{100 * f['train_accuracy']:.1f} %",
                             f"{f['test_loss']:.4f}", f"{100 * f['test_accuracy']:.1f} %",
                             str(m["iterations_to_test_accuracy_90"])]
    assert "after 36 iterations" in readme and "at iteration 36," in (default_run / "report.md").read_text()


ALL_SEVEN = "gd,nag,nag-restart,momentum,sutskever,adam,gd-armijo:lr=0.5"


def test_compare_runs_all_seven_optimisers_and_draws_them(tmp_path):
    assert main(["compare", "--optimizers", ALL_SEVEN, "--iterations", "40", "--x-axis", "evaluations",
                 "--weight-decay", "0.001", "--out", str(tmp_path), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["methods"]) == ALL_SEVEN.split(",")
    models = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert models == sorted(["gd.safetensors", "nag.safetensors", "nag-restart.safetensors",
                             "momentum.safetensors", "sutskever.safetensors", "adam.safetensors",
                             "gd-armijo:lr=0.5.safetensors"])  # each file named by its spec as typed
    assert summary["model_files"]["gd-armijo:lr=0.5"] == "models/gd-armijo:lr=0.5.safetensors"
    armijo = summary["methods"]["gd-armijo:lr=0.5"]
    assert armijo["gradient_evaluations"] == 40 and armijo["function_evaluations"] >= 40
    assert summary["methods"]["nag"]["function_evaluations"] == 0
    rows = list(csv.DictReader((tmp_path / "history.csv").read_text().splitlines()))
    assert {r["method"] for r in rows} == set(ALL_SEVEN.split(","))
    report = (tmp_path / "report.md").read_text()
    assert f"--optimizers {ALL_SEVEN}" in report and "--x-axis evaluations" in report
    assert "λ = 0.001" in report
    line = next(line for line in report.splitlines() if line.startswith("descentlab compare"))
    again = tmp_path / "again"
    assert main([*shlex.split(line)[1:], "--out", str(again), "--quiet"]) == 0
    assert history_numbers(again / "history.csv") == history_numbers(tmp_path / "history.csv")


def test_weight_decay_enters_the_training_loss(iris):
    train, _ = dl.train_test_split(iris)
    net = dl.MLP([4, 16, 3])
    p0 = net.init(seed=0)
    plain = dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=0).history.train_loss[0]
    penalised = dl.fit(net, p0, train, dl.GD(lr=0.01), iterations=0, weight_decay=0.1).history.train_loss[0]
    weights = sum(float(np.sum(p0[name] ** 2)) for name in ("W0", "W1"))
    assert penalised == pytest.approx(plain + 0.05 * weights, rel=1e-14)


@pytest.mark.parametrize("spec, message", [("gd,sgd", "unknown optimiser 'sgd'"), ("gd,gd", "named twice"),
                                           ("momentum:mu=2", "mu must be a number in [0, 1)")])
def test_bad_optimizer_lists_are_usage_errors(spec, message, capsys):
    assert main(["compare", "--optimizers", spec]) == 2
    assert message in capsys.readouterr().err


def write_table(path, rows):
    path.write_text("\n".join(",".join(map(str, row)) for row in rows) + "\n")
    return path


def flower_rows(n=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = [["width", "height", "kind"]]
    for i in range(n):
        kind = ["red", "blue", "green"][i % 3]
        rows.append([f"{rng.normal() + i % 3:.3f}", f"{rng.normal() - i % 3:.3f}", kind])
    return rows


def test_a_missing_value_gets_one_line_naming_line_and_column(tmp_path, capsys):
    rows = flower_rows()
    rows[5][1] = ""
    path = write_table(tmp_path / "flowers.csv", rows)
    assert main(["train", "--data", str(path), "--target", "kind", "--out", str(tmp_path / "m.safetensors")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: {path}:6: column 'height' has a missing value"
    assert not (tmp_path / "m.safetensors").exists()


def test_train_predict_info_round_trip_on_a_csv_with_string_classes(tmp_path, capsys):
    path = write_table(tmp_path / "flowers.csv", flower_rows())
    model = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(path), "--target", "kind", "--hidden", "6", "5", "--activation", "tanh",
                 "--standardize", "--optimizer", "nag", "--lr", "0.1", "--iterations", "60", "--out", str(model),
                 "--quiet"]) == 0
    net, params, meta = dl.load_model(model)
    assert meta["class_names"] == ["blue", "green", "red"] and meta["feature_names"] == ["width", "height"]
    assert meta["standardization"] is not None and net.sizes == (2, 6, 5, 3)
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(model), "--data", str(path), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.read_text().splitlines()))
    data = dl.load_csv(path, target="kind")
    scaler = dl.Standardizer.from_json(meta["standardization"])
    proba = net.predict_proba(params, scaler.transform(data.X))
    assert len(rows) == 30
    for row, p in zip(rows, proba, strict=True):
        assert [float(row[f"proba_{c}"]) for c in ("blue", "green", "red")] == p.tolist()
        assert row["predicted"] == ["blue", "green", "red"][int(np.argmax(p))]
    capsys.readouterr()
    assert main(["info", "--model", str(model)]) == 0
    text = capsys.readouterr().out
    assert "W2" in text and "total" in text and str(net.n_params) in text and "Standardisation: yes" in text
    # The exported graph takes the raw columns and gives predict's probabilities (standardisation folded in).
    ort = pytest.importorskip("onnxruntime")
    assert main(["export", "--model", str(model), "--onnx", str(tmp_path / "m.onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    onnx_proba, _ = session.run(None, {"input": data.X.astype(np.float32)})
    np.testing.assert_allclose(onnx_proba, proba, rtol=0, atol=1e-5)


def test_predict_refuses_a_table_without_the_model_features(tmp_path, capsys):
    path = write_table(tmp_path / "flowers.csv", flower_rows())
    model = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(path), "--target", "kind", "--iterations", "5", "--out", str(model),
                 "--quiet"]) == 0
    other = write_table(tmp_path / "other.csv", [["width", "depth"], [1, 2]])
    assert main(["predict", "--model", str(model), "--data", str(other)]) == 1
    assert "missing feature column(s) height" in capsys.readouterr().err


def test_compare_on_a_csv_with_minibatches_is_reproduced_by_its_report_command(tmp_path):
    path = write_table(tmp_path / "flowers.csv", flower_rows(45))
    run = tmp_path / "run"
    assert main(["compare", "--data", str(path), "--target", "kind", "--batch-size", "8", "--iterations", "30",
                 "--standardize", "--out", str(run), "--quiet"]) == 0
    line = next(line for line in (run / "report.md").read_text().splitlines() if line.startswith("descentlab"))
    assert f"--data {path} --target kind" in line and "--batch-size 8" in line and "--standardize" in line
    again = tmp_path / "again"
    assert main([*shlex.split(line)[1:], "--out", str(again), "--quiet"]) == 0
    assert history_numbers(again / "history.csv") == history_numbers(run / "history.csv")


def test_sweep_writes_its_files_and_its_report_command_reproduces_them(tmp_path, capsys):
    first = tmp_path / "first"
    argv = ["sweep", "--optimizers", "gd,nag", "--lr", "0.01,0.03", "--seeds", "2", "--iterations", "25",
            "--hidden", "5", "--quiet", "--out", str(first)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "4 models per method" in printed and "Wrote" in printed
    report = (first / "report.md").read_text()
    command = report.split("Reproduce: `")[1].split("`")[0]
    words = shlex.split(command)
    assert words[:2] == ["descentlab", "sweep"]
    again = tmp_path / "again"
    assert main([*words[1:], "--quiet", "--out", str(again)]) == 0
    assert (again / "sweep.csv").read_text() == (first / "sweep.csv").read_text()
    assert main(["sweep", "--lr", "0.01,0.01", "--out", str(tmp_path / "x")]) == 2
    assert "named twice" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["compare", "train"])
def test_ctrl_c_saves_a_checkpoint_and_resume_ends_bit_identical(tmp_path, command):
    import signal
    import subprocess
    import sys
    import time

    options = ["--hidden", "3", "--iterations", "6000", "--batch-size", "50", "--quiet"]
    options += ["--optimizers", "gd,nag"] if command == "compare" else ["--optimizer", "nag"]
    whole = tmp_path / ("whole" if command == "compare" else "whole.safetensors")
    cut = tmp_path / ("cut" if command == "compare" else "cut.safetensors")
    assert main([command, *options, "--out", str(whole)]) == 0

    run = subprocess.Popen([sys.executable, "-u", "-m", "descentlab", command, *options, "--out", str(cut)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.stdout is not None and run.stdout.readline().startswith("Data:")
    assert run.stdout.readline().startswith("Network")  # training starts now
    time.sleep(0.15)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    checkpoint = cut / "checkpoint" if command == "compare" else Path(f"{cut}.checkpoint")
    assert f"Resume with: descentlab {command} --resume {checkpoint}" in " ".join(err.split())
    assert "stopped after iteration" in err and "Traceback" not in err
    assert (checkpoint / "checkpoint.safetensors").exists()
    # compare writes what is done into its run folder; train never writes a half-trained model to --out
    assert (cut / "history.csv").exists() if command == "compare" else not cut.exists()

    assert main([command, "--resume", str(checkpoint), "--quiet"]) == 0
    assert not checkpoint.exists()
    pairs = ([(whole / "models" / f"{m}.safetensors", cut / "models" / f"{m}.safetensors") for m in ("gd", "nag")]
             if command == "compare" else [(whole, cut)])
    for a, b in pairs:
        assert np.array_equal(dl.load_model(a)[1].flat, dl.load_model(b)[1].flat)  # bit for bit
    if command == "compare":
        assert history_numbers(whole / "history.csv") == history_numbers(cut / "history.csv")


@pytest.mark.parametrize("command", ["compare", "train", "sweep", "benchmark"])
def test_resume_of_a_file_or_of_nothing_is_one_line_naming_the_option_and_the_path(tmp_path, command):
    import subprocess
    import sys

    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    beside = ", and there is no x.csv.checkpoint beside it" if command == "train" else ""
    for path, why in (("x.csv", f"not a run folder (a file){beside}"), ("nope", "does not exist")):
        done = subprocess.run([sys.executable, "-m", "descentlab", command, "--resume", path], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: --resume {path}: {why}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_resume_refuses_a_missing_or_foreign_checkpoint(tmp_path, capsys):
    from descentlab.experiments.checkpoint import write_checkpoint
    from descentlab.experiments.compare import compare
    from descentlab.experiments.config import CompareConfig

    assert main(["compare", "--resume", str(tmp_path / "nothing")]) == 1
    assert capsys.readouterr().err == f"error: --resume {tmp_path / 'nothing'}: does not exist\n"
    data = dl.load_iris()
    config = CompareConfig(iterations=30, optimizers=("nag",))
    asked = iter(range(100))
    partial = compare(data, config, should_stop=lambda: next(asked) == 10)
    write_checkpoint(partial, tmp_path / "ck", data, {"command": "train", "out": str(tmp_path / "m.safetensors")})
    assert main(["compare", "--resume", str(tmp_path / "ck")]) == 1
    assert "this checkpoint is of 'descentlab train'" in capsys.readouterr().err
    raw = bytearray((tmp_path / "ck" / "checkpoint.safetensors").read_bytes())
    raw[-3] ^= 0x01
    (tmp_path / "ck" / "checkpoint.safetensors").write_bytes(bytes(raw))
    assert main(["train", "--resume", str(tmp_path / "ck")]) == 1
    assert "does not match its checksum" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["compare", "train"])
def test_a_batch_larger_than_the_training_split_is_refused_before_any_file(tmp_path, capsys, command):
    out = tmp_path / ("run" if command == "compare" else "m.safetensors")
    assert main([command, "--batch-size", "113", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("error: --batch-size 113: the training split has 112 rows; give at most 112, or leave "
                   "--batch-size out for full batch")
    assert not out.exists()
    assert main([command, "--batch-size", "112", "--iterations", "3", "--out", str(out), "--quiet"]) == 0


@pytest.mark.parametrize("tune, lrs, comparisons", [(False, "0.05,0.1", 3), (False, "0.1", 1), (True, "0.05,0.1", 1)])
def test_a_sweeps_statistics_are_computed_once_for_every_file_and_the_terminal(tmp_path, monkeypatch, tune, lrs,
                                                                                 comparisons):
    """summary.json, report.md, report.html and the terminal render one computed summary: each paired comparison
    (gd against nag at each lr and every lr pooled, or on the final phase) is one bootstrap per metric, not one
    per view."""
    from descentlab.experiments import statistics
    from descentlab.reporting import tuned_report

    calls = {"paired_comparison": 0, "bootstrap_median_interval": 0}

    def counted(name):
        original = getattr(statistics, name)

        def count(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)
        return count

    for name in calls:
        monkeypatch.setattr(statistics, name, counted(name))
    monkeypatch.setattr(tuned_report, "paired_comparison", statistics.paired_comparison)
    argv = ["sweep", "--optimizers", "gd,nag", "--lr", lrs, "--seeds", "2", "--iterations", "5", "--hidden", "3",
            "--quiet", "--out", str(tmp_path / "run"), *(["--tune"] if tune else [])]
    assert main(argv) == 0
    metrics = 3  # training loss, test loss, test accuracy
    assert calls == {"paired_comparison": comparisons * metrics, "bootstrap_median_interval": comparisons * metrics}


def _without_seconds(value):
    """summary.json without its timings, the only numbers two runs of one command may differ in."""
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if "seconds" not in k}
    return value


@pytest.mark.parametrize("argv", [
    ["compare", "--optimizers", "gd,adam", "--hidden", "4", "3", "--lr", "0.0123456789", "--iterations", "12",
     "--seed", "3", "--test-size", "0.3", "--init-mu", "-0.25", "--init-sigma", "0.5", "--weight-decay", "0.001",
     "--standardize", "--x-axis", "evaluations"],
    ["compare", "--lr", "0.05", "--iterations", "8", "--init", "glorot", "--batch-size", "16"],
    ["sweep", "--optimizers", "gd,momentum:mu=0.5", "--lr", "0.05,0.123456789", "--seeds", "2", "--iterations", "6",
     "--hidden", "3", "--seed", "2", "--init-mu=-0.125", "--batch-size", "32", "--activation", "tanh"],
    ["sweep", "--tune", "--optimizers", "gd,nag", "--lr", "0.05,0.2", "--seeds", "2", "--iterations", "6",
     "--hidden", "3", "--validation-size", "0.25", "--split-seed", "3", "--test-size", "0.2", "--weight-decay",
     "0.01"],
    ["sweep", "--data=-flowers.csv", "--target", "kind", "--optimizers", "gd,nag", "--lr", "0.05", "--seeds", "2",
     "--iterations", "5", "--hidden", "3"],  # a value that starts with '-' (a file name, relative to the folder)
])
def test_the_command_a_run_writes_makes_the_same_run_again(argv, tmp_path, monkeypatch):
    """The command written into summary.json (sweeps) or report.md (compare) reproduces the run, and the run it
    makes writes the same command: one rule turns a configuration into its words, whichever command wrote it."""
    def command_of(run):
        if argv[0] == "sweep":
            return json.loads((run / "summary.json").read_text())["command"]
        return next(line for line in (run / "report.md").read_text().splitlines() if line.startswith("descentlab"))

    monkeypatch.chdir(tmp_path)
    write_table(tmp_path / "-flowers.csv", flower_rows(45))
    first, again = tmp_path / "first", tmp_path / "again"
    assert main([*argv, "--quiet", "--out", str(first)]) == 0
    words = shlex.split(command_of(first))
    assert main([*words[1:], "--quiet", "--out", str(again)]) == 0
    assert command_of(again) == command_of(first)
    summary = [_without_seconds(json.loads((run / "summary.json").read_text())) for run in (first, again)]
    assert summary[0] == summary[1]
    if argv[0] == "sweep":
        assert (again / "sweep.csv").read_text() == (first / "sweep.csv").read_text()
    else:
        assert history_numbers(again / "history.csv") == history_numbers(first / "history.csv")
