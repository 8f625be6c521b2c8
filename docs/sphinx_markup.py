"""A griffe extension (mkdocs.yml, mkdocstrings' ``extensions``): the docstrings' reStructuredText bits that
numpydoc allows, rewritten as the site's Markdown before mkdocstrings renders them.

- ``.. math::`` blocks become ``$$ … $$`` display math (docs/hooks.py makes MathML of it); a block of several
  lines joined by ``\\\\`` becomes one display per line, its ``&`` alignment marks dropped.
- Cross-reference roles (``:func:`~descentlab.fit```, ``:class:`Params```) become code: the last part of the
  dotted name after ``~``, the name as written otherwise.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

MATH = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)(?:\n|\Z)"
                  r"(?P<rest>(?:(?P=indent)[ \t]+\S.*\n?|[ \t]*\n)*)", re.M)
ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc):`(?P<tilde>~?)(?P<name>[^`]+)`")


def _display(match: re.Match[str]) -> str:
    latex = " ".join(line.strip() for line in f"{match['first']}\n{match['rest']}".splitlines() if line.strip())
    lines = [line.replace("&", "").strip() for line in latex.split("\\\\") if line.strip()]
    indent = match["indent"]
    return "".join(f"{indent}$$\n{indent}{line}\n{indent}$$\n\n" for line in lines)


def _code(match: re.Match[str]) -> str:
    name = match["name"]
    return f"`{name.rsplit('.', 1)[-1] if match['tilde'] else name}`"


def markdown_of(docstring: str) -> str:
    """``docstring`` with its math blocks and cross-reference roles in the site's Markdown."""
    return ROLE.sub(_code, MATH.sub(_display, docstring))


class SphinxMarkup(griffe.Extension):
    """Rewrites every docstring griffe loads (see :func:`markdown_of`)."""

    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
