"""Statistics of many runs: each run's status, time to a target by Kaplan–Meier (runs that never reach it
censored), and paired comparisons: exact sign tests with Holm's correction over a report's family, and a seeded
(cluster) bootstrap interval of the median difference. docs/statistics.md explains each with its reference.

Every function here works on plain arrays of final metrics (what ``sweep.csv`` holds), so that a report's
numbers can be recomputed from that file alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

STATUSES = ("ok", "high-loss", "stuck", "diverged")
"""Every status a run can have, in the order tables list them (see :func:`run_status`)."""
STUCK_TOLERANCE = 0.01
"""The margin of ``stuck``: a final training loss above ``(1 − STUCK_TOLERANCE)`` times the chance loss, and a
training accuracy no more than ``STUCK_TOLERANCE`` (one percentage point) above the largest class's share."""
DIVERGED_FACTOR = 10.0
"""A run whose final training loss is above ``DIVERGED_FACTOR`` times the larger of its starting loss and the
chance loss has ``diverged``, finite or not."""
BOOTSTRAP_RESAMPLES = 10_000
MIN_PAIRS = 5
"""Below this many finite pairs no direction is claimed: a bootstrap of 2–4 values says little."""
TIE = 1e-12
"""Two paired values closer than this (absolute) are a tie: equal accuracies, or the same loss to rounding."""
LEVEL = 0.05
"""The family-wise error rate Holm's procedure keeps a report's claims of a difference under."""


# -- status -----------------------------------------------------------------------------------------------------
def chance_loss(y: np.ndarray, n_classes: int) -> float:
    """Mean cross-entropy of predicting every sample with the class frequencies of ``y``: −Σ_c p_c ln p_c.

    It is the smallest loss a network can reach without looking at the features (ln 3 for three equal
    classes), so a final training loss at that level means the run learned nothing.
    """
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * np.log(p)))


def chance_accuracy(y: np.ndarray, n_classes: int) -> float:
    """The largest class's share of ``y``: the accuracy of a network that learned nothing but the class sizes."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    return float(counts.max() / counts.sum())


def run_status(
    train_loss: float, *, start_loss: float, train_accuracy: float, chance: float, chance_acc: float,
    diverged: bool = False,
) -> str:
    """What a run did, from its final training loss and accuracy, its starting loss and the chance levels.

    * ``"diverged"``: a non-finite loss or gradient stopped it (``diverged``), or its final training loss is not
      finite or above ``DIVERGED_FACTOR`` × max(``start_loss``, ``chance``): it ended far above where it began.
    * ``"stuck"``: it learned nothing: the final loss is above ``(1 − STUCK_TOLERANCE) · chance`` (see
      :func:`chance_loss`) and the training accuracy at most ``chance_acc + STUCK_TOLERANCE`` (see
      :func:`chance_accuracy`). An accuracy not measured (NaN) is taken to be at that level.
    * ``"high-loss"``: it learned something (accuracy above the class-size level) yet its loss is not below the
      chance loss: confident wrong predictions cost more than predicting the class frequencies would.
    * ``"ok"``: the final loss is below the chance loss.
    """
    if diverged or not math.isfinite(train_loss) or train_loss > DIVERGED_FACTOR * max(start_loss, chance):
        return "diverged"
    if train_loss <= (1.0 - STUCK_TOLERANCE) * chance:
        return "ok"
    learned = math.isfinite(train_accuracy) and train_accuracy > chance_acc + STUCK_TOLERANCE
    return "high-loss" if learned else "stuck"


def status_rule() -> str:
    """The definition of the statuses, in the words every report prints."""
    return (f"Status: `diverged` when the loss or gradient became non-finite or the final training loss is above "
            f"{DIVERGED_FACTOR:g} × the larger of the starting loss and the chance loss (the loss of predicting "
            f"the training-set class frequencies); `stuck` (learned nothing) when the final training loss is above "
            f"{1 - STUCK_TOLERANCE:g} × the chance loss and the training accuracy at most "
            f"{100 * STUCK_TOLERANCE:g} percentage point above the largest class's share; `high-loss` when the "
            "loss is that high but the accuracy is above that share (it learned something, yet confident wrong "
            "predictions cost more than the class frequencies would); `ok` otherwise.")


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    """How many runs have each status, every status present (zero counts included), in ``STATUSES`` order."""
    counts = dict.fromkeys(STATUSES, 0)
    for status in statuses:
        counts[status] += 1
    return counts


def counts_text(counts: dict[str, int]) -> str:
    """``"8 ok, 0 high-loss, 2 stuck, 0 diverged"``."""
    return ", ".join(f"{counts[s]} {s}" for s in STATUSES)


# -- time to a target -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeToTarget:
    """How many of ``runs`` runs reached a target, and the Kaplan–Meier quartiles of the iteration at which they
    did (see :func:`time_to_target`); a quartile the estimate never reaches is ``None``, "not reached"."""

    reached: int
    runs: int
    quartiles: tuple[float | None, float | None, float | None]

    def __str__(self) -> str:
        q1, median, q3 = (_iterations(q) for q in self.quartiles)
        return f"{median} [{q1}, {q3}] ({self.reached} of {self.runs} reached it)"


KAPLAN_MEIER = ("Kaplan–Meier estimate (Kaplan & Meier 1958): a run that never reaches the target is censored at "
                "its last iteration; quantile q is the first iteration by which the estimated fraction of runs that "
                "reached the target is at least q (\"not reached\" when it never is)")
"""The convention of :func:`time_to_target`, in the words every report prints beside its numbers."""


def _iterations(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.0f}"


def kaplan_meier_quantile(times: Sequence[float | None], censored_at: Sequence[float], q: float) -> float | None:
    """Quantile ``q`` of the time to reach a target, by Kaplan & Meier (1958).

    ``times[i]`` is run i's first iteration at the target, None when it never got there; such a run is censored
    at ``censored_at[i]`` (its last iteration): it is known not to have reached the target by then. The estimate
    of the fraction that reached it by t is ``1 − Π_{t_j ≤ t} (1 − d_j / n_j)`` over the reaching times t_j
    (d_j runs reach it at t_j, n_j are still at risk: not yet reached, not censored before t_j); the quantile
    is the smallest t_j at which it is at least q, None when it never is.
    """
    events = sorted(t for t in times if t is not None)
    censored = sorted(c for t, c in zip(times, censored_at, strict=True) if t is None)
    surviving, at_risk = 1.0, len(times)
    done_censored = 0
    for t in sorted(set(events)):
        while done_censored < len(censored) and censored[done_censored] < t:
            done_censored += 1
            at_risk -= 1
        d = events.count(t)
        surviving *= 1.0 - d / at_risk
        at_risk -= d
        if 1.0 - surviving >= q - 1e-12:
            return float(t)
    return None


def time_to_target(times: Sequence[float | None], censored_at: float | Sequence[float] = math.inf) -> TimeToTarget:
    """Count and Kaplan–Meier quartiles (:func:`kaplan_meier_quantile`) of first-reaching iterations; ``None``
    means the run never reached the target and is censored at ``censored_at`` (one value for all, or per run;
    default: after every reaching time)."""
    limits = [float(censored_at)] * len(times) if isinstance(censored_at, (int, float)) else list(censored_at)
    quartiles = tuple(kaplan_meier_quantile(times, limits, q) for q in (0.25, 0.5, 0.75))
    reached = sum(t is not None for t in times)
    return TimeToTarget(reached, len(times), quartiles)  # type: ignore[arg-type]


# -- paired comparisons -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Paired:
    """Method ``b`` against method ``a`` on the same repetitions (same split, same initial point).

    ``wins`` counts pairs where ``b`` is better (lower loss, or higher accuracy, by more than ``TIE``), ``losses``
    where it is worse. A non-finite value (a diverged run) is worse than any finite one; two of them tie.
    ``median`` is the median of ``b − a`` over the ``n_finite`` pairs where both are finite, ``low``/``high`` the
    95 % percentile bootstrap interval of that median (``resamples`` resamples drawn by
    ``numpy.random.default_rng(seed)``: of the pairs, or of whole clusters of pairs); all NaN without a finite
    pair. ``p_value`` is the exact two-sided sign test of "b is as often better as worse" (:func:`sign_test`),
    ``p_adjusted`` the same after Holm's correction over the report's family of comparisons (:func:`holm`;
    equal to ``p_value`` until :func:`adjust_family` is applied).
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
    p_value: float = 1.0
    p_adjusted: float = 1.0

    @property
    def pairs(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def clear(self) -> bool:
        """The family-adjusted sign test rejects "no difference" at ``LEVEL``."""
        return self.n_finite >= MIN_PAIRS and self.p_adjusted < LEVEL

    @property
    def b_better(self) -> bool:
        """``b`` wins more pairs than it loses (the direction :attr:`clear` is about)."""
        return self.wins > self.losses


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test (ties dropped): ``min(1, 2 · P(X ≤ min(wins, losses)))`` for X ~ Binomial(n, ½),
    n = wins + losses; 1 when n = 0. Five wins out of five give 2/32 = 0.0625."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1))
    return min(1.0, 2.0 * tail / 2**n)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjustment: the i-th smallest of m p-values becomes
    ``max_{j ≤ i} min(1, (m − j + 1) · p_(j))``; rejecting where the adjusted value is below α keeps the chance of
    any false claim in the family at most α, whatever the dependence between the tests."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def adjust_family(comparisons: Sequence[Paired]) -> list[Paired]:
    """The comparisons of one report with ``p_adjusted`` set by :func:`holm` over all of them."""
    adjusted = holm([p.p_value for p in comparisons])
    return [replace(p, p_adjusted=a) for p, a in zip(comparisons, adjusted, strict=True)]


def bootstrap_median_interval(
    differences: np.ndarray, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95,
    clusters: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``differences``: ``resamples`` draws of the same size
    with replacement from ``numpy.random.default_rng(seed)``, all at once. With ``clusters`` (a label per
    difference, e.g. its seed), whole clusters are drawn instead (the cluster bootstrap), since values that
    share a cluster are not independent."""
    d = np.asarray(differences, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    if clusters is None:
        medians = np.median(d[rng.integers(0, d.size, size=(resamples, d.size))], axis=1)
    else:
        labels = np.asarray(clusters)
        groups = [d[labels == c] for c in np.unique(labels)]
        padded = np.full((len(groups), max(g.size for g in groups)), np.nan)  # NaN pads, nanmedian skips them
        for i, group in enumerate(groups):
            padded[i, : group.size] = group
        drawn = padded[rng.integers(0, len(groups), size=(resamples, len(groups)))].reshape(resamples, -1)
        medians = np.nanmedian(drawn, axis=1)
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(medians, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_comparison(
    a: Sequence[float], b: Sequence[float], metric: str, higher_is_better: bool = False, seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES, clusters: Sequence[Any] | None = None,
) -> Paired:
    """Compare paired values of two methods (see :class:`Paired`); ``a[i]`` and ``b[i]`` share repetition i.

    ``clusters`` labels pairs that are not independent (the seeds of a pooled sweep row: pairs at several
    learning rates share a seed's initial point). The interval then resamples whole clusters, and the sign test
    counts one vote per cluster: the sign of its wins minus losses.
    """
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
    votes = np.where(gain > TIE, 1, np.where(gain < -TIE, -1, 0))
    finite = np.isfinite(a_) & np.isfinite(b_)
    differences = b_[finite] - a_[finite]
    labels = None if clusters is None else np.asarray(clusters)
    if labels is not None:
        votes = np.array([np.sign(votes[labels == c].sum()) for c in np.unique(labels)])
    low, high = bootstrap_median_interval(differences, seed, resamples,
                                          clusters=None if labels is None else labels[finite])
    p_value = sign_test(int(np.sum(votes > 0)), int(np.sum(votes < 0)))
    return Paired(
        metric=metric, higher_is_better=higher_is_better, wins=int(np.sum(gain > TIE)),
        ties=int(np.sum(np.abs(gain) <= TIE)), losses=int(np.sum(gain < -TIE)), n_finite=int(finite.sum()),
        median=float(np.median(differences)) if differences.size else math.nan, low=low, high=high, seed=seed,
        resamples=resamples, p_value=p_value, p_adjusted=p_value,
    )


MULTIPLICITY = ("Each reading follows an exact two-sided sign test (ties dropped) with the Holm (1979) step-down "
                f"correction over every comparison in this report, family-wise error rate {LEVEL:g}; the "
                "bootstrap interval describes the size of the difference and decides nothing")
"""The correction, in the words every report prints beside its paired comparisons."""


def verdict(p: Paired, a: str, b: str) -> str:
    """The sentence the family-adjusted sign test allows: which method is better on ``p.metric``, or "no clear
    difference"."""
    if p.n_finite == 0:
        return f"no pair where both runs stayed finite: no difference in {p.metric} can be estimated"
    if p.n_finite < MIN_PAIRS:
        return f"too few pairs ({p.n_finite}) to tell a difference in {p.metric}"
    if not p.clear:
        return f"no clear difference in {p.metric} (sign test p = {p.p_value:.3g}, Holm-adjusted {p.p_adjusted:.3g})"
    better, worse = (b, a) if p.b_better else (a, b)
    direction = "higher" if p.higher_is_better else "lower"
    return (f"{better} has the {direction} {p.metric} (sign test p = {p.p_value:.3g}, Holm-adjusted "
            f"{p.p_adjusted:.3g}), {worse} the worse one")
