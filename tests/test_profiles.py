"""Performance and data profiles, and their bands from the repetitions, against a hand computation on made-up
tables with ties, never-solved problems and a never-solved repetition."""

from __future__ import annotations

import math

import pytest

from descentlab.benchmarking.profiles import (
    area_range,
    data_profile,
    performance_profile,
    profile_area,
    profile_bands,
    ratios,
)

INF = math.inf
# problems p1..p4; p1 a tie between A and C; p3 solved by no method; B never solves p4, A never p2
COSTS = {"A": [10.0, INF, INF, 5.0], "B": [20.0, 30.0, INF, INF], "C": [10.0, 60.0, INF, 15.0]}


def test_ratios_by_hand() -> None:
    assert ratios(COSTS) == {"A": [1.0, INF, INF, 1.0], "B": [2.0, 1.0, INF, INF], "C": [1.0, 2.0, INF, 3.0]}


def test_performance_profile_by_hand() -> None:
    # A: ratios 1, 1 -> rho(1) = 2/4. B: 2, 1 -> rho(1) = 1/4, rho(2) = 2/4. C: 1, 2, 3 -> 1/4, 2/4, 3/4.
    assert performance_profile(COSTS) == {
        "A": [(1.0, 0.5)], "B": [(1.0, 0.25), (2.0, 0.5)], "C": [(1.0, 0.25), (2.0, 0.5), (3.0, 0.75)]}


def test_profile_area_by_hand() -> None:
    profiles = performance_profile(COSTS)
    # over [1, 4]: A 0.5 * 3; B 0.25 * 1 + 0.5 * 2; C 0.25 + 0.5 + 0.75 * 1; each divided by 3
    assert profile_area(profiles["A"]) == pytest.approx(0.5)
    assert profile_area(profiles["B"]) == pytest.approx(1.25 / 3)
    assert profile_area(profiles["C"]) == pytest.approx(1.5 / 3)
    assert profile_area([(1.0, 0.25), (6.0, 1.0)]) == pytest.approx(0.25)  # a breakpoint past tau_max adds nothing


def test_data_profile_by_hand() -> None:
    assert data_profile(COSTS) == {
        "A": [(5.0, 0.25), (10.0, 0.5)], "B": [(20.0, 0.25), (30.0, 0.5)],
        "C": [(10.0, 0.25), (15.0, 0.5), (60.0, 0.75)]}


def test_a_problem_no_method_solves_counts_against_everyone() -> None:
    profile = performance_profile({"A": [1.0, INF], "B": [2.0, INF]})
    assert profile == {"A": [(1.0, 0.5)], "B": [(1.0, 0.0), (2.0, 0.5)]}
    assert profile_area(profile["A"]) == 0.5


# Three repetitions of two methods on problems p1, p2 (repetition r of each method: the same split and start).
# In repetition 2, A never reaches p2; in repetition 3 no method reaches p2.
REPETITIONS = [{"A": [10.0, 20.0], "B": [20.0, 20.0]},
               {"A": [10.0, INF], "B": [5.0, 40.0]},
               {"A": [10.0, INF], "B": [10.0, INF]}]


def test_profile_band_by_hand() -> None:
    # ratios: r1 A [1, 1] B [2, 1]; r2 A [2, inf] B [1, 1]; r3 A [1, inf] B [1, inf]
    # rho_A: r1 1 from tau 1; r2 0 at 1, 1/2 from 2; r3 1/2 from 1.  rho_B: r1 1/2, 1 from 2; r2 1; r3 1/2.
    assert profile_bands(REPETITIONS) == {"A": [(1.0, 0.0, 1.0), (2.0, 0.5, 1.0)],
                                          "B": [(1.0, 0.5, 1.0), (2.0, 0.5, 1.0)]}


def test_data_profile_band_by_hand() -> None:
    # d_A: r1 1/2 from 10, 1 from 20; r2 and r3 1/2 from 10.  d_B: r1 1 from 20; r2 1/2 from 5, 1 from 40;
    # r3 1/2 from 10.  Below a repetition's first breakpoint its profile is 0.
    assert profile_bands(REPETITIONS, data_profile) == {
        "A": [(10.0, 0.5, 0.5), (20.0, 0.5, 1.0)],
        "B": [(5.0, 0.0, 0.5), (10.0, 0.0, 0.5), (20.0, 0.5, 1.0), (40.0, 0.5, 1.0)]}


def test_area_range_by_hand() -> None:
    # A: r1 1 over [1, 4]; r2 0 on [1, 2) then 1/2 -> 1/3; r3 1/2.  B: r1 (1/2 + 2) / 3; r2 1; r3 1/2.
    ranges = area_range(REPETITIONS)
    assert ranges["A"] == pytest.approx((1 / 3, 1.0))
    assert ranges["B"] == pytest.approx((0.5, 1.0))


def test_one_repetition_is_a_band_of_zero_width_around_its_profile() -> None:
    for method, points in performance_profile(COSTS).items():
        assert profile_bands([COSTS])[method] == [(tau, rho, rho) for tau, rho in points]
