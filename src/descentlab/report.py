"""report.md: the assignment's discussion, written from the measured numbers of one comparison."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import numpy as np

from .plots import method_label

if TYPE_CHECKING:
    from .experiments import CompareConfig, Comparison


def command_line(config: CompareConfig, methods: list[str]) -> str:
    """The ``descentlab compare`` invocation that reproduces a comparison with this configuration."""
    words = ["descentlab", "compare"]
    if config.data != "iris (embedded)":
        words += ["--data", config.data]
        if config.target is not None:
            words += ["--target", config.target]
    words += ["--hidden", *(str(n) for n in config.hidden)]
    words += ["--activation", config.activation, "--lr", f"{config.lr:g}", "--iterations", str(config.iterations)]
    words += ["--seed", str(config.seed), "--test-size", f"{config.test_size:g}"]
    words += ["--init-mu", f"{config.init_mu:g}", "--init-sigma", f"{config.init_sigma:g}"]
    if config.standardize:
        words.append("--standardize")
    if config.weight_decay:
        words += ["--weight-decay", f"{config.weight_decay:g}"]
    if list(config.optimizers) != ["gd", "nag"]:
        words += ["--optimizers", ",".join(config.optimizers)]
    if config.batch_size is not None:
        words += ["--batch-size", str(config.batch_size)]
    if config.x_axis != "iterations":
        words += ["--x-axis", config.x_axis]
    return shlex.join(words)


def _fmt_k(k: int | None) -> str:
    return "never" if k is None else str(k)


def _discussion(comparison: Comparison) -> list[str]:
    results = comparison.results
    finished = {name: r for name, r in results.items() if r.stopped is None}
    lines: list[str] = []
    for name, result in results.items():
        if result.stopped:
            lines.append(f"- **{method_label(name)} stopped early**: {result.stopped}.")
    if len(finished) < 2:
        return lines
    ranked = sorted(finished, key=lambda n: finished[n].final["train_loss"])
    best, worst = ranked[0], ranked[-1]
    best_h, worst_h = finished[best].history, finished[worst].history
    target = worst_h.train_loss[-1]
    reached = best_h.first_reaching("train_loss", target, below=True)
    K = len(worst_h) - 1
    lines.append(
        f"- **Training loss.** After {K} iterations {method_label(best)} has the lowest training loss, "
        f"{best_h.train_loss[-1]:.4g}, against {target:.4g} for {method_label(worst)} "
        f"({target / best_h.train_loss[-1]:.3g}× higher)."
    )
    if reached is not None and reached > 0:
        lines.append(
            f"  {method_label(best)} reached {method_label(worst)}'s final loss at iteration {reached}, "
            f"{K / reached:.3g}× fewer iterations."
        )
    for name in ranked:
        h = finished[name].history
        lines.append(
            f"- **{method_label(name)}**: final training accuracy {100 * h.train_accuracy[-1]:.1f} %, "
            f"test accuracy {100 * h.test_accuracy[-1]:.1f} % "
            f"(best test accuracy {100 * np.nanmax(h.test_accuracy):.1f} %, first at iteration "
            f"{int(np.nanargmax(h.test_accuracy))})."
        )
    lines.append(
        "- **Theory.** On an L-smooth *convex* loss with step 1/L, steepest descent is guaranteed "
        "f(x_k) − f* ≤ L‖x₀ − x*‖²/(2k) and Nesterov's method 2L‖x₀ − x*‖²/(k+1)² (Beck & Teboulle 2009, "
        "Theorems 3.1 and 4.4). This network's loss is not convex, so neither bound applies here; the "
        "curves show what the methods actually did from this initial point. NAG's loss need not decrease "
        "monotonically (momentum can overshoot); GD's does for a small enough step."
    )
    return lines


def render_report(comparison: Comparison, summary: dict[str, Any]) -> str:
    """Markdown text of report.md for one comparison (numbers taken from ``summary`` and the histories)."""
    config = comparison.config
    net = comparison.net
    methods = list(comparison.results)
    tensors = ", ".join(f"{name} {shape[0]}×{shape[1]}" for name, shape, _ in net.describe())
    out = [
        "# descentlab comparison",
        "",
        "Reproduce with:",
        "",
        "```",
        command_line(config, methods),
        "```",
        "",
        "## Set-up",
        "",
        f"- Data: {config.data}; stratified split with test size {config.test_size:g} and seed {config.seed}: "
        f"{comparison.train.n_samples} training and {comparison.test.n_samples} test samples, "
        f"{comparison.train.n_features} features, {comparison.train.n_classes} classes"
        f"{' (standardised with training-split statistics)' if config.standardize else ' (raw features)'}.",
        f"- Network: {' → '.join(str(n) for n in net.sizes)}, hidden activation {net.activation.name} "
        f"({net.activation.formula}), softmax output, mean cross-entropy loss.",
        f"- Parameters: {tensors}; **{net.n_params} learnable parameters**"
        + (f" (8·N_H + 3 with N_H = {net.sizes[1]})" if len(net.sizes) == 3 and net.sizes[0] == 4
           and net.sizes[2] == 3 else "")
        + ".",
        f"- Initialisation: every parameter from N({config.init_mu:g}, {config.init_sigma:g}²), seed "
        f"{config.seed}; all methods start from the same point.",
        f"- Training: {config.iterations} full-batch iterations, learning rate {config.lr:g}"
        + (f", L2 penalty (λ/2)·Σ‖W‖² with λ = {config.weight_decay:g} on the weights" if config.weight_decay else "")
        + ". Every curve point is measured at the iterate the method would export (p_k for NAG, not the "
        "look-ahead q_k).",
        "",
        "## Results",
        "",
        "![Training loss and test accuracy over the iterations](curves.png)",
        "",
        "| method | train loss | train acc. | test loss | test acc. | iter. to 90 % test | iter. to 95 % test "
        "| gradient / function evaluations | time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in methods:
        m = summary["methods"][name]
        f = m["final"]
        out.append(
            f"| {method_label(name)} | {f['train_loss']:.4f} | {100 * f['train_accuracy']:.1f} % | "
            f"{f['test_loss']:.4f} | {100 * f['test_accuracy']:.1f} % | "
            f"{_fmt_k(m['iterations_to_test_accuracy_90'])} | {_fmt_k(m['iterations_to_test_accuracy_95'])} | "
            f"{m['gradient_evaluations']} / {m['function_evaluations']} | {m['seconds']:.3f} |"
        )
    out += ["", "## Discussion", "", *_discussion(comparison), ""]
    out += [
        "All numbers on this page come from this run's `history.csv` and `summary.json`; the trained models "
        "are in `models/`.",
        "",
    ]
    return "\n".join(out)
