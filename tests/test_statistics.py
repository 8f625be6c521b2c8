"""Run statuses, Kaplan–Meier time-to-target quantiles, sign tests with Holm's correction and (cluster)
bootstrap intervals, against direct computations and scipy (issue 20)."""

import math

import numpy as np
import pytest
from scipy import stats

from descentlab.experiments.statistics import (
    DIVERGED_FACTOR,
    STUCK_TOLERANCE,
    adjust_family,
    bootstrap_median_interval,
    chance_accuracy,
    chance_loss,
    holm,
    kaplan_meier_quantile,
    paired_comparison,
    run_status,
    sign_test,
    status_counts,
    time_to_target,
    verdict,
)


def test_chance_loss_is_the_entropy_of_the_class_frequencies():
    assert chance_loss(np.array([0, 1, 2] * 5), 3) == pytest.approx(math.log(3), abs=1e-15)
    y = np.array([0] * 10 + [1] * 30 + [2] * 60)
    p = np.array([0.1, 0.3, 0.6])
    assert chance_loss(y, 3) == pytest.approx(-np.sum(p * np.log(p)), rel=1e-15)
    assert chance_loss(np.array([0, 0, 2]), 3) == pytest.approx(-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))
    assert chance_accuracy(y, 3) == 0.6 and chance_accuracy(np.array([0, 1, 2] * 5), 3) == pytest.approx(1 / 3)


LN3 = math.log(3)


def _status(loss, accuracy=math.nan, start=1.1, chance=LN3, share=1 / 3, diverged=False):
    return run_status(loss, start_loss=start, train_accuracy=accuracy, chance=chance, chance_acc=share,
                      diverged=diverged)


def test_the_status_says_what_the_run_did():
    chance = math.log(3)
    assert _status(0.1, 0.9, diverged=True) == "diverged"
    assert _status(math.nan) == "diverged"
    # the cases of issue 20: GD at lr 1e12 ends at 5.9e11, tanh runs at 6.8e300, both finite: they diverged
    assert _status(5.9e11, 0.33) == "diverged" and _status(6.8e300, 0.2) == "diverged"
    assert _status(DIVERGED_FACTOR * 1.1 * (1 + 1e-9), 0.33) == "diverged"
    assert _status(DIVERGED_FACTOR * 1.1 * (1 - 1e-9), 0.33) == "stuck"
    # a large start loss (init sigma) moves the bound: ending below where it began is no divergence
    assert _status(40.0, 0.6, start=50.0) == "high-loss"
    # learned nothing: loss and accuracy at the class-frequency level
    assert _status(chance, 1 / 3) == "stuck" and _status(chance, math.nan) == "stuck"
    edge = (1.0 - STUCK_TOLERANCE) * chance
    assert _status(edge * (1 + 1e-9), 1 / 3) == "stuck" and _status(edge * (1 - 1e-9), 1 / 3) == "ok"
    assert _status(chance, 1 / 3 + STUCK_TOLERANCE - 1e-9) == "stuck"
    assert _status(chance, 1 / 3 + STUCK_TOLERANCE + 1e-9) == "high-loss"
    # a run at 2.4x the chance loss with 67 % training accuracy learned something: not stuck
    assert _status(2.4 * chance, 0.67) == "high-loss"
    # digits, GD at 66 % training accuracy on 10 classes (chance ln 10, largest class ~10 %): ok, not stuck
    assert _status(1.3, 0.66, start=2.5, chance=math.log(10), share=0.102) == "ok"
    assert status_counts(["ok", "stuck", "ok", "high-loss"]) == {"ok": 2, "high-loss": 1, "stuck": 1, "diverged": 0}


def test_kaplan_meier_quantiles_equal_scipy_and_the_fifth_of_ten_is_the_median():
    # 5 of 10 runs reach the target, the others are censored at the last iteration: the median is the 5th time
    times = [12.0, 30.0, 7.0, None, 18.0, None, 25.0, None, None, None]
    result = time_to_target(times, censored_at=100.0)
    assert (result.reached, result.runs) == (5, 10)
    assert result.quartiles == (18.0, 30.0, None)  # F reaches 0.3 at 18, 0.5 at 30 (sorted: 7, 12, 18, 25, 30)
    assert str(result) == "30 [18, not reached] (5 of 10 reached it)"
    # runs censored early (diverged at 9 and 20) leave the risk set: compare with scipy's Kaplan–Meier
    times = [3.0, None, 8.0, 8.0, None, 15.0, 21.0, None, 40.0, 41.0, None]
    censored = [100.0, 9.0, 100.0, 100.0, 20.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    data = stats.CensoredData(uncensored=[t for t in times if t is not None],
                              right=[c for t, c in zip(times, censored, strict=True) if t is None])
    cdf = stats.ecdf(data).cdf
    for q in (0.1, 0.25, 0.5, 0.6, 0.75):
        expected = next((t for t in sorted(set(cdf.quantiles)) if cdf.evaluate(t) >= q - 1e-12), None)
        assert kaplan_meier_quantile(times, censored, q) == expected
    assert kaplan_meier_quantile(times, censored, 0.5) == 21.0
    assert time_to_target([None, None, 4.0]).quartiles == (4.0, None, None)
    assert time_to_target([2.0, None]).quartiles == (2.0, 2.0, None)


def test_the_sign_test_is_the_exact_binomial_tail_and_holm_is_the_step_down_rule():
    assert sign_test(5, 0) == 0.0625 and sign_test(0, 5) == 0.0625 and sign_test(0, 0) == 1.0
    for wins, losses in ((7, 3), (10, 0), (1, 12), (20, 21), (3, 3)):
        assert sign_test(wins, losses) == pytest.approx(stats.binomtest(wins, wins + losses).pvalue, rel=1e-12)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


def test_paired_comparison_counts_and_bootstrap_interval_are_what_they_claim():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = np.array([0.5, 2.0, 2.0, 4.5, math.inf, 1.0])  # one tie, one diverged run of b (worse)
    p = paired_comparison(a, b, "training loss", seed=7, resamples=2000)
    assert (p.wins, p.ties, p.losses) == (3, 1, 2)
    assert p.p_value == sign_test(3, 2) == p.p_adjusted
    finite = np.array([-0.5, 0.0, -1.0, 0.5, -5.0])
    assert p.n_finite == 5 and p.median == np.median(finite)
    rng = np.random.default_rng(7)
    medians = np.median(finite[rng.integers(0, 5, size=(2000, 5))], axis=1)
    assert (p.low, p.high) == tuple(np.percentile(medians, [2.5, 97.5]))
    assert bootstrap_median_interval(finite, seed=7, resamples=2000) == (p.low, p.high)
    accuracy = paired_comparison([0.9, 0.9, math.nan], [0.95, 0.9, math.nan], "test accuracy", higher_is_better=True)
    assert (accuracy.wins, accuracy.ties, accuracy.losses) == (1, 2, 0)


def test_pooled_pairs_are_resampled_and_voted_by_cluster():
    rng = np.random.default_rng(1)
    seeds = np.repeat(np.arange(6), 4)  # 4 learning rates share each of 6 seeds
    differences = rng.normal(size=24) + np.repeat(rng.normal(size=6), 4)
    low, high = bootstrap_median_interval(differences, seed=3, resamples=500, clusters=seeds)
    draws = np.random.default_rng(3).integers(0, 6, size=(500, 6))
    medians = [np.median(np.concatenate([differences[seeds == c] for c in row])) for row in draws]
    assert (low, high) == tuple(np.percentile(medians, [2.5, 97.5]))
    # 24 pairs all won by b: 24 independent votes would give p = 1.2e-7; 6 seeds give one vote each
    p = paired_comparison(np.ones(24), np.zeros(24), "training loss", clusters=seeds)
    assert (p.wins, p.p_value) == (24, sign_test(6, 0)) and p.p_value == 2 / 64


def test_the_verdict_follows_the_holm_adjusted_sign_test():
    lower = paired_comparison(np.arange(10.0) + 1, np.arange(10.0), "test loss")
    assert lower.clear and lower.b_better and lower.p_value == 2 / 1024
    assert verdict(lower, "GD", "NAG") == ("NAG has the lower test loss (sign test p = 0.00195, Holm-adjusted "
                                           "0.00195), GD the worse one")
    # five of five: the bootstrap interval excludes 0 but the exact sign test gives p = 0.0625, no claim
    five = paired_comparison(np.arange(5.0) + 1, np.arange(5.0), "training loss")
    assert five.high < 0.0 and not five.clear and verdict(five, "a", "b").startswith("no clear difference")
    # in a family of 6, p = 0.0098 (8 of 8 wins... 2/256 = 0.0078) survives, p = 0.039 does not
    strong = paired_comparison(np.ones(8), np.zeros(8), "test loss")
    weak = paired_comparison(np.r_[np.ones(7), 0.0, 1.0], np.r_[np.zeros(7), 1.0, 0.0], "test loss")
    family = adjust_family([strong, weak, *[paired_comparison(np.ones(8), np.ones(8), "x")] * 4])
    assert weak.clear and not family[1].clear and family[1].p_adjusted == pytest.approx(5 * weak.p_value)
    assert family[0].clear and family[0].p_adjusted == pytest.approx(6 * strong.p_value)
    assert "Holm-adjusted 0.1" in verdict(family[1], "a", "b") and "no clear difference" in verdict(family[1], "a", "b")
    same = paired_comparison([0.9] * 6, [0.9] * 6, "test accuracy", higher_is_better=True)
    assert (same.ties, same.low, same.high) == (6, 0.0, 0.0) and "no clear difference" in verdict(same, "a", "b")
    two = paired_comparison([1.0, 2.0], [0.0, 1.0], "training loss")
    assert not two.clear and verdict(two, "a", "b").startswith("too few pairs (2)")
