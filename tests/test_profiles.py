"""Performance and data profiles against a hand computation on a made-up table with ties and never-solved
problems."""

from __future__ import annotations

import math

import pytest

from descentlab.benchmarking.profiles import data_profile, performance_profile, profile_area, ratios

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
