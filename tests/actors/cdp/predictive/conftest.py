"""A synthetic population with known propensities, driven through a PredictiveEngine.

Each profile has hidden daily rates (purchase, product views, adds, email opens, reviews);
every simulated day draws Poisson counts per behaviour with uniform timestamps inside the day,
feeds the events in (timestamp, key) order, then calls ``advance`` and ``predict_due`` at
midnight, as the CDP actor will. The true 7-day purchase probability of a profile with daily
rate λ is ``1 - exp(-7 λ)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from promoloop.actors.cdp.predictive import PredictiveConfig, PredictiveEngine

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def day(d: float) -> datetime:
    return T0 + timedelta(days=d)


@dataclass
class Population:
    keys: list[str]
    purchase_rate: np.ndarray
    """Daily purchase rate of each profile in the control condition."""
    view_rate: np.ndarray
    add_rate: np.ndarray
    open_rate: np.ndarray
    review_rate: np.ndarray
    basket_cents: np.ndarray
    churn_day: np.ndarray | None = None
    """Day from which the profile does nothing at all (None: nobody churns)."""
    treated_rate: np.ndarray | None = None
    """Daily purchase rate when treated (None: no treatment in this population)."""
    treated: np.ndarray | None = None
    segment: np.ndarray | None = None
    events_fed: int = field(default=0)

    def true_purchase_prob(self, horizon_days: float = 7.0) -> dict[str, float]:
        rate = self.rate_now()
        return {k: 1.0 - math.exp(-horizon_days * r) for k, r in zip(self.keys, rate, strict=True)}

    def rate_now(self) -> np.ndarray:
        if self.treated is None or self.treated_rate is None:
            return self.purchase_rate
        return np.where(self.treated, self.treated_rate, self.purchase_rate)


def make_population(
    n: int, seed: int, *, noise: bool = False, churn: bool = False, spread: float = 1.1
) -> Population:
    """Purchase propensity drives engagement (views, adds), as it does in a real shop. With
    ``noise`` every profile buys at the same rate, independent of everything observable.
    With ``churn`` each profile stops for good after an exponential time, sooner for the less
    engaged."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    purchase = np.clip(0.04 * np.exp(spread * z), 0.002, 0.6)
    if noise:
        purchase = np.full(n, 0.04)
    view = 1.5 * np.exp(0.8 * z + 0.5 * rng.normal(size=n))
    return Population(
        keys=[f"prof_{i:06d}" for i in range(n)],
        purchase_rate=purchase,
        view_rate=view,
        add_rate=0.25 * view,
        open_rate=0.3 * np.exp(0.4 * z + 0.6 * rng.normal(size=n)),
        review_rate=0.05 * purchase / 0.04,
        basket_cents=np.round(4000 * np.exp(0.5 * rng.normal(size=n))),
        churn_day=rng.exponential(60.0 * np.exp(0.6 * z)) if churn else None,
    )


def make_uplift_population(n: int, seed: int) -> Population:
    """Half persuadables (read emails; buy far more when treated), half sleeping dogs (browse
    a lot, read no email; buy far less when treated). Treatment 50/50 at random."""
    rng = np.random.default_rng(seed)
    persuadable = rng.random(n) < 0.5
    view = np.where(persuadable, 0.3, 3.0) * np.exp(0.3 * rng.normal(size=n))
    return Population(
        keys=[f"prof_{i:06d}" for i in range(n)],
        purchase_rate=np.where(persuadable, 0.02, 0.12),
        treated_rate=np.where(persuadable, 0.12, 0.02),
        treated=rng.random(n) < 0.5,
        segment=np.where(persuadable, 1, -1),
        view_rate=view,
        add_rate=0.2 * view,
        open_rate=np.where(persuadable, 1.5, 0.02) * np.exp(0.3 * rng.normal(size=n)),
        review_rate=np.full(n, 0.01),
        basket_cents=np.full(n, 3000.0),
    )


EVENT_KINDS = (
    ("Product Viewed", "view_rate"),
    ("Product Added", "add_rate"),
    ("Email Opened", "open_rate"),
    ("review_left", "review_rate"),
)


def simulate(
    engine: PredictiveEngine,
    pop: Population,
    days: int,
    seed: int,
    *,
    start_day: int = 0,
    outcome_noise_rng: np.random.Generator | None = None,
) -> None:
    """Run ``days`` simulated days through ``engine`` (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    if start_day == 0 and pop.treated is not None:
        for key, treated in zip(pop.keys, pop.treated, strict=True):
            engine.observe_treatment(key, day(0), bool(treated))
    for d in range(start_day, start_day + days):
        batch: list[tuple[float, str, str, dict[str, object]]] = []
        alive = np.ones(len(pop.keys)) if pop.churn_day is None else pop.churn_day > d
        for name, attr in EVENT_KINDS:
            counts = rng.poisson(getattr(pop, attr) * alive)
            for i in np.flatnonzero(counts):
                for u in rng.random(counts[i]):
                    batch.append((d + float(u), pop.keys[i], name, {}))
        orders = rng.poisson(pop.rate_now() * alive)
        for i in np.flatnonzero(orders):
            for u in rng.random(orders[i]):
                props = {"total_cents": int(pop.basket_cents[i]), "order_id": f"o-{d}-{i}-{u}"}
                batch.append((d + float(u), pop.keys[i], "Order Completed", props))
        batch.sort(key=lambda e: (e[0], e[1]))
        for t, key, name, props in batch:
            engine.observe(key, day(t), name, props)
        pop.events_fed += len(batch)
        engine.advance(day(d + 1))
        engine.predict_due(day(d + 1))


@pytest.fixture
def fast_config() -> PredictiveConfig:
    """Daily training snapshots so a small population yields enough labels."""
    return PredictiveConfig(label_every_days=1.0, value_label_every_days=7.0)
