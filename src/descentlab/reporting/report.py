"""report.md: the assignment's discussion, written from the measured numbers of one comparison."""

from __future__ import annotations

import dataclasses
import math
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..experiments.config import CompareConfig, SweepConfig, TuneConfig
from ..experiments.statistics import BOOTSTRAP_RESAMPLES, DIVERGED_FACTOR, STATUSES, STUCK_TOLERANCE, status_rule
from ..optim.registry import label as method_label

if TYPE_CHECKING:
    from ..experiments.results import Comparison, Sweep


def command_words(config: CompareConfig | SweepConfig | TuneConfig) -> list[str]:
    """The ``descentlab`` words (after ``descentlab``) that make ``config`` again: the command, its grid, network
    and iterations, then every other option whose value is not the default, values exact (``repr``).

    Reports, summary.json and the check of a sweep's manifest (:mod:`descentlab.cli.sweep`) all take these words.
    """
    base = config if isinstance(config, CompareConfig) else config.base
    left_out = {"hidden", "activation", "lr", "iterations"}  # written first
    if isinstance(config, CompareConfig):
        words = ["compare"]
    else:
        tuned = isinstance(config, TuneConfig)
        methods = config.methods if isinstance(config, TuneConfig) else config.optimizers
        seeds = config.repetitions if isinstance(config, TuneConfig) else config.seeds
        words = ["sweep", *(["--tune"] if tuned else []), *_option("--optimizers", methods),
                 *_option("--lr", ",".join(map(repr, config.lrs))), *_option("--seeds", seeds)]
        # a sweep's grid is apart and it has no --x-axis; --tune has no --seed (repetition r is seed r)
        left_out |= {"optimizers", "x_axis", "seed"} if tuned else {"optimizers", "x_axis"}
    words += ["--hidden", *(str(n) for n in base.hidden), *_option("--activation", base.activation)]
    words += _option("--lr", base.lr) if isinstance(config, CompareConfig) else []
    words += _option("--iterations", base.iterations)
    options = [(f.name, getattr(base, f.name), f.default) for f in dataclasses.fields(base) if f.name not in left_out]
    if isinstance(config, TuneConfig):
        options += [(name, getattr(config, name), getattr(TuneConfig, name)) for name in ("validation_size",
                                                                                        "split_seed")]
    for name, value, default in options:
        if value != default:
            words += _option(f"--{name.replace('_', '-')}", value)
    return words


def _option(flag: str, value: Any) -> list[str]:
    """``flag`` and ``value`` as words; a value that starts with ``-`` joined to its flag so it cannot read as one."""
    if value is True:
        return [flag]
    text = ",".join(value) if isinstance(value, tuple) else repr(value) if isinstance(value, float) else str(value)
    return [f"{flag}={text}"] if text.startswith("-") else [flag, text]


def command_line(config: CompareConfig | SweepConfig | TuneConfig) -> str:
    """The shell command that makes ``config`` again (:func:`command_words`)."""
    return shlex.join(["descentlab", *command_words(config)])


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
    results = comparison.results
    finished = {name: r for name, r in results.items() if r.stopped is None and not r.interrupted}
    status = {name: summary["methods"][name]["status"] for name in results}
    lines: list[str] = []
    for name, result in results.items():
        if result.stopped:
            lines.append(f"- **{method_label(name)} stopped early**: {result.stopped}.")
    for name in finished:
        if status[name] != "ok":
            lines.append(_status_line(name, status[name], finished[name].final, summary["data"]))
    if len(finished) < 2:
        return lines
    lines += _training_lines(finished, status)
    lines += _test_lines(finished, summary["data"]["n_test"])
    for name in sorted(finished, key=lambda n: finished[n].final["train_loss"]):
        h = finished[name].history
        lines.append(f"- **{method_label(name)}**: final training accuracy {100 * h.train_accuracy[-1]:.1f} %, "
                     f"test accuracy {100 * h.test_accuracy[-1]:.1f} % "
                     f"(best test accuracy {100 * np.nanmax(h.test_accuracy):.1f} %, first at iteration "
                     f"{int(np.nanargmax(h.test_accuracy))}).")
    lines.append("- **Theory.** On an L-smooth *convex* loss with step 1/L, steepest descent is guaranteed "
                 "f(x_k) − f* ≤ L‖x₀ − x*‖²/(2k) and Nesterov's method 2L‖x₀ − x*‖²/(k+1)² (Beck & Teboulle 2009, "
                 "Theorems 3.1 and 4.4). This network's loss is not convex, so neither bound applies here; the "
                 "curves show what the methods actually did from this initial point. NAG's loss need not decrease "
                 "monotonically (momentum can overshoot); GD's does for a small enough step.")
    return lines


def _status_line(name: str, status: str, final: dict[str, float], data: dict[str, float]) -> str:
    """Why a finished run is not ``ok``, in numbers (see :func:`~descentlab.experiments.statistics.run_status`)."""
    chance, share = data["chance_loss"], data["chance_accuracy"]
    loss, accuracy = final["train_loss"], final["train_accuracy"]
    if status == "diverged":
        return (f"- **{method_label(name)} diverged**: its final training loss {loss:.4g} ended far above where it "
                f"started (more than {DIVERGED_FACTOR:g} × its starting loss and the chance loss {chance:.4g}).")
    level = (f"its final training loss {loss:.4g} is not below {(1 - STUCK_TOLERANCE) * chance:.4g} "
             f"({1 - STUCK_TOLERANCE:g} × {chance:.4g}, the loss of predicting the training-set class frequencies)")
    if status == "stuck":
        return (f"- **{method_label(name)} is stuck**: {level} and its training accuracy {100 * accuracy:.1f} % is "
                f"at the level of the largest class ({100 * share:.1f} %); it learned nothing beyond the class "
                "sizes.")
    return (f"- **{method_label(name)} has a high loss**: {level}, yet its training accuracy {100 * accuracy:.1f} % "
            f"is above the largest class's share ({100 * share:.1f} %): it learned something, but its confident "
            "wrong predictions cost more than predicting the class frequencies would.")


def render_report(comparison: Comparison, summary: dict[str, Any]) -> str:
    """Markdown text of report.md for one comparison (numbers taken from ``summary`` and the histories)."""
    methods = list(comparison.results)
    out = ["# descentlab comparison", ""]
    if comparison.interrupted:
        states = [f"{name} after iteration {r.iterations}" for name, r in comparison.results.items() if r.interrupted]
        states += [f"{name} not started" for name in comparison.pending]
        out += [f"**Interrupted** ({'; '.join(states)}): this report shows what was done. The terminal named the "
                "`--resume` command that completes the run.", ""]
    out += ["Reproduce with:", "", "```", command_line(comparison.config), "```", "", "## Set-up", ""]
    out += _setup(comparison)
    out += ["", "## Results", "", "![Training loss and test accuracy over the iterations](curves.png)", "",
            "| method | status | train loss | train acc. | test loss | test acc. | iter. to 90 % test "
            "| iter. to 95 % test | gradient / function evaluations | time (s) | recording (s) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in methods:
        m = summary["methods"][name]
        f = m["final"]
        out.append(f"| {method_label(name)} | {m['status']} | {f['train_loss']:.4f} | "
                   f"{100 * f['train_accuracy']:.1f} % | {f['test_loss']:.4f} | {100 * f['test_accuracy']:.1f} % | "
                   f"{_fmt_k(m['iterations_to_test_accuracy_90'])} | {_fmt_k(m['iterations_to_test_accuracy_95'])} | "
                   f"{m['gradient_evaluations']} / {m['function_evaluations']} | {m['seconds']:.3f} | "
                   f"{m['recording_seconds']:.3f} |")
    out += ["", "Evaluations and time count what the method itself asks of the oracle (its steps, including an "
            "evaluation a step reuses from the measuring of the previous iterate, as GD's gradient); measuring the "
            "metrics at every exported iterate (NAG's p_k is not where it takes its gradient) is the recording "
            "column, apart. history.csv has each iteration's seconds."]
    out += ["", "## Discussion", "", *_discussion(comparison, summary), ""]
    out += [
        "All numbers on this page come from this run's `history.csv` and `summary.json`; the trained models "
        "are in `models/`.",
        "",
    ]
    return "\n".join(out)


def iterations_kind(config: CompareConfig, n_train: int | None = None) -> str:
    """What one iteration saw: the whole training set, or a mini-batch (the history is measured on the whole set).
    ``n_train``: the training rows, when one split has them all (a tuned sweep's repetitions differ)."""
    if config.batch_size is None or (n_train is not None and config.batch_size >= n_train):
        return "full-batch iterations"
    rows = f"{config.batch_size} of the {n_train} training rows" if n_train else f"{config.batch_size} training rows"
    return (f"iterations on mini-batches of {rows} (drawn without replacement, reshuffled each epoch; every curve "
            "point is measured on the whole training set)")


def _setup(comparison: Comparison) -> list[str]:
    """The set-up section's items: data, network, parameters, initialisation, training."""
    config = comparison.config
    net = comparison.net
    tensors = ", ".join(f"{name} {shape[0]}×{shape[1]}" for name, shape, _ in net.describe())
    return [
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
        (f"- Initialisation: every parameter from N({config.init_mu:g}, {config.init_sigma:g}²), seed "
         if config.init == "normal" else f"- Initialisation: {config.init} (each layer's weights scaled by its "
         "fan-in and fan-out, biases 0), seed ") + f"{config.seed}; all methods start from the same point.",
        f"- Training: {config.iterations} {iterations_kind(config, comparison.train.n_samples)}, learning rate "
        f"{config.lr:g}"
        + (f", L2 penalty (λ/2)·Σ‖W‖² with λ = {config.weight_decay:g} on the weights" if config.weight_decay else "")
        + ". Every curve point is measured at the iterate the method would export: for NAG the iterate p_k, not "
        "the look-ahead point q_k = p_k + μ_k (p_k − p_{k−1}) where it takes its gradient (docs/derivation.md, "
        "N1–N3).",
    ]


# -- sweeps ---------------------------------------------------------------------------------------------------
def quartiles(values: Iterable[float]) -> dict[str, float] | None:
    """The median and quartiles of the finite ``values`` (None when none is finite)."""
    finite = np.array([v for v in values if math.isfinite(v)])
    if not finite.size:
        return None
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3)}


def quartiles_text(spread: dict[str, float] | None, scale: float = 1.0, fmt: str = ".4f") -> str:
    """``median [q1, q3]`` of :func:`quartiles`, each times ``scale``; ``–`` for None."""
    if spread is None:
        return "–"
    return f"{scale * spread['median']:{fmt}} [{scale * spread['q1']:{fmt}}, {scale * spread['q3']:{fmt}}]"


def sweep_summary(result: Sweep) -> list[tuple[str, float, dict[str, int], int, str, str]]:
    """Per method and learning rate: status counts, models, and the spread over seeds of the final training
    loss and test accuracy (%) of the models that did not diverge (what report.md and the terminal table show)."""
    from ..experiments.statistics import status_counts

    rows = result.rows
    summary = []
    for name in result.results:
        for lr in sorted({lr for lr, _ in result.grid}):
            mine = [r for r in rows if r["optimizer"] == name and r["lr"] == lr]
            ok = [r for r in mine if not r["diverged"]]
            loss = quartiles_text(quartiles(r["final_train_loss"] for r in ok))
            acc = quartiles_text(quartiles(100.0 * r["final_test_accuracy"] for r in ok), fmt=".1f")
            summary.append((name, lr, status_counts(r["status"] for r in mine), len(mine), loss, acc))
    return summary


SWEEP_METRICS = (("final_train_loss", "training loss", False), ("final_test_loss", "test loss", False),
                 ("final_test_accuracy", "test accuracy", True))


def _paired_at(rows: list[dict[str, Any]], first: str, other: str, lr: float | None) -> list[Any]:
    """Paired comparisons of ``other`` with ``first`` at learning rate ``lr`` (None: every lr pooled, the pairs
    of one seed a cluster), pairs matched by (lr, seed); bootstrap seed 0."""
    from ..experiments.statistics import paired_comparison

    def values(name: str, key: str) -> dict[tuple[float, int], float]:
        return {(r["lr"], r["seed"]): (np.nan if r["diverged"] else r[key]) for r in rows
                if r["optimizer"] == name and (lr is None or r["lr"] == lr)}

    out = []
    for key, words, higher in SWEEP_METRICS:
        a, b = values(first, key), values(other, key)
        pairs = sorted(set(a) & set(b))
        clusters = [seed for _, seed in pairs] if lr is None else None
        out.append(paired_comparison([a[p] for p in pairs], [b[p] for p in pairs], words, higher, seed=0,
                                     clusters=clusters))
    return out


def sweep_comparisons(result: Sweep) -> list[tuple[str, float | None, list[Any]]]:
    """Every paired comparison of a sweep's report: ``(other method, lr or None for all pooled, one Paired per
    metric)``, each later method against the first, p-values adjusted by Holm over all of them (one family)."""
    from ..experiments.statistics import adjust_family

    names = list(result.results)
    lrs = sorted({lr for lr, _ in result.grid})
    rows = result.rows
    plan = [(other, lr) for other in names[1:] for lr in [*lrs, *([None] if len(lrs) > 1 else [])]]
    raw = [_paired_at(rows, names[0], other, lr) for other, lr in plan]
    family = iter(adjust_family([p for ps in raw for p in ps]))
    return [(other, lr, [next(family) for _ in ps]) for (other, lr), ps in zip(plan, raw, strict=True)]


def _reach_times(result: Sweep, first: str, other: str) -> tuple[list[float | None], list[float], int]:
    """Per pair of (lr, seed) where ``first``'s run is ok: the first iteration at which ``other``'s run reaches
    ``first``'s final training loss (None: never) and the iteration a run that never does is censored at (its
    last finite one); and how many pairs were left out because ``first``'s run is not ok (its loss is no target
    worth reaching)."""
    rows = result.rows
    status = {(r["optimizer"], r["lr"], r["seed"]): r["status"] for r in rows}
    done = {(r["lr"], r["seed"]): r["iterations_done"] for r in rows if r["optimizer"] == other}
    a = result.results[first].history.train_loss
    b = result.results[other].history.train_loss
    times: list[float | None] = []
    censored: list[float] = []
    for m, (lr, seed) in enumerate(result.grid):
        if status[(first, lr, seed)] != "ok":
            continue
        hits = np.flatnonzero(b[:, m] <= a[-1, m])
        times.append(float(hits[0]) if hits.size else None)
        censored.append(float(done[(lr, seed)]))
    return times, censored, len(result.grid) - len(times)


def paired_row(columns: list[str], p: Any, first: str, other: str, points: str) -> str:
    """A row of a paired-comparison table: ``columns`` (which comparison), then ``p``'s metric, wins / ties /
    losses, median difference and interval (test accuracy's in percentage points, written ``points``), p-values
    and reading."""
    from ..experiments.statistics import verdict

    scale, fmt, unit = (100.0, "+.1f", points) if p.higher_is_better else (1.0, "+.4f", "")
    cell = "–" if p.n_finite == 0 else f"{scale * p.median:{fmt}}{unit} [{scale * p.low:{fmt}}, {scale * p.high:{fmt}}]"
    return (f"| {' | '.join(columns)} | {p.metric} | {p.wins} / {p.ties} / {p.losses} | {cell} | {p.p_value:.3g} | "
            f"{p.p_adjusted:.3g} | {verdict(p, method_label(first), method_label(other))} |")


def _sweep_paired_lines(result: Sweep, numbers: SweepNumbers) -> list[str]:
    from ..experiments.statistics import KAPLAN_MEIER, MULTIPLICITY, time_to_target

    names = list(result.results)
    first = names[0]
    K = result.config.base.iterations
    lines = ["", f"## Paired comparison with {method_label(first)}, at shared learning rates", "",
             f"Each pair is one learning rate and one seed: both methods from the same initial point **at the same "
             f"learning rate**, so these are claims at those shared learning rates, not about each method at its "
             f"own best setting (`descentlab sweep --tune` compares that). Wins / ties / losses count the pairs "
             f"where the other method is better / equal / worse than {method_label(first)} (a diverged run is worse "
             "than any other); the median difference (other − first; test accuracy in percentage points) and its "
             f"95 % bootstrap interval ({BOOTSTRAP_RESAMPLES} resamples, seed 0) cover the pairs where both stayed "
             "finite. The pooled rows share each seed's initial point across learning rates, so they resample "
             f"whole seeds (cluster bootstrap) and their sign test counts one vote per seed. {MULTIPLICITY}.", "",
             "| method | lr | metric | wins / ties / losses | median difference [95 % interval] | p (sign test) "
             "| p (Holm) | reading |",
             "|---|---|---|---|---|---:|---:|---|"]
    for other, lr, comparisons in numbers.comparisons:
        lr_text = "all pooled" if lr is None else f"{lr:g}"
        lines += [paired_row([method_label(other), lr_text], p, first, other, " pt") for p in comparisons]
    lines += ["", "Time to reach the other's final training loss (same learning rate and seed), median [quartiles] "
              f"in iterations of {K}, by {KAPLAN_MEIER}:", ""]
    for other in names[1:]:
        times, censored, left_out = _reach_times(result, first, other)
        reach = time_to_target(times, censored)
        note = (f"; {_count(left_out, 'pair')} left out because {method_label(first)}'s run is not ok"
                if left_out else "")
        lines.append(f"- **{method_label(other)}** reaches {method_label(first)}'s final training loss after "
                     f"{reach}{note}.")
    return lines


@dataclass(frozen=True)
class SweepNumbers:
    """A sweep's summary, computed once (:func:`sweep_numbers`); summary.json, report.md, report.html and the
    terminal are rendered from it."""

    command: str  # the ``descentlab sweep`` invocation that reproduces the sweep
    table: list[tuple[str, float, dict[str, int], int, str, str]]  # :func:`sweep_summary`'s rows
    comparisons: list[tuple[str, float | None, list[Any]]]  # :func:`sweep_comparisons`'s

    def pooled(self) -> list[tuple[str, list[Any]]]:
        """The comparisons summary.json and the terminal show: every learning rate pooled, or the only one."""
        several = len({lr for _, lr, *_ in self.table}) > 1
        return [(other, ps) for other, lr, ps in self.comparisons if lr is None or not several]


def sweep_numbers(result: Sweep) -> SweepNumbers:
    """Everything a sweep's files and terminal show that takes computing: the table and the paired comparisons."""
    return SweepNumbers(command_line(result.config), sweep_summary(result), sweep_comparisons(result))


def sweep_json(result: Sweep, numbers: SweepNumbers) -> dict[str, Any]:
    """``summary.json`` of an untuned sweep: status counts per method (and per learning rate), each seed's status
    (per learning rate, seeds 0..N-1 in order) and the pooled paired comparisons with the first method."""
    from ..experiments.statistics import chance_loss, status_counts

    rows = result.rows
    names = list(result.results)
    lrs = {lr for lr, _ in result.grid}
    methods = {
        name: {"status": status_counts(r["status"] for r in rows if r["optimizer"] == name),
               "status_per_lr": {repr(lr): counts for n, lr, counts, *_ in numbers.table if n == name},
               "status_per_seed": {repr(lr): [r["status"] for r in rows if r["optimizer"] == name and r["lr"] == lr]
                                   for lr in sorted(lrs)}}
        for name in names
    }
    paired = {other: [{"metric": p.metric, "wins": p.wins, "ties": p.ties, "losses": p.losses,
                       "median_difference": None if p.n_finite == 0 else p.median,
                       "interval_95": None if p.n_finite == 0 else [p.low, p.high], "p_value": p.p_value,
                       "p_adjusted": p.p_adjusted}
                      for p in ps] for other, ps in numbers.pooled()}
    return {"command": numbers.command, "engine": result.config.base.engine,
            "chance_loss": chance_loss(result.train.y, result.train.n_classes),
            "multiplicity": "exact sign test, Holm (1979) over every paired comparison of report.md",
            "methods": methods, "paired_with": names[0], "paired_all_lrs": paired}


def render_sweep_report(result: Sweep, numbers: SweepNumbers) -> str:
    """The sweep's report: per optimiser and lr the statuses and spread over seeds, then paired comparisons."""
    lrs = sorted({lr for lr, _ in result.grid})
    names = list(result.results)
    lines = [
        "# descentlab sweep",
        "",
        f"Reproduce: `{numbers.command}`",
        "",
        f"{len(result.grid)} models per optimiser ({len(lrs)} learning rates × {result.config.seeds} initial seeds), "
        f"{result.config.base.iterations} {iterations_kind(result.config.base, result.train.n_samples)}, trained "
        "as cells of stacked models (timings: timings.json). Every model of a learning rate starts from "
        "`init(seed)` for its seed, the same point for every optimiser, so the comparisons below are paired.",
        "",
        status_rule() + " Values are median [first quartile, third quartile] over seeds of the models that did "
        "not diverge.",
        "",
        f"| method | lr | {' / '.join(STATUSES)} | final training loss | final test accuracy (%) |",
        "|---|---|---|---|---|",
    ]
    for name, lr, counts, _, loss, acc in numbers.table:
        lines.append(f"| {method_label(name)} | {lr:g} | {' / '.join(str(counts[s]) for s in STATUSES)} "
                     f"| {loss} | {acc} |")
    if len(names) >= 2:
        lines += _sweep_paired_lines(result, numbers)
    lines += ["", "![median and interquartile band per optimiser and learning rate](sweep.png)", ""]
    return "\n".join(lines)
