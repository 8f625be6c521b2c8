"""MkDocs hooks (mkdocs.yml): what the site shows beyond docs/'s plain Markdown, made at build time.

- ``reference/api.md``: one mkdocstrings entry for every name in ``descentlab.__all__``, grouped by the subpackage
  that defines it, so a new public name is in the reference the moment it is exported (and a name without a
  docstring fails the strict build: tests/test_docs_site.py).
- ``reference/cli.md``: ``descentlab --help`` and every ``descentlab COMMAND --help``, from the real parser.
- math: the ``\\(…\\)`` and ``\\[…\\]`` spans of pymdownx.arithmatex become MathML (latex2mathml), which browsers
  render natively: no script, no CDN, nothing fetched.
"""

from __future__ import annotations

import argparse
import html
import os
import re
from typing import Any

API_MARKER = "<!-- api-reference -->"
CLI_MARKER = "<!-- cli-reference -->"
HELP_WIDTH = "100"  # argparse wraps --help to $COLUMNS; fixed, so the page is the same on every machine

GROUPS = {  # subpackage -> heading, in the order data flows (docs/architecture.md)
    "package": "The package",
    "data": "Data",
    "core": "The network, its parameters and its gradient",
    "optim": "Optimisers",
    "training": "Training",
    "experiments": "Experiments: compare and sweep",
    "reporting": "Reports",
    "formats": "Model files",
    "estimator": "scikit-learn",
}
MATH = re.compile(r'<(span|div) class="arithmatex">\\[(\[](.*?)\\[)\]]</\1>', re.S)


def api_reference() -> str:
    """Markdown with a ``::: descentlab.NAME`` entry per public name, under its subpackage's heading."""
    import griffe

    import descentlab

    package = griffe.load("descentlab", search_paths=["src"])
    grouped: dict[str, list[str]] = {}
    for name in descentlab.__all__:
        target = (package[name].final_target.path if package[name].is_alias else package[name].path).split(".")
        grouped.setdefault(target[1] if len(target) > 2 else "package", []).append(name)
    order = [*GROUPS, *sorted(set(grouped) - set(GROUPS))]
    sections = [f"## {GROUPS.get(group, group)}\n\n" + "\n\n".join(f"::: descentlab.{name}" for name in grouped[group])
                for group in order if group in grouped]
    return "\n\n".join(sections)


def cli_reference() -> str:
    """Markdown with the help text of ``descentlab`` and of each of its commands, as the parser prints it."""
    from descentlab.cli.parser import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        parser = build_parser()
        (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parts = [f"## `descentlab`\n\n```text\n{parser.format_help()}```"]
        parts += [f"## `descentlab {name}`\n\n```text\n{command.format_help()}```"
                  for name, command in commands.choices.items()]
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "\n\n".join(parts)


def mathml(match: re.Match[str]) -> str:
    from latex2mathml.converter import convert

    display = "block" if match[1] == "div" else "inline"
    return convert(html.unescape(match[2]).strip(), display=display)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if API_MARKER in markdown:
        markdown = markdown.replace(API_MARKER, api_reference())
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    return markdown


def on_page_content(content: str, **_: Any) -> str:
    return MATH.sub(mathml, content)
