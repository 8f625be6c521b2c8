"""Statistics of many runs: each run's status, time to a target counting the runs that never reach it, and
paired comparisons with a seeded bootstrap interval.

Every function here works on plain arrays of final metrics (what ``sweep.csv`` holds), so that a report's
numbers can be recomputed from that file alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

STATUSES = ("ok", "stuck", "diverged")
STUCK_TOLERANCE = 0.01
"""A run is ``stuck`` when its final training loss is above ``(1 − STUCK_TOLERANCE)`` times the loss of
predicting the training-set class frequencies: within 1 % of what a network that learned nothing but the
class sizes achieves."""
BOOTSTRAP_RESAMPLES = 10_000
MIN_PAIRS = 5
"""Below this many finite pairs no direction is claimed: a bootstrap of 2–4 values says little."""
TIE = 1e-12
"""Two paired values closer than this (absolute) are a tie: equal accuracies, or the same loss to rounding."""


# -- status -----------------------------------------------------------------------------------------------------
def chance_loss(y: np.ndarray, n_classes: int) -> float:
    """Mean cross-entropy of predicting every sample with the class frequencies of ``y``: −Σ_c p_c ln p_c.

    It is the smallest loss a network can reach without looking at the features (ln 3 for three equal
    classes), so a final training loss at that level means the run learned nothing.
    """
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))


def run_status(train_loss: float, diverged: bool, chance: float, tolerance: float = STUCK_TOLERANCE) -> str:
    """``"diverged"`` (a non-finite loss or gradient stopped the run), ``"stuck"`` (final training loss no lower
    than ``(1 − tolerance) · chance``, see :func:`chance_loss`) or ``"ok"``."""
    if diverged or not math.isfinite(train_loss):
        return "diverged"
    return "stuck" if train_loss > (1.0 - tolerance) * chance else "ok"


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    """How many runs have each status, every status present (zero counts included), in ``STATUSES`` order."""
    counts = dict.fromkeys(STATUSES, 0)
    for status in statuses:
        counts[status] += 1
    return counts


def counts_text(counts: dict[str, int]) -> str:
    """``"8 ok, 2 stuck, 0 diverged"``."""
    return ", ".join(f"{counts[s]} {s}" for s in STATUSES)


# -- time to a target -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeToTarget:
    """How many of ``runs`` runs reached a target, and the quartiles of the iteration at which they did, with
    a run that never reached it counted as later than any iteration (a quartile that falls on such runs is
    ``None``, "never")."""

    reached: int
    runs: int
    quartiles: tuple[float | None, float | None, float | None]

    def __str__(self) -> str:
        q1, median, q3 = (_iterations(q) for q in self.quartiles)
        return f"{median} [{q1}, {q3}] ({self.reached} of {self.runs} reached it)"


def _iterations(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f}"


def censored_quantile(times: Sequence[float | None], q: float) -> float | None:
    """Quantile ``q`` of ``times`` with ``None`` (never reached) above every number: NumPy's default (linear)
    quantile of the sorted values, ``None`` when it involves a run that never reached the target."""
    if not times:
        return None
    ordered = sorted(times, key=lambda t: (t is None, t if t is not None else 0.0))
    h = (len(ordered) - 1) * q
    lo, hi = math.floor(h), math.ceil(h)
    low, high = ordered[lo], ordered[hi]
    if low is None or (high is None and h > lo):
        return None
    if high is None:
        return float(low)
    return float(low + (h - lo) * (high - low))


def time_to_target(times: Sequence[float | None]) -> TimeToTarget:
    """Count and quartiles of first-reaching iterations; ``None`` means the run never reached the target."""
    quartiles = tuple(censored_quantile(times, q) for q in (0.25, 0.5, 0.75))
    reached = sum(t is not None for t in times)
    return TimeToTarget(reached, len(times), quartiles)  # type: ignore[arg-type]


# -- paired comparisons -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Paired:
    """Method ``b`` against method ``a`` on the same repetitions (same split, same initial point).

    ``wins`` counts pairs where ``b`` is better (lower loss, or higher accuracy, by more than ``TIE``), ``losses``
    where it is worse. A non-finite value (a diverged run) is worse than any finite one; two of them tie.
    ``median`` is the median of ``b − a`` over the ``n_finite`` pairs where both are finite, ``low``/``high`` the
    95 % percentile bootstrap interval of that median (``resamples`` resamples of the pairs drawn by
    ``numpy.random.default_rng(seed)``); all NaN without a finite pair.
    """

    metric: str
    higher_is_better: bool
    wins: int
    ties: int
    losses: int
    n_finite: int
    median: float
    low: float
    high: float
    seed: int
    resamples: int

    @property
    def pairs(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def clear(self) -> bool:
        """The interval excludes zero: the data show a difference in one direction."""
        return self.n_finite > 0 and (self.low > 0.0 or self.high < 0.0)

    @property
    def b_better(self) -> bool:
        """``b`` is clearly better (only meaningful when :attr:`clear`)."""
        return (self.low > 0.0) if self.higher_is_better else (self.high < 0.0)


def bootstrap_median_interval(
    differences: np.ndarray, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``differences``: ``resamples`` draws of the same size
    with replacement from ``numpy.random.default_rng(seed)``, all at once."""
    d = np.asarray(differences, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    medians = np.median(d[rng.integers(0, d.size, size=(resamples, d.size))], axis=1)
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(medians, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_comparison(
    a: Sequence[float], b: Sequence[float], metric: str, higher_is_better: bool = False, seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Paired:
    """Compare paired values of two methods (see :class:`Paired`); ``a[i]`` and ``b[i]`` share repetition i."""
    a_, b_ = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_.shape != b_.shape or a_.ndim != 1:
        raise ValueError(f"paired values need equal 1-D shapes, got {a_.shape} and {b_.shape}")
    sign = 1.0 if higher_is_better else -1.0
    worst = -math.inf if higher_is_better else math.inf
    score_a = sign * np.where(np.isfinite(a_), a_, worst)
    score_b = sign * np.where(np.isfinite(b_), b_, worst)
    both_bad = ~np.isfinite(a_) & ~np.isfinite(b_)
    with np.errstate(invalid="ignore"):
        gain = np.where(both_bad, 0.0, score_b - score_a)
    finite = np.isfinite(a_) & np.isfinite(b_)
    differences = b_[finite] - a_[finite]
    low, high = bootstrap_median_interval(differences, seed, resamples)
    return Paired(
        metric=metric, higher_is_better=higher_is_better, wins=int(np.sum(gain > TIE)),
        ties=int(np.sum(np.abs(gain) <= TIE)), losses=int(np.sum(gain < -TIE)), n_finite=int(finite.sum()),
        median=float(np.median(differences)) if differences.size else math.nan, low=low, high=high, seed=seed,
        resamples=resamples,
    )


def verdict(p: Paired, a: str, b: str) -> str:
    """The sentence the numbers allow: which method is better on ``p.metric``, or "no clear difference"."""
    if p.n_finite == 0:
        return f"no pair where both runs stayed finite: no difference in {p.metric} can be estimated"
    if p.n_finite < MIN_PAIRS:
        return f"too few pairs ({p.n_finite}) to tell a difference in {p.metric}"
    if not p.clear:
        return f"no clear difference in {p.metric} (the 95 % interval contains 0)"
    better, worse = (b, a) if p.b_better else (a, b)
    direction = "higher" if p.higher_is_better else "lower"
    return f"{better} has the {direction} {p.metric} (the 95 % interval excludes 0), {worse} the worse one"
