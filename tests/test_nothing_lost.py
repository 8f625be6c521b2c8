"""Nothing lost: Ctrl-C at any moment, two runs into one place, moved folders, outputs that are inputs, output
paths that cannot be written. Signals and concurrency go through the real command in a subprocess; the rest
through ``main`` on real files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from history_text import history_numbers

import descentlab as dl
from descentlab.cli.main import main
from descentlab.experiments.checkpoint import checkpoint_config
from descentlab.reporting.write import COMPARE_FILES
from descentlab.training.checkpoint import load_checkpoint

# The NumPy engine: with the default "auto", runs this long would first load numba (seconds under load), and a
# Ctrl-C meant for training would land in that load.
SMALL = ["--hidden", "3", "--quiet", "--engine", "numpy"]


def _command(*args: object) -> list[str]:
    return [sys.executable, "-u", "-m", "descentlab", *map(str, args)]


def _ctrl_c_works() -> None:
    """In the child, Ctrl-C as in a terminal: a shell starts background jobs (a test run in the background, say)
    with SIGINT ignored, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(*args: object, cwd: Path | None = None, session: bool = False) -> subprocess.Popen:
    """Start a command (``session``: in a process group of its own) and return once it has printed its set-up:
    training starts now."""
    run = subprocess.Popen(_command(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=_ctrl_c_works, start_new_session=session)
    assert run.stdout is not None
    for line in run.stdout:
        if line.startswith("Network"):
            return run
    raise AssertionError(f"no set-up printed: {run.communicate()}")


def _wait_for(path: Path, run: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert run.poll() is None, f"{path} never appeared: {run.communicate()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.001)


def _finish(run: subprocess.Popen) -> str:
    _, err = run.communicate(timeout=300)
    assert "Traceback" not in err, err
    return " ".join(err.split())


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and modification time: what "unchanged" means."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _models(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: dl.load_model(p)[1].flat for p in sorted((folder / "models").glob("*.safetensors"))}


# -- Ctrl-C after training and at the end of a resume --------------------------------------------------------------
@pytest.fixture(scope="module")
def written_run(tmp_path_factory) -> tuple[Path, Path, str]:
    """A compare run interrupted once its training is done, while the results are being written (after
    summary.json, before report.html and curves.png, which take the longest); and the same run uninterrupted."""
    root = tmp_path_factory.mktemp("written")
    options = [*SMALL, "--iterations", "300", "--optimizers", "gd,nag"]
    assert main(["compare", *options, "--out", str(root / "whole")]) == 0
    run = _start("compare", *options, "--out", root / "cut")
    _wait_for(root / "cut" / "summary.json", run)
    run.send_signal(signal.SIGINT)
    err = _finish(run)
    assert run.returncode == 130, err
    return root / "whole", root / "cut", err


def test_ctrl_c_while_the_results_are_written_keeps_the_run(written_run, tmp_path):
    whole, cut, err = written_run
    cut = Path(shutil.copytree(cut, tmp_path / "cut"))
    assert f"Resume with: descentlab compare --resume {written_run[1] / 'checkpoint'}" in err
    info = checkpoint_config(cut / "checkpoint")[1]
    assert [m["iterations"] for m in info["methods"]] == [300, 300]  # all training is in the checkpoint
    assert main(["compare", "--resume", str(cut / "checkpoint"), "--quiet"]) == 0
    assert not (cut / "checkpoint").exists()
    assert {k: v.tobytes() for k, v in _models(cut).items()} == {k: v.tobytes() for k, v in _models(whole).items()}
    assert history_numbers(cut / "history.csv") == history_numbers(whole / "history.csv")


def test_ctrl_c_at_the_end_of_a_resume_neither_tears_the_checkpoint_nor_raises(written_run, tmp_path):
    """A stream of Ctrl-C from the moment the last result file is written, while the checkpoint is removed (made
    slow by many files in it): the run ends complete without its checkpoint, or interrupted with its checkpoint
    whole; never a traceback (it once was ``OSError: Bad file descriptor``)."""
    cut = Path(shutil.copytree(written_run[1], tmp_path / "cut"))
    for i in range(3000):
        (cut / "checkpoint" / f"extra-{i}").write_bytes(b"")
    (cut / "report.md").unlink(missing_ok=True)
    run = subprocess.Popen(_command("compare", "--resume", cut / "checkpoint", "--quiet"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_works)
    _wait_for(cut / "report.md", run)
    while run.poll() is None:
        run.send_signal(signal.SIGINT)
        time.sleep(0.002)
    err = _finish(run)
    # 130: stopped before the removal; -SIGINT: a press after the command had returned ended the interpreter
    assert run.returncode in (0, 130, -signal.SIGINT), err
    if (cut / "checkpoint").exists():  # stopped before the removal began: the checkpoint is whole and resumes
        assert run.returncode != 0 and len(list((cut / "checkpoint").iterdir())) == 3001, err
        assert main(["compare", "--resume", str(cut / "checkpoint"), "--quiet"]) == 0
    assert not (cut / "checkpoint").exists() and not list(cut.glob(".checkpoint*"))
    assert (cut / "summary.json").exists() and (cut / "curves.png").exists() and (cut / "report.html").exists()


def test_one_ctrl_c_during_training_writes_what_is_done_with_its_report(tmp_path):
    run = _start("compare", *SMALL, "--iterations", "200000", "--engine", "numpy", "--out", tmp_path / "run")
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    err = _finish(run)
    assert run.returncode == 130, err
    # what is done, with its report and curves, beside the checkpoint
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint", "curves.png", "history.csv",
                                                                    "models", "report.html", "report.md", "split.json",
                                                                    "summary.json"]


@pytest.mark.parametrize("gap", [0.0, 0.1, 0.4])
def test_two_ctrl_c_during_training_keep_the_run(tmp_path, gap):
    # --engine numpy: with numba installed, 'auto' would spend these 0.3 s loading kernels, before iteration 1
    run = _start("compare", *SMALL, "--iterations", "200000", "--engine", "numpy", "--out", tmp_path / "run")
    time.sleep(0.3)
    run.send_signal(signal.SIGINT)
    time.sleep(gap)
    run.send_signal(signal.SIGINT)
    err = _finish(run)
    assert run.returncode == 130, err
    assert f"Resume with: descentlab compare --resume {tmp_path / 'run' / 'checkpoint'}" in err
    config, info = checkpoint_config(tmp_path / "run" / "checkpoint")
    _, results = load_checkpoint(tmp_path / "run" / "checkpoint", dl.MLP([4, 3, 3], "softplus"),
                                 {"gd": dl.GD(), "nag": dl.NAG()})
    # under load the presses may come before the first step is done: 0 iterations, still a checkpoint to resume
    assert results["gd"].interrupted and 0 <= results["gd"].iterations < config.iterations
    assert info["pending"] == ["nag"]


# -- SIGTERM (timeout, kill, systemd, Slurm) stops a run as Ctrl-C does ------------------------------------------------
def _terminate(run: subprocess.Popen, group: bool) -> None:
    """SIGTERM as kill sends it (to the command), or as timeout and Slurm do (to its whole process group: to the
    command twice, since timeout also signals the command itself)."""
    if group:
        os.killpg(run.pid, signal.SIGTERM)
    run.send_signal(signal.SIGTERM)


def _processes(run: subprocess.Popen) -> list:
    import psutil

    return psutil.Process(run.pid).children(recursive=True)


def _none_left(processes: list, timeout: float = 10.0) -> None:
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=timeout)
    assert not alive, f"outlived the command: {[p.cmdline() for p in alive]}"


@pytest.mark.parametrize("group", [False, True], ids=["kill", "timeout"])
@pytest.mark.parametrize("command", ["compare", "train"])
def test_sigterm_during_training_is_ctrl_c_and_the_resume_finishes(tmp_path, command, group):
    out = tmp_path / ("run" if command == "compare" else "m.safetensors")
    checkpoint = out / "checkpoint" if command == "compare" else Path(f"{out}.checkpoint")
    run = _start(command, *SMALL, "--iterations", "40000", "--out", out, session=True)
    time.sleep(0.3)
    children = _processes(run)
    _terminate(run, group)
    err = _finish(run)
    assert run.returncode == 143, err
    assert err.startswith("interrupted: ") and "stopped after iteration" in err, err
    assert err.endswith(f"Resume with: descentlab {command} --resume {checkpoint}"), err
    assert (checkpoint / "checkpoint.safetensors").exists()
    # no lock file left: the folder (train: the model file) is released
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name if command == "compare" else checkpoint.name]
    if command == "compare":
        assert sorted(p.name for p in out.iterdir()) == sorted(["checkpoint", *COMPARE_FILES])
    _none_left(children)
    resumed = subprocess.run(_command(command, "--resume", checkpoint, "--quiet"), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0 and not checkpoint.exists(), resumed.stderr


def test_sigterm_while_the_results_are_written_keeps_the_training_and_after_ctrl_c_is_one_more_press(tmp_path):
    """SIGTERM once training is done (the writer stops after the current file), then Ctrl-C and SIGTERM together
    mid-training: each run ends as Ctrl-C would, exit 143, and resumes."""
    options = [*SMALL, "--iterations", "300", "--optimizers", "gd,nag"]
    run = _start("compare", *options, "--out", tmp_path / "cut")
    _wait_for(tmp_path / "cut" / "summary.json", run)
    run.send_signal(signal.SIGTERM)
    err = _finish(run)
    assert run.returncode == 143 and f"descentlab compare --resume {tmp_path / 'cut' / 'checkpoint'}" in err, err
    assert main(["compare", "--resume", str(tmp_path / "cut"), "--quiet"]) == 0
    run = _start("compare", *SMALL, "--iterations", "200000", "--out", tmp_path / "both")
    time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    run.send_signal(signal.SIGTERM)
    err = _finish(run)
    assert run.returncode == 143 and "Resume with: descentlab compare --resume" in err, err
    assert not (tmp_path / "both" / ".descentlab.lock").exists()


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3, 0.6])
def test_sigterm_at_any_moment_of_start_up_ends_without_a_traceback(tmp_path, delay):
    """Before CPython runs descentlab's first line, SIGTERM kills it (-15: nothing has begun); after, it ends as
    Ctrl-C does: exit 143, at most the two lines of an interrupted training, never a traceback, no lock left."""
    run = subprocess.Popen(_command("compare", *SMALL, "--iterations", "200000", "--out", tmp_path / "run"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    run.send_signal(signal.SIGTERM)
    err = _finish(run)
    said = err.split("Resume with:")
    assert run.returncode in (143, -signal.SIGTERM) and len(said) <= 2, err
    assert run.returncode == 143 or err == "", err
    assert not (tmp_path / "run" / ".descentlab.lock").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_after_the_files_are_written_leaves_a_finished_run_finished(tmp_path, signum):
    """Sent once the command has said what it wrote (a late `timeout`, a late Ctrl-C): exit 0, nothing more said,
    no checkpoint. A late SIGTERM was handed to the entry point's Ctrl-C handler once compare had stopped listening
    to Ctrl-C, and a finished run ended 'interrupted' with 143 (found by a hostile review)."""
    for attempt in range(3):
        out = tmp_path / f"run{attempt}"
        run = subprocess.Popen(_command("compare", "--hidden", "3", "--engine", "numpy", "--iterations", "50", "--out",
                                        out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_works)
        assert run.stdout is not None
        for line in run.stdout:
            if line.startswith("Wrote"):
                break
        run.send_signal(signum)
        err = _finish(run)
        assert run.returncode == 0 and err == "", (attempt, run.returncode, err)
        assert not (out / "checkpoint").exists() and not (out / ".descentlab.lock").exists()


def test_a_large_output_cut_short_by_its_reader_says_so(tmp_path):
    """`predict` of 60 000 rows into `| head -1`: one write of megabytes, which Python's buffered stream cut short
    without an error when the reader left, so the run ended 0 with most predictions silently lost; written in pieces
    the stream buffers, the departure is seen: exit 141, as for `compare | head -1`."""
    from importlib import resources

    iris = resources.files("descentlab.data").joinpath("datasets/iris.csv").read_text().splitlines()
    (tmp_path / "big.csv").write_text("\n".join([iris[0], *iris[1:] * 400]) + "\n")
    model = tmp_path / "m.safetensors"
    subprocess.run(_command("train", *SMALL, "--iterations", "5", "--out", model), check=True, capture_output=True)
    run = subprocess.Popen(_command("predict", "--model", model, "--data", tmp_path / "big.csv"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.stdout is not None
    run.stdout.readline()
    run.stdout.close()
    _, err = run.communicate(timeout=300)
    assert run.returncode == 141 and err == "", (run.returncode, err)


# -- stdout's reader leaves early (descentlab compare | head -1): the run still writes every file ---------------------
@pytest.mark.parametrize("lines_read", [0, 1])
def test_a_reader_that_leaves_early_loses_the_lines_not_the_run(tmp_path, lines_read):
    """As ``| head -1`` does, and a reader gone before the first line: the run writes every file the command names,
    says nothing on stderr, and exits as Unix tools do when their reader left (141 = 128 + SIGPIPE)."""
    run = subprocess.Popen([sys.executable, "-m", "descentlab", "compare", *SMALL, "--iterations", "3000", "--out",
                            str(tmp_path / "run")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.stdout is not None
    for _ in range(lines_read):
        assert run.stdout.readline().startswith("Data:")
    run.stdout.close()
    _, err = run.communicate(timeout=300)
    assert run.returncode == 141 and err == "", err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(COMPARE_FILES)
    assert sorted(p.name for p in (tmp_path / "run" / "models").iterdir()) == ["gd.safetensors", "nag.safetensors"]


# -- train --out: an interrupted run never replaces the model there ------------------------------------------------
def test_ctrl_c_during_train_keeps_the_model_at_out_and_a_new_run_does_not_silently_discard_it(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert main(["train", *SMALL, "--iterations", "50", "--out", str(model)]) == 0
    good = model.read_bytes()
    run = _start("train", *SMALL, "--iterations", "200000", "--out", model)
    time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    err = _finish(run)
    assert run.returncode == 130, err
    assert model.read_bytes() == good  # predict goes on using the good model
    assert f"{model} is unchanged" in err and f"descentlab train --resume {model}.checkpoint" in err
    capsys.readouterr()

    # a later run into the same --out does not leave that checkpoint to be resumed over its result
    assert main(["train", *SMALL, "--iterations", "5", "--out", str(model)]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "holds an interrupted run" in line and "--resume" in line and "--overwrite" in line
    assert model.read_bytes() == good
    assert main(["train", *SMALL, "--iterations", "5", "--out", str(model), "--overwrite"]) == 0
    assert not Path(f"{model}.checkpoint").exists() and model.read_bytes() != good
    assert main(["train", "--resume", f"{model}.checkpoint"]) == 1
    assert capsys.readouterr().err.endswith(f"error: --resume {model}.checkpoint: does not exist\n")


# -- a run folder holds one run --------------------------------------------------------------------------------------
def test_a_folder_with_an_interrupted_run_is_refused_or_replaced_as_a_whole(written_run, tmp_path, capsys):
    cut = Path(shutil.copytree(written_run[1], tmp_path / "cut"))
    (cut / "notes.txt").write_text("mine")
    before = _snapshot(cut)
    assert main(["compare", *SMALL, "--iterations", "5", "--out", str(cut)]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "holds an interrupted run" in line and f"--resume {cut / 'checkpoint'}" in line
    assert _snapshot(cut) == before
    assert main(["compare", *SMALL, "--iterations", "5", "--optimizers", "adam", "--out", str(cut),
                 "--overwrite"]) == 0
    assert not (cut / "checkpoint").exists()  # nothing can --resume the older run over this one
    assert sorted(_models(cut)) == ["adam"]
    assert list(json.loads((cut / "summary.json").read_text())["methods"]) == ["adam"]
    assert (cut / "notes.txt").read_text() == "mine"  # files descentlab does not write are not its to delete


def test_a_folder_with_a_finished_run_is_refused_or_replaced_as_a_whole(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["compare", *SMALL, "--iterations", "5", "--optimizers", "gd,nag,adam", "--out", str(run)]) == 0
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["compare", *SMALL, "--iterations", "5", "--out", str(run)]) == 1
    out, err = capsys.readouterr()
    assert "already holds a run" in _one_line_error(err) and "Data:" not in out  # before any work
    assert _snapshot(run) == before
    assert main(["compare", *SMALL, "--iterations", "5", "--out", str(run), "--overwrite"]) == 0
    assert sorted(_models(run)) == ["gd", "nag"]  # no stale models/adam.safetensors beside the new summary
    assert sorted(p.name for p in run.iterdir()) == ["curves.png", "history.csv", "models", "report.html",
                                                      "report.md", "split.json", "summary.json"]


def test_a_sweep_into_a_folder_with_another_kind_of_run_is_refused_or_replaced_as_a_whole(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["compare", *SMALL, "--iterations", "5", "--out", str(run)]) == 0
    before = _snapshot(run)
    capsys.readouterr()
    sweep = ["sweep", *SMALL, "--iterations", "5", "--seeds", "2", "--lr", "0.01", "--out", str(run)]
    assert main(sweep) == 1
    assert "already holds a run" in _one_line_error(capsys.readouterr().err)
    assert _snapshot(run) == before
    assert main([*sweep, "--overwrite"]) == 0
    left = sorted(p.name for p in run.iterdir() if not p.name.startswith("."))
    assert "models" not in left and "history.csv" not in left and "curves.png" not in left, left
    assert "split.json" not in left, left
    assert "sweep.csv" in left


def test_overwrite_removes_the_files_of_the_run_it_replaces_and_nothing_of_the_users(tmp_path):
    run = tmp_path / "run"
    assert main(["compare", *SMALL, "--iterations", "5", "--optimizers", "gd,nag", "--out", str(run)]) == 0
    mine = {"models/my-best.safetensors": (run / "models" / "nag.safetensors").read_bytes(), "cells/x": b"x",
            "cells/mine.parquet": b"p", "notes.txt": b"n"}
    for name, content in mine.items():
        (run / name).parent.mkdir(exist_ok=True)
        (run / name).write_bytes(content)
    assert main(["compare", *SMALL, "--iterations", "5", "--optimizers", "gd", "--out", str(run), "--overwrite"]) == 0
    assert {name: (run / name).read_bytes() for name in mine} == mine
    assert sorted(p.name for p in (run / "models").iterdir()) == ["gd.safetensors", "my-best.safetensors"]


def test_a_model_file_inside_a_run_folder_in_use_is_refused(tmp_path, capsys):
    from descentlab.cli.outputs import claim_run_folder

    run = tmp_path / "run"
    with claim_run_folder(run, "compare", overwrite=False, resuming=False):  # as a running compare holds it
        assert main(["train", *SMALL, "--iterations", "5", "--out", str(run / "models" / "gd.safetensors")]) == 1
        refused = capsys.readouterr()
        assert refused.out == ""  # refused before it says what it would have trained
        assert main(["train", *SMALL, "--iterations", "5", "--out", str(run / "mine" / "gd.safetensors")]) == 0
    line = _one_line_error(refused.err)
    assert line == (f"error: {run / 'models' / 'gd.safetensors'}: {run} is in use by another descentlab run; wait "
                    f"for it to finish or choose another --out")
    assert not (run / "models" / "gd.safetensors").exists()


def test_a_second_run_into_a_folder_in_use_is_refused_and_a_crashed_runs_lock_does_not_block(tmp_path, capsys):
    folder = tmp_path / "run"
    first = _start("compare", *SMALL, "--iterations", "200000", "--out", folder)
    lock = folder / ".descentlab.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = subprocess.run(_command("compare", *SMALL, "--iterations", "5", "--out", folder, "--overwrite"),
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 1
    assert f"{folder} is in use by another descentlab run (process {first.pid})" in _one_line_error(second.stderr)
    assert second.stdout == ""  # refused before it says what it would have trained
    first.kill()  # a crash: no chance to remove the lock file
    first.communicate(timeout=60)
    assert lock.exists()
    assert main(["compare", *SMALL, "--iterations", "5", "--out", str(folder)]) == 0
    assert not lock.exists() and (folder / "summary.json").exists()


def test_default_run_folders_never_collide(tmp_path):
    runs = [subprocess.Popen(_command("compare", *SMALL, "--iterations", "5"), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for run in runs:
        _finish(run)
        assert run.returncode == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 3 and all((f / "summary.json").exists() for f in folders)
    from descentlab.cli.outputs import new_run_folder

    now = datetime(2026, 1, 2, 3, 4, 5)
    assert [new_run_folder(tmp_path / "same", now).name for _ in range(3)] == [
        "20260102-030405", "20260102-030405-2", "20260102-030405-3"]


# -- resume into the folder named --------------------------------------------------------------------------------------
def test_resume_after_moving_the_run_and_from_another_folder_writes_where_the_checkpoint_is(tmp_path, iris):
    started, moved, elsewhere = (tmp_path / name for name in ("started", "moved", "elsewhere"))
    for folder in (started, moved, elsewhere):
        folder.mkdir()
    with open(started / "flowers.csv", "w") as handle:
        handle.write(",".join([*iris.feature_names, "kind"]) + "\n")
        for x, y in zip(iris.X, iris.y, strict=True):
            handle.write(",".join([*(repr(float(v)) for v in x), iris.class_names[y]]) + "\n")
    options = [*SMALL, "--iterations", "5000"]
    for command, out in (("compare", "run"), ("train", "m.safetensors")):
        data = ["--data", "flowers.csv"] if command == "train" else []
        run = _start(command, *options, *data, "--out", out, cwd=started)
        run.send_signal(signal.SIGINT)
        err = _finish(run)
        assert run.returncode == 130, err
    shutil.move(started / "run", moved / "run")
    shutil.move(started / "m.safetensors.checkpoint", moved / "m.safetensors.checkpoint")
    # --resume RUN: the run folder (compare) or the model (train), as sweep --resume takes it
    for command, checkpoint in (("compare", "../moved/run"), ("train", "../moved/m.safetensors")):
        resumed = subprocess.run(_command(command, "--resume", checkpoint, "--quiet"), cwd=elsewhere,
                                 capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and "moved" not in p.parts) == ["flowers.csv"]
    assert not (moved / "run" / "checkpoint").exists() and not (moved / "m.safetensors.checkpoint").exists()
    summary = json.loads((moved / "run" / "summary.json").read_text())
    assert [m["iterations_done"] for m in summary["methods"].values()] == [5000, 5000]
    assert dl.load_model(moved / "m.safetensors")[2]["training"]["iterations_done"] == 5000


# -- an output that is an input is refused before any work ----------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory, iris) -> Path:
    root = tmp_path_factory.mktemp("files")
    with open(root / "a.csv", "w") as handle:
        handle.write(",".join([*iris.feature_names, "kind"]) + "\n")
        for x, y in zip(iris.X, iris.y, strict=True):
            handle.write(",".join([*(repr(float(v)) for v in x), iris.class_names[y]]) + "\n")
    assert main(["train", *SMALL, "--iterations", "5", "--data", str(root / "a.csv"),
                 "--out", str(root / "m.safetensors")]) == 0
    (root / "link.csv").symlink_to("a.csv")
    (root / "mlink.safetensors").symlink_to(root / "m.safetensors")
    os.link(root / "a.csv", root / "hard.csv")
    run = root / "run"
    assert main(["compare", *SMALL, "--iterations", "5", "--out", str(run)]) == 0
    return root


@pytest.mark.parametrize("argv", [
    ["train", "--data", "a.csv", "--out", "a.csv"],
    ["train", "--data", "a.csv", "--out", "link.csv"],
    ["train", "--data", "link.csv", "--out", "a.csv"],
    ["train", "--data", "a.csv", "--out", "hard.csv"],
    ["predict", "--model", "m.safetensors", "--data", "a.csv", "--out", "m.safetensors"],
    ["predict", "--model", "mlink.safetensors", "--data", "a.csv", "--out", "m.safetensors"],
    ["predict", "--model", "m.safetensors", "--data", "a.csv", "--out", "link.csv"],
    ["export", "--model", "m.safetensors", "--onnx", "m.safetensors"],
    ["export", "--model", "m.safetensors", "--onnx", "mlink.safetensors"],
    ["compare", "--data", "run/history.csv", "--target", "method", "--out", "run", "--overwrite"],
    ["sweep", "--data", "run/history.csv", "--target", "method", "--out", "run", "--overwrite"],
    ["sweep", "--tune", "--data", "run/history.csv", "--target", "method", "--out", "run", "--overwrite"],
])
def test_an_output_that_is_an_input_is_refused_before_any_work(files, argv, capsys, monkeypatch):
    monkeypatch.chdir(files)
    before = _snapshot(files)
    assert main(argv) == 1
    out, err = capsys.readouterr()
    line = _one_line_error(err)
    assert "--data" in line or "--model" in line
    assert out == ""  # not even the data were read
    assert _snapshot(files) == before


# -- output paths that cannot be written: one line, before any work -------------------------------------------------
@pytest.fixture
def read_only(tmp_path) -> Path:
    """A folder nobody can create files in (for the superuser, whom permissions do not stop: sysfs)."""
    if os.geteuid() == 0:
        return Path("/sys/descentlab-test")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "{folder}"], "is a folder; --out needs a file name"),
    (["train", "--out", "{file}/m.safetensors"], "is a file, not a folder"),
    (["train", "--out", "{read_only}/m.safetensors"], "cannot write in"),
    (["train", "--out", "{read_only}/new/m.safetensors"], "cannot write in"),
    (["compare", "--out", "{file}"], "is a file; --out needs a folder"),
    (["compare", "--out", "{file}/run"], "is a file, not a folder"),
    (["compare", "--out", "{read_only}/run"], "cannot write in"),
    (["compare", "--out", "{folder}"], "is a file where the run writes a folder"),
    (["sweep", "--out", "{file}"], "is a file; --out needs a folder"),
    (["predict", "--model", "{model}", "--data", "{csv}", "--out", "{folder}"], "is a folder; --out needs a file"),
    (["export", "--model", "{model}", "--onnx", "{file}/m.onnx"], "is a file, not a folder"),
])
def test_an_output_that_cannot_be_written_gets_one_line_before_any_work(tmp_path, read_only, files, argv, message,
                                                                         capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "models").write_text("not a folder")
    (tmp_path / "file").write_text("a regular file")
    names = {"folder": tmp_path / "folder", "file": tmp_path / "file", "read_only": read_only,
             "model": files / "m.safetensors", "csv": files / "a.csv"}
    argv = [arg.format(**names) for arg in argv]
    if argv[0] in ("train", "compare"):
        argv += [*SMALL, "--iterations", "100000"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert message in _one_line_error(err)
    assert out == ""  # refused before the data were read, let alone a model trained
    assert (tmp_path / "file").read_text() == "a regular file"


# -- permissions -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_have_the_permissions_the_umask_gives(tmp_path, umask):
    def with_umask() -> None:
        os.umask(umask)

    for argv in (["compare", *SMALL, "--iterations", "5", "--out", tmp_path / "run"],
                 ["train", *SMALL, "--iterations", "5", "--out", tmp_path / "m.safetensors"]):
        done = subprocess.run(_command(*argv), capture_output=True, text=True, timeout=300, preexec_fn=with_umask)
        assert done.returncode == 0, done.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 9  # the model, and the run's two models and six files (every one there on return)
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o666 & ~umask)}


# -- a run that cannot write what it promised exits non-zero naming the file ------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (report.html alone is about 4.8 MB), where this process may mount one (as root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_compare_onto_a_full_disk_exits_non_zero_naming_the_file(small_disk):
    run = subprocess.run(_command("compare", *SMALL, "--iterations", "20", "--out", small_disk / "run"),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert _one_line_error(run.stderr) == f"error: {small_disk / 'run' / 'report.html'}: No space left on device"
    assert not [p.name for p in (small_disk / "run").iterdir() if p.name.startswith(".")]  # no temporary file


def test_a_write_that_fails_for_want_of_space_names_the_file(tmp_path, monkeypatch, capsys):
    """The same through the real writers on any machine: the disk fills up while curves.png is flushed."""
    import errno

    flush = os.fsync

    def full(fd: int) -> None:
        if "curves.png" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        flush(fd)

    monkeypatch.setattr(os, "fsync", full)
    assert main(["compare", *SMALL, "--iterations", "20", "--out", str(tmp_path / "run")]) == 1
    assert _one_line_error(capsys.readouterr().err) == (f"error: {tmp_path / 'run' / 'curves.png'}: No space left "
                                                        f"on device")
    assert not (tmp_path / "run" / "curves.png").exists() and not (tmp_path / "run" / ".descentlab.lock").exists()


@pytest.mark.parametrize("command", [["compare", "--iterations", "3"], ["train", "--iterations", "3"]])
def test_a_command_run_from_python_gives_the_callers_ctrl_c_handler_back(tmp_path, command):
    """A finished command ignores a late Ctrl-C while its own process ends; called from Python, that would leave
    the caller (a notebook, the tests, every later subprocess it starts) deaf to Ctrl-C."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert main([*command, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_resume_runs_on_the_engine_the_run_recorded_or_refuses_in_one_line(tmp_path, capsys, monkeypatch):
    """'auto' is stored as the engine it chose: a resume where 'auto' would now choose otherwise still ends as the
    uninterrupted run, bit for bit, and one where that engine cannot run is refused in one line naming it."""
    from descentlab.core import engines
    from descentlab.experiments.checkpoint import write_checkpoint

    monkeypatch.setattr(engines, "AUTO_COMPILED_FROM", 10)  # 'auto' takes numba's engine for a run of 40
    options = ["--hidden", "3", "--iterations", "40", "--optimizers", "gd,nag", "--quiet"]
    assert main(["compare", *options, "--out", str(tmp_path / "whole")]) == 0
    assert json.loads((tmp_path / "whole" / "summary.json").read_text())["engine"] == "compiled"
    config = dl.CompareConfig(hidden=(3,), iterations=40, optimizers=("gd", "nag"))
    steps = iter(range(60))
    cut = dl.compare(dl.load_iris(), config, should_stop=lambda: next(steps) >= 15)
    checkpoint = tmp_path / "cut" / "checkpoint"
    write_checkpoint(cut, checkpoint, dl.load_iris(), {"command": "compare", "out": str(tmp_path / "cut"),
                                                       "cwd": str(tmp_path)})
    assert checkpoint_config(checkpoint)[0].engine == "compiled"

    monkeypatch.setattr(engines, "compiled_available", lambda: False)
    assert main(["compare", "--resume", str(checkpoint), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the interrupted run trained on the compiled engine" in err, err
    assert "the compiled engine needs numba" in err and checkpoint.is_dir()

    monkeypatch.undo()  # numba back; 'auto' would now take NumPy for 40 iterations: the run's own engine is used
    assert main(["compare", "--resume", str(checkpoint), "--quiet"]) == 0
    assert json.loads((tmp_path / "cut" / "summary.json").read_text())["engine"] == "compiled"
    assert {k: v.tobytes() for k, v in _models(tmp_path / "cut").items()} == \
        {k: v.tobytes() for k, v in _models(tmp_path / "whole").items()}
    assert history_numbers(tmp_path / "cut" / "history.csv") == history_numbers(tmp_path / "whole" / "history.csv")


def test_a_benchmark_records_its_engine_and_a_folder_in_use_is_refused_with_the_locks_message(tmp_path, capsys,
                                                                                               monkeypatch):
    from descentlab.cli.outputs import LOCK_NAME, RunLock
    from descentlab.core import engines

    out = tmp_path / "b"
    quick = ["benchmark", "--problems", "quadratic-k1e3", "--optimizers", "gd", "--lr", "0.5", "--seeds", "1",
             "--iterations", "3", "--quiet"]
    assert main([*quick, "--engine", "auto", "--out", str(out)]) == 0
    manifest = json.loads((out / "benchmark.json").read_text())
    assert manifest["engine"] == "numpy" and "--engine numpy" in manifest["command"]  # 'auto' as it resolved
    capsys.readouterr()
    with RunLock(out / LOCK_NAME, str(out)):  # another run holds the folder
        for argv in ([*quick, "--out", str(out)], ["benchmark", "--resume", str(out), "--quiet"]):
            assert main(argv) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"{out} is in use by another descentlab run" in err, err
    def forged(**changes: object) -> None:  # an edit with the checksum made again, as descentlab makes it
        content = {**{k: v for k, v in manifest.items() if k != "sha256"}, **changes}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        (out / "benchmark.json").write_text(json.dumps({**content, "sha256": digest}))

    def refused(*says: str) -> None:
        assert main(["benchmark", "--resume", str(out), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and all(s in err for s in says), err

    intact = (out / "benchmark.json").read_bytes()
    (out / "benchmark.json").write_bytes(intact.replace(b'"seeds": 1', b'"seeds": 3'))  # edited by hand
    refused("benchmark.json: changed since descentlab wrote it")
    for change, says in (({"problems": []}, "no problems"), ({"methods": ["warp"]}, "warp"),
                         ({"cell_size": 0}, "cell_size must be"), ({"lrs": []}, "lrs must be"),
                         ({"engine": "warp"}, "engine must be"),
                         ({"problems": [{"name": "x", "kind": "warp"}]}, "key 'kind' must be one of")):
        forged(**change)
        refused("benchmark.json", says)
    forged(engine="compiled")
    monkeypatch.setattr(engines, "compiled_available", lambda: False)
    refused("the benchmark ran on the compiled engine, which cannot run here")
    (out / "benchmark.json").write_bytes(intact)
    monkeypatch.undo()
    assert main(["benchmark", "--resume", str(out), "--quiet"]) == 0  # the intact manifest reads back
