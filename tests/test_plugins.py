"""Optimisers from outside descentlab, through the real command: a plugin file (--plugin), an installed package's
entry point (group descentlab.optimizers), both on a real two-worker LocalCluster, and the one-line refusals."""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from descentlab.cli.main import main

DATA = Path(__file__).parent / "data"
PLUGIN = DATA / "plugins" / "adagrad_plugin.py"
SMALL = ["--iterations", "12", "--hidden", "3", "--quiet"]


def descentlab(*words, cwd=None):
    return subprocess.run([sys.executable, "-m", "descentlab", *map(str, words)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _column(path, method, column="train_loss"):
    with open(path, newline="") as file:
        return [row[column] for row in csv.DictReader(file) if row["method"] == method]


@pytest.fixture(scope="module")
def installed_package(tmp_path_factory):
    """tests/data/entry_point_package, pip-installed into this environment for the module's tests."""
    source = tmp_path_factory.mktemp("package") / "descentlab-signsgd"
    shutil.copytree(DATA / "entry_point_package", source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(source)], check=True, timeout=300)
    yield "signsgd"
    subprocess.run([*pip, "uninstall", "-y", "descentlab-signsgd"], check=True, timeout=300)


def test_a_plugin_file_runs_by_name_and_equals_the_built_in_it_copies(tmp_path):
    out = tmp_path / "run"
    done = descentlab("compare", "--plugin", PLUGIN, "--optimizers", "my-adagrad,adagrad", "--lr", "0.05",
                      "--out", out, *SMALL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    mine, built_in = _column(out / "history.csv", "my-adagrad"), _column(out / "history.csv", "adagrad")
    assert len(mine) == 13 and mine == built_in and mine[0] != mine[-1]
    assert "my-adagrad (AdaGrad, from a plugin file)" in (out / "report.md").read_text()


@pytest.mark.parametrize("plugin, says", [
    ("no_optimizer_plugin.py", "defines no optimiser"),
    ("broken_plugin.py", "cannot be imported: ModuleNotFoundError: No module named"),
    ("clashing_plugin.py", "'adam' is a built-in optimiser"),
    ("not_there.py", "no such file"),
    ("no.such.module", "cannot be imported: ModuleNotFoundError"),
])
def test_a_plugin_that_gives_no_optimiser_is_refused_in_one_line(plugin, says, capsys):
    source = str(DATA / "plugins" / plugin) if plugin.endswith(".py") else plugin
    assert main(["compare", "--plugin", source]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and "--plugin" in err
    assert err.endswith("(see descentlab compare --help)")  # as every other usage error


def test_an_installed_entry_point_is_found_by_name(installed_package, tmp_path):
    out = tmp_path / "run"
    done = descentlab("compare", "--optimizers", f"{installed_package}:lr=0.05,gd", "--out", out, *SMALL)
    assert done.returncode == 0, done.stderr
    losses = [float(v) for v in _column(out / "history.csv", f"{installed_package}:lr=0.05")]
    assert len(losses) == 13 and losses[-1] < losses[0]


def test_plugins_and_entry_points_reach_two_dask_workers(installed_package, tmp_path):
    pytest.importorskip("distributed")
    libraries = [f"{name}:adam" if name == "optax" else "torch:Adam" for name in ("torch", "optax")
                 if importlib.util.find_spec(name) is not None or os.environ.get("CI")]
    methods = ",".join(["my-adagrad", "adagrad", installed_package, *libraries])
    options = ["sweep", "--plugin", PLUGIN, "--optimizers", methods, "--lr",
               "0.05,0.1", "--seeds", "2", *SMALL]
    here = descentlab(*options, "--out", tmp_path / "here", cwd=tmp_path)
    assert here.returncode == 0, here.stderr
    there = descentlab(*options, "--workers", "2", "--out", tmp_path / "there", cwd=tmp_path)
    assert there.returncode == 0, there.stderr
    assert (tmp_path / "there" / "sweep.csv").read_text() == (tmp_path / "here" / "sweep.csv").read_text()
    with open(tmp_path / "here" / "sweep.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    finals = {method: [r["final_train_loss"] for r in rows if r["optimizer"] == method]
              for method in ("my-adagrad", "adagrad", installed_package)}
    assert finals["my-adagrad"] == finals["adagrad"] and len(finals[installed_package]) == 4
