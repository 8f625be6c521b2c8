"""report.html without a browser: self-contained, small, the numbers of report.md, the curves of history.csv.

(tests/test_browser.py opens the same files in Chromium.)
"""

from __future__ import annotations

import base64
import csv
import html.parser
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from descentlab.cli.main import main
from descentlab.reporting.interactive import coinciding
from descentlab.reporting.report_html import FloatBlock, _json_for_script, markdown_to_html

FIVE_MB = 5_000_000


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    assert main(["compare", "--optimizers", "gd,nag,nag-restart", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    assert main(["sweep", "--optimizers", "gd,nag,nag-restart", "--lr", "0.01,0.05", "--seeds", "3",
                 "--iterations", "60", "--quiet", "--out", str(out)]) == 0
    return out


def _script(page: str, element_id: str) -> str:
    return re.search(rf'<script[^>]*id="{element_id}">(.*?)</script>', page, re.S).group(1)


def decode_page(page: str) -> tuple[dict, np.ndarray]:
    """The figure spec and the float block of a report.html, decoded here independently of report.js."""
    planes = zlib.decompress(base64.b64decode(_script(page, "floats")))
    floats = np.frombuffer(planes, np.uint8).reshape(4, -1).T.copy().view("<f4").ravel()
    return json.loads(_script(page, "figures")), floats


def resolve(value, floats):
    if isinstance(value, dict) and "$f32" in value:
        offset, length = value["$f32"]
        return floats[offset:offset + length]
    return value


class _Cells(html.parser.HTMLParser):
    """Text of every table cell, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._open = False

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self._open = True
            self.cells.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._open = False

    def handle_data(self, data):
        if self._open:
            self.cells[-1] += data


def markdown_cells(markdown: str) -> list[str]:
    rows = [line for line in markdown.splitlines() if line.startswith("|") and not re.match(r"^\|[-:| ]+\|$", line)]
    return [cell.strip().replace("**", "").replace("`", "") for row in rows for cell in row.strip("|").split("|")]


@pytest.mark.parametrize("run", ["compare_run", "sweep_run"])
def test_the_page_is_self_contained(run, request):
    page = (request.getfixturevalue(run) / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    # nothing is fetched: no external script, style sheet, image or frame, and plotly.js is inside
    assert not re.search(r"<(script|link|img|iframe)[^>]*\b(src|href)=", page)
    assert "plotly.js v" in page[:200_000] and "Plotly" in page


@pytest.mark.parametrize("run", ["compare_run", "sweep_run"])
def test_the_tables_are_those_of_report_md(run, request):
    folder = request.getfixturevalue(run)
    parser = _Cells()
    parser.feed((folder / "report.html").read_text())
    expected = markdown_cells((folder / "report.md").read_text())
    assert len(expected) >= 20
    assert parser.cells == expected


def test_the_curves_are_those_of_history_csv(compare_run):
    figure, floats = decode_page((compare_run / "report.html").read_text())
    (curves,) = figure["figures"]
    with open(compare_run / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    for trace in curves["data"]:
        method = trace["legendgroup"]
        field = ("train_loss" if trace.get("yaxis", "y") == "y" else
                 "test_accuracy" if "test" in trace["name"] else "train_accuracy")
        expected = np.array([float(r[field]) for r in rows if r["method"] == method])
        scale = 1.0 if field == "train_loss" else 100.0
        np.testing.assert_allclose(resolve(trace["y"], floats), scale * expected, rtol=1e-7)
        np.testing.assert_array_equal(resolve(trace["customdata"], floats), np.arange(len(expected)))
    assert sorted({t["legendgroup"] for t in curves["data"]}) == ["gd", "nag", "nag-restart"]


def notes_of(page: str) -> list[str]:
    found = re.search(r'<ul class="notes"[^>]*>(.*?)</ul>', page, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def test_identical_methods_get_a_note_and_distinct_ones_none(compare_run, sweep_run, tmp_path):
    notes = notes_of((compare_run / "report.html").read_text())
    pair = "<b>nag-restart (NAG with gradient restart)</b> and <b>nag (accelerated gradient, Nesterov 1983)</b>"
    assert notes == [f"{pair} have identical curves: one is "
                     "drawn over the other. Click either in the legend to hide it and see the other."]
    # in the sweep, restarts fire from seed 1's initial point: the curves differ, and no note may say otherwise
    assert notes_of((sweep_run / "report.html").read_text()) == []
    assert main(["sweep", "--optimizers", "gd,nag,nag-restart", "--lr", "0.01,0.05", "--seeds", "1", "--iterations",
                 "60", "--quiet", "--out", str(tmp_path / "one")]) == 0
    notes = [re.match(r"(.*) have identical curves at (.*?):", note).groups()
             for note in notes_of((tmp_path / "one" / "report.html").read_text())]
    assert notes == [(pair, "lr 0.01"), (pair, "lr 0.05")]
    assert main(["compare", "--optimizers", "gd,nag,momentum", "--iterations", "20", "--out", str(tmp_path),
                 "--quiet"]) == 0
    assert notes_of((tmp_path / "report.html").read_text()) == []


def test_sweep_medians_end_at_the_medians_of_sweep_csv(sweep_run):
    figure, floats = decode_page((sweep_run / "report.html").read_text())
    (spec,) = figure["figures"]
    with open(sweep_run / "sweep.csv") as handle:
        rows = list(csv.DictReader(handle))
    medians = [t for t in spec["data"] if t.get("meta", {}).get("kind") == "median"]
    assert len(medians) == 3 * 2 * 2  # methods × learning rates × panels
    for trace in medians:
        method, lr = trace["legendgroup"].split("|")[1], float(trace["meta"]["setting"])
        column = "final_train_loss" if trace["yaxis"] == "y" else "final_test_accuracy"
        scale = 1.0 if column == "final_train_loss" else 100.0
        final = [float(r[column]) for r in rows if r["optimizer"] == method and float(r["lr"]) == lr]
        assert len(final) == 3
        assert resolve(trace["y"], floats)[-1] == pytest.approx(scale * np.median(final), rel=1e-6)
    runs = [t for t in spec["data"] if t.get("meta", {}).get("kind") == "runs"]
    assert len(runs) == 12 and all(t["runs"]["labels"] == ["seed 0", "seed 1", "seed 2"] for t in runs)
    assert all(len(resolve(t["runs"]["y"], floats)) == 3 * 61 for t in runs)
    assert spec["controls"]["settings"][""] == [["0.01", "lr 0.01"], ["0.05", "lr 0.05"], ["*", "all settings"]]


def test_default_runs_stay_under_five_megabytes(tmp_path):
    assert main(["compare", "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert main(["sweep", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    for folder in ("c", "s"):
        assert (tmp_path / folder / "report.html").stat().st_size <= FIVE_MB


def test_coinciding_tells_identical_close_and_different_curves():
    base = np.linspace(1.0, 0.1, 50)
    curves = {
        "a": {"loss": base},
        "same": {"loss": base.copy()},
        "close": {"loss": base * (1 + 5e-13)},
        "far": {"loss": base * (1 + 1e-9)},
        "gap": {"loss": np.where(np.arange(50) == 7, np.nan, base)},
    }
    pairs = {(a, b): gap for a, b, gap in coinciding(curves)}
    assert set(pairs) == {("a", "same"), ("a", "close"), ("same", "close")}
    assert pairs[("a", "same")] == 0.0 and 0 < pairs[("a", "close")] < 1e-12
    # a curve the other lacks does not make two methods differ; a shape mismatch does
    assert coinciding({"x": {"loss": base, "acc": base}, "y": {"loss": base}}) == [("x", "y", 0.0)]
    assert coinciding({"x": {"loss": base}, "y": {"loss": base[:-1]}}) == []


def test_float_block_keeps_float32_values_and_marks_the_unrepresentable_as_nan():
    block = FloatBlock()
    first = block.add([1.0, 1e-30, 2.5e38])
    second = block.add(np.array([[1e300, -np.inf], [np.nan, 3.0]]))
    assert first == {"$f32": [0, 3]} and second == {"$f32": [3, 4]}
    page = f'<script id="figures">{{}}</script><script id="floats">{block.encode()}</script>'
    _, floats = decode_page(page)
    np.testing.assert_array_equal(floats, np.array([1.0, 1e-30, 2.5e38, np.nan, np.nan, np.nan, 3.0], "<f4"))


def test_text_cannot_escape_into_markup():
    assert "<script>" not in markdown_to_html("a <script>alert(1)</script> b")
    assert "</script>" not in _json_for_script({"name": "</script><b>"})
    assert json.loads(_json_for_script({"name": "</script>"})) == {"name": "</script>"}


def test_quartiles_equal_nanpercentile_with_gaps_and_empty_rows():
    from descentlab.reporting.interactive import _quartiles

    values = np.random.default_rng(0).normal(size=(6, 7))
    values[1, 3] = np.nan
    values[2] = np.nan
    values[4, :5] = np.nan
    expected = np.full((3, 6), np.nan)
    rows = [0, 1, 3, 4, 5]
    expected[:, rows] = np.nanpercentile(values[rows], [25, 50, 75], axis=1)
    np.testing.assert_allclose(_quartiles(values), expected, rtol=1e-15)
    assert np.isnan(_quartiles(values)[:, 2]).all()


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tuned")
    assert main(["sweep", "--tune", "--optimizers", "gd,nag", "--lr", "0.01,0.05", "--seeds", "3", "--iterations",
                 "30", "--quiet", "--out", str(out)]) == 0
    return out


def test_tuned_report_shows_both_phases_with_the_numbers_of_sweep_csv(tuned_run):
    page = (tuned_run / "report.html").read_text()
    parser = _Cells()
    parser.feed(page)
    assert parser.cells == markdown_cells((tuned_run / "report.md").read_text())
    figure, floats = decode_page(page)
    tuning, phases = figure["figures"]
    summary = json.loads((tuned_run / "summary.json").read_text())
    with open(tuned_run / "sweep.csv") as handle:
        rows = list(csv.DictReader(handle))
    chosen = {t["legendgroup"]: t for t in tuning["data"] if t["mode"] == "markers"}
    for method, m in summary["methods"].items():
        assert chosen[method]["x"] == [m["lr"]]
        assert resolve(chosen[method]["y"], floats)[0] == pytest.approx(m["median_validation_loss"], rel=1e-6)
    assert [p[0] for p in phases["controls"]["phases"]] == ["final", "tune"]
    assert phases["controls"]["settings"]["tune"] == [["0.01", "lr 0.01"], ["0.05", "lr 0.05"], ["*", "all settings"]]
    medians = [t for t in phases["data"] if t["meta"]["kind"] == "median" and t["yaxis"] == "y"]
    assert len(medians) == 2 * 2 + 2  # tune: methods × learning rates; final: one per method
    for trace in medians:
        phase, method = trace["meta"]["phase"], trace["legendgroup"].split("|")[1]
        lr = float(trace["meta"]["setting"]) if phase == "tune" else summary["methods"][method]["lr"]
        final = [float(r["train_loss"]) for r in rows
                 if (r["phase"], r["method"], float(r["lr"])) == (phase, method, lr)]
        assert len(final) == 3
        assert resolve(trace["y"], floats)[-1] == pytest.approx(np.median(final), rel=1e-6)
    runs = {t["meta"]["phase"]: t["runs"]["labels"] for t in phases["data"] if t["meta"]["kind"] == "runs"}
    assert runs == {"tune": ["repetition 0", "repetition 1", "repetition 2"],
                    "final": ["repetition 3", "repetition 4", "repetition 5"]}


def test_the_report_libraries_load_only_when_a_report_is_written():
    code = ("import sys, contextlib, io\nfrom descentlab.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['compare', '--help'])\n"
            "names = ('plotly', 'markdown_it', 'descentlab.reporting.report_html')\n"
            "print(sorted(m for m in names if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
