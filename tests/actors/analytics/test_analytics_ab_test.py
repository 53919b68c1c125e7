"""Two-arm tests: known values, the normal tail, validation, and the pre-registered verdict."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from promoloop.actors.analytics.ab_test import (
    TestResult,
    decide,
    minimum_detectable_difference,
    normal_two_sided_p,
    two_proportion_z_test,
    welch_test,
)


def test_z_test_matches_the_textbook_value() -> None:
    """60/100 vs 40/100: pooled p = 0.5, SE = √(0.25 · 0.02) = 0.0707, z = 2.828, p = 0.00468."""
    result = two_proportion_z_test(60, 100, 40, 100)
    assert result.difference == pytest.approx(0.2)
    assert result.standard_error == pytest.approx(math.sqrt(0.005))
    assert result.statistic == pytest.approx(2.8284, abs=1e-4)
    assert result.p_value == pytest.approx(0.004678, abs=1e-6)
    mirrored = two_proportion_z_test(40, 100, 60, 100)
    assert mirrored.statistic == pytest.approx(-result.statistic)
    assert mirrored.p_value == pytest.approx(result.p_value)


def test_z_test_without_variance_is_no_evidence() -> None:
    assert two_proportion_z_test(0, 10, 0, 12) == TestResult(0.0, 0.0, 0.0, 1.0)
    assert two_proportion_z_test(10, 10, 12, 12) == TestResult(0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 0, 1, 10), "n_a=0"),
        ((1, 10, 0, -1), "n_b=-1"),
        ((11, 10, 1, 10), r"x_a must be within 0\.\.10, got 11"),
        ((1, 10, -1, 10), r"x_b must be within 0\.\.10, got -1"),
    ],
)
def test_z_test_refuses_impossible_counts(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        two_proportion_z_test(*args)


def test_normal_tail_agrees_with_the_standard_library() -> None:
    for z in (0.0, 0.5, 1.959964, 2.5, -3.3, 6.0):
        assert normal_two_sided_p(z) == pytest.approx(2 * NormalDist().cdf(-abs(z)), rel=1e-9)
    assert normal_two_sided_p(1.959964) == pytest.approx(0.05, abs=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        normal_two_sided_p(math.nan)


def test_welch_matches_a_hand_computation() -> None:
    """a: mean 2.5, s² = 5/3; b: mean 5, s² = 20/3; SE = √(5/12 + 20/12) = √(25/12)."""
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]
    result = welch_test(a, b)
    se = math.sqrt(25 / 12)
    assert result.difference == pytest.approx(-2.5)
    assert result.standard_error == pytest.approx(se)
    assert result.statistic == pytest.approx(-2.5 / se)
    assert result.p_value == pytest.approx(math.erfc(2.5 / se / math.sqrt(2)))


def test_welch_on_constant_arms_and_bad_input() -> None:
    assert welch_test([3.0, 3.0], [3.0, 3.0, 3.0]) == TestResult(0.0, 0.0, 0.0, 1.0)
    different = welch_test([1.0, 1.0], [2.0, 2.0])
    assert different.statistic == -math.inf and different.p_value == 0.0
    with pytest.raises(ValueError, match="arm a needs at least 2 values, got 1"):
        welch_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="arm b holds a value that is not finite"):
        welch_test([1.0, 2.0], [1.0, math.inf])


def test_decide_follows_the_sign_only_when_significant() -> None:
    assert decide(two_proportion_z_test(60, 100, 40, 100), 0.05) == "A"
    assert decide(two_proportion_z_test(40, 100, 60, 100), 0.05) == "B"
    assert decide(two_proportion_z_test(60, 100, 40, 100), 0.001) == "none"
    assert decide(two_proportion_z_test(52, 100, 48, 100), 0.05) == "none"
    with pytest.raises(ValueError, match="alpha must be within"):
        decide(TestResult(0.1, 0.01, 10.0, 0.0), 1.0)


def test_minimum_detectable_difference() -> None:
    """(1.95996 + 0.84162) · √(0.25 · 2/1000) = 0.06265 at 50 %, α = 0.05, 80 % power."""
    assert minimum_detectable_difference(0.5, 1000, 1000, alpha=0.05) == pytest.approx(
        0.06265, abs=1e-5
    )
    four_times = minimum_detectable_difference(0.5, 4000, 4000, alpha=0.05)
    assert four_times == pytest.approx(0.06265 / 2, abs=1e-5)  # 4× the customers, half the MDE
    with pytest.raises(ValueError, match=r"rate must be within 0\.\.1"):
        minimum_detectable_difference(1.5, 10, 10, alpha=0.05)
    with pytest.raises(ValueError, match="n_a=0"):
        minimum_detectable_difference(0.5, 0, 10, alpha=0.05)
    with pytest.raises(ValueError, match="alpha and power"):
        minimum_detectable_difference(0.5, 10, 10, alpha=0.05, power=1.0)
