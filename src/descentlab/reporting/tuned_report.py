"""The files of a tuned comparison: ``sweep.csv`` (one row per model), ``summary.json``, ``report.md``,
``report.html`` and the figure ``sweep.png``. Every number in the report is computed from the rows that
``sweep.csv`` holds."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..experiments.cells import ROW_FIELDS
from ..experiments.results import Tuned
from ..experiments.statistics import (
    BOOTSTRAP_RESAMPLES,
    DIVERGED_FACTOR,
    LEVEL,
    MULTIPLICITY,
    STUCK_TOLERANCE,
    Paired,
    adjust_family,
    counts_text,
    paired_comparison,
    status_counts,
    status_rule,
    verdict,
)
from ..formats.atomic import atomic_write_text
from ..optim.registry import label as method_label
from .report import command_line, iterations_kind, paired_row, quartiles, quartiles_text

PAIRED_METRICS = (("train_loss", "training loss", False), ("test_loss", "test loss", False),
                  ("test_accuracy", "test accuracy", True))
BOOTSTRAP_SEED = 0


def tuned_csv(tuned: Tuned) -> str:
    """``sweep.csv``: the fields ``ROW_FIELDS`` of every model, floats written exactly (``repr``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ROW_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in tuned.rows:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return buffer.getvalue()


def paired_values(rows: list[dict[str, Any]], method: str, metric: str) -> dict[int, float]:
    """Per seed, a method's value of ``metric``; a diverged run's value is NaN (worse than any other)."""
    return {r["seed"]: (math.nan if r["status"] == "diverged" else r[metric]) for r in rows if r["method"] == method}


def final_comparisons(tuned: Tuned) -> dict[str, list[Paired]]:
    """Every later method against the first, on the final phase's shared repetitions, one :class:`Paired` per
    metric of ``PAIRED_METRICS`` (bootstrap seed ``BOOTSTRAP_SEED``); all of them form one family for Holm's
    correction (:func:`~descentlab.experiments.statistics.adjust_family`)."""
    rows = tuned.phase_rows("final")
    methods = list(tuned.config.methods)
    out: dict[str, list[Paired]] = {}
    for other in methods[1:]:
        out[other] = []
        for metric, words, higher in PAIRED_METRICS:
            a, b = paired_values(rows, methods[0], metric), paired_values(rows, other, metric)
            seeds = sorted(set(a) & set(b))
            out[other].append(paired_comparison([a[s] for s in seeds], [b[s] for s in seeds], words, higher,
                                                seed=BOOTSTRAP_SEED))
    family = iter(adjust_family([p for ps in out.values() for p in ps]))
    return {other: [next(family) for _ in ps] for other, ps in out.items()}


def _number(value: float) -> float | None:
    """JSON has no NaN or infinity: an estimate that does not exist (or a median of failed runs) is null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class TunedNumbers:
    """A tuned sweep's summary, computed once (:func:`tuned_numbers`); summary.json, report.md, report.html and
    the terminal are rendered from it."""

    comparisons: dict[str, list[Paired]]  # :func:`final_comparisons`'s
    summary: dict[str, Any]  # summary.json's content


def tuned_numbers(tuned: Tuned) -> TunedNumbers:
    """The paired comparisons of the final phase, and summary.json's content made with them."""
    comparisons = final_comparisons(tuned)
    return TunedNumbers(comparisons, tuned_summary(tuned, comparisons))


def tuned_summary(tuned: Tuned, comparisons: dict[str, list[Paired]]) -> dict[str, Any]:
    """``summary.json``: the protocol, and per method its chosen setting and lr, status counts of both phases,
    final-phase spreads (runs that did not diverge) and the paired ``comparisons`` with the first method."""
    c = tuned.config
    methods: dict[str, Any] = {}
    for method in c.methods:
        chosen = tuned.choice[method]
        final = [r for r in tuned.phase_rows("final") if r["method"] == method]
        ok = [r for r in final if r["status"] != "diverged"]
        methods[method] = {
            "setting": chosen["setting"], "lr": chosen["lr"],
            "median_validation_loss": _number(chosen["median_validation_loss"]), "edge_of_grid": chosen["edge"],
            "failed_tune_runs": chosen["failed"], "warning": chosen["warning"],
            "status": {phase: status_counts(r["status"] for r in tuned.phase_rows(phase) if r["method"] == method)
                       for phase in ("tune", "final")},
            "final": {m: quartiles(r[m] for r in ok) for m in ("train_loss", "test_loss", "test_accuracy")},
        }
    paired = {other: [{"metric": p.metric, "wins": p.wins, "ties": p.ties, "losses": p.losses,
                       "finite_pairs": p.n_finite, "median_difference": _number(p.median),
                       "interval_95": [_number(p.low), _number(p.high)], "p_value": p.p_value,
                       "p_adjusted": p.p_adjusted, "verdict": verdict(p, c.methods[0], other)} for p in ps]
              for other, ps in comparisons.items()}
    return {
        "command": command_line(c),
        "protocol": {"repetitions": c.repetitions, "tune_seeds": [0, c.repetitions - 1],
                     "final_seeds": [c.repetitions, 2 * c.repetitions - 1], "validation_size": c.validation_size,
                     "test_size": c.base.test_size, "split_seed": c.split_seed, "engine": c.base.engine,
                     "iterations": c.base.iterations, "lrs": list(c.lrs),
                     "stuck_tolerance": STUCK_TOLERANCE, "diverged_factor": DIVERGED_FACTOR,
                     "bootstrap_seed": BOOTSTRAP_SEED,
                     "bootstrap_resamples": BOOTSTRAP_RESAMPLES, "test": "exact two-sided sign test",
                     "multiplicity": "Holm (1979) over every paired comparison of the report",
                     "family_error_rate": LEVEL},
        "seconds": tuned.seconds,
        "methods": methods,
        "paired_with": c.methods[0],
        "paired": paired,
    }


def _protocol_lines(tuned: Tuned, summary: dict[str, Any]) -> list[str]:
    c = tuned.config
    R = c.repetitions
    return [
        f"Reproduce: `{summary['command']}`",
        "",
        "## Protocol",
        "",
        f"- The test rows ({c.base.test_size:g} of the data, stratified) are drawn once, from split seed "
        f"{c.split_seed}, and held out of everything: `split.json` lists every part's rows, and no repetition's "
        "training or validation part holds a test row.",
        f"- Repetition r draws its own stratified train/validation split of the other rows (validation "
        f"{c.validation_size:g} of the data) and its own initial point from seed r.",
        f"- **Tune**: every method at every setting of its grid on repetitions 0–{R - 1}; the chosen setting has "
        "the fewest stuck or diverged runs, then the smallest median final *validation* loss (a failed run counts "
        "as +∞; ties go to the smaller learning rate); a chosen setting whose runs are not all `ok` is flagged. The "
        "test data play no part in the choice.",
        f"- **Final**: each method at its chosen setting on the fresh repetitions {R}–{2 * R - 1}; the methods share "
        "each repetition's split and initial point, so their results are paired.",
        f"- {c.base.iterations} {iterations_kind(c.base)} per run. {status_rule()}",
        f"- Trained in {tuned.seconds:.1f} s (machine-dependent).",
        "",
    ]


def _tuning_lines(tuned: Tuned) -> list[str]:
    from ..experiments.results import tuning_curve

    lines = ["## Tuning curve (phase tune)", "",
             "Median final validation loss over the tune repetitions, per setting; the chosen one in bold.", "",
             "| method | setting | median validation loss | status |", "|---|---|---:|---|"]
    curve = tuning_curve(tuned.rows)
    for method, points in curve.items():
        for setting, _, loss in points:
            runs = [r for r in tuned.phase_rows("tune") if r["setting"] == setting and r["method"] == method]
            mark = "**" if setting == tuned.choice[method]["setting"] else ""
            lines.append(f"| {method_label(method)} | {mark}`{setting}`{mark} | {mark}{loss:.4f}{mark} | "
                         f"{counts_text(status_counts(r['status'] for r in runs))} |")
    lines += ["", "## Chosen settings", ""]
    for method, chosen in tuned.choice.items():
        note = ""
        if chosen["edge"] is not None:
            direction = "smaller" if chosen["edge"] == "smallest" else "larger"
            note = (f" This is the {chosen['edge']} learning rate of the grid: extend the grid to {direction} "
                    "values, the best one may lie beyond it.")
        if chosen["warning"] is not None:
            note += f" **Warning: {chosen['warning']}.**"
        lines.append(f"- **{method_label(method)}**: `{chosen['setting']}` (median validation loss "
                     f"{chosen['median_validation_loss']:.4f}).{note}")
    return lines


def _final_lines(tuned: Tuned, summary: dict[str, Any]) -> list[str]:
    c = tuned.config
    lines = ["", f"## Final phase (repetitions {c.repetitions}–{2 * c.repetitions - 1})", "",
             "Median [first quartile, third quartile] over the repetitions whose run did not diverge.", "",
             "| method | setting | status (tune) | status (final) | training loss | test loss | test accuracy (%) |",
             "|---|---|---|---|---:|---:|---:|"]
    for method, m in summary["methods"].items():
        f = m["final"]
        lines.append(f"| {method_label(method)} | `{m['setting']}` | {counts_text(m['status']['tune'])} | "
                     f"{counts_text(m['status']['final'])} | {quartiles_text(f['train_loss'])} | "
                     f"{quartiles_text(f['test_loss'])} | {quartiles_text(f['test_accuracy'], 100.0, '.1f')} |")
    return lines


def _paired_lines(tuned: Tuned, comparisons: dict[str, list[Paired]]) -> list[str]:
    first = tuned.config.methods[0]
    if not comparisons:
        return []
    lines = ["", f"## Paired comparison with {method_label(first)} (final phase, each at its own chosen setting)", "",
             f"Per repetition, the other method's value minus {method_label(first)}'s. Wins / ties / losses count "
             "the repetitions where the other method is better / equal / worse (a diverged run is worse than any "
             "other); the median difference and its 95 % bootstrap interval (percentile, "
             f"{BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}) cover the pairs where both runs stayed "
             f"finite. Test accuracy differences are in percentage points. {MULTIPLICITY}.", "",
             "| method | metric | wins / ties / losses | median difference [95 % interval] | p (sign test) | "
             "p (Holm) | reading |",
             "|---|---|---|---|---:|---:|---|"]
    for other, ps in comparisons.items():
        lines += [paired_row([method_label(other)], p, first, other, " points") for p in ps]
    return lines


def render_tuned_report(tuned: Tuned, numbers: TunedNumbers) -> str:
    """Markdown of report.md for a tuned comparison."""
    summary = numbers.summary
    lines = ["# descentlab tuned comparison", "", *_protocol_lines(tuned, summary), *_tuning_lines(tuned),
             *_final_lines(tuned, summary), *_paired_lines(tuned, numbers.comparisons), "",
             "![tuning curves (left) and the final phase's training loss (right)](sweep.png)", "",
             "Every number on this page can be recomputed from `sweep.csv` (one row per model).", ""]
    return "\n".join(lines)


def write_tuned(tuned: Tuned, out: str | Path, runs: bool = False, numbers: TunedNumbers | None = None) -> list[Path]:
    """Write ``sweep.csv``, ``split.json``, ``summary.json``, ``report.md``, ``sweep.png`` (``runs``: each final
    repetition's curve too) and ``report.html`` into ``out`` (each atomically), rendered from ``numbers``
    (:func:`tuned_numbers`'s, computed here when not given)."""
    from .interactive import write_tuned_html
    from .plots import plot_tuned

    out = Path(out)
    numbers = numbers if numbers is not None else tuned_numbers(tuned)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.csv", tuned_csv(tuned))
    atomic_write_text(out / "split.json", json.dumps(tuned.split) + "\n")
    atomic_write_text(out / "summary.json", json.dumps(numbers.summary, indent=2) + "\n")
    plot_tuned(tuned, out / "sweep.png", runs)
    report = render_tuned_report(tuned, numbers)
    atomic_write_text(out / "report.md", report)
    write_tuned_html(tuned, report, out / "report.html")
    return [out / name for name in ("sweep.csv", "split.json", "summary.json", "sweep.png", "report.md",
                                    "report.html")]
