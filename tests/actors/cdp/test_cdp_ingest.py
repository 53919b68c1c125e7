"""Ingestion rules before profiles: messageId dedup, tracking plans; and compact profiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from promoloop.actors.cdp import (
    Audience,
    CdpModel,
    Enforcement,
    EventRule,
    PerformedEvent,
    Profile,
    PropertyRule,
    TrackingPlan,
    load_tracking_plan,
)
from promoloop.actors.cdp.history import HistoryCodec, HistoryEntry
from promoloop.actors.events import Identify, Page, Track, names

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


# -- dedup -------------------------------------------------------------------------------------


def test_a_repeated_message_id_within_24h_is_accepted_and_ignored() -> None:
    """Same source + messageId within 24 h of virtual time: nothing ingested, nothing routed,
    counted; another source may reuse the id; after 24 h it is new again."""
    model = CdpModel()
    model.add_audience(Audience(key="buyers", name="B", condition=PerformedEvent(event="Buy")))
    order = Track(user_id="u", event="Buy", message_id="m-1")
    assert len(model.ingest("web", order, hours(0))) == 3
    assert model.ingest("web", order, hours(23.9)) == []
    assert model.ingest("web", order, hours(12)) == []
    assert len(model.ingest("mobile", order, hours(1))) == 1
    assert model.duplicates == {"web": 2}
    assert model.ingested == {"web": 1, "mobile": 1}
    profile = model.profile("user_id", "u")
    assert profile is not None and profile.event_counts["Buy"] == 2
    assert len(model.ingest("web", order, hours(24))) == 1
    assert profile.event_counts["Buy"] == 3


def test_calls_without_a_message_id_are_never_duplicates() -> None:
    model = CdpModel()
    for minute in range(3):
        model.ingest("web", Track(user_id="u", event="X"), T0 + timedelta(minutes=minute))
    assert model.ingested == {"web": 3}
    assert model.duplicates == {}


# -- tracking plans ------------------------------------------------------------------------------

PLAN = TrackingPlan(
    name="storefront v1",
    events={
        names.ORDER_COMPLETED: EventRule(
            properties={
                "order_id": PropertyRule(type="string", required=True),
                "total_cents": PropertyRule(type="integer", required=True),
                "currency": PropertyRule(type="string", enum=["USD", "EUR"]),
            }
        ),
        names.PRODUCT_VIEWED: EventRule(properties={"sku": PropertyRule(type=["string", "null"])}),
    },
    identify=EventRule(properties={"email": PropertyRule(type="string")}),
)


def order(**props: Any) -> Track:
    return Track(user_id="u", event=names.ORDER_COMPLETED, properties=props)


def test_unplanned_events_are_blocked_or_allowed_per_source() -> None:
    """`block` drops the call (counted, recorded); `allow` records and ingests it; a source
    without a plan is not checked."""
    model = CdpModel()
    model.set_tracking_plan("web", PLAN, Enforcement(unplanned_events="block"))
    model.set_tracking_plan("mobile", PLAN)
    assert model.ingest("web", Track(user_id="u", event="Sneezed"), T0) == []
    assert len(model.ingest("mobile", Track(user_id="u", event="Sneezed"), T0)) == 1
    assert len(model.ingest("server", Track(user_id="u", event="Sneezed"), T0)) == 1
    assert model.ingested == {"mobile": 1, "server": 1}
    assert model.plans.blocked == {"web": 1}
    (blocked, allowed) = model.plans.violations(rule="unplanned_event")
    assert (blocked.source, blocked.event, blocked.action) == ("web", "Sneezed", "blocked")
    assert (allowed.source, allowed.action) == ("mobile", "allowed")
    assert "not in plan 'storefront v1'" in blocked.reason
    assert model.plans.violations(source="server") == []


def test_unplanned_properties_are_omitted_before_anything_sees_them() -> None:
    """`omit`: the stored and routed event lacks the unplanned property; the violation says so."""
    model = CdpModel()
    model.set_tracking_plan("web", PLAN, Enforcement(unplanned_properties="omit"))
    routed = model.ingest(
        "web", order(order_id="o1", total_cents=500, coupon="FREE", ssn="123"), T0
    )
    ((source, event),) = routed
    assert source == "web"
    assert isinstance(event, Track)
    assert event.properties == {"order_id": "o1", "total_cents": 500}
    profile = model.profile("user_id", "u")
    assert profile is not None and profile.events[0].properties == event.properties
    found = model.plans.violations(event=names.ORDER_COMPLETED)
    assert [(v.rule, v.property, v.action) for v in found] == [
        ("unplanned_property", "coupon", "omitted"),
        ("unplanned_property", "ssn", "omitted"),
    ]


def test_invalid_properties_are_recorded_with_the_rule_and_reason() -> None:
    """Missing required, wrong type, outside enum: each recorded; `block` drops the event."""
    model = CdpModel()
    model.set_tracking_plan("web", PLAN, Enforcement(invalid_events="block"))
    assert model.ingest("web", order(total_cents="500", currency="GBP"), T0) == []
    found = model.plans.violations(source="web")
    assert [(v.rule, v.property) for v in found] == [
        ("missing_property", "order_id"),
        ("wrong_type", "total_cents"),
        ("not_in_enum", "currency"),
    ]
    assert "must be integer, got string" in found[1].reason
    assert all(v.action == "blocked" for v in found)
    assert model.plans.counts[("web", "wrong_type")] == 1
    assert len(model.ingest("web", order(order_id="o", total_cents=5), T0)) == 1
    assert (
        len(
            model.ingest(
                "web", Track(user_id="u", event=names.PRODUCT_VIEWED, properties={"sku": None}), T0
            )
        )
        == 1
    )
    assert model.ingest("web", Identify(user_id="u", traits={"email": 3}), T0) == []
    with pytest.raises(ValueError, match="unknown rule"):
        model.plans.violations(rule="typo")


def test_tracking_plans_load_from_json_with_field_errors() -> None:
    plan = load_tracking_plan(
        '{"name": "p", "events": {"Signed Up": {"properties": '
        '{"method": {"type": "string", "required": true}}}}}'
    )
    assert plan.events["Signed Up"].properties["method"].required
    with pytest.raises(
        ValueError, match=r"'text' - at `\$\.events\[\.\.\.\]\.properties\[\.\.\.\]\.type`"
    ):
        load_tracking_plan(
            {"name": "p", "events": {"Signed Up": {"properties": {"method": {"type": "text"}}}}}
        )


# -- compact profiles ---------------------------------------------------------------------------


def test_history_round_trips_and_stays_compact() -> None:
    """50 storefront-like events take well under 4 KB of history; decoding gives back exactly
    what was remembered."""
    codec = HistoryCodec()
    profile = Profile(id="p", created_at=T0, user_id="user-000001", codec=codec)
    entries = [
        HistoryEntry(
            T0 + timedelta(minutes=i, microseconds=7),
            "track",
            names.PRODUCT_VIEWED,
            "storefront",
            f"storefront-{i:09d}",
            {"product_id": f"sku-{i % 97:04d}", "price_cents": 1_000 + i},
        )
        for i in range(50)
    ]
    for entry in entries:
        profile.remember(entry)
    assert profile.events == entries
    assert profile.history_bytes() < 50 * 64
    assert profile.event_counts == {names.PRODUCT_VIEWED: 50}


def test_history_limit_drops_the_oldest_but_keeps_counts() -> None:
    model = CdpModel(history_limit=3)
    for i in range(5):
        model.ingest("web", Page(user_id="u", message_id=f"m{i}"), T0 + timedelta(minutes=i))
    profile = model.profile("user_id", "u")
    assert profile is not None
    assert [e.message_id for e in profile.events] == ["m2", "m3", "m4"]
    assert profile.event_counts == {"page": 5}
    with pytest.raises(ValueError, match="history limit"):
        HistoryCodec(limit=0)
