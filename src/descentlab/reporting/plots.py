"""Figures (matplotlib, object-oriented API: no pyplot state, no display needed)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from ..formats.atomic import atomic_write_bytes
from ..optim.registry import label as method_label
from ..training.results import X_AXES, FitResult

if TYPE_CHECKING:
    from ..experiments.results import Sweep, Tuned

# Fixed margins instead of constrained layout, and tick labels in plain text instead of mathtext: together
# they halve the time of a figure (layout re-draws every text; mathtext builds a parser on first use), and
# the default run's figure still has room for every label (bench/startup.py times it).
_MARGINS = {"left": 0.07, "right": 0.99, "bottom": 0.11, "top": 0.86, "wspace": 0.18}


def _plain_log_ticks(ax: Any) -> None:
    """Log-scale y ticks labelled 0.05, 0.1, 0.2 … in plain text (matplotlib's choice of which ticks to label)."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    ax.yaxis.set_major_formatter(Plain())
    ax.yaxis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def plot_curves(results: Mapping[str, FitResult], path: str | Path, title: str = "", x_axis: str = "iterations"
                ) -> Path:
    """Training loss (log scale) and test accuracy, one line per method (legend: :func:`method_label`), any
    number of methods.

    ``x_axis`` is ``"iterations"`` (k), ``"evaluations"`` (gradient + function evaluations spent, which puts
    line-search and restart methods on an equal footing) or ``"seconds"`` (of the method's own work). Written
    atomically as PNG to ``path``.
    """
    return _save(curves_figure(results, title, x_axis), path)


def curves_figure(results: Mapping[str, FitResult], title: str = "", x_axis: str = "iterations") -> Figure:
    """The figure :func:`plot_curves` writes."""
    if x_axis not in X_AXES:
        raise ValueError(f"x_axis must be one of {tuple(X_AXES)}, got {x_axis!r}")
    x_label = X_AXES[x_axis]
    fig = Figure(figsize=(11, 4.4), dpi=120)
    fig.subplots_adjust(**_MARGINS)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for index, (name, result) in enumerate(results.items()):
        history = result.history
        legend = method_label(name)
        k = result.along(x_axis)
        # Line styles cycle too, so methods with identical curves (e.g. a line search that always accepts
        # its first step) stay visible on top of each other.
        style = ("-", "--", "-.", (0, (5, 1)))[index % 4]
        (line,) = loss_ax.plot(k, history.train_loss, label=legend, linewidth=1.8, linestyle=style)
        acc_ax.plot(k, 100.0 * history.test_accuracy, label=legend, color=line.get_color(),
                    linewidth=1.8)
        acc_ax.plot(k, 100.0 * history.train_accuracy, color=line.get_color(), linewidth=1.0,
                    linestyle=":", alpha=0.8)
        if result.stopped:
            loss_ax.plot(k[-1:], history.train_loss[-1:], marker="x", color=line.get_color(), markersize=9)
    # A diverged method's last finite losses can reach 1e300: the axis keeps to the range of the runs that
    # stayed reasonable (up to 100× the largest initial loss), and the diverging curve leaves it at the top.
    losses = np.concatenate([r.history.train_loss for r in results.values()])
    losses = losses[np.isfinite(losses) & (losses > 0)]
    starts = [r.history.train_loss[0] for r in results.values() if np.isfinite(r.history.train_loss[0])]
    if losses.size and starts:  # limits before the log scale, so that matplotlib never autoscales to 1e300
        loss_ax.set_ylim(0.5 * losses.min(), min(losses.max(), 100.0 * max(starts)) * 2.0)
    loss_ax.set_yscale("log")
    _plain_log_ticks(loss_ax)
    loss_ax.set_xlabel(x_label)
    loss_ax.set_ylabel("training loss (mean cross-entropy)")
    loss_ax.set_title("Training loss")
    loss_ax.grid(True, which="both", alpha=0.3)
    loss_ax.legend(fontsize="small")
    acc_ax.set_xlabel(x_label)
    acc_ax.set_ylabel("accuracy (%)")
    acc_ax.set_title("Test accuracy (solid) and training accuracy (dotted)")
    acc_ax.set_ylim(0, 101)
    acc_ax.grid(True, alpha=0.3)
    acc_ax.legend(loc="lower right", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def _quartiles(values: np.ndarray) -> np.ndarray:
    """Per row (iteration), the quartiles of the models still finite there; NaN where none is."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "All-NaN slice": every model diverged by then
        return np.nanpercentile(values, [25, 50, 75], axis=1)


def _median_band(ax: Any, k: np.ndarray, values: np.ndarray, colour: str, label: str, style: Any = "-",
                 runs: bool = False) -> None:
    """The median over the columns (models) of ``values`` with its interquartile band; with ``runs``, each model
    as a thin line under them. Nothing when every model is missing (diverged) everywhere."""
    if np.isnan(values).all():
        return
    if runs:
        ax.plot(k, values, color=colour, linestyle=style, linewidth=0.6, alpha=0.4)
    q1, median, q3 = _quartiles(values)
    ax.plot(k, median, color=colour, linestyle=style, linewidth=1.6, label=label)
    ax.fill_between(k, q1, q3, color=colour, alpha=0.15, linewidth=0)


def _log_y(ax: Any) -> None:
    """A log-scaled y axis, when it holds a positive value (a grid where every run diverged leaves it empty)."""
    if np.isfinite(ax.dataLim.y0) and ax.dataLim.y0 > 0:
        ax.set_yscale("log")


def plot_sweep(result: Sweep, path: str | Path, runs: bool = False) -> Path:
    """Median and interquartile band over seeds of the training loss and the test accuracy, per optimiser
    (line style) and learning rate (colour); ``runs``: every seed's curve too, thin. Diverged models count as
    missing from the point they diverged."""
    return _save(sweep_figure(result, runs), path)


def sweep_figure(result: Sweep, runs: bool = False) -> Figure:
    """The figure :func:`plot_sweep` writes."""
    fig = Figure(figsize=(11, 4.4), dpi=120)
    fig.subplots_adjust(**_MARGINS)
    loss_ax, acc_ax = fig.subplots(1, 2)
    lrs = sorted({lr for lr, _ in result.grid})
    lr_of_model = np.array([lr for lr, _ in result.grid])
    colours = [f"C{i}" for i in range(len(lrs))]
    for index, (name, fitted) in enumerate(result.results.items()):
        style = ("-", "--", "-.", ":")[index % 4]
        k = fitted.history.iterations
        for lr, colour in zip(lrs, colours, strict=True):
            columns = lr_of_model == lr
            for ax, values in ((loss_ax, fitted.history.train_loss), (acc_ax, 100.0 * fitted.history.test_accuracy)):
                _median_band(ax, k, values[:, columns], colour, f"{method_label(name)}, lr {lr:g}", style, runs)
    seeds = result.config.seeds
    loss_ax.set_yscale("log")
    _plain_log_ticks(loss_ax)
    each = ", each seed thin" if runs else ""
    loss_ax.set_title(f"Training loss: median and interquartile band over {seeds} seeds{each}")
    loss_ax.set_ylabel("training loss (mean cross-entropy)")
    acc_ax.set_title("Test accuracy: median and interquartile band")
    acc_ax.set_ylabel("test accuracy (%)")
    acc_ax.set_ylim(0, 101)
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("iteration k")
        ax.grid(True, which="both", alpha=0.3)
    loss_ax.legend(fontsize="x-small")
    arch = " → ".join(str(n) for n in result.net.sizes)
    features = "standardised features" if result.config.base.standardize else "raw features"
    fig.suptitle(f"{arch} ({result.net.activation.name}), {features}, {len(result.grid)} models per optimiser")
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)



def plot_tuned(tuned: Tuned, path: str | Path, runs: bool = False) -> Path:
    """Both phases of a tuned comparison: left, the tuning curve (median final validation loss against the
    learning rate, one line per method and setting, the chosen point circled); right, the final phase's training
    loss (median and interquartile band over its repetitions, one line per method; ``runs``: each repetition's
    curve too, thin)."""
    fig = Figure(figsize=(11, 4.4), dpi=120, layout="constrained")
    tune_ax, final_ax = fig.subplots(1, 2)
    colours = {method: f"C{i}" for i, method in enumerate(tuned.config.methods)}
    lines: dict[tuple[str, str], list[tuple[float, float]]] = {}
    from ..experiments.results import tuning_curve

    for method, curve in tuning_curve(tuned.rows).items():
        for setting, lr, loss in curve:
            lines.setdefault((method, setting.rsplit(":lr=", 1)[0]), []).append((lr, loss))
    for index, ((method, base), points) in enumerate(lines.items()):
        lr, loss = np.array(sorted(points)).T
        tune_ax.plot(lr, np.where(np.isfinite(loss), loss, np.nan), marker="o", markersize=3,
                     color=colours[method], linestyle=("-", "--", "-.", ":")[index % 4], label=method_label(base))
        chosen = tuned.choice[method]
        if chosen["setting"].rsplit(":lr=", 1)[0] == base and np.isfinite(chosen["median_validation_loss"]):
            tune_ax.plot([chosen["lr"]], [chosen["median_validation_loss"]], marker="o", markersize=10,
                         markerfacecolor="none", color=colours[method])
    for result in tuned.groups:
        group = result.cell
        if group.phase != "final":
            continue
        values = result.history.train_loss
        _median_band(final_ax, np.arange(values.shape[0]), values, colours[group.method],
                     f"{method_label(group.setting)}, lr {group.lrs[0]:g}", runs=runs)
    R = tuned.config.repetitions
    tune_ax.set_xscale("log")
    _log_y(tune_ax)
    tune_ax.set_xlabel("learning rate")
    tune_ax.set_ylabel("median final validation loss")
    tune_ax.set_title(f"Tune: repetitions 0–{R - 1} (chosen setting circled)")
    _log_y(final_ax)
    final_ax.set_xlabel("iteration k")
    final_ax.set_ylabel("training loss (mean cross-entropy)")
    final_ax.set_title(f"Final: chosen settings, repetitions {R}–{2 * R - 1}")
    for ax in (tune_ax, final_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    return _save(fig, path)
