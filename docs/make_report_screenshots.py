"""Make docs/report-compare.png, docs/report-sweep.png and docs/report-tuned.png: report.html of the default
compare, of the default sweep and of issue 12's tuned comparison, as headless Chromium draws them.

    python docs/make_report_screenshots.py   # needs Debian's chromium and pip install -e '.[test]' (playwright)

The compare report is shown as it opens; the sweep report with "show single runs" ticked, at learning rate
0.01; of the tuned report, its figures (the tuning curve and the final phase). The tuned run trains 320 models
(about a minute). All runs are seeded, so the pictures change only when the report or the plotting library changes (and
with the fonts of the machine).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from descentlab.cli.main import main as descentlab

DOCS = Path(__file__).resolve().parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def shoot(browser, report: Path, target: Path, setup=None, only: tuple[str, ...] = ()) -> None:
    """Screenshot the whole page, or the band from the first to the last element of ``only``."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000}, device_scale_factor=1)
    page.goto(report.resolve().as_uri())
    page.wait_for_selector("html[data-rendered=true]", timeout=60_000)
    if setup is not None:
        setup(page)
    page.wait_for_timeout(300)  # let plotly finish its transitions
    if not only:
        page.screenshot(path=str(target), full_page=True)
    else:
        boxes = [page.locator(selector).bounding_box() for selector in only]
        top, bottom = min(b["y"] for b in boxes), max(b["y"] + b["height"] for b in boxes)
        page.screenshot(path=str(target), full_page=True,
                        clip={"x": 0, "y": top, "width": 1300, "height": bottom - top})
    page.close()
    print(f"wrote {target}")


def main() -> int:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        print("needs Debian's chromium: apt-get install chromium", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp())
    assert descentlab(["compare", "--out", str(work / "compare"), "--quiet"]) == 0
    assert descentlab(["sweep", "--out", str(work / "sweep"), "--quiet"]) == 0
    assert descentlab(["sweep", "--optimizers", "gd,nag,momentum,adam", "--lr", "0.005,0.01,0.02,0.05,0.1,0.2,0.5",
                       "--seeds", "10", "--tune", "--out", str(work / "tuned"), "--quiet"]) == 0

    def sweep_view(page) -> None:
        page.select_option("#sweep-setting", "0.01")
        page.check("#sweep-runs")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        shoot(browser, work / "compare" / "report.html", DOCS / "report-compare.png")
        shoot(browser, work / "sweep" / "report.html", DOCS / "report-sweep.png", sweep_view)
        shoot(browser, work / "tuned" / "report.html", DOCS / "report-tuned.png",
              only=("section:has(#tuning)", "section:has(#phases)"))
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
