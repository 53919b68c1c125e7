"""Late labels: resolved exactly at t + horizon from what happened in (t, t + horizon]."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from conftest import day

from promoloop.actors.cdp.predictive import PredictiveConfig, PredictiveEngine
from promoloop.actors.cdp.predictive.labels import CHURN, PURCHASE, VALUE, LabelQueue, Snapshot

SECOND = timedelta(seconds=1)


def engine_with_snapshot() -> tuple[PredictiveEngine, object]:
    """One profile seen on day 0 and snapshotted at day 1 (t)."""
    engine = PredictiveEngine(PredictiveConfig())
    engine.observe("p", day(0), "Product Viewed", {})
    assert engine.predict_due(day(1)) == ["p"]
    return engine, day(1)


def learned(engine: PredictiveEngine) -> dict[str, int]:
    return {k: v for k, v in engine.stats.items() if k.startswith("learned_")}


def test_nothing_is_learned_before_the_horizon() -> None:
    engine, t = engine_with_snapshot()
    weights = engine.models.purchase["LogisticRegression"].weights
    engine.advance(t + timedelta(days=7) - SECOND)
    engine.observe("p", t + timedelta(days=7), "Order Completed", {"total_cents": 1000})
    assert learned(engine) == dict.fromkeys(learned(engine), 0)
    assert dict(weights) == {}
    engine.advance(t + timedelta(days=7))
    assert engine.stats["learned_purchase"] == 1
    assert engine.quality_purchase.positives == 1  # the order at exactly t+7d counts
    assert engine.stats["learned_churn"] == 0
    engine.advance(t + timedelta(days=30) - SECOND)
    assert engine.stats["learned_churn"] == 0
    engine.advance(t + timedelta(days=30))
    assert engine.stats["learned_churn"] == 1
    assert engine.quality_churn.positives == 0  # active inside (t, t+30d]
    engine.advance(t + timedelta(days=90) - SECOND)
    assert engine.stats["learned_value"] == 0
    engine.advance(t + timedelta(days=90))
    assert engine.stats["learned_value"] == 1
    assert engine.quality_value.mae.get() > 0


def test_an_event_after_the_horizon_does_not_count() -> None:
    engine, t = engine_with_snapshot()
    # observe() matures the label due at t+7d before applying an event stamped after it.
    engine.observe("p", t + timedelta(days=7) + SECOND, "Order Completed", {"total_cents": 500})
    assert engine.stats["learned_purchase"] == 1
    assert engine.quality_purchase.positives == 0


def test_an_event_at_snapshot_time_is_not_in_the_window_if_seen_before() -> None:
    engine = PredictiveEngine()
    engine.observe("p", day(1), "Order Completed", {"total_cents": 500})
    engine.predict_due(day(1))  # the snapshot already contains this order
    engine.advance(day(8))
    assert engine.stats["learned_purchase"] == 1
    assert engine.quality_purchase.positives == 0


def test_churn_and_value_labels() -> None:
    engine = PredictiveEngine(
        PredictiveConfig(churn_horizon_days=5, value_horizon_days=5, purchase_horizon_days=5)
    )
    for key in ("quiet", "buyer"):
        engine.observe(key, day(0), "Product Viewed", {})
    engine.predict_due(day(0.5))
    engine.observe("quiet", day(2), "Email Delivered", {})  # passive: still churned
    engine.observe("buyer", day(2), "Order Completed", {"total_cents": 1200})
    engine.observe("buyer", day(3), "Order Completed", {"total_cents": 800})
    engine.advance(day(5.5))
    assert engine.quality_churn.n == 2 and engine.quality_churn.positives == 1
    assert engine.quality_value.n == 2
    assert engine.models.value_target_max == pytest.approx(math.log1p(20.0))


def test_label_queue_orders_by_time_then_key_then_sequence() -> None:
    queue = LabelQueue()
    snaps = {k: Snapshot(k, 0.0, None, (0.0, 0.0, 0.0), (), None) for k in "abc"}  # type: ignore[arg-type]
    queue.push(5.0, VALUE, snaps["b"])
    queue.push(5.0, PURCHASE, snaps["a"])
    queue.push(3.0, CHURN, snaps["c"])
    queue.push(5.0, CHURN, snaps["a"])
    out = [(s.key, t) for t, s in queue.pop_due(5.0, inclusive=False)]
    assert out == [("c", CHURN)]
    out = [(s.key, t) for t, s in queue.pop_due(5.0)]
    assert out == [("a", PURCHASE), ("a", CHURN), ("b", VALUE)]
    assert len(queue) == 0 and queue.next_due() is None


def test_labels_of_forgotten_or_merged_profiles_are_dropped() -> None:
    engine = PredictiveEngine()
    engine.observe("anon", day(0), "Product Viewed", {})
    engine.observe("known", day(0), "Product Viewed", {})
    engine.predict_due(day(1))
    engine.merge("known", "anon")
    engine.forget("known")
    engine.advance(day(200))
    assert engine.stats["dropped_labels"] == 6
    assert learned(engine) == dict.fromkeys(learned(engine), 0)
