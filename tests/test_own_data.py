"""Issue 21 on data of one's own: a hint before a run that will not train and after one that did not, labels too
large to compare as numbers (issue 25), and predict on labelled and unnamed tables, through the real command."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import descentlab as dl
from descentlab.cli.hints import scale_hint
from descentlab.experiments.config import CompareConfig

DATASETS = Path(str(resources.files("descentlab.data").joinpath("datasets")))


def _run(*words: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "descentlab", *words], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _hints(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("hint:")]


@pytest.mark.parametrize(("name", "span", "stuck"), [("wine", "0.66 … 1,680 ('proline')", ("gd", "nag")),
                                                      ("breast_cancer", "0.0298 … 4,254 ('worst_area')", ("gd",))])
def test_raw_features_of_very_different_scales_get_one_hint_before_training(name, span, stuck, tmp_path):
    run = _run("compare", "--data", str(DATASETS / f"{name}.csv"), "--iterations", "40", "--out", "r", "--quiet",
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    hints = _hints(run.stderr)
    assert hints[0] == f"hint: features span {span}: add --standardize"
    # a method stuck at the class-frequency loss gets one line naming what to try
    assert hints[1:] == [f"hint: {m} ended stuck at the loss of guessing the class frequencies: try --standardize, "
                         "--init he, a larger --lr than 0.01 or more --iterations" for m in stuck]
    standardized = _run("compare", "--data", str(DATASETS / f"{name}.csv"), "--iterations", "40", "--standardize",
                        "--init", "he", "--lr", "0.1", "--out", "s", "--quiet", cwd=tmp_path)
    assert standardized.returncode == 0 and _hints(standardized.stderr) == [], standardized.stderr


def test_features_on_one_small_scale_get_no_hint():
    # digits: pixel counts 0..16 (some columns all 0); Iris: 2.5 … 7.9; standardised features are never hinted
    for data in (dl.load_csv(DATASETS / "digits.csv"), dl.load_iris()):
        assert scale_hint(data.X, list(data.feature_names), CompareConfig()) is None
    wine = dl.load_csv(DATASETS / "wine.csv")
    assert scale_hint(wine.X, list(wine.feature_names), CompareConfig(standardize=True)) is None
    assert scale_hint(wine.X[:, [0, 10]], ["alcohol", "hue"], CompareConfig()) is None  # 1.71 … 14.8
    assert scale_hint(wine.X[:, [0, 4]], ["alcohol", "magnesium"], CompareConfig()) == (
        "features span 14.8 … 162 ('magnesium'): add --standardize")  # reaching 100 is enough


def test_sweeps_hint_before_training_too(tmp_path):
    for tune in ([], ["--tune"]):
        run = _run("sweep", *tune, "--data", str(DATASETS / "wine.csv"), "--iterations", "1", "--seeds", "2",
                   "--lr", "0.1", "--optimizers", "gd", "--out", f"r{len(tune)}", "--quiet", cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert _hints(run.stderr) == ["hint: features span 0.66 … 1,680 ('proline'): add --standardize"]


def test_a_step_too_large_is_told_to_shrink(tmp_path):
    run = _run("train", "--lr", "1e6", "--iterations", "30", "--out", "m.safetensors", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert _hints(run.stderr) == ["hint: nag ended stuck above its starting loss: try a smaller --lr than 1e+06 (or "
                                  "the method's own lr=)"]


@pytest.mark.parametrize("command", [["train", "--out", "m.safetensors"], ["compare", "--out", "r"],
                                     ["sweep", "--seeds", "1", "--out", "r"], ["gradcheck"]])
def test_a_label_too_large_for_a_number_is_one_line(command, tmp_path):
    rows = "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(12))
    (tmp_path / "huge.csv").write_text(f"a,b,y\n{rows}1,2,1e9999999999999999999999\n")
    run = _run(*command, "--data", "huge.csv", cwd=tmp_path)
    assert run.returncode == 1 and run.stderr == (
        "error: huge.csv:14: the label '1e9999999999999999999999' of column 'y' is a number too large to compare; "
        "write the classes as smaller numbers or as names\n")
    # 1e9999999 is a number decimal holds: a class of its own, named in its shortest form
    (tmp_path / "big.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{'1e9999999' if i % 2 else 0}\n"
                                                           for i in range(12)))
    run = _run(*command, "--data", "big.csv", "--overwrite" if command[0] != "gradcheck" else "--samples", *(
        ["--iterations", "1"] if command[0] != "gradcheck" else ["3"]), cwd=tmp_path)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
