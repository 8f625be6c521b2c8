"""The documentation site (mkdocs.yml, docs/): it builds in strict mode, documents every public name and every
command, renders its math without a network, its tutorials run as written, and the built site works in a real
browser (Debian's headless Chromium, as tests/test_browser.py drives it), its search included."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_browser import browser  # noqa: F401  (the fixture: Debian's chromium through playwright)
from test_readme import blocks, check_blocks_not_run_parse, check_quoted_gradcheck, run_blocks

import descentlab
from descentlab.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES_WITH_CODE = [DOCS / "index.md", *sorted((DOCS / "tutorials").glob("*.md"))]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as README's command builds it (strict: any warning fails), into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING" not in run.stderr, run.stderr
    return out


def undocumented(names: list[str]) -> list[str]:
    """The names of ``names`` whose object (followed through re-exports) has no docstring, found by the same
    static analysis (griffe) that writes the API page."""
    import griffe

    package = griffe.load("descentlab", search_paths=[str(ROOT / "src")])
    missing = []
    for name in names:
        found = package[name] if name in package.members else None
        target = found.final_target if found is not None and found.is_alias else found
        if target is None or target.docstring is None or not target.docstring.value.strip():
            missing.append(name)
    return missing


def test_every_public_name_has_a_docstring():
    assert undocumented(list(descentlab.__all__)) == []
    assert undocumented(["fit", "_MODULE_OF", "no_such_name"]) == ["_MODULE_OF", "no_such_name"]  # it can fail


def test_every_public_name_has_its_entry_in_the_api_page(site):
    page = (site / "reference" / "api.html").read_text()
    entries = set(re.findall(r'id="descentlab\.(\w+)"', page))
    assert set(descentlab.__all__) <= entries, set(descentlab.__all__) - entries
    assert '<div class="doc doc-contents' in page  # the entries hold their docstrings, not just a heading
    # the docstrings' reStructuredText is Markdown by then (docs/sphinx_markup.py): math drawn, roles as code
    assert ".. math::" not in page and not re.search(r":(func|class|mod|meth):", page)
    assert page.count("<math") >= 10


def test_the_cli_page_is_the_help_of_every_command(site):
    page = (site / "reference" / "cli.html").read_text()
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(commands.choices) >= 7
    for name, command in commands.choices.items():
        assert f"<code>descentlab {name}</code>" in page, name
        for action in command._actions:
            for flag in action.option_strings:
                assert flag in page, f"{name} {flag}"


def test_math_is_mathml_made_at_build_time_and_nothing_is_fetched(site):
    derivation = (site / "derivation.html").read_text()
    assert derivation.count("<math") >= 25 and "arithmatex" not in derivation
    assert re.search(r"<td>N1</td>\s*<td><math", derivation)  # the labelled equations are math, not code
    for page in site.rglob("*.html"):
        remote = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:[^"]+)"', page.read_text())
        assert remote == [], f"{page.name} loads {remote}"


def test_readme_and_the_pages_together_run_more_blocks_than_readme_alone_did():
    runnable = [b for path in (ROOT / "README.md", *PAGES_WITH_CODE) for b in blocks(path)
                if b.lang in ("bash", "python") and not b.marker.startswith("not run")]
    assert len(runnable) >= 30  # README alone had 11 before issue 24 moved most of them into the site's pages


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.name)
def test_every_code_block_of_the_getting_started_page_and_the_tutorials_runs(page, tmp_path):
    assert [b for b in blocks(page) if b.lang in ("bash", "python")], f"{page.name} has no code to run"
    check_blocks_not_run_parse(page)
    run_blocks(page, tmp_path)


def test_the_gradcheck_output_getting_started_quotes_is_what_the_command_prints():
    check_quoted_gradcheck((DOCS / "index.md").read_text())


def open_page(browser, path: Path):  # noqa: F811  (browser is the fixture imported above)
    """The page of ``path`` and the list its console errors and any request leaving the disk go to."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed {request.url}"))
    page.on("request", lambda request: errors.append(f"fetched {request.url}")
            if not request.url.startswith(("file:", "data:", "blob:", "about:")) else None)
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors


def test_the_site_opens_from_disk_without_errors_and_its_search_finds_nesterov(browser, site):  # noqa: F811
    page, errors = open_page(browser, site / "index.html")
    page.locator(".md-search__input").click()
    page.keyboard.type("Nesterov")
    page.wait_for_selector(".md-search-result__item", timeout=30_000)
    titles = page.locator(".md-search-result__article h1").all_inner_texts()
    assert any("derivation" in title.lower() for title in titles), titles
    page.close()
    assert errors == []


def test_the_derivation_math_is_drawn_in_the_browser(browser, site):  # noqa: F811
    page, errors = open_page(browser, site / "derivation.html")
    box = page.locator("math").first.bounding_box()
    assert box is not None and box["width"] > 40 and box["height"] > 8  # MathML laid out, not an empty element
    page.close()
    assert errors == []
