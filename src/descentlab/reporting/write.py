"""Writing a run folder: the numbers (:mod:`descentlab.experiments.summary`), the model files, the reports and
the figures. The edge where results meet reporting; experiments never import this, the caller (the command
line, or a user of the library) hands it what was run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..experiments.results import Comparison, Sweep
from ..experiments.summary import history_csv, method_statuses, model_metadata, run_title, summarize, sweep_csv
from ..formats.atomic import atomic_write_text
from ..formats.model_io import model_file_name, save_model

if TYPE_CHECKING:
    from .report_html import Page


def split_rows(comparison: Comparison) -> dict[str, list[int]]:
    """split.json of a comparison: the data's rows (0-based, the header not counted) in its training and test
    parts, as a tuned sweep's split.json lists its parts."""
    parts = {"train": comparison.train, "test": comparison.test}
    return {name: [] if part.rows is None else part.rows.tolist() for name, part in parts.items()}


def write_run(comparison: Comparison, out: str | Path, draw: Callable[..., Any] | None = None,
              write_html: Callable[[Path, Page], Any] | None = None) -> list[Path]:
    """Write the run folder: curves.png, history.csv, summary.json, report.md, report.html (interactive, see
    :mod:`descentlab.reporting.interactive`), split.json, models/<method>.safetensors.

    Every file is written atomically, the views last (the numbers are safe before the slowest part). ``draw``
    writes curves.png with :func:`~descentlab.reporting.plots.plot_curves`'s arguments and ``write_html``
    report.html from its :class:`~descentlab.reporting.report_html.Page` (defaults: those functions, here; the
    command line passes a :class:`~descentlab.reporting.figure_process.FigureJob`'s, which only record the views
    for a process started afterwards to make). Returns the paths written.
    """
    from .interactive import compare_page
    from .report import render_report

    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, result in comparison.results.items():
        path = out / "models" / model_file_name(name)
        save_model(path, comparison.net, result.params, metadata=model_metadata(comparison, name))
        written.append(path)
    atomic_write_text(out / "history.csv", history_csv(comparison.results, method_statuses(comparison)))
    written.append(out / "history.csv")
    summary = summarize(comparison)
    summary["model_files"] = {name: f"models/{model_file_name(name)}" for name in comparison.results}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    written.append(out / "summary.json")
    atomic_write_text(out / "split.json", json.dumps(split_rows(comparison)) + "\n")
    written.append(out / "split.json")
    report = render_report(comparison, summary)
    atomic_write_text(out / "report.md", report)
    written.append(out / "report.md")
    if write_html is None:
        from .report_html import write_page

        write_html = write_page
    write_html(out / "report.html", compare_page(comparison, report))
    written.append(out / "report.html")
    if draw is None:
        from .plots import plot_curves

        draw = plot_curves
    draw(comparison.results, out / "curves.png", title=run_title(comparison), x_axis=comparison.config.x_axis)
    written.append(out / "curves.png")
    return written


def write_sweep(result: Sweep, out: str | Path) -> list[Path]:
    """Write ``sweep.csv``, ``sweep.png``, ``summary.json``, ``report.md`` and ``report.html`` into ``out``
    (atomically)."""
    from .interactive import write_sweep_html
    from .plots import plot_sweep
    from .report import render_sweep_report, sweep_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.csv", sweep_csv(result))
    plot_sweep(result, out / "sweep.png")
    report = render_sweep_report(result)
    atomic_write_text(out / "summary.json", json.dumps(sweep_json(result), indent=2) + "\n")
    atomic_write_text(out / "report.md", report)
    write_sweep_html(result, report, out / "report.html")
    return [out / "sweep.csv", out / "sweep.png", out / "summary.json", out / "report.md", out / "report.html"]
