"""report.html: a run's report.md with interactive figures, in one file that works offline.

The page holds everything it needs: the report's text rendered from report.md (so its tables and numbers are
those of report.md, character for character), the figures as plotly.js JSON, the curves as one
zlib-compressed float32 block, plotly.js itself (read from the installed ``plotly`` package, whose Python
layer is never imported: it would cost more start-up time than the whole training) and the small script
``html/report.js`` that unpacks the data and wires the controls.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import json
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..formats.atomic import atomic_write_bytes

F32_MAX = float(np.finfo(np.float32).max)
_ASSETS = Path(__file__).with_name("html")
# report.md shows the static figure as an image paragraph; the interactive figure takes its place.
_IMAGE = re.compile(r'<p><img src="[^"]*\.png"[^>]*></p>')


class FloatBlock:
    """Arrays gathered into one float32 buffer; a figure refers to each by ``{"$f32": [offset, length]}``.

    float32 keeps 7 significant digits, more than a figure or a hover label shows, at half the size of
    float64. Values beyond float32's range (a diverging loss) become NaN, which plotly draws as a gap.
    """

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []
        self._size = 0

    def add(self, values: Any) -> dict[str, list[int]]:
        array = np.asarray(values, dtype=np.float64).ravel()
        array = np.where(np.abs(array) <= F32_MAX, array, np.nan).astype("<f4")
        self._parts.append(array)
        ref = {"$f32": [self._size, int(array.size)]}
        self._size += int(array.size)
        return ref

    def encode(self) -> str:
        """Base64 text of the zlib-compressed little-endian float32 buffer, stored byte-plane by byte-plane
        (what report.js inflates): neighbouring values share exponent bytes, so the planes compress about a
        third better than the plain buffer."""
        values = np.concatenate(self._parts) if self._parts else np.empty(0, "<f4")
        planes = values.view(np.uint8).reshape(-1, 4).T.tobytes()
        return base64.b64encode(zlib.compress(planes, 6)).decode("ascii")


def plotly_bundle() -> bytes:
    """The source of plotly.min.js (UTF-8) as shipped inside the installed ``plotly`` package.

    ``find_spec`` locates the package without importing it (importing plotly takes longer than a whole default
    ``compare``).
    """
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("report.html needs the plotly package (pip install plotly)")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path.read_bytes()  # bytes: decoding and re-encoding 4.8 MB would double the time to write the page


def markdown_to_html(markdown: str) -> str:
    """report.md as HTML: CommonMark with tables; raw HTML in the text is escaped, never passed through."""
    from markdown_it import MarkdownIt  # rich's own dependency: no new package, imported only here

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)


def _json_for_script(value: Any) -> str:
    # "</" inside a <script> element would end it early; "<\/" is the same string to JSON.
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def figure_section(figure_id: str, notes: list[str]) -> str:
    """The HTML that holds one interactive figure: its controls, the plot and the notes under it."""
    items = "".join(f"<li>{note}</li>" for note in notes)
    note_html = f'<ul class="notes" id="{figure_id}-notes">{items}</ul>' if notes else ""
    return (f'<section class="figure"><div class="controls" id="{figure_id}-controls"></div>'
            f'<div class="plot" id="{figure_id}"></div>{note_html}</section>')


def write_page(path: str | Path, title: str, markdown: str, figures: list[dict[str, Any]], sections: list[str],
               block: FloatBlock) -> Path:
    """Write the complete report.html atomically to ``path``: ``markdown`` rendered, its image paragraphs replaced
    in order by ``sections`` (HTML from :func:`figure_section`; any left over, or all of them when it shows no
    image, go right after its first heading), the ``figures`` (whose data are in ``block``) and plotly.js."""
    body = markdown_to_html(markdown)
    remaining = list(sections)

    def place(match: re.Match[str]) -> str:
        return remaining.pop(0) if remaining else match.group(0)

    body = _IMAGE.sub(place, body)
    if remaining:
        head, sep, rest = body.partition("</h1>")
        body = head + sep + "".join(remaining) + rest if sep else "".join(remaining) + body
    style = (_ASSETS / "report.css").read_text(encoding="utf-8")
    script = (_ASSETS / "report.js").read_text(encoding="utf-8")
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{style}</style>\n</head>\n<body>\n<main>\n{body}</main>\n"
        f'<script type="application/json" id="figures">{_json_for_script({"figures": figures})}</script>\n'
        f'<script type="text/plain" id="floats">{block.encode()}</script>\n<script>\n'
    )
    tail = f"\n</script>\n<script>\n{script}</script>\n</body>\n</html>\n"
    atomic_write_bytes(path, b"".join((head.encode("utf-8"), plotly_bundle(), tail.encode("utf-8"))))
    return Path(path)
