"""Figures (matplotlib, object-oriented API: no pyplot state, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from .model_io import atomic_write_bytes
from .train import FitResult

LABELS = {"gd": "GD (steepest descent)", "nag": "NAG (Nesterov 1983)"}


def method_label(name: str) -> str:
    return LABELS.get(name, name)


def plot_curves(results: Mapping[str, FitResult], path: str | Path, title: str = "") -> Path:
    """Training loss (log scale) and test accuracy over the iterations, one line per method.

    Written atomically as PNG to ``path``.
    """
    fig = Figure(figsize=(11, 4.4), dpi=120, layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for name, result in results.items():
        history = result.history
        k = history.iterations
        (line,) = loss_ax.plot(k, history.train_loss, label=method_label(name), linewidth=1.8)
        acc_ax.plot(k, 100.0 * history.test_accuracy, label=method_label(name), color=line.get_color(),
                    linewidth=1.8)
        acc_ax.plot(k, 100.0 * history.train_accuracy, color=line.get_color(), linewidth=1.0,
                    linestyle=":", alpha=0.8)
        if result.stopped:
            loss_ax.plot(k[-1:], history.train_loss[-1:], marker="x", color=line.get_color(), markersize=9)
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("iteration k")
    loss_ax.set_ylabel("training loss (mean cross-entropy)")
    loss_ax.set_title("Training loss")
    loss_ax.grid(True, which="both", alpha=0.3)
    loss_ax.legend()
    acc_ax.set_xlabel("iteration k")
    acc_ax.set_ylabel("accuracy (%)")
    acc_ax.set_title("Test accuracy (solid) and training accuracy (dotted)")
    acc_ax.set_ylim(0, 101)
    acc_ax.grid(True, alpha=0.3)
    acc_ax.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)

