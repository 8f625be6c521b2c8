"""What a newcomer meets in the first hour (issue 15): progress counts, names, titles, saved models."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from descentlab.experiments.compare import compare
from descentlab.experiments.config import CompareConfig, SweepConfig
from descentlab.experiments.summary import run_title
from descentlab.experiments.sweeprun import sweep
from descentlab.optim.registry import describe
from descentlab.reporting.plots import curves_figure, sweep_figure
from descentlab.reporting.write import write_run


def _descentlab(*args: str, cwd=None, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "descentlab", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_the_progress_bar_counts_the_iterations_asked_for(tmp_path):
    # rich draws its live display only on a terminal; these two variables make it draw into the pipe.
    run = _descentlab("compare", "--iterations", "7", "--out", str(tmp_path / "run"),
                      env_extra={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "100"})
    assert run.returncode == 0, run.stderr
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", run.stderr)  # without the terminal's control sequences
    counts = [(int(done), int(total)) for done, total in re.findall(r"\b(\d+)/(\d+)\b", shown)]
    assert counts, shown
    assert {total for _, total in counts} == {7}
    assert max(done for done, _ in counts) == 7
    for method in ("gd", "nag"):
        assert re.search(rf"{method}\s.*\b7/7\b", shown)


def test_the_light_name_lists_match_the_optimisers_and_activations():
    from descentlab.cli.names import ACTIVATION_NAMES, METHODS
    from descentlab.core.activations import ACTIVATIONS
    from descentlab.optim.registry import BUILT_IN

    assert METHODS == {cls.name: cls.label for cls in BUILT_IN}
    assert list(ACTIVATION_NAMES) == list(ACTIVATIONS)
    assert all(METHODS.values())


SEVEN = "gd,nag,nag-restart,momentum:mu=0.8,sutskever,adam,gd-armijo:lr=1"


def _in_terminal(args: list[str], columns: int, cwd) -> str:
    """What the command shows on a terminal ``columns`` wide (a pseudo-terminal, as a user's shell gives it)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"NO_COLOR": "1"}
    process = subprocess.Popen([sys.executable, "-m", "descentlab", *args], stdout=slave, stderr=subprocess.DEVNULL,
                               cwd=cwd, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command closed its terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=300) == 0
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@pytest.mark.parametrize("columns", [80, 200])
def test_the_terminal_table_shows_every_name_whole_with_its_numbers(tmp_path, columns):
    shown = _in_terminal(["compare", "--optimizers", SEVEN, "--iterations", "20", "--quiet", "--out", "run"], columns,
                         tmp_path)
    assert "…" not in shown
    widest = max(len(line) for line in shown.splitlines())
    assert widest <= columns and (widest > 80) == (columns > 80)  # the terminal's width is what counts
    tmp_path = tmp_path / "run"
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name, method in summary["methods"].items():
        final = method["final"]
        row = (rf"^\s*{re.escape(name)}\s+{method['status']}\s+{final['train_loss']:.4f}\s+"
               rf"{100 * final['train_accuracy']:.1f}\s")
        assert re.search(row, shown, re.MULTILINE), (name, shown)
    caption = " ".join(shown.split())
    for base in ("gd", "nag", "nag-restart", "momentum", "sutskever", "adam", "gd-armijo"):
        assert f"{base}: {describe(base)}" in caption


def test_one_name_in_the_figure_legend_and_the_report(tmp_path):
    config = CompareConfig(iterations=5, optimizers=tuple(SEVEN.split(",")))
    comparison = compare(config=config)
    figure = curves_figure(comparison.results, "t")
    for ax in figure.axes:
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        assert legend == [f"{name} ({describe(name)})" for name in SEVEN.split(",")]
    write_run(comparison, tmp_path)
    report = (tmp_path / "report.md").read_text()
    for name in SEVEN.split(","):
        assert f"| {name} ({describe(name)}) |" in report
    assert "heavy ball" not in report and "Sutskever NAG" not in report


@pytest.mark.parametrize("standardize", [False, True])
def test_figure_titles_say_whether_the_features_were_standardised(standardize):
    config = CompareConfig(iterations=3, standardize=standardize)
    comparison = compare(config=config)
    title = curves_figure(comparison.results, run_title(comparison)).get_suptitle()
    assert ("standardised features" in title) == standardize
    assert ("raw features" in title) != standardize
    result = sweep(config=SweepConfig(base=config, optimizers=("gd",), lrs=(0.01,), seeds=2))
    sweep_title = sweep_figure(result).get_suptitle()
    assert ("standardised features" in sweep_title) == standardize
    assert ("raw features" in sweep_title) != standardize


def test_a_model_saved_from_a_fit_on_a_dataset_carries_its_names_and_predict_uses_them(tmp_path):
    import numpy as np

    import descentlab as dl

    data = dl.Dataset([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]], ["cat", "dog", "cat", "dog"],
                      feature_names=["whiskers", "bark"])
    net = dl.MLP([2, 3, 2], activation="tanh")
    result = dl.fit(net, net.init(seed=1), data, optimizer=dl.NAG(lr=0.5), iterations=30)
    dl.save_model(tmp_path / "m.safetensors", net, result)
    _, params, meta = dl.load_model(tmp_path / "m.safetensors")
    assert meta["feature_names"] == ["whiskers", "bark"] and meta["class_names"] == ["cat", "dog"]
    assert np.array_equal(params.flat, result.params.flat)
    (tmp_path / "new.csv").write_text("bark,whiskers\n0.05,0.95\n0.8,0.3\n")  # other order: found by name
    run = _descentlab("predict", "--model", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "new.csv"))
    assert run.returncode == 0, run.stderr
    rows = [line.split(",") for line in run.stdout.splitlines()]
    assert rows[0] == ["row", "predicted", "proba_cat", "proba_dog"]
    expected = net.predict_proba(result.params, np.array([[0.95, 0.05], [0.3, 0.8]]))
    assert np.array_equal(np.array([[float(p) for p in row[2:]] for row in rows[1:]]), expected)
    assert [row[1] for row in rows[1:]] == [["cat", "dog"][k] for k in expected.argmax(axis=1)]
    # explicit metadata still wins over the names taken from the fit
    dl.save_model(tmp_path / "n.safetensors", net, result, metadata={"class_names": ["a", "b"]})
    meta = dl.load_model(tmp_path / "n.safetensors")[2]
    assert meta["class_names"] == ["a", "b"] and meta["feature_names"] == ["whiskers", "bark"]


def test_the_compiled_engine_load_is_reported_on_its_own_line(tmp_path):
    pytest.importorskip("numba")
    line = re.compile(r"^Compiled engine: kernels loaded in \d+\.\d\d s, once per process", re.MULTILINE)
    run = _descentlab("compare", "--engine", "compiled", "--iterations", "5", "--quiet", "--out", str(tmp_path / "c"))
    assert run.returncode == 0, run.stderr
    assert line.search(run.stdout)
    run = _descentlab("compare", "--iterations", "5", "--quiet", "--out", str(tmp_path / "n"))
    assert run.returncode == 0 and not line.search(run.stdout) and "Compiled engine" not in run.stdout
    # the warm-up evaluated every kernel the training calls: the same numbers as the NumPy engine
    compiled = json.loads((tmp_path / "c" / "summary.json").read_text())["methods"]
    plain = json.loads((tmp_path / "n" / "summary.json").read_text())["methods"]
    for name in ("gd", "nag"):
        assert compiled[name]["final"]["train_loss"] == pytest.approx(plain[name]["final"]["train_loss"], rel=1e-12)


def test_jargon_is_explained_where_the_reader_meets_it(tmp_path):
    run = _descentlab("--help")
    assert run.returncode == 0
    assert "assignment' (in some defaults) is the course exercise" in " ".join(run.stdout.split())
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    glossary = readme.split("## Words used here")[1].split(" ## ")[0]
    for term in ("**the assignment**", "**p_k, q_k**", "**exported iterate**", "**oracle calls**"):
        assert term in glossary
    # each term's first use in README comes no earlier than the glossary that explains it
    start = readme.index("## Words used here")
    for word in ("the assignment", "exported iterate", "q_k", "oracle calls"):
        assert readme.index(word) > start, word
    comparison = compare(config=CompareConfig(iterations=3))
    write_run(comparison, tmp_path)
    assert "not the look-ahead point q_k = p_k + μ_k (p_k − p_{k−1}) where it takes its gradient" in " ".join(
        (tmp_path / "report.md").read_text().split())
