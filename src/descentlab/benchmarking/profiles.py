r"""Aggregation across problems: Dolan–Moré performance profiles, Moré–Wild data profiles and the area under a
performance profile (docs/benchmark.md).

``costs[s][p]`` is the cost of method s on problem p, ``math.inf`` when it never solved p (here: the median time
to target over the repetitions, ``inf`` when fewer than half reached it).

* Performance profile (Dolan & Moré 2002): with the ratio :math:`r_{p,s} = t_{p,s} / \min_{s'} t_{p,s'}`
  (``inf`` when s did not solve p, and for every method on a problem no method solved),
  :math:`\rho_s(\tau) = |\{p : r_{p,s} \le \tau\}| / n_p`.
* Data profile (Moré & Wild 2009): :math:`d_s(\kappa) = |\{p : t_{p,s} \le \kappa\}| / n_p`, κ in gradient
  evaluations (one gradient gives every partial derivative, so Moré–Wild's n_p + 1 evaluations per simplex
  gradient becomes 1).
* Area (as AlgoPerf scores): :math:`\frac{1}{\tau_{\max} - 1}\int_1^{\tau_{\max}} \rho_s(\tau)\,d\tau`, in [0, 1],
  τ_max = 4.
* Band from the repetitions: the same profile computed from each repetition's own table of costs (repetition r of
  every method, r = 1 … R), R profiles per method; the band is their lowest and highest value at every τ (κ).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

TAU_MAX = 4.0


def _steps(values: Sequence[float], start: float | None, n_problems: int) -> list[tuple[float, float]]:
    """The breakpoints of τ ↦ |{values ≤ τ}| / n_problems: ``(start, ρ(start))`` then each finite value above."""
    finite = sorted(v for v in values if math.isfinite(v))
    points = [] if start is None else [(start, sum(v <= start for v in finite) / n_problems)]
    for value in dict.fromkeys(finite):
        if start is None or value > start:
            points.append((value, sum(v <= value for v in finite) / n_problems))
    return points


def ratios(costs: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """``r_{p,s}``: each method's cost over the best method's on that problem (``inf``: not solved, or no method
    solved the problem)."""
    columns = list(zip(*costs.values(), strict=True))
    best = [min(column) for column in columns]
    return {s: [t / b if math.isfinite(t) and math.isfinite(b) else math.inf for t, b in zip(row, best, strict=True)]
            for s, row in costs.items()}


def performance_profile(costs: Mapping[str, Sequence[float]]) -> dict[str, list[tuple[float, float]]]:
    """Each method's ρ_s as ``(τ, ρ)`` breakpoints: τ = 1 first, then every ratio it reaches; ρ stays constant
    between breakpoints and after the last."""
    return {s: _steps(r, 1.0, len(r)) for s, r in ratios(costs).items()}


def data_profile(costs: Mapping[str, Sequence[float]]) -> dict[str, list[tuple[float, float]]]:
    """Each method's d_s as ``(κ, d)`` breakpoints, one per distinct cost it solved a problem within
    (d = 0 below the first)."""
    return {s: _steps(row, None, len(row)) for s, row in costs.items()}


def profile_area(profile: Sequence[tuple[float, float]], tau_max: float = TAU_MAX) -> float:
    """The mean of ρ over [1, τ_max] of a step profile given by its breakpoints (first at τ = 1)."""
    area = 0.0
    for (tau, rho), (next_tau, _) in zip(profile, [*profile[1:], (tau_max, 0.0)], strict=True):
        area += rho * max(0.0, min(next_tau, tau_max) - min(tau, tau_max))
    return area / (tau_max - 1.0)


def step_value(points: Sequence[tuple[float, float]], x: float) -> float:
    """A step profile's value at ``x``: that of its last breakpoint at or before ``x`` (0 before the first)."""
    value = 0.0
    for at, rho in points:
        if at > x:
            break
        value = rho
    return value


def band(profiles: Sequence[Sequence[tuple[float, float]]]) -> list[tuple[float, float, float]]:
    """The min–max envelope of step profiles as ``(x, lowest, highest)`` breakpoints, one at every breakpoint of
    any of them (both bounds constant between them)."""
    xs = sorted({x for profile in profiles for x, _ in profile})
    return [(x, min(step_value(p, x) for p in profiles), max(step_value(p, x) for p in profiles)) for x in xs]


def profile_bands(tables: Sequence[Mapping[str, Sequence[float]]], profile: Callable[..., Any] = performance_profile
                  ) -> dict[str, list[tuple[float, float, float]]]:
    """Each method's band of ``profile`` (:func:`performance_profile` or :func:`data_profile`) over the
    repetitions, ``tables[r]`` being repetition r's costs."""
    profiles = [profile(table) for table in tables]
    return {s: band([p[s] for p in profiles]) for s in tables[0]}


def area_range(tables: Sequence[Mapping[str, Sequence[float]]]) -> dict[str, tuple[float, float]]:
    """Each method's lowest and highest :func:`profile_area` over the repetitions' performance profiles."""
    areas = [{s: profile_area(p) for s, p in performance_profile(table).items()} for table in tables]
    return {s: (min(a[s] for a in areas), max(a[s] for a in areas)) for s in tables[0]}
