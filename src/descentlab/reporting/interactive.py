"""The interactive figures of report.html, as plotly.js figure specifications (plain dicts, no plotly import).

A figure is ``{"id", "data", "layout", "controls"}``: ``data`` and ``layout`` are what ``Plotly.newPlot``
takes, with every curve a reference into a :class:`~descentlab.reporting.report_html.FloatBlock`; ``controls`` (sweeps
only) lists the phases and settings the page offers. Each trace's ``meta`` says which phase, setting and kind
(median, band, single runs) it belongs to, so that the page can show the chosen ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..optim.registry import label as method_label
from ..training.results import X_AXES, FitResult
from .report_html import FloatBlock

if TYPE_CHECKING:
    from ..experiments.results import Comparison, Sweep, Tuned

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
# Dashes cycle with the colours, so that coinciding curves stay visible on top of each other.
DASHES = ("solid", "dash", "dashdot", "longdash", "dot")
COINCIDE_TOLERANCE = 1e-12
_CURVES = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def _scale_buttons(axis: str, x: float, y: float, log_range: list[float] | None = None) -> dict[str, Any]:
    """Log / linear buttons for a loss axis; ``log_range`` (log10 limits) keeps a diverged run off the axis."""
    log: dict[str, Any] = {f"{axis}.type": "log"}
    linear: dict[str, Any] = {f"{axis}.type": "linear"}
    if log_range:
        log[f"{axis}.range"] = log_range
        linear[f"{axis}.range"] = [0.0, 10 ** log_range[1]]
    else:
        log[f"{axis}.autorange"] = linear[f"{axis}.autorange"] = True
    return {
        "type": "buttons", "direction": "right", "x": x, "y": y, "xanchor": "left", "yanchor": "bottom",
        "showactive": True, "active": 0, "pad": {"r": 4, "t": 0},
        "buttons": [{"label": "log loss axis", "method": "relayout", "args": [log]},
                    {"label": "linear loss axis", "method": "relayout", "args": [linear]}],
    }


def _panel_title(text: str, x: float, y: float) -> dict[str, Any]:
    return {"text": f"<b>{text}</b>", "x": x, "y": y, "xref": "paper", "yref": "paper", "xanchor": "center",
            "yanchor": "bottom", "yshift": 30, "showarrow": False, "font": {"size": 14}}


def _two_panel_layout(x_label: str, loss_title: str, accuracy_title: str, stacked: bool,
                      loss_range: list[float] | None = None) -> dict[str, Any]:
    """Loss panel (axes x, y) and accuracy panel (x2, y2): side by side with one legend underneath, or
    ``stacked`` one above the other, each with its own legend at its right (room for many entries); the loss
    axis spans ``loss_range`` (log10 limits) when given, else its data."""
    if stacked:
        loss_box, accuracy_box = ([0.0, 0.72], [0.58, 1.0]), ([0.0, 0.72], [0.0, 0.42])
    else:
        loss_box, accuracy_box = ([0.0, 0.46], [0.0, 1.0]), ([0.56, 1.0], [0.0, 1.0])
    layout: dict[str, Any] = {
        "height": 900 if stacked else 620, "margin": {"l": 70, "r": 20, "t": 80, "b": 60}, "hovermode": "closest",
        "xaxis": {"domain": loss_box[0], "anchor": "y", "title": {"text": x_label}, "zeroline": False},
        "yaxis": {"domain": loss_box[1], "anchor": "x", "type": "log", **({"range": loss_range} if loss_range else {}),
                  "title": {"text": "training loss (mean cross-entropy)"}},
        "xaxis2": {"domain": accuracy_box[0], "anchor": "y2", "title": {"text": x_label}, "zeroline": False},
        "yaxis2": {"domain": accuracy_box[1], "anchor": "x2", "range": [0, 101], "title": {"text": "accuracy (%)"}},
        "annotations": [_panel_title(loss_title, sum(loss_box[0]) / 2, loss_box[1][1]),
                        _panel_title(accuracy_title, sum(accuracy_box[0]) / 2, accuracy_box[1][1])],
        "updatemenus": [_scale_buttons("yaxis", loss_box[0][0], loss_box[1][1], loss_range)],
    }
    if stacked:
        layout["legend"] = {"x": 0.74, "y": loss_box[1][1], "xanchor": "left", "yanchor": "top",
                            "font": {"size": 12}}
        layout["legend2"] = {"x": 0.74, "y": accuracy_box[1][1], "xanchor": "left", "yanchor": "top",
                             "font": {"size": 11}}
    else:
        layout["legend"] = {"x": 0.0, "y": -0.14, "xanchor": "left", "yanchor": "top", "orientation": "h",
                            "font": {"size": 12}}
    return layout


def _loss_range(results: Mapping[str, FitResult]) -> list[float] | None:
    """log10 limits of the loss axis: the range of the runs that stayed reasonable (as curves.png does)."""
    losses = np.concatenate([r.history.train_loss for r in results.values()])
    losses = losses[np.isfinite(losses) & (losses > 0)]
    starts = [r.history.train_loss[0] for r in results.values() if np.isfinite(r.history.train_loss[0])]
    if not losses.size or not starts:
        return None
    top = min(losses.max(), 100.0 * max(starts)) * 2.0
    return [float(np.log10(0.5 * losses.min())), float(np.log10(top))]


def _stop_marker(result: FitResult, label: str, x: dict[str, Any], k: dict[str, Any], block: FloatBlock,
                 colour: str, group: str) -> dict[str, Any]:
    """A cross on the last recorded loss of a method that stopped early (as curves.png draws it)."""
    import html

    last = len(result.history) - 1
    offset = x["$f32"][0] + last
    return {"type": "scatter", "mode": "markers", "name": label, "legendgroup": group, "showlegend": False,
            "x": {"$f32": [offset, 1]}, "customdata": {"$f32": [k["$f32"][0] + last, 1]},
            "y": block.add(result.history.train_loss[-1:]),
            "marker": {"symbol": "x", "size": 12, "color": colour},
            "hovertemplate": f"%{{fullData.name}} stopped after iteration %{{customdata}}: "
                             f"{html.escape(result.stopped or '')}<br>training loss %{{y:.6g}}<extra></extra>"}


def compare_figure(results: Mapping[str, FitResult], block: FloatBlock, x_axis: str = "iterations",
                   figure_id: str = "curves") -> dict[str, Any]:
    """Training loss (log or linear) and test / training accuracy of one comparison, one colour per method.

    All traces of a method share a legend group, so clicking any of its legend entries hides or shows the
    method in both panels.
    """
    x_label = X_AXES[x_axis]
    data: list[dict[str, Any]] = []
    for index, (name, result) in enumerate(results.items()):
        h = result.history
        k = block.add(h.iterations)
        x = k if x_axis == "iterations" else block.add(result.along(x_axis))
        label = method_label(name)
        line = {"color": PALETTE[index % len(PALETTE)]}
        # a run of one recorded point (no iteration, or stopped at the first) shows as markers, not as nothing
        common = {"type": "scatter", "mode": "lines" if len(h) > 1 else "markers", "x": x, "customdata": k,
                  "legendgroup": name}
        data.append({**common, "name": label, "y": block.add(h.train_loss),
                     "line": {**line, "width": 2, "dash": DASHES[index % len(DASHES)]},
                     "hovertemplate": "%{fullData.name}<br>iteration %{customdata}<br>training loss %{y:.6g}"
                                      "<extra></extra>"})
        for which, dash, width in (("test", "solid", 2), ("training", "dot", 1.3)):
            values = h.test_accuracy if which == "test" else h.train_accuracy
            data.append({**common, "name": f"{label}: {which} accuracy", "y": block.add(100.0 * values),
                         "xaxis": "x2", "yaxis": "y2", "legend": "legend2", "line": {**line, "width": width,
                                                                                       "dash": dash},
                         "hovertemplate": "%{fullData.name}<br>iteration %{customdata}<br>%{y:.2f} %"
                                          "<extra></extra>"})
        if result.stopped:
            data.append(_stop_marker(result, label, x, k, block, line["color"], name))
    layout = _two_panel_layout(x_label, "Training loss", "Accuracy: test (solid) and training (dotted)", True,
                               _loss_range(results))
    return {"id": figure_id, "data": data, "layout": layout}


def _same(a: np.ndarray, b: np.ndarray, tolerance: float) -> tuple[bool, float]:
    """Whether two curves agree to ``tolerance`` (relative to max(1, |a|)), NaNs in the same places."""
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return False, float("inf")
    finite = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(a[~finite], b[~finite], equal_nan=True):
        return False, float("inf")
    gap = float(np.max(np.abs(a[finite] - b[finite]), initial=0.0))
    return bool(np.all(np.abs(a[finite] - b[finite]) <= tolerance * np.maximum(1.0, np.abs(a[finite])))), gap


def coinciding(curves: Mapping[str, Mapping[str, np.ndarray]],
               tolerance: float = COINCIDE_TOLERANCE) -> list[tuple[str, str, float]]:
    """Pairs of methods whose curves are the same: ``(first, second, largest absolute difference)``.

    ``curves`` maps a method to its named curves (any shape); two methods coincide when every curve they both
    have agrees to ``tolerance`` relative to max(1, |value|) and is NaN at the same entries.
    """
    names = list(curves)
    pairs = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            shared = [key for key in curves[first] if key in curves[second]]
            checks = [_same(np.asarray(curves[first][key], float), np.asarray(curves[second][key], float),
                            tolerance) for key in shared]
            if shared and all(ok for ok, _ in checks):
                pairs.append((first, second, max(gap for _, gap in checks)))
    return pairs


def coincidence_notes(curves: Mapping[str, Mapping[str, np.ndarray]], labels: Mapping[str, str] | None = None,
                      where: str = "") -> list[str]:
    """One HTML sentence per pair of coinciding methods (see :func:`coinciding`)."""
    import html

    notes = []
    for first, second, gap in coinciding(curves):
        a, b = (html.escape((labels or {}).get(n, method_label(n))) for n in (first, second))
        how = "identical" if gap == 0.0 else f"the same to {gap:.1e}"
        notes.append(f"<b>{b}</b> and <b>{a}</b> have {how} curves{where}: one is drawn over the other. "
                     "Click either in the legend to hide it and see the other.")
    return notes


def history_curves(results: Mapping[str, FitResult]) -> dict[str, dict[str, np.ndarray]]:
    """The curves :func:`coinciding` compares for a comparison: losses and accuracies of every method."""
    return {name: {key: getattr(r.history, key) for key in _CURVES} for name, r in results.items()}


@dataclass(frozen=True)
class Panel:
    """What the right-hand panel of a sweep figure shows (the left one is always the training loss)."""

    title: str
    axis_title: str
    what: str  # in hover labels
    scale: float  # applied to the values (100 for accuracies in %)
    hover_format: str
    log: bool


TEST_ACCURACY = Panel("Test accuracy: median and interquartile band", "test accuracy (%)", "test accuracy", 100.0,
                      "%{y:.2f} %", False)
VALIDATION_LOSS = Panel("Validation loss: median and interquartile band", "validation loss (mean cross-entropy)",
                        "validation loss", 1.0, "%{y:.6g}", True)


@dataclass(frozen=True)
class SweepSeries:
    """The runs of one method at one setting in one phase of a sweep, as the figure shows them.

    ``train_loss`` and ``second`` (what the right panel shows) are ``(K + 1, runs)``; ``runs`` names each column
    (its seed). ``setting`` is the key the page's setting menu selects by; ``name`` is the legend entry and
    ``variant`` picks the line style among the series of one colour.
    """

    phase: str
    method: str
    setting: str
    setting_label: str
    runs: Sequence[str]
    train_loss: np.ndarray
    second: np.ndarray
    name: str
    variant: int = 0


def _quartiles(values: np.ndarray) -> np.ndarray:
    """(3, K + 1): first quartile, median and third quartile over the runs (columns), ignoring NaN; NaN where
    every run is NaN. Rows without NaN take NumPy's vectorised percentile (nanpercentile loops over rows)."""
    out = np.full((3, values.shape[0]), np.nan)
    missing = np.isnan(values)
    complete, partial = ~missing.any(axis=1), missing.any(axis=1) & ~missing.all(axis=1)
    with np.errstate(invalid="ignore"):  # inf − inf between two diverged runs is NaN, drawn as a gap
        if complete.any():
            out[:, complete] = np.percentile(values[complete], [25, 50, 75], axis=1)
        if partial.any():
            out[:, partial] = np.nanpercentile(values[partial], [25, 50, 75], axis=1)
    return out


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _series_traces(s: SweepSeries, k: dict[str, Any], block: FloatBlock, colour: str, panel: Panel,
                   visible: bool) -> list[dict[str, Any]]:
    """Band, median and single runs of one series in both panels (8 traces, one legend entry)."""
    group = f"{s.phase}|{s.method}|{s.setting}|{s.name}"
    dash = DASHES[s.variant % len(DASHES)]
    traces: list[dict[str, Any]] = []
    for axes, values, what, fmt in ((("x", "y"), s.train_loss, "training loss", "%{y:.6g}"),
                                    (("x2", "y2"), panel.scale * s.second, panel.what, panel.hover_format)):
        common = {"type": "scatter", "mode": "lines", "xaxis": axes[0], "yaxis": axes[1], "legendgroup": group,
                  "name": s.name, "visible": visible}
        meta = {"phase": s.phase, "setting": s.setting}
        q1, median, q3 = _quartiles(values)
        band = {**common, "showlegend": False, "hoverinfo": "skip", "line": {"width": 0, "color": colour},
                "meta": {**meta, "kind": "band"}}
        traces.append({**band, "x": k, "y": block.add(q1)})
        traces.append({**band, "x": k, "y": block.add(q3), "fill": "tonexty", "fillcolor": _rgba(colour, 0.18)})
        traces.append({**common, "x": k, "y": block.add(median), "showlegend": axes[0] == "x",
                       "line": {"color": colour, "width": 2.2, "dash": dash}, "meta": {**meta, "kind": "median"},
                       "hovertemplate": f"%{{fullData.name}}<br>iteration %{{x}}<br>median {what} {fmt}"
                                        "<extra></extra>"})
        traces.append({**common, "visible": False, "showlegend": False, "opacity": 0.45,
                       "line": {"color": colour, "width": 0.8},
                       "runs": {"x": k, "y": block.add(values.T), "labels": list(s.runs)},
                       "meta": {**meta, "kind": "runs"},
                       "hovertemplate": f"%{{fullData.name}}, %{{customdata}}<br>iteration %{{x}}<br>{what} {fmt}"
                                        "<extra></extra>"})
    return traces


def setting_options(series: Sequence[SweepSeries]) -> dict[str, list[list[str]]]:
    """Per phase, the settings the page offers: each one in order of appearance, then all of them together."""
    options: dict[str, list[list[str]]] = {}
    for s in series:
        phase = options.setdefault(s.phase, [])
        if [s.setting, s.setting_label] not in phase:
            phase.append([s.setting, s.setting_label])
    return {phase: found + [["*", "all settings"]] if len(found) > 1 else found for phase, found in options.items()}


def sweep_figure(series: Sequence[SweepSeries], block: FloatBlock, phases: Sequence[tuple[str, str]] = (),
                 settings: Mapping[str, list[list[str]]] | None = None, panel: Panel = TEST_ACCURACY,
                 figure_id: str = "sweep") -> dict[str, Any]:
    """Median and interquartile band over runs of the training loss and of ``panel``, per method and setting.

    The page offers the phases (``(key, label)`` pairs; none for a plain sweep) and, within a phase, the
    ``settings`` (``[key, label]`` lists, key ``"*"`` for all; default :func:`setting_options`), plus the single
    runs on demand. The first phase and its first setting show first.
    """
    settings = dict(settings) if settings is not None else setting_options(series)
    methods = list(dict.fromkeys(s.method for s in series))
    first_phase = phases[0][0] if phases else (series[0].phase if series else "")
    first_setting = settings.get(first_phase, [["*", ""]])[0][0]
    data: list[dict[str, Any]] = []
    k_refs: dict[int, dict[str, Any]] = {}
    for s in series:
        n = s.train_loss.shape[0]
        k = k_refs.setdefault(n, block.add(np.arange(n)))
        visible = s.phase == first_phase and first_setting in ("*", s.setting)
        data += _series_traces(s, k, block, PALETTE[methods.index(s.method) % len(PALETTE)], panel, visible)
    layout = _two_panel_layout("iteration k", "Training loss: median and interquartile band", panel.title, False)
    layout["yaxis2"] = {**layout["yaxis2"], "title": {"text": panel.axis_title}}
    if panel.log:
        layout["yaxis2"] = {key: value for key, value in layout["yaxis2"].items() if key != "range"}
        layout["yaxis2"]["type"] = "log"
    controls = {"phases": [list(p) for p in phases] or None, "settings": settings, "setting_label": "setting"}
    return {"id": figure_id, "data": data, "layout": layout, "controls": controls}


# -- the report.html of each command ----------------------------------------------------------------------------
def write_compare_html(comparison: Comparison, markdown: str, path: str | Path) -> Path:
    """The report.html of a comparison: ``markdown`` (its report.md) with the interactive curves in place of the
    image, and a note under them for every pair of methods whose curves coincide."""
    from .report_html import figure_section, write_page

    block = FloatBlock()
    figure = compare_figure(comparison.results, block, x_axis=comparison.config.x_axis)
    notes = coincidence_notes(history_curves(comparison.results))
    return write_page(path, "descentlab comparison", markdown, [figure], [figure_section(figure["id"], notes)],
                      block)


def sweep_series(result: Sweep) -> list[SweepSeries]:
    """One series per method and learning rate of a sweep, its runs the seeds."""
    lr_of_model = np.array([lr for lr, _ in result.grid])
    lrs = sorted(set(lr_of_model.tolist()))
    series = []
    for name, fitted in result.results.items():
        for variant, lr in enumerate(lrs):
            columns = lr_of_model == lr
            seeds = [f"seed {seed}" for (grid_lr, seed) in result.grid if grid_lr == lr]
            series.append(SweepSeries("", name, f"{lr:g}", f"lr {lr:g}", seeds, fitted.history.train_loss[:, columns],
                                      fitted.history.test_accuracy[:, columns], f"{method_label(name)}, lr {lr:g}",
                                      variant))
    return series


def series_notes(series: Sequence[SweepSeries]) -> list[str]:
    """Coincidence notes for the series of each (phase, setting) of a sweep."""
    notes = []
    for phase, setting, label in dict.fromkeys((s.phase, s.setting, s.setting_label) for s in series):
        mine = [s for s in series if (s.phase, s.setting) == (phase, setting)]
        curves = {s.name: {"train_loss": s.train_loss, "second": s.second} for s in mine}
        labels = {s.name: s.name.removesuffix(f", {label}") for s in mine}
        where = f" at {label}" + (f" ({phase} phase)" if phase else "")
        notes += coincidence_notes(curves, labels, where=where)
    return notes


def write_sweep_html(result: Sweep, markdown: str, path: str | Path) -> Path:
    """report.html of a sweep: ``markdown`` (its report.md) with the interactive figure in place of the image."""
    from .report_html import figure_section, write_page

    block = FloatBlock()
    series = sweep_series(result)
    figure = sweep_figure(series, block)
    return write_page(path, "descentlab sweep", markdown, [figure], [figure_section(figure["id"],
                                                                                   series_notes(series))], block)


# -- the tuned comparison (sweep --tune): both phases -----------------------------------------------------------
def tuned_series(tuned: Tuned) -> list[SweepSeries]:
    """Per phase, method, setting and learning rate, the training and validation loss curves of the runs (the
    repetitions). A tune series is selected by its learning rate, a final one by ``"final"``."""
    series = []
    for result in tuned.groups:
        group = result.cell
        settings = list(dict.fromkeys(r.cell.setting for r in tuned.groups if r.cell.method == group.method))
        for lr in group.lrs:
            columns = [i for i, row in enumerate(result.rows) if row["lr"] == lr]
            key, label = (f"{lr:g}", f"lr {lr:g}") if group.phase == "tune" else ("final", "chosen settings")
            series.append(SweepSeries(
                group.phase, group.method, key, label, [f"repetition {result.rows[i]['seed']}" for i in columns],
                result.history.train_loss[:, columns], result.history.test_loss[:, columns],
                f"{method_label(group.setting)}, lr {lr:g}", settings.index(group.setting)))
    return series


def tuning_figure(tuned: Tuned, block: FloatBlock, figure_id: str = "tuning") -> dict[str, Any]:
    """The tuning curve: median final validation loss of the tune phase against the learning rate, one line per
    method and setting, each method's chosen point circled."""
    from ..experiments.results import tuning_curve

    lines: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for method, curve in tuning_curve(tuned.rows).items():
        for setting, lr, loss in curve:
            lines.setdefault((method, setting.rsplit(":lr=", 1)[0]), []).append((lr, loss))
    methods = list(dict.fromkeys(method for method, _ in lines))
    data: list[dict[str, Any]] = []
    for variant, ((method, base), points) in enumerate(lines.items()):
        lr, loss = np.array(sorted(points)).T
        colour = PALETTE[methods.index(method) % len(PALETTE)]
        data.append({"type": "scatter", "mode": "lines+markers", "name": method_label(base), "legendgroup": base,
                     "x": block.add(lr), "y": block.add(loss), "line": {"color": colour,
                                                                        "dash": DASHES[variant % len(DASHES)]},
                     "hovertemplate": "%{fullData.name}<br>lr %{x:g}<br>median validation loss %{y:.6g}"
                                      "<extra></extra>"})
        chosen = tuned.choice[method]
        if chosen["setting"].rsplit(":lr=", 1)[0] == base:
            data.append({"type": "scatter", "mode": "markers", "name": f"chosen: {method_label(base)}",
                         "legendgroup": base, "showlegend": False, "x": [chosen["lr"]],
                         "y": block.add([chosen["median_validation_loss"]]),
                         "marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"color": colour, "width": 2}},
                         "hovertemplate": "chosen: %{fullData.name}<br>lr %{x:g}<br>median validation loss "
                                          "%{y:.6g}<extra></extra>"})
    R = tuned.config.repetitions
    layout = {"height": 460, "margin": {"l": 70, "r": 20, "t": 50, "b": 60}, "hovermode": "closest",
              "title": {"text": f"<b>Tune phase: median final validation loss over repetitions 0–{R - 1}</b> "
                                "(chosen setting circled)", "font": {"size": 14}},
              "xaxis": {"type": "log", "title": {"text": "learning rate"}},
              "yaxis": {"type": "log", "title": {"text": "median final validation loss"}}}
    return {"id": figure_id, "data": data, "layout": layout}


def write_tuned_html(tuned: Tuned, markdown: str, path: str | Path) -> Path:
    """report.html of a tuned comparison: the tuning curve and both phases' curves (final phase first) in place
    of report.md's image."""
    from .report_html import figure_section, write_page

    block = FloatBlock()
    R = tuned.config.repetitions
    series = tuned_series(tuned)
    phases = [("final", f"final: chosen settings, repetitions {R}–{2 * R - 1}"),
              ("tune", f"tune: every setting, repetitions 0–{R - 1}")]
    tune_options = setting_options([s for s in series if s.phase == "tune"]).get("tune", [])
    settings = {"final": [["final", "each method's chosen setting"]], "tune": tune_options}
    curves = sweep_figure(series, block, phases, settings, panel=VALIDATION_LOSS, figure_id="phases")
    tuning = tuning_figure(tuned, block)
    section = figure_section(tuning["id"], []) + figure_section(curves["id"], series_notes(series))
    return write_page(path, "descentlab tuned comparison", markdown, [tuning, curves], [section], block)
