"""Run statuses, censored time-to-target quantiles and paired comparisons, against direct computations."""

import math

import numpy as np
import pytest

from descentlab.experiments.statistics import (
    STUCK_TOLERANCE,
    bootstrap_median_interval,
    censored_quantile,
    chance_loss,
    paired_comparison,
    run_status,
    status_counts,
    time_to_target,
    verdict,
)


def test_chance_loss_is_the_entropy_of_the_class_frequencies():
    assert chance_loss(np.array([0, 1, 2] * 5), 3) == pytest.approx(math.log(3), abs=1e-15)
    y = np.array([0] * 37 + [1] * 38 + [2] * 37)
    p = np.array([37, 38, 37]) / 112
    assert chance_loss(y, 3) == pytest.approx(-np.sum(p * np.log(p)), rel=1e-15)
    assert chance_loss(np.array([0, 0, 2]), 3) == pytest.approx(-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))


def test_status_is_diverged_then_stuck_within_the_stated_tolerance_then_ok():
    chance = math.log(3)
    assert run_status(0.1, diverged=True, chance=chance) == "diverged"
    assert run_status(math.nan, diverged=False, chance=chance) == "diverged"
    assert run_status(chance, diverged=False, chance=chance) == "stuck"
    assert run_status(5.0, diverged=False, chance=chance) == "stuck"  # worse than chance: learned nothing either
    edge = (1.0 - STUCK_TOLERANCE) * chance
    assert run_status(edge * (1 + 1e-9), diverged=False, chance=chance) == "stuck"
    assert run_status(edge * (1 - 1e-9), diverged=False, chance=chance) == "ok"
    assert status_counts(["ok", "stuck", "ok"]) == {"ok": 2, "stuck": 1, "diverged": 0}


def test_censored_quantiles_equal_numpy_on_reached_runs_and_say_never_where_unreached_runs_fall():
    rng = np.random.default_rng(3)
    times = list(rng.integers(1, 300, size=11).astype(float))
    for q in (0.25, 0.5, 0.75):
        assert censored_quantile(times, q) == pytest.approx(np.percentile(times, 100 * q))
    # 20 of 30 runs reach the target: the median (between the 15th and 16th) is a reached time, the upper
    # quartile is among the runs that never did; dropping them would have given a much smaller median.
    reached = list(np.arange(1.0, 21.0) * 10)
    with_never = reached + [None] * 10
    result = time_to_target(with_never)
    assert (result.reached, result.runs) == (20, 30)
    assert result.quartiles[1] == pytest.approx(155.0)  # (150 + 160) / 2
    assert result.quartiles[0] == pytest.approx(82.5) and result.quartiles[2] is None
    assert np.median(reached) == 105.0 and result.quartiles[1] != 105.0
    assert str(result) == "155 [82, never] (20 of 30 reached it)"
    assert time_to_target([None, None, 4.0]).quartiles == (None, None, None)
    assert time_to_target([2.0, None]).quartiles[1] is None  # the midpoint of 2 and never is never


def test_paired_comparison_counts_and_bootstrap_interval_are_what_they_claim():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = np.array([0.5, 2.0, 2.0, 4.5, math.inf, 1.0])  # one tie, one diverged run of b (worse)
    p = paired_comparison(a, b, "training loss", seed=7, resamples=2000)
    assert (p.wins, p.ties, p.losses) == (3, 1, 2)
    finite = np.array([-0.5, 0.0, -1.0, 0.5, -5.0])
    assert p.n_finite == 5 and p.median == np.median(finite)
    rng = np.random.default_rng(7)
    medians = np.median(finite[rng.integers(0, 5, size=(2000, 5))], axis=1)
    assert (p.low, p.high) == tuple(np.percentile(medians, [2.5, 97.5]))
    assert bootstrap_median_interval(finite, seed=7, resamples=2000) == (p.low, p.high)
    accuracy = paired_comparison([0.9, 0.9, math.nan], [0.95, 0.9, math.nan], "test accuracy", higher_is_better=True)
    assert (accuracy.wins, accuracy.ties, accuracy.losses) == (1, 2, 0)


def test_the_verdict_follows_the_interval():
    lower = paired_comparison(np.arange(10.0) + 1, np.arange(10.0), "test loss")
    assert lower.clear and lower.b_better
    assert verdict(lower, "GD", "NAG") == "NAG has the lower test loss (the 95 % interval excludes 0), GD the worse one"
    rng = np.random.default_rng(0)
    noise = rng.normal(size=40)
    mixed = paired_comparison(noise, noise[::-1].copy(), "test loss")
    assert mixed.low <= 0.0 <= mixed.high and not mixed.clear
    assert verdict(mixed, "GD", "NAG").startswith("no clear difference in test loss")
    same = paired_comparison([0.9] * 6, [0.9] * 6, "test accuracy", higher_is_better=True)
    assert (same.ties, same.low, same.high) == (6, 0.0, 0.0) and "no clear difference" in verdict(same, "a", "b")
    two = paired_comparison([1.0, 2.0], [0.0, 1.0], "training loss")
    assert two.clear and verdict(two, "a", "b").startswith("too few pairs (2)")
