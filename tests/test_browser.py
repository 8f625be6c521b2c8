"""report.html in a real browser: Debian's headless Chromium driven by Playwright (never Playwright's own
browser download). Locally the tests skip, saying why, when Chromium or Playwright is missing; in CI
(CI=true) they fail instead, since .ci/run installs Chromium."""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from descentlab.cli.main import main

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs Debian's chromium)")
    pytest.skip(f"{reason} (apt-get install chromium; pip install -e '.[test]')")


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        _unavailable("no chromium on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def open_report(browser, path: Path):
    """The page of ``path`` once its figures are drawn, and the list its console errors go to."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: errors.append(f"fetched {request.url}")
            if not request.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("html[data-rendered=true]", timeout=60_000)
    return page, errors


def assert_drawn(page, selector: str) -> None:
    """A screenshot of the element is a picture, not a blank area: many colours, real contrast."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB"))
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 200, f"only {len(colours)} colours in {selector}"
    assert image.std() > 8  # a blank area has 0; a drawn figure, mostly white, about 15–40


def trace_state(page, figure: str) -> list[dict]:
    return page.evaluate(f"""() => document.getElementById("{figure}").data.map(
        t => ({{group: t.legendgroup, visible: t.visible === undefined ? true : t.visible,
               kind: t.meta ? t.meta.kind : null, setting: t.meta ? t.meta.setting : null}}))""")


def drawn_traces(page, figure: str) -> int:
    return page.locator(f"#{figure} .scatterlayer .trace").count()


@pytest.fixture(scope="module")
def compare_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    assert main(["compare", "--optimizers", "gd,nag,nag-restart", "--iterations", "120", "--out", str(out),
                 "--quiet"]) == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    assert main(["sweep", "--lr", "0.01,0.05", "--seeds", "3", "--iterations", "80", "--out", str(out),
                 "--quiet"]) == 0
    return out / "report.html"


@pytest.fixture(scope="module")
def compare_page(browser, compare_report):
    """One page for the compare tests (loading 5 MB of plotly.js is most of their time)."""
    page, errors = open_report(browser, compare_report)
    yield page, errors
    page.close()


def test_compare_report_draws_hovers_and_switches_the_loss_axis(compare_page, compare_report):
    page, errors = compare_page
    assert_drawn(page, "#curves")
    assert drawn_traces(page, "curves") == 9  # 3 methods × (loss, test accuracy, training accuracy)
    assert page.get_by_text("have identical curves").is_visible()
    page.evaluate("""() => Plotly.Fx.hover("curves", [{curveNumber: 3, pointNumber: 40}])""")
    hover = page.evaluate("""() => document.querySelector("#curves .hoverlayer").textContent""")
    with open(compare_report.with_name("history.csv")) as handle:
        (row,) = [r for r in csv.DictReader(handle) if r["method"] == "nag" and r["iteration"] == "40"]
    label = "nag (accelerated gradient, Nesterov 1983)"
    assert hover == f"{label}iteration 40training loss {float(row['train_loss']):.6g}"
    assert page.evaluate("""() => document.getElementById("curves").layout.yaxis.type""") == "log"
    box = page.locator("#curves .nsewdrag[data-subplot='xy']").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 0.3 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.6 * box["width"], y + 5, steps=5)
    page.mouse.up()
    page.wait_for_function("""() => document.getElementById("curves").layout.xaxis.range[0] > 10""")
    low, high = page.evaluate("""() => document.getElementById("curves").layout.xaxis.range""")
    assert 0.3 * 120 - 5 < low < high < 0.6 * 120 + 5  # zoomed to the dragged 30–60 % of 120 iterations
    page.get_by_text("linear loss axis").click()
    page.wait_for_function("""() => document.getElementById("curves").layout.yaxis.type === "linear" """)
    assert page.locator("#curves .legend2 .traces").filter(has_text="test accuracy").count() == 3
    assert page.locator("#curves .legend2 .traces").filter(has_text="training accuracy").count() == 3
    assert errors == []


def test_compare_report_legend_click_hides_a_method(compare_page):
    page, errors = compare_page
    page.locator("#curves .legend .traces", has_text="nag (accelerated gradient, Nesterov 1983)").first.click()
    page.wait_for_function("""() => document.getElementById("curves").data
                                    .some(t => t.visible === "legendonly")""")
    state = trace_state(page, "curves")
    assert [s["visible"] for s in state if s["group"] == "nag"] == ["legendonly"] * 3
    assert all(s["visible"] is True for s in state if s["group"] != "nag")
    assert drawn_traces(page, "curves") == 6
    page.locator("#curves .legend .traces", has_text="nag (accelerated gradient, Nesterov 1983)").first.click()
    page.wait_for_function("""() => document.getElementById("curves").data.every(t => t.visible !== "legendonly")""")
    assert drawn_traces(page, "curves") == 9
    assert errors == []


def test_sweep_report_settings_and_single_runs(browser, sweep_report):
    page, errors = open_report(browser, sweep_report)
    assert_drawn(page, "#sweep")

    def shown(kind: str) -> set[str]:
        return {s["setting"] for s in trace_state(page, "sweep") if s["kind"] == kind and s["visible"] is True}

    assert shown("median") == {"0.01"} and shown("runs") == set()
    page.select_option("#sweep-setting", "0.05")
    assert shown("median") == {"0.05"}
    page.check("#sweep-runs")
    assert shown("runs") == {"0.05"}
    assert drawn_traces(page, "sweep") == 2 * 2 * 4  # methods × panels × (two band edges, median, runs)
    page.select_option("#sweep-setting", "*")
    assert shown("median") == shown("runs") == {"0.01", "0.05"}
    assert errors == []


def test_tuned_report_switches_between_its_phases(browser, tmp_path):
    assert main(["sweep", "--tune", "--optimizers", "gd,nag", "--lr", "0.01,0.05", "--seeds", "2", "--iterations",
                 "20", "--quiet", "--out", str(tmp_path)]) == 0
    page, errors = open_report(browser, tmp_path / "report.html")
    assert_drawn(page, "#tuning")

    def shown() -> set[tuple[str, str]]:
        return {(s["group"].split("|")[0], s["setting"]) for s in trace_state(page, "phases")
                if s["kind"] == "median" and s["visible"] is True}

    assert shown() == {("final", "final")}
    page.select_option("#phases-controls select >> nth=0", "tune")
    assert shown() == {("tune", "0.01")}
    page.select_option("#phases-setting", "*")
    assert shown() == {("tune", "0.01"), ("tune", "0.05")}
    assert errors == []


def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        _unavailable("no chromium on PATH")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="no chromium on PATH"):
        _unavailable("no chromium on PATH")
