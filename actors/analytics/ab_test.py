"""Two-arm significance tests for A/B readouts: a two-proportion z-test on conversions and
Welch's test on a per-customer metric such as revenue.

Both are two-sided with normal p-values (``math.erfc``): the arms a scenario compares hold
hundreds of customers, where Welch's t is normal to three decimals, and a pure-stdlib normal tail
keeps the readout dependency-free and bit-for-bit reproducible. ``decide`` turns a result into
the pre-registered verdict: the arm with the larger estimate when p < alpha, else ``none``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import msgspec


class TestResult(msgspec.Struct, frozen=True):
    """One test's outcome: the estimated difference A − B, its standard error, the statistic
    (difference / standard error) and the two-sided p-value."""

    __test__ = False  # not a pytest class, despite the name

    difference: float
    standard_error: float
    statistic: float
    p_value: float


def normal_two_sided_p(statistic: float) -> float:
    """P(|Z| ≥ |statistic|) for a standard normal Z: erfc(|z| / √2)."""
    if math.isnan(statistic):
        raise ValueError("the statistic is NaN")
    return math.erfc(abs(statistic) / math.sqrt(2.0))


def two_proportion_z_test(x_a: int, n_a: int, x_b: int, n_b: int) -> TestResult:
    """H0: p_A = p_B, with the pooled standard error (the null's own variance). Equal rates of
    0 or 1 have no variance to test against: the result is a zero statistic, p = 1."""
    for name, n in (("n_a", n_a), ("n_b", n_b)):
        if n <= 0:
            raise ValueError(f"both arms need customers, got {name}={n}")
    for name, x, n in (("x_a", x_a, n_a), ("x_b", x_b, n_b)):
        if not 0 <= x <= n:
            raise ValueError(f"{name} must be within 0..{n}, got {x}")
    difference = x_a / n_a - x_b / n_b
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if se == 0.0:
        return TestResult(difference, 0.0, 0.0, 1.0)
    z = difference / se
    return TestResult(difference, se, z, normal_two_sided_p(z))


def welch_test(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """H0: mean_A = mean_B without assuming equal variances (Welch's standard error
    √(s²_A/n_A + s²_B/n_B)); the p-value is the normal approximation, fine for arms of a few
    hundred."""
    for name, values in (("a", a), ("b", b)):
        if len(values) < 2:
            raise ValueError(f"arm {name} needs at least 2 values, got {len(values)}")
        if any(not math.isfinite(v) for v in values):
            raise ValueError(f"arm {name} holds a value that is not finite")
    mean_a, mean_b = math.fsum(a) / len(a), math.fsum(b) / len(b)
    var_a = math.fsum((v - mean_a) ** 2 for v in a) / (len(a) - 1)
    var_b = math.fsum((v - mean_b) ** 2 for v in b) / (len(b) - 1)
    difference = mean_a - mean_b
    se = math.sqrt(var_a / len(a) + var_b / len(b))
    if se == 0.0:  # two constant arms: equal is no evidence, different is certain
        if difference == 0.0:
            return TestResult(0.0, 0.0, 0.0, 1.0)
        return TestResult(difference, 0.0, math.copysign(math.inf, difference), 0.0)
    t = difference / se
    return TestResult(difference, se, t, normal_two_sided_p(t))


def decide(result: TestResult, alpha: float) -> str:
    """``A`` or ``B`` (the arm with the larger estimate) when p < alpha, else ``none``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    if result.p_value >= alpha or result.difference == 0:
        return "none"
    return "A" if result.difference > 0 else "B"


def minimum_detectable_difference(
    rate: float, n_a: int, n_b: int, *, alpha: float, power: float = 0.8
) -> float:
    """The smallest true difference in conversion a two-sided z-test at ``alpha`` finds with
    probability ``power``, around a base ``rate``: (z₁₋α/₂ + z_power) × SE. Reported next to a
    decision so that "no significant difference" can be read as "nothing this big"."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be within 0..1, got {rate}")
    if n_a <= 0 or n_b <= 0:
        raise ValueError(f"both arms need customers, got n_a={n_a}, n_b={n_b}")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be within (0, 1), got {alpha}, {power}")
    normal = NormalDist()
    z = normal.inv_cdf(1.0 - alpha / 2.0) + normal.inv_cdf(power)
    return z * math.sqrt(rate * (1.0 - rate) * (1.0 / n_a + 1.0 / n_b))
