"""report.md: the assignment's discussion, written from the measured numbers of one comparison."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import numpy as np

from .names import label as method_label

if TYPE_CHECKING:
    from .experiments import CompareConfig, Comparison, Sweep


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
    if config.engine != "numpy":
        words += ["--engine", config.engine]
    return shlex.join(words)


def _fmt_k(k: int | None) -> str:
    return "never" if k is None else str(k)


def _count(n: int, word: str) -> str:
    """``1 iteration``, ``2 iterations``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _higher(high: float, low: float) -> str:
    """How much higher ``high`` is than ``low`` (> 0), in words that read right close to 1."""
    ratio = high / low
    return f"{100 * (ratio - 1):.2g} % higher" if ratio < 1.1 else f"{ratio:.3g}× as high"


def _training_lines(finished: dict[str, Any], status: dict[str, str]) -> list[str]:
    ranked = sorted(finished, key=lambda n: finished[n].final["train_loss"])
    best, worst = ranked[0], ranked[-1]
    best_h, worst_h = finished[best].history, finished[worst].history
    low, target = float(best_h.train_loss[-1]), float(worst_h.train_loss[-1])
    K = len(worst_h) - 1
    if not target > low * (1 + 1e-9):
        return [f"- **Training loss.** After {_count(K, 'iteration')} {method_label(best)} and {method_label(worst)} "
                f"end at the same training loss, {low:.4g}."]
    lines = [f"- **Training loss.** After {_count(K, 'iteration')} {method_label(best)} has the lowest training "
             f"loss, {low:.4g}, against {target:.4g} for {method_label(worst)} ({_higher(target, low)})."]
    not_ok = [n for n in (best, worst) if status[n] != "ok"]
    if not_ok:
        states = " and ".join(f"{method_label(n)} is {status[n]}" for n in not_ok)
        lines.append(f"  No speed-up is claimed: {states}, so reaching that loss says nothing about how fast a "
                     "method learns.")
        return lines
    reached = best_h.first_reaching("train_loss", target, below=True)
    if reached is not None and 0 < reached < K:
        lines.append(f"  {method_label(best)} reached {method_label(worst)}'s final loss at iteration {reached}, "
                     f"{K / reached:.3g}× fewer iterations.")
    return lines


def _test_lines(finished: dict[str, Any], n_test: int) -> list[str]:
    by_loss = sorted(finished, key=lambda n: finished[n].final["test_loss"])
    low, high = finished[by_loss[0]].final["test_loss"], finished[by_loss[-1]].final["test_loss"]
    best_train = min(finished, key=lambda n: finished[n].final["train_loss"])
    if not high > low * (1 + 1e-9):
        lines = [f"- **Test loss.** Every method ends at the same test loss, {low:.4g}."]
    else:
        lines = [f"- **Test loss.** {method_label(by_loss[0])} has the lowest test loss, {low:.4g}, against "
                 f"{high:.4g} for {method_label(by_loss[-1])} ({_higher(high, low)})."]
        if by_loss[0] != best_train:
            lines.append(f"  The lowest training loss ({method_label(best_train)}) is not the lowest test loss: "
                         "fitting the training data more closely did not carry over to unseen data.")
    correct = {n: round(finished[n].final["test_accuracy"] * n_test) for n in finished}
    ranked = sorted(finished, key=lambda n: -correct[n])
    top, bottom = ranked[0], ranked[-1]
    if correct[top] == correct[bottom]:
        lines.append(f"- **Test accuracy.** Every method classifies the same number of test samples correctly, "
                     f"{correct[top]} of {n_test}.")
    else:
        gap = correct[top] - correct[bottom]
        lines.append(f"- **Test accuracy.** {method_label(top)} classifies {correct[top]} of {n_test} test samples "
                     f"correctly, {method_label(bottom)} {correct[bottom]}: {_count(gap, 'sample')} apart.")
    if correct[top] != correct[bottom] or high > low * (1 + 1e-9):
        lines.append("  One split and one initial point cannot tell whether such differences would persist; "
                     "`descentlab sweep --tune` repeats the comparison over splits and seeds, each method at its "
                     "own best setting, with paired intervals.")
    return lines


def _discussion(comparison: Comparison, summary: dict[str, Any]) -> list[str]:
    from .statistics import STUCK_TOLERANCE

    results = comparison.results
    finished = {name: r for name, r in results.items() if r.stopped is None and not r.interrupted}
    status = {name: summary["methods"][name]["status"] for name in results}
    chance = summary["data"]["chance_loss"]
    lines: list[str] = []
    for name, result in results.items():
        if result.stopped:
            lines.append(f"- **{method_label(name)} stopped early**: {result.stopped}.")
    for name in finished:
        if status[name] == "stuck":
            lines.append(f"- **{method_label(name)} is stuck**: its final training loss "
                         f"{finished[name].final['train_loss']:.4g} is not below {(1 - STUCK_TOLERANCE) * chance:.4g} "
                         f"({1 - STUCK_TOLERANCE:g} × {chance:.4g}, the loss of predicting the training-set class "
                         "frequencies); it learned nothing beyond the class sizes.")
    if len(finished) < 2:
        return lines
    lines += _training_lines(finished, status)
    lines += _test_lines(finished, summary["data"]["n_test"])
    for name in sorted(finished, key=lambda n: finished[n].final["train_loss"]):
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
    out = ["# descentlab comparison", ""]
    if comparison.interrupted:
        states = [f"{name} after iteration {r.iterations}" for name, r in comparison.results.items() if r.interrupted]
        states += [f"{name} not started" for name in comparison.pending]
        out += [f"**Interrupted** ({'; '.join(states)}): this report shows what was done. The terminal named the "
                "`--resume` command that completes the run.", ""]
    out += [
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
        "| method | status | train loss | train acc. | test loss | test acc. | iter. to 90 % test "
        "| iter. to 95 % test | gradient / function evaluations | time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in methods:
        m = summary["methods"][name]
        f = m["final"]
        out.append(
            f"| {method_label(name)} | {m['status']} | {f['train_loss']:.4f} | {100 * f['train_accuracy']:.1f} % | "
            f"{f['test_loss']:.4f} | {100 * f['test_accuracy']:.1f} % | "
            f"{_fmt_k(m['iterations_to_test_accuracy_90'])} | {_fmt_k(m['iterations_to_test_accuracy_95'])} | "
            f"{m['gradient_evaluations']} / {m['function_evaluations']} | {m['seconds']:.3f} |"
        )
    out += ["", "## Discussion", "", *_discussion(comparison, summary), ""]
    out += [
        "All numbers on this page come from this run's `history.csv` and `summary.json`; the trained models "
        "are in `models/`.",
        "",
    ]
    return "\n".join(out)


# -- sweeps ---------------------------------------------------------------------------------------------------
def sweep_command_line(result: Sweep) -> str:
    """The ``descentlab sweep`` invocation that reproduces a sweep."""
    c, base = result.config, result.config.base
    words = ["descentlab", "sweep", "--optimizers", ",".join(c.optimizers)]
    words += ["--lr", ",".join(f"{lr:g}" for lr in c.lrs), "--seeds", str(c.seeds)]
    if base.data != "iris (embedded)":
        words += ["--data", base.data]
        if base.target is not None:
            words += ["--target", base.target]
    words += ["--hidden", *(str(n) for n in base.hidden), "--activation", base.activation]
    words += ["--iterations", str(base.iterations), "--seed", str(base.seed)]
    if base.standardize:
        words.append("--standardize")
    if base.engine != "numpy":
        words += ["--engine", base.engine]
    return shlex.join(words)


def spread(values: np.ndarray, fmt: str) -> str:
    values = values[np.isfinite(values)]
    if not values.size:
        return "–"
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"{median:{fmt}} [{q1:{fmt}}, {q3:{fmt}}]"


def sweep_summary(result: Sweep) -> list[tuple[str, float, int, int, str, str]]:
    """Per method and learning rate: diverged models, models, and the spread over seeds of the final training
    loss and test accuracy (%) of the others (what report.md and the terminal table show)."""
    rows = result.rows()
    summary = []
    for name in result.results:
        for lr in sorted({lr for lr, _ in result.grid}):
            mine = [r for r in rows if r["optimizer"] == name and r["lr"] == lr]
            ok = [r for r in mine if not r["diverged"]]
            loss = spread(np.array([r["final_train_loss"] for r in ok]), ".4f")
            acc = spread(np.array([100.0 * r["final_test_accuracy"] for r in ok]), ".1f")
            summary.append((name, lr, len(mine) - len(ok), len(mine), loss, acc))
    return summary


def render_sweep_report(result: Sweep) -> str:
    """The sweep's report: per optimiser and lr the spread over seeds, then paired comparisons."""
    lrs = sorted({lr for lr, _ in result.grid})
    names = list(result.results)
    lines = [
        "# descentlab sweep",
        "",
        f"Reproduce: `{sweep_command_line(result)}`",
        "",
        f"{len(result.grid)} models per optimiser ({len(lrs)} learning rates × {result.config.seeds} initial seeds), "
        f"{result.config.base.iterations} iterations, trained as cells of stacked models (timings: "
        "timings.json). Every model of a learning rate starts from `init(seed)` for its seed, the same "
        "point for every optimiser, so the comparisons below are paired.",
        "",
        "Values are median [first quartile, third quartile] over seeds; a diverged model is excluded from them "
        "and counted in its own column.",
        "",
        "| method | lr | diverged | final training loss | final test accuracy (%) |",
        "|---|---|---|---|---|",
    ]
    for name, lr, diverged, models, loss, acc in sweep_summary(result):
        lines.append(f"| {method_label(name)} | {lr:g} | {diverged} of {models} | {loss} | {acc} |")
    if len(names) >= 2:
        first = names[0]
        lines += ["", f"## Paired comparison with {method_label(first)}", ""]
        for other in names[1:]:
            a = result.results[first].history.train_loss[-1]
            b = result.results[other].history.train_loss[-1]
            both = np.isfinite(a) & np.isfinite(b)
            if not both.any():
                continue
            ratio = a[both] / b[both]
            wins = int(np.sum(b[both] < a[both]))
            reach = []
            for m in np.flatnonzero(both):
                hits = np.flatnonzero(result.results[other].history.train_loss[:, m] <= a[m])
                reach.append(float(hits[0]) if hits.size else np.nan)
            lines.append(
                f"- **{method_label(other)}** ends with a lower training loss than {method_label(first)} in "
                f"{wins} of {int(both.sum())} paired runs; the ratio of final losses "
                f"({first} / {other}) is {spread(ratio, '.2f')}. It reaches {first}'s final loss after "
                f"{spread(np.array(reach), '.0f')} iterations (of {result.config.base.iterations})."
            )
            for lr in lrs:
                cols = np.array([g[0] == lr for g in result.grid]) & both
                if cols.any():
                    r = a[cols] / b[cols]
                    lines.append(
                        f"  - lr {lr:g}: ratio {spread(r, '.2f')}, lower in {int(np.sum(r > 1))} of {int(cols.sum())}"
                    )
    lines += ["", "![median and interquartile band per optimiser and learning rate](sweep.png)", ""]
    return "\n".join(lines)
