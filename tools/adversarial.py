"""A scripted adversarial pass over the command line (issue 25): bad flags, damaged and edited files, interrupts,
two runs at once, a full disk, hostile paths and huge sizes, each case through the real ``descentlab`` command
in a subprocess, one at a time, each under a timeout. Every case ends in one class:

    OK           the command did what it should (or refused in one line, leaving every file as it was)
    traceback    a Python traceback (or "Exception ignored") on stderr
    silent-wrong exit 0 where the input had to be refused, or a result that differs from the intact run's
    data-loss    a file the user owns (an input, a file descentlab did not write) changed or vanished
    hang         the case's timeout passed
    warning      a Python/NumPy warning (RuntimeWarning, …) reached the terminal

    python tools/adversarial.py [--root /tmp/descentlab-adversarial] [--only GROUP,…] [--limit N]

Prints one line per case that is not OK, then the table of classes by group. tools/ADVERSARIAL.md records the
last pass.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent / "descentlab"
CLASSES = ("OK", "traceback", "silent-wrong", "data-loss", "hang", "warning")
WARNINGS = ("RuntimeWarning", "UserWarning", "DeprecationWarning", "FutureWarning", "Exception ignored")
SMALL = ["--hidden", "2", "--iterations", "3", "--quiet"]
COMPARE_FILES = ("summary.json", "history.csv", "report.md", "report.html", "curves.png", "models/gd.safetensors",
                 "models/nag.safetensors")
SWEEP = ["--optimizers", "gd,nag", "--lr", "0.1,0.5", "--seeds", "2", "--iterations", "5", "--hidden", "2", "--quiet"]


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float
    folder: Path


Check = Callable[[Result], "tuple[str, str] | None"]


@dataclass
class Case:
    """One command (``argv`` after ``descentlab``) run in a fresh folder that ``setup`` fills; ``keep``: the
    files (relative) that must be as they were afterwards; ``check``: the verdict beyond the generic ones."""

    group: str
    name: str
    argv: list[str]
    setup: Callable[[Path], None] | None = None
    check: Check | None = None
    keep: list[str] = field(default_factory=list)
    timeout: float = 90.0
    interrupt_after: float | None = None
    fsize: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    launcher: list[str] | None = None


# -- checks ---------------------------------------------------------------------------------------------------
def refused(result: Result) -> tuple[str, str] | None:
    """The input had to be refused: exit 1 or 2 with an error line."""
    if result.code == 0:
        return "silent-wrong", "accepted (exit 0)"
    if result.code not in (1, 2) or "error" not in result.err:
        return "silent-wrong", f"exit {result.code} without an error line: {result.err.strip()[-200:]!r}"
    return None


def ends_cleanly(result: Result) -> tuple[str, str] | None:
    """Either way is right (done, or refused in one line), as long as it is one of them."""
    if result.code == 0:
        return None
    return refused(result)


def same_as(reference: Path, *names: str) -> Check:
    """Exit 0 and these files byte-identical to the intact run's (or refused in one line)."""

    def check(result: Result) -> tuple[str, str] | None:
        if result.code != 0:
            return refused(result)
        for name in names:
            got = result.folder / name
            if not got.exists() or got.read_bytes() != (reference / name).read_bytes():
                return "silent-wrong", f"{name} differs from the intact run's"
        return None

    return check


def same_models(reference: Path, out: str) -> Check:
    """Exit 0 and the models' parameters those of the intact run, bit for bit (or refused in one line)."""

    def check(result: Result) -> tuple[str, str] | None:
        if result.code != 0:
            return refused(result)
        if _results("compare", result.folder / out) != _results("compare", reference):
            return "silent-wrong", "the resumed models differ from the intact run's"
        return None

    return check


def complete_or_named(files: list[str]) -> Check:
    """A run that could not write everything exits non-zero naming a file; exit 0 means every file is there."""

    def check(result: Result) -> tuple[str, str] | None:
        if result.code == 0:
            missing = [f for f in files if not (result.folder / f).exists() or (result.folder / f).stat().st_size == 0]
            return ("silent-wrong", f"exit 0 but missing {missing}") if missing else None
        if result.code == 1 and "error" in result.err:
            return None
        return "silent-wrong", f"exit {result.code}: {result.err.strip()[-200:]!r}"

    return check


def interrupted_ok(result: Result) -> tuple[str, str] | None:
    if result.code in (0, 130, -signal.SIGINT):
        return None
    return "silent-wrong", f"exit {result.code} after Ctrl-C: {result.err.strip()[-200:]!r}"


# -- fixtures ---------------------------------------------------------------------------------------------------
def run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run([str(BIN), *argv], cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"fixture {argv} failed: {done.stderr}")


def _after(iterations: int) -> Callable[[], bool]:
    steps = iter(range(10**6))
    return lambda: next(steps) >= iterations


def build_fixtures(root: Path) -> Path:
    import descentlab as dl
    from descentlab.experiments.checkpoint import write_checkpoint

    fx = root / "fixtures"
    fx.mkdir(parents=True)
    iris = dl.load_iris()
    lines = [",".join([*iris.feature_names, "species"])]
    lines += [",".join([*(repr(float(v)) for v in row), iris.class_names[c]])
              for row, c in zip(iris.X, iris.y, strict=True)]
    (fx / "iris.csv").write_text("\n".join(lines) + "\n")
    run(["train", *SMALL, "--out", "m.safetensors"], fx)
    run(["compare", *SMALL, "--optimizers", "gd,nag", "--out", "run"], fx)
    run(["sweep", *SWEEP, "--out", "sweep"], fx)
    run(["benchmark", "--problems", "quadratic-k1e3", "--optimizers", "gd", "--lr", "0.5", "--seeds", "1",
         "--iterations", "3", "--quiet", "--out", "b"], fx)
    for command, name in (("compare", "ck"), ("train", "tk")):
        config = dl.CompareConfig(hidden=(2,), iterations=40, optimizers=("gd", "nag") if command == "compare"
                                  else ("gd",), engine="numpy")
        cut = dl.compare(dl.load_iris(), config, should_stop=_after(15))
        out = fx / (name if command == "compare" else f"{name}.safetensors")
        write_checkpoint(cut, fx / name / "checkpoint" if command == "compare" else Path(f"{out}.checkpoint"),
                         iris, {"command": command, "out": str(out), "cwd": str(fx)})
    run(["compare", "--resume", "ck/checkpoint", "--quiet"], fx)  # the run it ends as, for the resumed cases
    shutil.copytree(fx / "ck", fx / "ck-whole")
    shutil.rmtree(fx / "ck")
    config = dl.CompareConfig(hidden=(2,), iterations=40, optimizers=("gd", "nag"), engine="numpy")
    cut = dl.compare(dl.load_iris(), config, should_stop=_after(15))
    write_checkpoint(cut, fx / "ck" / "checkpoint", iris, {"command": "compare", "out": str(fx / "ck"),
                                                              "cwd": str(fx)})
    return fx


def copy(fx: Path, *names: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        for name in names:
            source = fx / name
            if source.is_dir():
                shutil.copytree(source, folder / name, symlinks=True)
            else:
                shutil.copy2(source, folder / name)

    return setup


def then(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        for step in steps:
            step(folder)

    return setup


def flip(name: str, position: int) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        path = folder / name
        data = bytearray(path.read_bytes())
        data[position // 8 % len(data)] ^= 1 << (position % 8)
        path.write_bytes(bytes(data))

    return setup


def write(name: str, content: bytes | str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return setup


def flips(size: int, count: int) -> list[int]:
    """``count`` bit positions spread over a file of ``size`` bytes (every byte region, every bit in a byte)."""
    return sorted({(i * size * 8) // count + (i * 3) % 8 for i in range(count)})


# -- the cases ---------------------------------------------------------------------------------------------------
NUMBERS = ["", "x", "-1", "0", "nan", "inf", "-inf", "1e9999999", "1e308", "-0", "1e-400", "9" * 30, "0x10", "1_0",
           " 3", "3.5", "+3", "\uff13", "3\t", "--quiet"]
NEVER = {"", "x", "nan", "inf", "-inf", "1e9999999", "--quiet"}  # no number flag may accept these
INT_FLAGS = {"--iterations": {"-1", "3.5", "1e308", "9" * 30}, "--seed": {"-1", "3.5", "1e308", "9" * 30},
             "--batch-size": {"-1", "0", "-0", "3.5", "1e308"}, "--hidden": {"-1", "0", "-0", "3.5", "1e308", "9" * 30}}
FLOAT_FLAGS = {"--lr": {"-1", "0", "-0", "1e-400"}, "--test-size": {"-1", "0", "-0", "1e308", "9" * 30, "3.5"},
               "--weight-decay": {"-1"}, "--init-sigma": {"-1"}, "--init-mu": set()}


def flag_cases(fx: Path) -> list[Case]:
    return [*_number_flag_cases(), *_word_flag_cases(fx), *_file_flag_cases(fx)]


def _number_flag_cases() -> list[Case]:
    cases = []
    for flag, also_refused in {**INT_FLAGS, **FLOAT_FLAGS}.items():
        for value in NUMBERS:
            must_refuse = value in NEVER or value.strip() in also_refused
            argv = ["train", *SMALL, flag, value, "--out", "out.safetensors"]
            cases.append(Case("flags", f"train {flag} {value!r}", argv, check=refused if must_refuse else ends_cleanly,
                              timeout=60))
    return cases


def _word_flag_cases(fx: Path) -> list[Case]:
    cases = []
    for flag, values in {"--activation": ["warp", "", "RELU", "relu "], "--init": ["warp", "", "HE"],
                         "--engine": ["warp", "", "AUTO", "compiled "], "--target": ["nope", "", "sepal_length"],
                         "--data": ["", "missing.csv", ".", "/", "/dev/null", "m.safetensors"],
                         "--optimizer": ["warp", "", "gd:lr=x", "gd:lr=-1", "gd:mu=0.5", "gd,nag", "gd:lr=nan",
                                         "torch:Nope", "gd:lr=1e9999999"]}.items():
        for value in values:
            argv = ["train", *SMALL, flag, value, "--out", "out.safetensors"]
            check = ends_cleanly if (flag, value) in {("--engine", "compiled ")} else refused
            cases.append(Case("flags", f"train {flag} {value!r}", argv, setup=copy(fx, "m.safetensors"),
                              check=check, keep=["m.safetensors"]))
    for value in ["", "warp", "gd,gd", ",", "gd:lr=0.1,gd:lr=0.1", "gd:schedule=warp", "nag:mu=2",
                  "adam:beta1=1", "lbfgs:memory=0", "gd:lr=[0.1,0.2]", "x" * 5000, "gd:lr=0.1:lr=0.2", "GD"]:
        cases.append(Case("flags", f"compare --optimizers {value[:40]!r}", ["compare", *SMALL, "--optimizers", value,
                                                                           "--out", "out"], check=refused))
    for flag, values in {"--seeds": ["0", "-1", "x", "1e9"], "--x-axis": ["warp", "", "time"],
                         "--plugin": ["", "missing.py", "os", "m.safetensors", "."]}.items():
        for value in values:
            cases.append(Case("flags", f"compare {flag} {value!r}", ["compare", *SMALL, flag, value, "--out", "out"],
                              setup=copy(fx, "m.safetensors"), check=refused, keep=["m.safetensors"]))
    sweep_values = {"--lr": ["", "x", "0.1,x", "-1", "nan", "inf", "0", "1e9999999", ","],
                    "--seeds": ["0", "-1", "x", "1e308", ""], "--cell-size": ["0", "-1", "x", ""],
                    "--workers": ["0", "-1", "x"], "--validation-size": ["0", "1", "-1", "nan", "x"],
                    "--split-seed": ["-1", "x", "9" * 30], "--scheduler": ["", "tcp://", "nowhere:1"]}
    for flag, values in sweep_values.items():
        for value in values:
            tune = ["--tune"] if flag in ("--validation-size", "--split-seed") else []
            cases.append(Case("flags", f"sweep {flag} {value!r}", ["sweep", *SWEEP, *tune, flag, value, "--out", "out"],
                              check=refused, timeout=60))
    for flag, values in {"--eps": ["0", "-1", "nan", "inf", "1e-25", "1e-300", "1e308", "x"],
                         "--samples": ["0", "-1", "x"], "--max-entries": ["0", "-1", "x"],
                         "--threshold": ["0", "-1", "nan", "x"], "--hidden": ["0", "-1", "x"]}.items():
        for value in values:
            cases.append(Case("flags", f"gradcheck {flag} {value!r}", ["gradcheck", flag, value], check=refused))
    return cases


def _file_flag_cases(fx: Path) -> list[Case]:
    cases = []
    for argv in (["info"], ["info", "--model"], ["info", "--model", "missing.safetensors"], ["info", "--model", "."],
                 ["info", "--model", "iris.csv"], ["predict", "--model", "m.safetensors"],
                 ["predict", "--model", "m.safetensors", "--data", "m.safetensors"],
                 ["predict", "--model", "m.safetensors", "--data", "iris.csv", "--out", "iris.csv"],
                 ["predict", "--model", "m.safetensors", "--data", "iris.csv", "--out", "m.safetensors"],
                 ["predict", "--model", "iris.csv", "--data", "iris.csv"],
                 ["export", "--model", "m.safetensors", "--onnx", "m.safetensors"],
                 ["export", "--model", "m.safetensors", "--onnx", "."],
                 ["train", *SMALL, "--data", "iris.csv", "--out", "iris.csv"],
                 ["train", *SMALL, "--out", "."],
                 ["compare", *SMALL, "--out", "iris.csv"],
                 ["benchmark", "--problems", "nope", "--out", "b"], ["benchmark", "--suite", "iris.csv", "--out", "b"],
                 ["benchmark", "--out", "iris.csv"], ["compare", "--resume", "iris.csv"],
                 ["compare", "--resume", "nowhere"], ["train", "--resume", "m.safetensors"],
                 ["sweep", "--resume", "nowhere"], ["sweep", "--resume", "iris.csv"],
                 ["benchmark", "--resume", "iris.csv"], ["nope"], ["compare", "--iter", "3"]):
        cases.append(Case("flags", " ".join(argv)[:70], argv, setup=copy(fx, "m.safetensors", "iris.csv"),
                          check=refused, keep=["m.safetensors", "iris.csv"]))
    # Accepted by design: empty list items are skipped, --samples is capped at the rows there are (and says so),
    # a run folder may hold the data it reads (its files have fixed names; the data is never one of them), and a
    # file named as a command's output (not one of its inputs) is replaced, as cp or -o would.
    for argv in (["compare", *SMALL, "--optimizers", "gd,", "--out", "out"],
                 ["sweep", *SWEEP, "--lr", "0.1,,0.2", "--out", "out"],
                 ["gradcheck", "--samples", "9" * 30], ["--version", "x"],
                 ["sweep", *SWEEP, "--data", "iris.csv", "--out", "."]):
        cases.append(Case("flags", " ".join(argv)[:70], argv, setup=copy(fx, "m.safetensors", "iris.csv"),
                          check=ends_cleanly, keep=["m.safetensors", "iris.csv"]))
    for argv, output in ((["export", "--model", "m.safetensors", "--onnx", "iris.csv"], "iris.csv"),
                         (["train", *SMALL, "--out", "m.safetensors"], "m.safetensors")):
        cases.append(Case("flags", " ".join(argv)[:70], argv, setup=copy(fx, "m.safetensors", "iris.csv"),
                          check=ends_cleanly, keep=[n for n in ("m.safetensors", "iris.csv") if n != output]))
    return cases


def damaged_cases(fx: Path) -> list[Case]:
    cases = []
    size = (fx / "m.safetensors").stat().st_size
    for i, bit in enumerate(flips(size, 200)):
        cases.append(Case("damaged", f"model bit {bit} / info", ["info", "--model", "m.safetensors"],
                          setup=then(copy(fx, "m.safetensors"), flip("m.safetensors", bit)), check=refused))
        if i % 5 == 0:
            cases.append(Case("damaged", f"model bit {bit} / predict", ["predict", "--model", "m.safetensors", "--data",
                                                                          "iris.csv", "--out", "p.csv"],
                              setup=then(copy(fx, "m.safetensors", "iris.csv"), flip("m.safetensors", bit)),
                              check=refused, keep=["iris.csv"]))
    file = "ck/checkpoint/checkpoint.safetensors"
    for bit in flips((fx / file).stat().st_size, 80):
        cases.append(Case("damaged", f"checkpoint bit {bit}", ["compare", "--resume", "ck/checkpoint", "--quiet"],
                          setup=then(copy(fx, "ck"), flip(file, bit)),
                          check=same_models(fx / "ck-whole", "ck")))
    for bit in flips((fx / "sweep" / "manifest.json").stat().st_size, 60):
        cases.append(Case("damaged", f"sweep manifest bit {bit}", ["sweep", "--resume", "sweep", "--quiet"],
                          setup=then(copy(fx, "sweep"), flip("sweep/manifest.json", bit)),
                          check=same_as(fx, "sweep/sweep.csv")))
    cells = sorted((fx / "sweep" / "cells").iterdir())
    for i, bit in enumerate(flips(cells[0].stat().st_size, 24)):
        cell = f"sweep/cells/{cells[i % 2].name}"
        cases.append(Case("damaged", f"sweep cell {i % 2} bit {bit}", ["sweep", "--resume", "sweep", "--quiet"],
                          setup=then(copy(fx, "sweep"), flip(cell, bit)), check=same_as(fx, "sweep/sweep.csv")))
    for bit in flips((fx / "b" / "benchmark.json").stat().st_size, 12):
        cases.append(Case("damaged", f"benchmark.json bit {bit}", ["benchmark", "--resume", "b", "--quiet"],
                          setup=then(copy(fx, "b"), flip("b/benchmark.json", bit)), check=refused))
    for bit in flips((fx / "run" / "summary.json").stat().st_size, 16):
        cases.append(Case("damaged", f"summary.json bit {bit} then --overwrite",
                          ["compare", *SMALL, "--optimizers", "gd,nag", "--overwrite", "--out", "run"],
                          setup=then(copy(fx, "run"), flip("run/summary.json", bit), write("run/models/mine.txt", "x"),
                                     write("run/cells/mine.txt", "x"), write("run/notes.txt", "x")),
                          check=ends_cleanly, keep=["run/models/mine.txt", "run/cells/mine.txt", "run/notes.txt"]))
    return cases


def _edit(path: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    """Change the sweep manifest's content and write the checksum descentlab would (a deliberate edit)."""

    def setup(folder: Path) -> None:
        file = folder / path
        obj = json.loads(file.read_text())
        content = {k: obj[k] for k in ("kind", "config", "data_sha256", "cell_size")}
        change(content)
        obj.update(content)
        obj["sha256"] = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        file.write_text(json.dumps(obj))

    return setup


def _set(*keys_value: object) -> Callable[[dict], None]:
    *keys, value = keys_value

    def change(content: dict) -> None:
        target = content
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def edited_cases(fx: Path) -> list[Case]:
    edits = [("config", "base", "iterations", v) for v in (6, -5, 0, 2**63, "5", 5.0, None, True)]
    edits += [("config", "base", "hidden", v) for v in ([], [0], [-1], [3], ["2"], 2, [2, 2], [10**9])]
    edits += [("config", "base", "engine", v) for v in ("warp", "compiled", "reference", "", None)]
    edits += [("config", "lrs", v) for v in ([], ["x"], [0.2, 0.5], [-1], [1e309], "0.1")]
    edits += [("config", "seeds", v) for v in (0, -1, "6", 3, 10**12)]
    edits += [("cell_size", v) for v in (0, -1, "5", 10**12, 1)]
    edits += [("config", "optimizers", v) for v in ([], ["warp"], ["gd"], "gd,nag", ["gd", "gd"])]
    edits += [("config", "base", key, v) for key, v in (("init_sigma", 0.2), ("test_size", 0.3), ("activation", "relu"),
                                                         ("standardize", True), ("data", "/etc/passwd"),
                                                         ("data", "iris.csv"), ("batch_size", 0), ("seed", -1))]
    edits += [("kind", v) for v in ("tuned", "benchmark", "")]
    edits += [("data_sha256", "0" * 64)]
    # a forged manifest (checksum made again) with values the command line accepts is a new sweep: every cell of
    # it trained under it, none of the old ones read (a cell's key digests the configuration)
    valid = {("iterations", 6), ("iterations", 0), ("hidden", (3,)), ("hidden", (2, 2)), ("engine", "reference"),
             ("engine", "compiled"), ("lrs", (0.2, 0.5)), ("seeds", 3), ("cell_size", 1), ("cell_size", 10**12),
             ("optimizers", ("gd",)), ("init_sigma", 0.2), ("test_size", 0.3), ("activation", "relu"),
             ("standardize", True)}
    cases = []
    for edit in edits:
        name = "sweep manifest " + ".".join(map(str, edit[:-1])) + f" = {edit[-1]!r}"[:40]
        value = tuple(edit[-1]) if isinstance(edit[-1], list) else edit[-1]
        ok = (edit[-2], value) in valid and (type(value) is bool) == (edit[-2] == "standardize")
        cases.append(Case("edited", name, ["sweep", "--resume", "sweep", "--quiet"],
                          setup=then(copy(fx, "sweep"), _edit("sweep/manifest.json", _set(*edit))),
                          check=ends_cleanly if ok else refused))
    for key, value in (("engine", "warp"), ("seeds", 0), ("seeds", "x"), ("lrs", []), ("methods", ["warp"]),
                       ("cell_size", 0), ("problems", []), ("problems", [{"name": "x"}]),
                       ("problems", [{"name": "x", "kind": "quadratic", "dimension": 10**9}]), ("lrs", [-1]),
                       ("seeds", True), ("methods", "gd"), ("engine", None)):
        # a problem with only a name is a valid suite entry (a TOML [[problem]] of defaults): it is run as such
        valid_problem = value == [{"name": "x"}]
        cases.append(Case("edited", f"benchmark.json {key} = {value!r}", ["benchmark", "--resume", "b", "--quiet"],
                          setup=_benchmark_with(fx, key, value), check=ends_cleanly if valid_problem else refused))
    return cases


def _benchmark_with(fx: Path, key: str, value: object) -> Callable[[Path], None]:
    """The fixture benchmark with one value of its manifest changed and the checksum made again (a forgery)."""

    def setup(folder: Path) -> None:
        copy(fx, "b")(folder)
        manifest = json.loads((folder / "b" / "benchmark.json").read_text())
        content = {**{k: v for k, v in manifest.items() if k != "sha256"}, key: value}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        write("b/benchmark.json", json.dumps({**content, "sha256": digest}))(folder)

    return setup


def interrupt_cases(fx: Path) -> list[Case]:
    cases = []
    for launcher in ([str(BIN)], [sys.executable, "-m", "descentlab"]):
        for ms in range(0, 300, 10):
            cases.append(Case("interrupt", f"start-up Ctrl-C at {ms} ms ({len(launcher)})",
                              ["compare", "--iterations", "3", "--quiet", "--out", "out"], launcher=launcher,
                              interrupt_after=ms / 1000, check=_startup_check, timeout=60))
    for command in ("compare", "train"):
        for delay in (0.5, 1.5, 2.5, 3.5, 4.5, 6.0):
            out = "out" if command == "compare" else "out.safetensors"
            extra = ["--optimizers", "gd,nag"] if command == "compare" else ["--optimizer", "nag"]
            cases.append(Case("interrupt", f"{command} Ctrl-C at {delay} s then resume",
                              [command, "--hidden", "2", "--iterations", "3000", "--engine", "numpy", "--quiet",
                               *extra, "--out", out], interrupt_after=delay,
                              check=_resumes_to_whole(command, out, extra), timeout=180))
    for delay in (1.0, 2.0, 3.0, 4.5):
        cases.append(Case("interrupt", f"sweep Ctrl-C at {delay} s", ["sweep", *SWEEP[:-3], "--iterations", "400",
                                                                     "--out", "out"],
                          interrupt_after=delay, check=interrupted_ok, timeout=180))
    return cases


def _startup_check(result: Result) -> tuple[str, str] | None:
    package = f"{os.sep}descentlab{os.sep}" in result.err.replace(f"bin{os.sep}descentlab", "")
    if result.code in (1, -signal.SIGINT) and not package and (result.err == "" or "Traceback" in result.err):
        return "python-start-up", "CPython's own start-up (site, runpy, the launcher's import re), no descentlab line"
    if result.code not in (0, 130) or result.err.count("\n") > 1:
        return "silent-wrong", f"exit {result.code}: {result.err.strip()[-200:]!r}"
    return None


_WHOLE: dict[str, list[bytes]] = {}


def _results(command: str, out: Path) -> list[bytes]:
    import descentlab as dl

    if command == "train":
        return [dl.load_model(out)[1].flat.tobytes()]
    return [dl.load_model(p)[1].flat.tobytes() for p in sorted((out / "models").glob("*.safetensors"))]


def _resumes_to_whole(command: str, out: str, extra: list[str]) -> Check:
    def check(result: Result) -> tuple[str, str] | None:
        if result.code not in (0, 130, -signal.SIGINT):
            return "silent-wrong", f"exit {result.code}: {result.err.strip()[-200:]!r}"
        folder, target = result.folder, result.folder / out
        checkpoint = target / "checkpoint" if command == "compare" else Path(f"{target}.checkpoint")
        for _ in range(3):
            if not checkpoint.exists():
                break
            subprocess.run([str(BIN), command, "--resume", str(checkpoint), "--quiet"], cwd=folder, capture_output=True,
                           timeout=180)
        if checkpoint.exists():
            return "data-loss", "the checkpoint never resumed to the end"
        done = (target / "summary.json").exists() if command == "compare" else target.exists()
        if not done:  # interrupted before training began: nothing was promised; the run again must work
            subprocess.run([str(BIN), command, "--hidden", "2", "--iterations", "3000", "--engine", "numpy", "--quiet",
                            *extra, "--out", out], cwd=folder, capture_output=True, timeout=180)
        if command not in _WHOLE:
            whole = folder / "whole"
            whole.mkdir()
            subprocess.run([str(BIN), command, "--hidden", "2", "--iterations", "3000", "--engine", "numpy", "--quiet",
                            *extra, "--out", out], cwd=whole, capture_output=True, timeout=180)
            _WHOLE[command] = _results(command, whole / out)
        if _results(command, target) != _WHOLE[command]:
            return "silent-wrong", "the resumed run differs from an uninterrupted one"
        return None

    return check


def concurrent_cases(fx: Path) -> list[Case]:
    pairs = [
        (["compare", "--hidden", "2", "--iterations", "20000", "--engine", "numpy", "--quiet", "--out", "run"],
         ["compare", *SMALL, "--out", "run"]),
        (["compare", "--hidden", "2", "--iterations", "20000", "--engine", "numpy", "--quiet", "--out", "run"],
         ["train", *SMALL, "--out", "run/models/gd.safetensors"]),
        (["compare", "--hidden", "2", "--iterations", "20000", "--engine", "numpy", "--quiet", "--out", "run"],
         ["compare", *SMALL, "--overwrite", "--out", "run"]),
        (["compare", "--hidden", "2", "--iterations", "20000", "--engine", "numpy", "--quiet", "--out", "run"],
         ["sweep", *SWEEP, "--out", "run"]),
        (["train", "--hidden", "2", "--iterations", "40000", "--engine", "numpy", "--quiet", "--out", "m.safetensors"],
         ["train", *SMALL, "--out", "m.safetensors"]),
        (["sweep", *SWEEP[:-3], "--iterations", "2000", "--out", "s"],
         ["sweep", *SWEEP[:-3], "--iterations", "2000", "--out", "s"]),
        (["sweep", *SWEEP[:-3], "--iterations", "2000", "--out", "s"], ["sweep", "--resume", "s", "--quiet"]),
        (["benchmark", "--problems", "iris-mlp", "--optimizers", "gd", "--seeds", "2", "--iterations", "2000", "--out",
          "b"], ["benchmark", "--problems", "iris-mlp", "--out", "b"]),
        (["benchmark", "--problems", "iris-mlp", "--optimizers", "gd", "--seeds", "2", "--iterations", "2000", "--out",
          "b"], ["benchmark", "--resume", "b"]),
    ]
    return [Case("concurrent", f"{first[0]} while {first[0]} runs: {' '.join(second)[:50]}", second,
                 setup=_while_running(first), check=_refused_in_use, timeout=120) for first, second in pairs]


_RUNNING: list[subprocess.Popen] = []


def _while_running(argv: list[str]) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        first = subprocess.Popen([str(BIN), *argv], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        _RUNNING.append(first)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(folder.glob("**/.*.lock")):
            time.sleep(0.02)

    return setup


def _refused_in_use(result: Result) -> tuple[str, str] | None:
    first = _RUNNING.pop()
    first.wait(timeout=300)
    if result.code == 0:
        return "silent-wrong", "a second run into a place in use was accepted"
    if "in use by another descentlab run" not in result.err:
        return "silent-wrong", f"refused without naming the run using it: {result.err.strip()[-200:]!r}"
    if first.returncode != 0:
        return "silent-wrong", f"the first run failed: {first.stderr.read()[-200:] if first.stderr else ''}"
    return None


def disk_cases(fx: Path) -> list[Case]:
    cases = []
    for limit in (0, 700, 5_000, 50_000, 1_000_000, 4_000_000):
        cases += [
            Case("full-disk", f"compare, files up to {limit} B", ["compare", *SMALL, "--out", "run"], fsize=limit,
                 check=complete_or_named([f"run/{name}" for name in COMPARE_FILES])),
            Case("full-disk", f"train, files up to {limit} B", ["train", *SMALL, "--out", "m2.safetensors"],
                 fsize=limit,
                 check=complete_or_named(["m2.safetensors"])),
            Case("full-disk", f"sweep, files up to {limit} B", ["sweep", *SWEEP, "--out", "s"], fsize=limit,
                 check=complete_or_named(["s/sweep.csv", "s/summary.json", "s/report.md", "s/report.html"])),
            Case("full-disk", f"predict, files up to {limit} B", ["predict", "--model", "m.safetensors", "--data",
                                                                 "iris.csv", "--out", "p.csv"], fsize=limit,
                 setup=copy(fx, "m.safetensors", "iris.csv"), check=complete_or_named(["p.csv"]),
                 keep=["m.safetensors", "iris.csv"]),
            Case("full-disk", f"export, files up to {limit} B", ["export", "--model", "m.safetensors", "--onnx",
                                                                "m.onnx"], fsize=limit,
                 setup=copy(fx, "m.safetensors"), check=complete_or_named(["m.onnx"]), keep=["m.safetensors"]),
        ]
    return cases


def path_cases(fx: Path) -> list[Case]:
    def loop(folder: Path) -> None:
        os.symlink("b", folder / "a")
        os.symlink("a", folder / "b")

    def fifo(folder: Path) -> None:  # a named pipe with a writer, as --data <(…) gives (one without waits, as cat)
        os.mkfifo(folder / "pipe.csv")
        threading.Thread(target=(folder / "pipe.csv").write_bytes, args=((fx / "iris.csv").read_bytes(),),
                         daemon=True).start()

    def big_header(folder: Path) -> None:
        write("wide.csv", ",".join(f"c{i}" for i in range(200_000)) + ",y\n" + "1," * 200_000 + "a\n")(folder)

    csvs = {"empty.csv": "", "header.csv": "a,b,y\n", "nan.csv": "a,b,y\nnan,1,x\n2,3,z\n",
            "one-class.csv": "a,b,y\n1,2,x\n3,4,x\n", "ragged.csv": "a,b,y\n1,2\n3,4,z\n",
            "latin1.csv": b"a,b,y\n1,2,\xe9\n3,4,z\n", "bom.csv": "\ufeffa,b,y\n1,2,x\n3,4,z\n5,6,x\n7,8,z\n",
            "binary.csv": bytes(range(256)) * 4, "huge-number.csv": "a,b,y\n1e999,2,x\n3,4,z\n",
            "quotes.csv": 'a,b,y\n"1,2,x\n', "nul.csv": "a,b,y\n1\x00,2,x\n3,4,z\n",
            "dup.csv": "a,a,y\n1,2,x\n3,4,z\n", "crlf.csv": "a,b,y\r\n1,2,x\r\n3,4,z\r\n5,6,x\r\n7,8,z\r\n"}
    cases = []
    for name, content in csvs.items():
        for command in ("train", "compare"):
            out = "out.safetensors" if command == "train" else "out"
            cases.append(Case("paths", f"{command} --data {name}", [command, *SMALL, "--data", name, "--out", out],
                              setup=write(name, content), check=ends_cleanly, keep=[name]))
        cases.append(Case("paths", f"predict --data {name}", ["predict", "--model", "m.safetensors", "--data", name],
                          setup=then(copy(fx, "m.safetensors"), write(name, content)), check=refused, keep=[name]))
    for argv in (["train", *SMALL, "--data", "a", "--out", "o.safetensors"], ["train", *SMALL, "--out", "a"],
                 ["compare", *SMALL, "--out", "a"], ["compare", *SMALL, "--out", "a/run"], ["info", "--model", "a"],
                 ["sweep", *SWEEP, "--out", "a"], ["sweep", "--resume", "a"], ["compare", "--resume", "a"],
                 ["predict", "--model", "a", "--data", "a"], ["export", "--model", "a", "--onnx", "o.onnx"]):
        cases.append(Case("paths", "symlink loop: " + " ".join(argv[-2:]), argv, setup=loop, check=refused))
    for argv in (["train", *SMALL, "--data", "pipe.csv", "--out", "o.safetensors"], ["info", "--model", "pipe.csv"],
                 ["predict", "--model", "m.safetensors", "--data", "pipe.csv"],
                 ["train", *SMALL, "--data", "/dev/zero", "--out", "o.safetensors"],
                 ["info", "--model", "/dev/zero"], ["train", *SMALL, "--data", "/dev/null", "--out", "o.safetensors"],
                 ["train", *SMALL, "--out", "/dev/null"], ["compare", *SMALL, "--out", "/dev/null"],
                 ["train", *SMALL, "--out", "/proc/version"], ["compare", *SMALL, "--out", "/proc/self"],
                 ["train", *SMALL, "--data", "wide.csv", "--out", "o.safetensors"]):
        fed = "pipe.csv" in argv and argv[0] != "info"
        cases.append(Case("paths", "special file: " + " ".join(argv[-4:]), argv,
                          setup=then(fifo, copy(fx, "m.safetensors"), big_header),
                          check=ends_cleanly if fed else refused, timeout=30))
    return cases


def size_cases(fx: Path) -> list[Case]:
    cases = []
    for argv in (["train", "--hidden", "100000", "100000", "--iterations", "3", "--out", "o.safetensors"],
                 ["compare", "--iterations", "1000000000000", "--out", "o"],
                 ["train", "--iterations", str(2**63), "--out", "o.safetensors"],
                 ["train", "--iterations", str(2**40), "--out", "o.safetensors"],
                 ["compare", "--seeds", "1000000000", "--iterations", "3", "--out", "o"],
                 ["sweep", "--seeds", "1000000000", "--iterations", "3", "--out", "o"],
                 ["sweep", "--iterations", "1000000000000", "--out", "o"],
                 ["gradcheck", "--hidden", "100000", "100000"], ["gradcheck", "--samples", "1000000000"],
                 ["train", "--hidden", *["2"] * 5000, "--iterations", "1", "--out", "o.safetensors"],
                 ["train", "--batch-size", "1000000000000", *SMALL, "--out", "o.safetensors"],
                 ["benchmark", "--seeds", "1000000000", "--problems", "iris-mlp", "--out", "b"],
                 ["benchmark", "--iterations", "1000000000000", "--problems", "iris-mlp", "--out", "b"]):
        fine = "--samples" in argv or argv.count("2") > 100  # capped at the rows there are; 5000 layers of 2
        cases.append(Case("sizes", " ".join(argv)[:70], argv, check=ends_cleanly if fine else refused, timeout=45))
    return cases


GROUPS = {"flags": flag_cases, "damaged": damaged_cases, "edited": edited_cases, "interrupt": interrupt_cases,
          "concurrent": concurrent_cases, "full-disk": disk_cases, "paths": path_cases, "sizes": size_cases}


# -- running ------------------------------------------------------------------------------------------------------
def _digests(folder: Path, names: list[str]) -> dict[str, str | None]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() if (folder / name).is_file() else None
            for name in names}


def _run_case(case: Case, folder: Path) -> Result | None:
    """The case's command, interrupted if it says so; None when it did not end within its timeout."""
    limit = case.fsize

    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as in a terminal
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    started = time.perf_counter()
    process = subprocess.Popen([*(case.launcher or [str(BIN)]), *case.argv], cwd=folder, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, errors="replace", preexec_fn=child,
                               env={**os.environ, **case.env})
    try:
        if case.interrupt_after is not None:
            time.sleep(case.interrupt_after)
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    return Result(process.returncode, out, err, time.perf_counter() - started, folder)


def execute(case: Case, folder: Path) -> tuple[str, str]:
    if case.setup is not None:
        case.setup(folder)
    before = _digests(folder, case.keep)
    result = _run_case(case, folder)
    if result is None or "Traceback" in result.err:
        if _RUNNING:
            _RUNNING.pop().kill()
    if result is None:
        return "hang", f"no end within {case.timeout:.0f} s"
    verdict = case.check(result) if case.check is not None else None
    if "Traceback" in result.err and (verdict is None or verdict[0] != "python-start-up"):
        return "traceback", result.err.strip().splitlines()[-1][:200]
    changed = [name for name, digest in _digests(folder, case.keep).items() if digest != before[name]]
    if changed:
        return "data-loss", f"changed or removed: {changed}"
    if any(word in result.err for word in WARNINGS):
        return "warning", next(line for line in result.err.splitlines() if any(w in line for w in WARNINGS))[:200]
    if verdict is None:
        return "OK", ""
    if verdict[0] == "python-start-up":
        return "OK", verdict[1]
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/descentlab-adversarial"))
    parser.add_argument("--only", default=",".join(GROUPS))
    parser.add_argument("--limit", type=int, default=None, help="at most this many cases per group")
    args = parser.parse_args()
    shutil.rmtree(args.root, ignore_errors=True)
    started = time.perf_counter()
    fx = build_fixtures(args.root)
    table: dict[str, collections.Counter[str]] = {}
    notes: collections.Counter[str] = collections.Counter()
    for group in args.only.split(","):
        cases = GROUPS[group](fx)[: args.limit]
        table[group] = collections.Counter()
        for number, case in enumerate(cases):
            folder = args.root / "cases" / group / str(number)
            folder.mkdir(parents=True)
            verdict, why = execute(case, folder)
            table[group][verdict] += 1
            if verdict != "OK":
                print(f"{verdict:12} {group}/{number} {case.name}: {why}", flush=True)
            else:
                if why:
                    notes[why] += 1
                shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{'group':12}" + "".join(f"{c:>14}" for c in CLASSES) + f"{'cases':>8}")
    for group, counts in [*table.items(), ("total", sum(table.values(), collections.Counter()))]:
        print(f"{group:12}" + "".join(f"{counts[c]:>14}" for c in CLASSES) + f"{sum(counts.values()):>8}")
    for why, count in notes.items():
        print(f"\nOK with a note, {count} cases: {why}")
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.perf_counter() - started:.0f} s wall")
    total = sum(table.values(), collections.Counter())
    return 0 if total["OK"] == sum(total.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
