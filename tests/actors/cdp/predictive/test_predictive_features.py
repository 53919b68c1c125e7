"""FeatureStore: RFM and engagement features from known events, bounded state, merges."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from promoloop.actors.cdp.predictive.features import (
    FEATURE_NAMES,
    FeatureStore,
    to_days,
)

D0 = to_days(datetime(2026, 1, 5, tzinfo=UTC))


def order(store: FeatureStore, key: str, day: float, cents: int, coupon: str | None = None):
    props: dict[str, object] = {"total_cents": cents}
    if coupon:
        props["coupon"] = coupon
    store.observe(key, D0 + day, "Order Completed", props)


def test_rfm_windows_and_coupon_usage() -> None:
    store = FeatureStore()
    store.observe("p", D0, "Product Viewed", {})
    order(store, "p", 10, 5000)
    order(store, "p", 70, 2000, coupon="SAVE10")
    order(store, "p", 95, 3000)
    f = store.features("p", D0 + 100)
    assert f["orders_30d"] == 1  # day 95
    assert f["orders_90d"] == 2  # days 70 and 95; day 10 is 90 days old
    assert f["orders_total_log"] == pytest.approx(math.log1p(3))
    assert f["monetary_90d_log"] == pytest.approx(math.log1p(50.0))
    assert f["monetary_total_log"] == pytest.approx(math.log1p(100.0))
    assert f["recency_order_log"] == pytest.approx(math.log1p(5))
    assert f["coupon_orders"] == 1
    assert f["coupon_share"] == pytest.approx(1 / 3)
    assert f["tenure_log"] == pytest.approx(math.log1p(100))
    assert f["has_ordered"] == 1
    assert list(f) == list(FEATURE_NAMES)


def test_engagement_recency_rate_and_never() -> None:
    store = FeatureStore(decay_half_life_days=10.0, recency_cap_days=365.0)
    store.observe("p", D0, "Email Opened", {})
    store.observe("p", D0 + 10, "Email Opened", {})
    f = store.features("p", D0 + 20)
    assert f["open_recency_log"] == pytest.approx(math.log1p(10))
    # 1 event 20 days ago + 1 event 10 days ago, half-life 10 days.
    assert f["open_rate"] == pytest.approx(0.25 + 0.5)
    assert f["open_total_log"] == pytest.approx(math.log1p(2))
    assert f["click_recency_log"] == pytest.approx(math.log1p(365))  # never: the cap
    assert f["click_rate"] == 0.0
    assert f["has_ordered"] == 0.0


def test_late_event_decays_in_place() -> None:
    a, b = FeatureStore(), FeatureStore()
    a.observe("p", D0 + 1, "Product Viewed", {})
    a.observe("p", D0 + 5, "Product Viewed", {})
    b.observe("p", D0 + 5, "Product Viewed", {})
    b.observe("p", D0 + 1, "Product Viewed", {})  # arrives late
    assert a.features("p", D0 + 9) == pytest.approx(b.features("p", D0 + 9))


def test_passive_events_are_not_activity() -> None:
    store = FeatureStore()
    store.observe("p", D0, "Product Viewed", {})
    store.observe("p", D0 + 3, "Email Delivered", {})
    store.observe("p", D0 + 4, "Push Notification Received", {})
    store.observe("p", D0 + 4, "Audience Entered", {})
    assert store.label_counters("p") == (1.0, 0.0, 0.0)
    assert store.features("p", D0 + 5)["recency_any_log"] == pytest.approx(math.log1p(5))
    assert store.features("p", D0 + 5)["push_total_log"] == pytest.approx(math.log1p(1))


def test_order_history_is_bounded() -> None:
    store = FeatureStore(max_orders_kept=8)
    for i in range(1000):
        order(store, "p", i * 0.5, 100)
    state = store.state("p")
    assert state is not None
    assert len(state.orders) <= 2 * 8
    f = store.features("p", D0 + 500)
    assert f["orders_total_log"] == pytest.approx(math.log1p(1000))  # totals stay exact
    store2 = FeatureStore()
    for i in range(300):
        order(store2, "q", i, 100)
    state2 = store2.state("q")
    assert state2 is not None and len(state2.orders) <= 2 * 91  # only the 90-day window


def test_bad_total_cents_is_ignored() -> None:
    store = FeatureStore()
    for bad in ("12", None, -5, float("nan"), True):
        store.observe("p", D0, "Order Completed", {"total_cents": bad})
    assert store.label_counters("p") == (5.0, 5.0, 0.0)


def test_merge_adds_features_not_label_counters() -> None:
    store = FeatureStore()
    store.observe("anon", D0, "Product Viewed", {})
    order(store, "anon", 1, 1000)
    store.observe("known", D0 + 2, "Product Viewed", {})
    before = store.label_counters("known")
    store.merge("known", "anon")
    assert "anon" not in store
    f = store.features("known", D0 + 3)
    assert f["orders_total_log"] == pytest.approx(math.log1p(1))
    assert f["view_total_log"] == pytest.approx(math.log1p(2))
    assert f["tenure_log"] == pytest.approx(math.log1p(3))
    assert store.label_counters("known") == before


def test_naive_datetimes_are_utc() -> None:
    assert to_days(datetime(2026, 1, 5)) == to_days(datetime(2026, 1, 5, tzinfo=UTC))
