"""report.html and curves.png made after the command returns (descentlab/reporting/figure_process.py), through the
real command in a subprocess: the figure equals the one drawn in-process, the folder stays locked until both are
written, a Ctrl-C after the command has returned neither loses nor tears them, and a failure to make either is
written down and reported."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_lock import locked, wait_for_drawer

from descentlab.cli.main import main

OPTIONS = ["--hidden", "3", "--iterations", "60", "--quiet"]
DRAWING = re.compile(r"process (\d+) is making report\.html and curves\.png and holds the folder until done")


def _command(*args: object) -> list[str]:
    return [sys.executable, "-u", "-m", "descentlab", *map(str, args)]


@pytest.fixture(scope="module")
def drawn_here(tmp_path_factory) -> bytes:
    """curves.png of the run, from ``main`` in this process (which waits for the figure)."""
    out = tmp_path_factory.mktemp("here") / "run"
    assert main(["compare", *OPTIONS, "--out", str(out)]) == 0
    assert not (out / ".descentlab.lock").exists()  # the drawer removed the lock file when done
    return (out / "curves.png").read_bytes()


def test_the_command_returns_before_the_figure_says_so_and_keeps_the_folder_until_it_is_written(tmp_path, drawn_here):
    folder = tmp_path / "run"
    run = subprocess.run(_command("compare", *OPTIONS, "--out", folder), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (line,) = [line for line in run.stdout.splitlines() if "is making report.html" in line]  # one line says so
    assert line.endswith("(a failure: curves-error.txt)")  # the whole of it, not wrapped
    drawer = int(DRAWING.search(line).group(1))
    assert (folder / "summary.json").exists()
    os.kill(drawer, signal.SIGSTOP)  # still drawing (it takes about a second) for as long as this test needs
    try:
        assert locked(folder)
        second = subprocess.Popen(_command("compare", *OPTIONS, "--out", folder, "--overwrite", "--optimizers", "gd"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert second.stderr is not None
        waiting = second.stderr.readline()  # it waits for the drawer, and says so, before touching the folder
        assert waiting == (f"waiting for process {drawer}, which is making report.html and curves.png of the previous "
                           f"run in {folder}\n")
        assert (folder / "models" / "nag.safetensors").exists() and second.poll() is None
    finally:
        os.kill(drawer, signal.SIGCONT)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert not (folder / "models" / "nag.safetensors").exists()  # the second run replaced the first as a whole
    wait_for_drawer(folder)
    figure = (folder / "curves.png").read_bytes()  # the second run's: gd alone
    assert figure.startswith(b"\x89PNG") and figure != drawn_here
    assert not (folder / ".descentlab.lock").exists() and not (folder / "curves-error.txt").exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left


def _ctrl_c_works() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background test run would have it ignored


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_as_the_command_ends_neither_loses_nor_tears_curves_png(tmp_path, drawn_here, attempt):
    """As in a terminal: the command is a foreground job in its own process group, and Ctrl-C goes to that group,
    here every 2 ms from the moment report.html (the last file the command writes itself) is there until the
    command has exited, and then to the drawer itself. Either the command stopped before it handed the figure
    over (exit 130, its checkpoint kept, as tests/test_nothing_lost.py covers), or curves.png is written whole."""
    folder = tmp_path / "run"
    run = subprocess.Popen(_command("compare", *OPTIONS, "--out", folder), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, process_group=0, preexec_fn=_ctrl_c_works)
    deadline = time.monotonic() + 300
    while not (folder / "report.html").exists() and run.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    while run.poll() is None:
        os.killpg(run.pid, signal.SIGINT)
        time.sleep(0.002)
    out, err = run.communicate(timeout=300)
    assert "Traceback" not in err, err
    found = DRAWING.search(" ".join(out.split()))
    if found is None:  # stopped before the figure was handed over
        assert run.returncode in (130, -signal.SIGINT) and (folder / "checkpoint").is_dir(), (out, err)
        assert not (folder / "curves.png").exists() and not locked(folder)
        return
    assert run.returncode == 0, err  # handed over: the run is complete, a later press has nothing to stop
    for _ in range(20):
        try:
            os.kill(int(found.group(1)), signal.SIGINT)
        except ProcessLookupError:  # done already
            break
        time.sleep(0.005)
    wait_for_drawer(folder)
    assert (folder / "curves.png").read_bytes() == drawn_here
    assert not (folder / "checkpoint").exists()


def _broken_matplotlib(tmp_path: Path) -> dict[str, str]:
    """An environment in which importing matplotlib fails, as with a broken installation."""
    fake = tmp_path / "broken" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('matplotlib is broken here')\n")
    return {**os.environ, "PYTHONPATH": str(fake.parent)}


def test_a_drawer_that_fails_writes_why_and_the_next_run_into_the_folder_says_so(tmp_path, capsys):
    folder = tmp_path / "run"
    env = _broken_matplotlib(tmp_path)
    run = subprocess.run(_command("compare", *OPTIONS, "--out", folder), capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr  # the command had returned before the figure failed
    wait_for_drawer(folder)
    assert not (folder / "curves.png").exists()
    reason = "curves.png could not be drawn: ImportError: matplotlib is broken here"
    assert (folder / "curves-error.txt").read_text().startswith(reason + "\n\nTraceback")
    assert main(["info", "--model", str(folder / "models" / "gd.safetensors")]) == 0  # a command reading the run
    err = " ".join(capsys.readouterr().err.split())
    assert err == f"warning: {folder}/ has no curves.png (curves-error.txt: {reason})"
    refused = subprocess.run(_command("compare", *OPTIONS, "--out", folder), capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 1 and "curves-error.txt" in refused.stderr  # a run is there, its failure listed
    assert main(["compare", *OPTIONS, "--out", str(folder), "--overwrite"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert f"warning: the run this one replaces in {folder}/ has no curves.png (curves-error.txt: {reason})" in err
    assert (folder / "curves.png").exists() and not (folder / "curves-error.txt").exists()


def test_a_drawer_that_cannot_write_report_html_says_so_and_still_draws_the_figure(tmp_path, capsys, drawn_here):
    broken = tmp_path / "broken" / "plotly"  # a plotly without its plotly.min.js
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("")
    folder = tmp_path / "run"
    run = subprocess.run(_command("compare", *OPTIONS, "--out", folder), capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(broken.parent)}, timeout=300)
    assert run.returncode == 0, run.stderr
    wait_for_drawer(folder)
    assert not (folder / "report.html").exists() and (folder / "curves.png").read_bytes() == drawn_here
    reason = (folder / "curves-error.txt").read_text().splitlines()[0]
    assert reason.startswith("report.html could not be written: FileNotFoundError:") and "plotly.min.js" in reason
    assert main(["info", "--model", str(folder / "models" / "gd.safetensors")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert err == f"warning: {folder}/ has no report.html (curves-error.txt: {reason})"


def test_main_called_from_python_waits_for_the_figure_and_fails_when_it_fails(tmp_path):
    folder = tmp_path / "run"
    argv = ["compare", *OPTIONS, "--out", str(folder)]
    code = f"import sys\nfrom descentlab.cli.main import main\nsys.exit(main({argv!r}))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=_broken_matplotlib(tmp_path))
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == ("error: curves.png could not be drawn: ImportError: matplotlib is "
                                                   "broken here")
    assert (folder / "summary.json").exists() and not (folder / ".descentlab.lock").exists()


def test_without_a_second_process_the_figure_is_drawn_here(tmp_path, monkeypatch, drawn_here):
    import descentlab.reporting.figure_process as figure_process

    def no_process(*args, **kwargs):
        raise OSError("no more processes")

    monkeypatch.setattr(figure_process.subprocess, "Popen", no_process)
    assert main(["compare", *OPTIONS, "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "curves.png").read_bytes() == drawn_here
    assert not (tmp_path / "run" / ".descentlab.lock").exists()


def test_a_drawer_killed_before_it_wrote_the_figure_is_reported_by_the_next_run(tmp_path, capsys):
    folder = tmp_path / "run"
    run = subprocess.run(_command("compare", *OPTIONS, "--out", folder), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    drawer = int(DRAWING.search(" ".join(run.stdout.split())).group(1))
    os.kill(drawer, signal.SIGKILL)  # it is still importing matplotlib (about a second)
    wait_for_drawer(folder)
    assert not (folder / "curves.png").exists() and not (folder / "curves-error.txt").exists()
    lacking, them = (("curves.png", "it") if (folder / "report.html").exists()
                     else ("report.html and curves.png", "them"))
    assert main(["compare", *OPTIONS, "--out", str(folder), "--overwrite"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert (f"warning: the run this one replaces in {folder}/ has no {lacking} (process {drawer}, which was making "
            f"{them}, ended without writing {them} or why)") in err
    assert (folder / "curves.png").exists() and not (folder / ".descentlab.lock").exists()


def test_a_module_of_the_users_in_the_working_directory_does_not_reach_the_drawer(tmp_path, drawn_here):
    """The drawer starts with ``python -P``: a ``pickle.py`` where the user works (the drawer's first import) once
    ended it before it could write curves.png or say why."""
    (tmp_path / "pickle.py").write_text("raise ImportError('my own pickle.py')\n")
    script = Path(sys.executable).parent / "descentlab"  # as a user runs it (``python -m`` would import it too)
    run = subprocess.run([str(script), "compare", *OPTIONS, "--out", "run"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    wait_for_drawer(tmp_path / "run")
    assert (tmp_path / "run" / "curves.png").read_bytes() == drawn_here


@pytest.mark.parametrize("made_again", [False, True])
def test_a_run_folder_removed_while_the_drawer_works_is_not_made_again(tmp_path, made_again):
    folder = tmp_path / "run"
    run = subprocess.run(_command("compare", *OPTIONS, "--out", folder), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    drawer = int(DRAWING.search(" ".join(run.stdout.split())).group(1))
    os.kill(drawer, signal.SIGSTOP)  # still importing matplotlib (about a second)
    try:
        shutil.rmtree(folder)
        if made_again:
            folder.mkdir()  # another folder of the same name: the user's, not the run's
    finally:
        os.kill(drawer, signal.SIGCONT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            os.kill(drawer, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    assert (sorted(p.name for p in folder.iterdir()) == []) if made_again else not folder.exists()
