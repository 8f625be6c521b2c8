"""descentlab benchmark end to end: a reduced suite through the real command, in process and on a two-worker
LocalCluster with identical Parquet results; the convex runs against the theory's bounds; the Python API; a TOML
suite with a user CSV through the installed command; bad input in one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import test_browser

import descentlab
from descentlab.benchmarking.problems import Logistic, Quadratic, convex_objective, suite
from descentlab.benchmarking.run import Run, descend, median_cost
from descentlab.cli.main import main

browser = test_browser.browser  # the fixture, shared
REDUCED = ["benchmark", "--problems", "iris-mlp,wine-logistic", "--optimizers", "gd,nag", "--lr", "0.1,0.5",
           "--seeds", "3", "--iterations", "30", "--quiet"]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("benchmark") / "out"
    assert main([*REDUCED, "--out", str(out)]) == 0
    return out


def test_reduced_suite_writes_every_file(in_process: Path) -> None:
    for name in ("summary.json", "results.parquet", "report.md", "report.html", "profiles.png",
                 "figures/iris-mlp.png", "figures/wine-logistic.png", "benchmark.json"):
        assert (in_process / name).is_file(), name
    summary = json.loads((in_process / "summary.json").read_text())
    assert set(summary["methods"]) == {"gd", "nag"}
    for method in summary["methods"].values():
        profile = method["profile"]
        assert profile[0][0] == 1.0 and all(0 <= rho <= 1 for _, rho in profile)
        assert 0 <= method["profile_area"] <= 1
    assert set(summary["problems"]) == {"iris-mlp", "wine-logistic"}
    logistic = summary["problems"]["wine-logistic"]
    assert logistic["f_star"] == next(p.f_star for p in suite("small") if p.name == "wine-logistic")
    for method, entry in logistic["methods"].items():
        assert entry["setting"].startswith(f"{method}:lr=")
        assert sum(entry["status"]["final"].values()) == 3 and sum(entry["status"]["tune"].values()) == 3 * 6
    report = (in_process / "report.md").read_text()
    assert report.index("## Performance profiles") < report.index("## iris-mlp") < report.index("## wine-logistic")


def test_parquet_results_open_in_pandas_and_agree_with_the_summary(in_process: Path) -> None:
    frame = pd.read_parquet(in_process / "results.parquet")
    for column in ("problem", "method", "setting", "lr", "seed", "phase", "status", "train_loss", "test_loss",
                   "curve"):
        assert column in frame.columns
    # iris-mlp: 2 methods x 2 lrs x 3 tune repetitions + 2 x 3 final; wine-logistic: its own 6-lr grid
    assert (frame.problem == "iris-mlp").sum() == 2 * 2 * 3 + 2 * 3
    assert (frame.problem == "wine-logistic").sum() == 2 * 6 * 3 + 2 * 3
    assert set(frame.loc[frame.phase == "final", "seed"]) == {3, 4, 5}
    summary = json.loads((in_process / "summary.json").read_text())
    logistic = frame[(frame.problem == "wine-logistic") & (frame.phase == "final")]
    for method, entry in summary["problems"]["wine-logistic"]["methods"].items():
        mine = logistic[logistic.method == method]
        assert set(mine.setting) == {entry["setting"]}
        assert entry["results"]["median_suboptimality"] == pytest.approx(float(np.median(mine.suboptimality)))
        assert all(len(curve) == 31 for curve in mine.curve)
        f_star = summary["problems"]["wine-logistic"]["f_star"]
        assert np.allclose([c[-1] for c in mine.curve], mine.train_loss - f_star, rtol=1e-12, atol=1e-15)


def test_profile_bands_agree_with_each_repetition_counted_from_the_parquet(in_process: Path) -> None:
    """ρ_s(1) of repetition r is the share of problems on which s's r-th final run reached the target with the
    fewest gradient evaluations of any method (a problem no run of r reached counts for none); the band at τ = 1
    is its lowest and highest value over r. Counted here from results.parquet, apart from the profile code."""
    frame = pd.read_parquet(in_process / "results.parquet")
    final = frame[frame.phase == "final"].sort_values("seed")
    cost = {(row.problem, row.method, row.seed): math.inf if pd.isna(row.target_grad_evals)
            else row.target_grad_evals for row in final.itertuples()}
    problems, seeds = sorted(set(final.problem)), sorted(set(final.seed))
    summary = json.loads((in_process / "summary.json").read_text())
    for method, entry in summary["methods"].items():
        at_one = [sum(math.isfinite(cost[p, method, s]) and cost[p, method, s] == min(cost[p, m, s] for m in
                                                                                       summary["methods"])
                      for p in problems) / len(problems) for s in seeds]
        assert entry["profile_band"][0] == [1.0, min(at_one), max(at_one)]
        assert all(0 <= low <= high <= 1 for _, low, high in entry["profile_band"])
        assert all(0 <= low <= high <= 1 for _, low, high in entry["data_profile_band"])
        low, high = entry["profile_area_range"]
        assert 0 <= low <= high <= 1


def test_mlp_problems_have_seconds_to_target(in_process: Path) -> None:
    summary = json.loads((in_process / "summary.json").read_text())
    reached = 0
    for entry in summary["problems"]["iris-mlp"]["methods"].values():
        times = entry["results"]["time_to_target"]
        assert times["seconds"]["reached"] == times["iterations"]["reached"]
        assert all(q is None or q > 0 for q in times["seconds"]["quartiles"])
        reached += times["seconds"]["reached"]
    assert reached > 0  # the best method's median run reaches a target set from its own median


def test_an_mlp_runs_seconds_grow_with_its_iterations() -> None:
    """A stacked cell's wall time is shared by its models: each gets the cell's seconds over its models, spread
    evenly over its iterations."""
    result = descentlab.benchmark(problems=["iris-mlp"], optimizers=["gd", "nag"], lrs=[0.5], seeds=2, iterations=10)
    (iris,) = result.problems
    assert len(iris.runs) == 2 * 2 * 2
    for run in iris.runs:
        assert run.seconds is not None and run.seconds.shape == (11,) and run.seconds[0] == 0.0
        assert np.all(np.diff(run.seconds) > 0)


def test_a_two_worker_cluster_gives_identical_results(in_process: Path, tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    assert main([*REDUCED, "--workers", "2", "--out", str(out)]) == 0
    here, there = (pd.read_parquet(p / "results.parquet") for p in (in_process, out))
    pd.testing.assert_frame_equal(here, there, check_exact=True)
    assert (in_process / "results.parquet").read_bytes() == (out / "results.parquet").read_bytes()


def test_resume_reads_the_saved_cells_back(in_process: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(in_process, copy)
    cells = sorted((copy / "problems" / "iris-mlp" / "cells").iterdir())
    cells[0].unlink()  # as if interrupted before this cell was saved
    assert main(["benchmark", "--resume", str(copy), "--quiet"]) == 0
    assert (copy / "results.parquet").read_bytes() == (in_process / "results.parquet").read_bytes()


def test_report_html_opens_in_the_browser(browser, in_process: Path) -> None:
    page, errors = test_browser.open_report(browser, in_process / "report.html")
    assert errors == []
    headings = page.locator("h2").all_inner_texts()
    assert headings[:3] == ["Performance profiles", "iris-mlp", "wine-logistic"]
    for figure in ("profiles", "problem-0", "problem-1"):
        test_browser.assert_drawn(page, f"#{figure}")
    page.close()


def test_gd_and_nag_follow_the_theory_on_the_convex_problems() -> None:
    """At step 1/L: GD's f − f* ≤ L‖x₀ − x*‖²/(2k) and NAG's ≤ 2L‖x₀ − x*‖²/(k + 1)² on both convex kinds, and on
    the quadratic GD's exact linear rate (1 − 1/κ)^{2k} (f(x₀) − f*)."""
    problems = {p.name: p for p in suite("small")}
    for name in ("quadratic-k1e3", "wine-logistic"):
        objective, _ = convex_objective(problems[name])
        x0 = objective.start(3)
        distance = np.linalg.norm(x0 - objective.nearest_solution(x0))
        f_star = problems[name].f_star
        k = np.arange(1, 201)
        gd = descend(objective, "gd", 1 / objective.L, x0, 200)[0] - f_star
        nag = descend(objective, "nag", 1 / objective.L, x0, 200)[0] - f_star
        assert np.all(gd[1:] <= objective.L * distance**2 / (2 * k) * (1 + 1e-9))
        assert np.all(nag[1:] <= 2 * objective.L * distance**2 / (k + 1) ** 2 * (1 + 1e-9))
        if isinstance(objective, Quadratic):
            assert np.all(gd[1:] <= (1 - 1 / 1e3) ** (2 * k) * gd[0] * (1 + 1e-9))
            # the bound is attained by the slowest component: within a factor 1e3 after 200 steps, not loose
            assert gd[-1] >= (1 - 1 / 1e3) ** 400 * gd[0] / 1e3
        else:
            assert isinstance(objective, Logistic)


def test_descend_counts_what_the_method_asks(tmp_path: Path) -> None:
    objective = Quadratic(5, 10.0, 0)
    values, grads, funcs, seconds, _ = descend(objective, "gd-armijo", 1.0, objective.start(0), 20)
    assert grads[-1] == 20 and funcs[-1] >= 20  # one gradient per step, at least one trial value per step
    assert np.all(np.diff(seconds) >= 0) and np.all(np.diff(values) <= 1e-12)
    values, grads, funcs, _, _ = descend(objective, "nag", 0.1, objective.start(0), 20)
    assert grads[-1] == 20 and funcs[-1] == 0


def test_a_run_that_never_reaches_the_target_is_censored_at_its_last_iteration() -> None:
    """Kaplan–Meier: runs reaching at 10 and 30 and one that diverged at iteration 5 without reaching it. Censored
    at 5, it leaves the risk set before 10, so half the runs at risk have reached the target by 10: median 10 (as
    'later than any iteration' it would be 30)."""
    def run(k: int | None, last: int) -> Run:
        loss = np.full(41, np.nan)
        loss[: last + 1] = 1.0
        return Run({"target_grad_evals": k}, loss, loss, np.arange(41.0))

    runs = [run(10, 40), run(30, 40), run(None, 5)]
    assert median_cost(runs) == 10.0
    assert median_cost([run(10, 40), run(30, 40), run(None, 40)]) == 30.0
    assert median_cost([run(None, 40), run(None, 40), run(10, 40)]) == math.inf


def test_python_api(tmp_path: Path) -> None:
    problems = descentlab.suite("small")
    assert [p.name for p in problems][:2] == ["iris-mlp", "wine-mlp"]
    assert {p.name: p.f_star for p in problems if p.f_star is not None}.keys() == {
        "wine-logistic", "breast_cancer-logistic", "quadratic-k1e3"}
    result = descentlab.benchmark(problems=["quadratic-k1e3"], optimizers=["gd", "nag"], seeds=2, iterations=400)
    (quadratic,) = result.problems
    assert quadratic.target == 1e-6 and set(quadratic.choice) == {"gd", "nag"}
    # GD needs about kappa/2 * ln(gap/eps) ~ 1e4 steps; NAG reaches the target in 400 at its chosen step or not:
    assert result.costs["gd"] == [math.inf]
    assert result.areas["nag"] in (0.0, 1.0) and result.areas["gd"] == 0.0


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("descentlab")), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_toml_suite_with_a_user_csv_through_the_command(tmp_path: Path) -> None:
    rows = "".join(f"{i % 7 + (i % 2) * 3.5},{(i * 37) % 11},{'yes' if i % 2 else 'no'}\n" for i in range(60))
    (tmp_path / "mine.csv").write_text("a,b,label\n" + rows)
    (tmp_path / "suite.toml").write_text(
        '[[problem]]\nname = "mine"\ndata = "mine.csv"\ntarget = "label"\nhidden = [4]\niterations = 15\n'
        '[[problem]]\nname = "bowl"\nkind = "quadratic"\ndimension = 4\ncondition = 10.0\nlrs = [0.05, 0.1]\n'
        'iterations = 60\nepsilon = 1e-3\n')
    done = _run("benchmark", "--suite", "suite.toml", "--optimizers", "gd,nag", "--lr", "0.5", "--seeds", "2",
                "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(summary["problems"]) == ["mine", "bowl"]
    assert summary["problems"]["bowl"]["f_star"] == pytest.approx(Quadratic(4, 10.0, 0).f_star, rel=1e-15)
    assert summary["problems"]["mine"]["methods"]["gd"]["setting"] == "gd:lr=0.5"


@pytest.mark.parametrize(("args", "message"), [
    (["--suite", "bad.toml"], "bad.toml: problem 'p': unknown key 'hiden'"),
    (["--problems", "iris-mlp,nope"], "--problems: no problem 'nope' in the suite"),
    (["--suite", "missing.toml"], "missing.toml: cannot read the suite"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "bad.toml").write_text('[[problem]]\nname = "p"\nhiden = [3]\n')
    done = _run("benchmark", *args, "--out", "out", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_on_a_cluster_f_star_is_computed_where_ctrl_c_is_heard(tmp_path: Path, monkeypatch) -> None:
    """With --workers every problem waits on the cluster in a thread of its own, which hears Ctrl-C only while it
    waits; a TOML logistic problem's f* (Newton's method, minutes on a large one) is computed first, in the main
    thread, where a press interrupts it (in a thread, a press waited for the solver; a hostile pass)."""
    import threading

    import descentlab.benchmarking.run as run

    where: list[bool] = []
    newton = run.newton_f_star
    monkeypatch.setattr(run, "newton_f_star", lambda problem: (
        where.append(threading.current_thread() is threading.main_thread()), newton(problem))[1])
    (tmp_path / "suite.toml").write_text('[[problem]]\nname = "w"\nkind = "logistic"\ndata = "wine"\n'
                                         'weight_decay = 0.01\niterations = 20\n')
    out = tmp_path / "out"
    assert main(["benchmark", "--suite", str(tmp_path / "suite.toml"), "--optimizers", "gd", "--lr", "0.1",
                 "--seeds", "1", "--workers", "2", "--quiet", "--out", str(out)]) == 0
    assert where == [True]
    assert json.loads((out / "summary.json").read_text())["problems"]["w"]["f_star"] > 0


def test_resume_of_a_folder_that_holds_no_benchmark_says_so_in_one_line(tmp_path: Path) -> None:
    for folder in ("missing", "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        done = _run("benchmark", "--resume", folder, cwd=tmp_path)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr == {"missing": "error: --resume missing: does not exist\n",
                               "empty": "error: empty: no benchmark.json; this is not the folder of a descentlab "
                                        "benchmark\n"}[folder]
    assert list((tmp_path / "empty").iterdir()) == [] and not (tmp_path / "missing").exists()


def test_a_folder_with_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    done = _run("benchmark", "--problems", "quadratic-k1e3", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1 and "--resume out" in done.stderr
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def _ctrl_c(args: list[str], after: str, wait: float) -> tuple[int, str]:
    """Run ``descentlab benchmark ARGS`` in its own process group, press Ctrl-C as a terminal does (to the whole
    group) ``wait`` seconds after it prints a line starting with ``after``; its exit code and stderr."""
    import os
    import signal
    import time

    run = subprocess.Popen([sys.executable, "-m", "descentlab", "benchmark", *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert run.stdout is not None
    for line in run.stdout:
        if line.startswith(after):
            break
    time.sleep(wait)
    os.killpg(run.pid, signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    return run.returncode, stderr


def _interrupted(out: Path) -> str:
    return f"interrupted: the finished cells are kept in {out}/\nFinish it with: descentlab benchmark --resume {out}\n"


def test_ctrl_c_on_a_benchmark_says_how_to_finish_it_and_the_resume_does(tmp_path):
    out = tmp_path / "b"
    # "Benchmark:" is printed once the folder holds the benchmark's manifest
    code, stderr = _ctrl_c(["--problems", "iris-mlp", "--optimizers", "gd,nag", "--iterations", "2000", "--seeds",
                            "3", "--out", str(out)], "Benchmark:", 0.5)
    assert code == 130, stderr
    assert stderr == _interrupted(out)
    assert main(["benchmark", "--resume", str(out), "--quiet"]) == 0
    assert (out / "summary.json").is_file()


def test_ctrl_c_while_a_convex_problem_runs_on_workers_is_the_same_two_lines(tmp_path):
    """A terminal's Ctrl-C while a convex problem's cells run on a two-worker cluster: the two lines and exit 130,
    no Dask traceback (waiting inside Dask's gather left 'Task exception was never retrieved' tracebacks). The tiny
    MLP problem runs first so that the press lands in the quadratic's cells, seconds long each."""
    (tmp_path / "suite.toml").write_text(
        '[[problem]]\nname = "tiny"\ndata = "iris"\nhidden = [2]\niterations = 3\n'
        '[[problem]]\nname = "bowl"\nkind = "quadratic"\ndimension = 4\ncondition = 10.0\nlrs = [0.05]\n'
        'iterations = 100000\n')
    out = tmp_path / "b"
    code, stderr = _ctrl_c(["--suite", str(tmp_path / "suite.toml"), "--optimizers", "gd,nag", "--lr", "0.1",
                            "--seeds", "2", "--workers", "2", "--out", str(out)], "  tiny: done", 1.0)
    assert code == 130, stderr
    assert stderr == _interrupted(out)


def test_ctrl_c_while_the_reports_are_written_says_how_to_finish_it(tmp_path, monkeypatch, capsys):
    """A press after the last cell, while summary.json and the reports are written, is the same two lines as one
    during training (it printed a bare 'interrupted'), and --resume writes them."""
    import descentlab.reporting.benchmark_report as benchmark_report

    def pressed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "b"
    options = ["--problems", "quadratic-k1e3", "--optimizers", "gd", "--iterations", "20", "--seeds", "1", "--quiet"]
    with monkeypatch.context() as patch:
        patch.setattr(benchmark_report, "write_benchmark", pressed)
        assert main(["benchmark", *options, "--out", str(out)]) == 130
    assert capsys.readouterr().err == (f"interrupted: the finished cells are kept in {out}/\n"
                                       f"Finish it with: descentlab benchmark --resume {out}\n")
    assert main(["benchmark", "--resume", str(out), "--quiet"]) == 0
    assert (out / "report.html").is_file()
