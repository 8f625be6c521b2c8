"""What a benchmark writes: ``summary.json`` (computed once; every other view is rendered from it and the runs),
``results.parquet`` (every run), ``report.md``, ``profiles.png`` and one figure per problem, and ``report.html``
(profiles first, then one section per problem)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..experiments.config import TuneConfig
from ..experiments.statistics import KAPLAN_MEIER, STATUSES, adjust_family, paired_comparison, status_counts, verdict
from ..formats.atomic import atomic_write_bytes, atomic_write_text
from ..optim.registry import label as method_label
from .interactive import DASHES, PALETTE, _quartiles
from .report_html import FloatBlock, figure_section, write_page
from .tuned_report import BOOTSTRAP_SEED, paired_values

if TYPE_CHECKING:
    from ..benchmarking.problems import Problem
    from ..benchmarking.run import BenchmarkResult, ProblemResult
    from ..experiments.statistics import Paired

PARQUET_CURVE = "curve"  # validation loss (mlp) or f − f* (convex) at every iteration
BAND_RULE = ("[x, lowest, highest]: the profile computed from each final repetition's own costs (repetition r of "
             "every method: gradient evaluations to the target in that run, +inf when it never reached it), one "
             "profile per repetition; the band is their minimum and maximum at each x (constant up to the next x); "
             "profile_area_range: the lowest and highest area of those profiles")


def _finite(value: Any) -> Any:
    return value if not isinstance(value, float) or math.isfinite(value) else None


# -- summary.json -----------------------------------------------------------------------------------------------
def _target_rule(result: ProblemResult) -> str:
    p = result.problem
    if p.convex:
        return f"f − f* ≤ ε (f* = {p.f_star!r}) with ε"
    return f"validation loss ≤ (1 + {p.delta:g}) × the best median final validation loss of any method"


def _method_summary(result: ProblemResult, method: str) -> dict[str, Any]:
    from ..benchmarking.run import cost_to_target

    final = result.final(method)
    tune = [r for r in result.runs if r.row["phase"] == "tune" and r.row["method"] == method]
    chosen = result.choice[method]
    units = [("iterations", "target_iteration"), ("gradient evaluations", "target_grad_evals"),
             ("function evaluations", "target_func_evals")]
    if all(r.seconds is not None for r in final):  # not after --resume read this method's final cells back
        units.append(("seconds", "target_seconds"))
    costs = {unit: cost_to_target(final, key) for unit, key in units}
    measures = {}
    for key in ("test_loss", "test_accuracy", "suboptimality", "validation_loss"):
        values = [r.row[key] for r in final if r.row.get(key) is not None and r.row["status"] != "diverged"]
        measures[f"median_{key}"] = float(np.median(values)) if values else None
    return {
        "setting": chosen["setting"], "lr": chosen["lr"],
        "status": {"tune": status_counts(r.row["status"] for r in tune),
                   "final": status_counts(r.row["status"] for r in final)},
        "results": {**measures, "time_to_target": {unit: {"median": t.quartiles[1], "quartiles": list(t.quartiles),
                                                          "reached": t.reached, "runs": t.runs}
                                                   for unit, t in costs.items()}},
    }


def _paired(result: ProblemResult, methods: tuple[str, ...]) -> list[Paired]:
    """Each later method against the first on the final repetitions: test loss (mlp) or final f − f* (convex)."""
    metric, words = ("suboptimality", "final f − f*") if result.problem.convex else ("test_loss", "test loss")
    rows = [r.row for r in result.runs if r.row["phase"] == "final"]
    out = []
    for other in methods[1:]:
        a, b = paired_values(rows, methods[0], metric), paired_values(rows, other, metric)
        seeds = sorted(set(a) & set(b))
        out.append(paired_comparison([a[s] for s in seeds], [b[s] for s in seeds], words, seed=BOOTSTRAP_SEED))
    return out


def _paired_entry(p: Paired, a: str, b: str) -> dict[str, Any]:
    return {"a": a, "b": b, "metric": p.metric, "wins": p.wins, "ties": p.ties, "losses": p.losses,
            "median_difference": _finite(p.median), "interval": [_finite(p.low), _finite(p.high)],
            "p_value": p.p_value, "p_adjusted": p.p_adjusted, "verdict": verdict(p, a, b)}


def _model_text(p: Any) -> str:
    if p.kind == "quadratic":
        return f"½ xᵀAx − bᵀx in {p.dimension} dimensions, condition number κ = {p.condition:g}"
    if p.kind == "logistic":
        return f"multinomial logistic regression on {p.data}, L2 penalty λ = {p.weight_decay:g} on the weights"
    return f"MLP {'-'.join(str(h) for h in p.hidden)} {p.activation} on {p.data}"


def benchmark_summary(result: BenchmarkResult) -> dict[str, Any]:
    """Everything the report states, as JSON-ready data."""
    problems = {}
    family = adjust_family([p for r in result.problems for p in _paired(r, result.methods)])  # Holm over the report
    for i, r in enumerate(result.problems):
        p = r.problem
        problems[p.name] = {
            "kind": p.kind, "data": p.data, "model": _model_text(p), "iterations": p.iterations, "f_star": p.f_star,
            "target": {"rule": _target_rule(r), "value": _finite(r.target)},
            "costs_gradient_evaluations": {m: _finite(result.costs[m][i]) for m in result.methods},
            "methods": {m: _method_summary(r, m) for m in result.methods},
            "paired": [_paired_entry(family.pop(0), result.methods[0], other) for other in result.methods[1:]],
        }
    return {
        "methods": {m: {"profile": [list(pair) for pair in result.profiles[m]], "profile_area": result.areas[m],
                        "data_profile": [list(pair) for pair in result.data_profiles[m]],
                        "profile_band": [list(point) for point in result.profile_bands[m]],
                        "data_profile_band": [list(point) for point in result.data_profile_bands[m]],
                        "profile_area_range": list(result.area_ranges[m])} for m in result.methods},
        "profile_unit": "median gradient evaluations to the target over the final repetitions: " + KAPLAN_MEIER
                        + "; a median not reached is a cost of +inf",
        "profile_band_rule": BAND_RULE,
        "paired": "each method against the first on the final repetitions; p_value: exact sign test, p_adjusted: "
                  "Holm's correction over every comparison of this report",
        "profile_area_tau_max": 4.0,
        "problems": problems,
    }


# -- results.parquet ---------------------------------------------------------------------------------------------
def results_table(result: BenchmarkResult) -> Any:
    """Every run of every problem as one pyarrow table (rows in run order, the curve as a list column)."""
    import pyarrow as pa

    runs = [run for problem in result.problems for run in problem.runs]
    columns = list(dict.fromkeys(key for run in runs for key in run.row))
    table = pa.Table.from_pylist([{c: _finite(run.row.get(c)) for c in columns} for run in runs])
    curves = pa.array([np.where(np.isfinite(run.loss), run.loss, np.nan).tolist() for run in runs],
                      type=pa.list_(pa.float64()))
    return table.append_column(PARQUET_CURVE, curves)


def write_parquet(result: BenchmarkResult, path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(results_table(result), sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())
    return path


# -- figures -----------------------------------------------------------------------------------------------------
def bounds(result: ProblemResult, k: np.ndarray) -> dict[str, np.ndarray]:
    """The theory's curves for a convex problem at step 1/L, with the median ‖x₀ − x*‖ of the final runs:
    GD ``L‖x₀−x*‖²/(2k)``, accelerated ``2L‖x₀−x*‖²/(k+1)²`` and, on the quadratic, GD's exact linear rate
    ``(1 − 1/κ)^{2k} (f(x₀) − f*)``."""
    from ..benchmarking.problems import convex_objective

    objective, _ = convex_objective(result.problem)
    final = [r for r in result.runs if r.row["phase"] == "final"]
    distance = float(np.median([r.row["distance_to_solution"] for r in final]))
    with np.errstate(divide="ignore"):
        out = {"O(L‖x₀−x*‖²/k), GD at 1/L": objective.L * distance**2 / (2 * k),
               "O(L‖x₀−x*‖²/k²), accelerated at 1/L": 2 * objective.L * distance**2 / (k + 1) ** 2}
    if result.problem.kind == "quadratic":
        gap0 = float(np.median([r.loss[0] for r in final]))
        out["(1 − 1/κ)^(2k) (f(x₀) − f*), GD at 1/L"] = (1 - objective.mu / objective.L) ** (2 * k) * gap0
    return out


def _problem_curves(result: ProblemResult, methods: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {m: np.stack([r.loss for r in result.final(m)], axis=1) for m in methods}


def _ends(result: BenchmarkResult) -> dict[str, tuple[float, float]]:
    """Where each kind of profile is drawn from and to."""
    return {"profile": (1.0, _tau_end(result)), "data_profile": (1.0, _largest_cost(result) * 1.5)}


def _lines(result: BenchmarkResult, m: str, kind: str) -> tuple[list[float], ...]:
    """Method ``m``'s profile of ``kind`` as a step line and its band's two edges, on their own breakpoints."""
    first, last = _ends(result)[kind]
    points = {"profile": result.profiles, "data_profile": result.data_profiles}[kind][m]
    band = {"profile": result.profile_bands, "data_profile": result.data_profile_bands}[kind][m]
    xs, ys = _extended(points, first, last)
    band_xs, low = _extended([(x, lo) for x, lo, _ in band], first, last)
    return xs, ys, band_xs, low, _extended([(x, hi) for x, _, hi in band], first, last)[1]


def profiles_png(result: BenchmarkResult, path: Path) -> Path:
    """Performance profiles (left) and data profiles (right) as step lines, each with its band from the
    repetitions."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=110)
    left, right = fig.subplots(1, 2)
    for i, m in enumerate(result.methods):
        colour = PALETTE[i % len(PALETTE)]
        for ax, kind, name in ((left, "profile", f"{method_label(m)} (area {result.areas[m]:.3f})"),
                               (right, "data_profile", method_label(m))):
            xs, ys, band_xs, low, high = _lines(result, m, kind)
            ax.step(xs, ys, where="post", color=colour, linestyle=["-", "--", "-.", ":"][i % 4], label=name)
            ax.fill_between(band_xs, low, high, step="post", color=colour, alpha=0.12, linewidth=0)
    left.set(xscale="log", xlabel="τ (cost ratio to the best method)", ylabel="ρ_s(τ): fraction of problems",
             title="Performance profiles (band: min–max over repetitions)", ylim=(-0.03, 1.03))
    right.set(xscale="log", xlabel="κ (gradient evaluations)", ylabel="d_s(κ): fraction of problems",
              title="Data profiles (band: min–max over repetitions)", ylim=(-0.03, 1.03))
    left.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def _tau_end(result: BenchmarkResult) -> float:
    """Where every performance profile is drawn to: past the largest ratio any method reached (at least τ = 8)."""
    return max([8.0, *(1.2 * tau for profile in result.profiles.values() for tau, _ in profile)])


def _largest_cost(result: BenchmarkResult) -> float:
    finite = [c for costs in result.costs.values() for c in costs if math.isfinite(c)]
    return max(finite, default=10.0)


def _extended(points: list[tuple[float, float]], first: float, last: float) -> tuple[list[float], list[float]]:
    """Breakpoints as a step line from ``first`` (0 before the first breakpoint) to ``last``."""
    xs, ys = [first], [0.0 if not points or points[0][0] > first else points[0][1]]
    for x, y in points:
        xs.append(max(x, first))
        ys.append(y)
    xs.append(max(last, xs[-1]))
    ys.append(ys[-1])
    return xs, ys


def problem_png(result: ProblemResult, methods: tuple[str, ...], path: Path) -> Path:
    """The final runs' curves of one problem, median and interquartile band: f − f* on a log axis with the
    theory's bounds (convex), or the validation loss (mlp)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), dpi=110)
    ax = fig.subplots()
    curves = _problem_curves(result, methods)
    k = np.arange(next(iter(curves.values())).shape[0])
    for i, (m, values) in enumerate(curves.items()):
        q1, median, q3 = _quartiles(values)
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(k, median, color=colour, label=method_label(result.choice[m]["setting"]))
        ax.fill_between(k, q1, q3, color=colour, alpha=0.18, linewidth=0)
    if result.problem.convex:
        for j, (name, values) in enumerate(bounds(result, k[1:]).items()):
            ax.plot(k[1:], values, color="0.35", linestyle=DASH_STYLES[j % 3], linewidth=1, label=name)
        ax.set_ylim(bottom=max(1e-16, float(np.nanmin([np.nanmin(np.where(v > 0, v, np.nan)) for v in curves.values()
                                                        ])) / 10))
    ax.axhline(result.target, color="0.6", linewidth=0.8, linestyle=":", label="target")
    ax.set(yscale="log", xlabel="iteration k", ylabel="f − f*" if result.problem.convex else "validation loss",
           title=f"{result.problem.name}: final runs, median and interquartile band")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


DASH_STYLES = ("--", "-.", ":")


def _save(fig: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return path


# -- report.md ---------------------------------------------------------------------------------------------------
def _number(value: float | None) -> str:
    return "∞ (no method trains)" if value is None else f"{value:.6g}"


def _cost_text(t: dict[str, Any]) -> str:
    median = "not reached" if t["median"] is None else f"{t['median']:.0f}"
    return f"{median} ({t['reached']}/{t['runs']})"


def render_markdown(summary: dict[str, Any], command: str) -> str:
    """report.md: the profiles, then one section per problem."""
    methods = list(summary["methods"])
    lines = ["# descentlab benchmark", "", f"Command: `{command}`", "",
             "Every method is tuned on every problem by the protocol of `sweep --tune` (choice on the tune "
             "repetitions, results on fresh final repetitions, test rows held out of everything; convex problems "
             "choose on the final f − f* of their fixed objective). A method's cost on a problem is the median "
             "number of gradient evaluations its final runs need to reach the problem's target, by the " + KAPLAN_MEIER
             + "; a median not reached is a cost of ∞. The bands are the lowest and highest profile of the "
             "repetitions: the same profile computed from each final repetition's own costs.", "",
             "## Performance profiles", "", "![performance and data profiles](profiles.png)", "",
             "| method | area under ρ over τ ∈ [1, 4] | lowest – highest over the repetitions | problems solved |",
             "|---|---:|---:|---:|"]
    for m in methods:
        solved = sum(p["costs_gradient_evaluations"][m] is not None for p in summary["problems"].values())
        low, high = summary["methods"][m]["profile_area_range"]
        lines.append(f"| {m} | {summary['methods'][m]['profile_area']:.3f} | {low:.3f} – {high:.3f} | "
                     f"{solved}/{len(summary['problems'])} |")
    for name, p in summary["problems"].items():
        lines += ["", f"## {name}", "", f"{p['model']}, {p['iterations']} iterations; target: "
                  f"{p['target']['rule']} = {_number(p['target']['value'])}.", "",
                  f"![{name}](figures/{name}.png)", "",
                  f"| method | chosen setting | tune {'/'.join(STATUSES)} | final {'/'.join(STATUSES)} | median test "
                  "loss | median f − f* | gradient evaluations to target (reached) |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for m, s in p["methods"].items():
            r = s["results"]
            cells = [f"{r[k]:.4g}" if r[k] is not None else "–" for k in ("median_test_loss", "median_suboptimality")]
            lines.append(f"| {m} | `{s['setting']}` | {'/'.join(str(v) for v in s['status']['tune'].values())} | "
                         f"{'/'.join(str(v) for v in s['status']['final'].values())} | {cells[0]} | {cells[1]} | "
                         f"{_cost_text(r['time_to_target']['gradient evaluations'])} |")
        for pair in p["paired"]:
            low, high = pair["interval"]
            interval = "–" if low is None else f"[{low:.4g}, {high:.4g}]"
            lines += ["", f"{pair['b']} vs {pair['a']} on {pair['metric']}: {pair['wins']}/{pair['ties']}/"
                      f"{pair['losses']} wins/ties/losses, median difference 95 % interval {interval}, sign test "
                      f"p = {pair['p_value']:.3g} (Holm-adjusted over this report: {pair['p_adjusted']:.3g}): "
                      f"{pair['verdict']}."]
    return "\n".join(lines) + "\n"


# -- report.html -------------------------------------------------------------------------------------------------
def _step_traces(result: BenchmarkResult, m: str, kind: str, colour: str, block: FloatBlock,
                 axes: tuple[str, str]) -> list[dict[str, Any]]:
    """Method ``m``'s profile of ``kind`` as a step line over its band from the repetitions (two edges, filled)."""
    xs, ys, band_xs, low, high = _lines(result, m, kind)
    where = {"xaxis": axes[0], "yaxis": axes[1], "legendgroup": m}
    edge = {"type": "scatter", "mode": "lines", "x": block.add(band_xs), "showlegend": False, "hoverinfo": "skip",
            "line": {"shape": "hv", "width": 0, "color": colour}, **where}
    return [{**edge, "y": block.add(low)}, {**edge, "y": block.add(high), "fill": "tonexty"},
            {"type": "scatter", "mode": "lines", "name": m, "x": block.add(xs), "y": block.add(ys),
             "line": {"shape": "hv", "color": colour}, "showlegend": axes[0] == "x", **where}]


def profiles_figure(result: BenchmarkResult, block: FloatBlock) -> dict[str, Any]:
    data = []
    for i, m in enumerate(result.methods):
        colour = PALETTE[i % len(PALETTE)]
        data += _step_traces(result, m, "profile", colour, block, ("x", "y"))
        data += _step_traces(result, m, "data_profile", colour, block, ("x2", "y2"))
    layout = {"height": 420, "grid": {"rows": 1, "columns": 2, "pattern": "independent"},
              "xaxis": {"type": "log", "title": {"text": "τ (cost ratio to the best)"}},
              "yaxis": {"range": [-0.03, 1.03], "title": {"text": "ρ_s(τ)"}},
              "xaxis2": {"type": "log", "title": {"text": "κ (gradient evaluations)"}},
              "yaxis2": {"range": [-0.03, 1.03], "title": {"text": "d_s(κ)"}},
              "title": {"text": "<b>Performance profiles (left) and data profiles (right)</b>, band: min–max over "
                                "repetitions", "font": {"size": 14}}}
    return {"id": "profiles", "data": data, "layout": layout}


def problem_figure(result: ProblemResult, methods: tuple[str, ...], block: FloatBlock, index: int
                   ) -> dict[str, Any]:
    curves = _problem_curves(result, methods)
    k = np.arange(next(iter(curves.values())).shape[0])
    k_ref = block.add(k)
    data: list[dict[str, Any]] = []
    for i, (m, values) in enumerate(curves.items()):
        q1, median, q3 = _quartiles(values)
        colour = PALETTE[i % len(PALETTE)]
        band = {"type": "scatter", "mode": "lines", "x": k_ref, "line": {"width": 0, "color": colour},
                "legendgroup": m, "showlegend": False, "hoverinfo": "skip"}
        data += [{**band, "y": block.add(q1)}, {**band, "y": block.add(q3), "fill": "tonexty"},
                 {"type": "scatter", "mode": "lines", "x": k_ref, "y": block.add(median), "legendgroup": m,
                  "name": result.choice[m]["setting"], "line": {"color": colour}}]
    if result.problem.convex:
        for j, (name, values) in enumerate(bounds(result, k[1:]).items()):
            data.append({"type": "scatter", "mode": "lines", "x": block.add(k[1:]), "y": block.add(values),
                         "name": name, "line": {"color": "#555", "width": 1, "dash": DASHES[1 + j % 4]}})
    layout = {"height": 420, "xaxis": {"title": {"text": "iteration k"}},
              "yaxis": {"type": "log", "title": {"text": "f − f*" if result.problem.convex else "validation loss"}},
              "title": {"text": f"<b>{result.problem.name}</b>: final runs, median and interquartile band",
                        "font": {"size": 14}}}
    return {"id": f"problem-{index}", "data": data, "layout": layout}


def write_benchmark(result: BenchmarkResult, out: Path, command: str) -> dict[str, Any]:
    """Write every file of a benchmark into ``out``; returns the summary."""
    summary = benchmark_summary(result)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    write_parquet(result, out / "results.parquet")
    markdown = render_markdown(summary, command)
    atomic_write_text(out / "report.md", markdown)
    (out / "figures").mkdir(exist_ok=True)
    profiles_png(result, out / "profiles.png")
    for problem in result.problems:
        problem_png(problem, result.methods, out / "figures" / f"{problem.problem.name}.png")
    block = FloatBlock()
    figures = [profiles_figure(result, block)]
    figures += [problem_figure(p, result.methods, block, i) for i, p in enumerate(result.problems)]
    write_page(out / "report.html", "descentlab benchmark", markdown, figures,
               [figure_section(f["id"], []) for f in figures], block)
    return summary


def benchmark(suite: str | Sequence[Problem] = "small", optimizers: Sequence[str] = ("gd", "nag"),
              lrs: Sequence[float] = TuneConfig.lrs, seeds: int = 5, iterations: int | None = None,
              problems: Sequence[str] | None = None, out: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None, engine: str = "numpy", cell_size: int = 64) -> BenchmarkResult:
    """Run a benchmark from Python: every problem of ``suite`` by the tuned protocol, then the profiles.

    Parameters
    ----------
    suite : ``"small"``, the path of a TOML suite, or a list of :class:`~descentlab.benchmarking.problems.Problem`
    optimizers : methods as ``sweep --tune`` takes them (list values allowed: ``"momentum:mu=0.5,0.9"``)
    lrs : the learning-rate grid of problems that set none of their own
    seeds : repetitions R of each phase
    iterations : iterations of every problem (default: each problem's own)
    problems : names of the suite's problems to run (default: all)
    out : a folder to write summary.json, results.parquet, report.md, report.html and the figures into; an MLP
        problem's cells are saved there as they finish, so the same call again finishes only what is missing
    workers, scheduler : run the cells on a new local Dask cluster of ``workers`` processes, or on the cluster
        at ``scheduler`` (default: in this process)

    Returns
    -------
    BenchmarkResult
        Per problem every run, the chosen settings and the target; per method its cost on each problem (median
        gradient evaluations to the target), performance and data profiles and the area under its profile.
    """
    from contextlib import nullcontext

    from ..benchmarking.problems import suite as read_suite
    from ..benchmarking.problems import with_options
    from ..benchmarking.run import run_benchmark
    from ..experiments.cluster import dask_client
    from ..optim.spec import parse_methods

    chosen = read_suite(suite) if isinstance(suite, str) else list(suite)
    if problems is not None:
        chosen = [p for p in chosen if p.name in set(problems)]
    chosen = with_options(chosen, iterations, None)
    methods = parse_methods(",".join(optimizers)).methods
    folder = Path(out) if out is not None else None
    remote = workers is not None or scheduler is not None
    with dask_client(workers=workers, scheduler=scheduler, dashboard=False) if remote else nullcontext() as client:
        result = run_benchmark(chosen, methods, lrs, seeds, client, folder, cell_size, engine)
    if folder is not None:
        write_benchmark(result, folder, "descentlab.benchmark(...)")
    return result
