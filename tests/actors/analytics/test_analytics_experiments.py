"""Holdout assignment and the experiment readout."""

from __future__ import annotations

import random

import pytest

from promoloop.actors.analytics.experiments import Outcome, in_holdout, readout


def test_holdout_assignment_is_deterministic_independent_and_sized() -> None:
    ids = [f"user-{i:06d}" for i in range(20_000)]
    first = [in_holdout(7, "loyalty", i, 0.2) for i in ids]
    assert first == [in_holdout(7, "loyalty", i, 0.2) for i in reversed(ids)][::-1]
    assert sum(first) / len(ids) == pytest.approx(0.2, abs=0.01)
    other_campaign = [in_holdout(7, "retention", i, 0.2) for i in ids]
    overlap = sum(a and b for a, b in zip(first, other_campaign, strict=True)) / len(ids)
    assert overlap == pytest.approx(0.04, abs=0.01)  # independent: 0.2 × 0.2
    assert first != [in_holdout(8, "loyalty", i, 0.2) for i in ids]
    assert not any(in_holdout(7, "x", i, 0.0) for i in ids[:100])
    assert all(in_holdout(7, "x", i, 1.0) for i in ids[:100])
    with pytest.raises(ValueError, match="holdout share"):
        in_holdout(7, "x", "u", 1.5)


def test_readout_recovers_a_known_effect_and_its_interval_covers_it() -> None:
    """Treated customers convert at 30 % vs 20 %, each conversion worth 50 USD: the
    incremental revenue is 0.10 × 5000 × treated, and the 95 % interval contains it."""
    rng = random.Random(3)
    outcomes = []
    for i in range(20_000):
        treated = i % 5 != 0
        converted = rng.random() < (0.30 if treated else 0.20)
        outcomes.append(
            Outcome(
                f"u{i}",
                treated,
                converted,
                5_000 if converted else 0,
                500 if treated and converted else 0,
            )
        )
    r = readout(iter(outcomes), budget_cents=5_000_000)
    assert r.treated.customers == 16_000 and r.holdout.customers == 4_000
    assert r.uplift_conversion == pytest.approx(0.10, abs=0.02)
    truth = 0.10 * 5_000 * 16_000
    low, high = r.incremental_revenue_ci_cents
    assert low < truth < high
    assert low < r.incremental_revenue_cents < high
    assert r.cost_cents == sum(o.cost_cents for o in outcomes)
    assert r.roi == pytest.approx((r.incremental_revenue_cents - r.cost_cents) / r.cost_cents)
    assert r.budget_use == pytest.approx(r.cost_cents / 5_000_000)


def test_readout_without_holdout_or_cost() -> None:
    r = readout([Outcome("a", True, True, 100)])
    assert r.holdout.customers == 0 and r.incremental_revenue_cents == 0.0
    assert r.roi is None and r.budget_use is None
    with pytest.raises(ValueError, match="confidence"):
        readout([], confidence=1.0)
    with pytest.raises(ValueError, match="budget_cents"):
        readout([], budget_cents=0)
