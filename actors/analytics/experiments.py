"""Holdout experiments: who is held out, and what a campaign really caused.

Assignment hashes (seed, campaign, customer) so it is deterministic, independent of arrival
order and of every other campaign. The readout compares treated and holdout groups: conversion,
revenue per customer, incremental revenue with a normal-approximation confidence interval
(Welch's standard error on the difference of means, scaled to the treated group), coupon cost,
ROI and budget use. Money in integer cents; rates and intervals as floats.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from statistics import NormalDist

import msgspec


def in_holdout(seed: int, campaign: str, customer_id: str, share: float) -> bool:
    """Whether ``customer_id`` is held out of ``campaign`` (probability ``share``)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"holdout share must be within 0..1, got {share}")
    digest = hashlib.blake2b(f"{seed}/{campaign}/{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


class Outcome(msgspec.Struct, frozen=True):
    """One customer's result in an experiment."""

    customer_id: str
    treated: bool
    converted: bool
    revenue_cents: int
    cost_cents: int = 0
    """What the campaign spent on this customer (discounts redeemed, gift-card value used)."""


class GroupStats(msgspec.Struct, frozen=True):
    customers: int
    conversions: int
    revenue_cents: int
    cost_cents: int
    conversion_rate: float
    revenue_per_customer_cents: float


class Readout(msgspec.Struct, frozen=True):
    treated: GroupStats
    holdout: GroupStats
    uplift_conversion: float
    """Treated minus holdout conversion rate."""
    incremental_revenue_cents: float
    """(Revenue per treated customer − per holdout customer) × treated customers."""
    incremental_revenue_ci_cents: tuple[float, float]
    cost_cents: int
    roi: float | None
    """(Incremental revenue − cost) / cost; None when nothing was spent."""
    budget_cents: int | None
    budget_use: float | None


def _group(outcomes: list[Outcome]) -> GroupStats:
    n = len(outcomes)
    conversions = sum(o.converted for o in outcomes)
    revenue = sum(o.revenue_cents for o in outcomes)
    return GroupStats(
        customers=n,
        conversions=conversions,
        revenue_cents=revenue,
        cost_cents=sum(o.cost_cents for o in outcomes),
        conversion_rate=conversions / n if n else 0.0,
        revenue_per_customer_cents=revenue / n if n else 0.0,
    )


def _variance(values: list[int], mean: float) -> float:
    if len(values) < 2:
        return 0.0
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def readout(
    outcomes: Iterable[Outcome], *, confidence: float = 0.95, budget_cents: int | None = None
) -> Readout:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    if budget_cents is not None and budget_cents <= 0:
        raise ValueError(f"budget_cents must be > 0, got {budget_cents}")
    items = list(outcomes)
    treated = [o for o in items if o.treated]
    holdout = [o for o in items if not o.treated]
    t, h = _group(treated), _group(holdout)
    diff = t.revenue_per_customer_cents - h.revenue_per_customer_cents
    se = 0.0
    if t.customers and h.customers:
        se = math.sqrt(
            _variance([o.revenue_cents for o in treated], t.revenue_per_customer_cents)
            / t.customers
            + _variance([o.revenue_cents for o in holdout], h.revenue_per_customer_cents)
            / h.customers
        )
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    scale = t.customers
    cost = t.cost_cents
    incremental = diff * scale if h.customers else 0.0
    return Readout(
        treated=t,
        holdout=h,
        uplift_conversion=t.conversion_rate - h.conversion_rate if h.customers else 0.0,
        incremental_revenue_cents=incremental,
        incremental_revenue_ci_cents=((diff - z * se) * scale, (diff + z * se) * scale),
        cost_cents=cost,
        roi=(incremental - cost) / cost if cost else None,
        budget_cents=budget_cents,
        budget_use=cost / budget_cents if budget_cents else None,
    )
