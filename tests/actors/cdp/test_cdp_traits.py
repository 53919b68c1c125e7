"""Computed traits: every kind, windows sliding in virtual time, merges, RFM, declarative form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from promoloop.actors.cdp import ENGAGE_SOURCE, CdpModel, ComputedTrait, load_computed_traits, rfm
from promoloop.actors.events import Identify, Track

T0 = datetime(2026, 1, 5, tzinfo=UTC)
_ids = count(1)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def track(model: CdpModel, when: float, event: str, user: str = "u", **props: Any) -> list[Any]:
    call = Track(
        user_id=user,
        event=event,
        properties=props,
        timestamp=day(when),
        message_id=f"m{next(_ids)}",
    )
    return model.ingest("web", call, day(when))


def values(model: CdpModel, user: str = "u") -> dict[str, Any]:
    profile = model.profile("user_id", user)
    assert profile is not None
    return model.computed_traits_of(profile)


ORDER = "Order Completed"


def test_every_kind_over_a_lifetime() -> None:
    """Each kind folds the events it reads; events without the property, or with a value of
    the wrong type, are skipped (they still count for `count`)."""
    model = CdpModel()
    model.add_computed_traits(
        [
            ComputedTrait(key="orders", kind="count", event=ORDER),
            ComputedTrait(key="spent", kind="sum", event=ORDER, property="total"),
            ComputedTrait(key="basket", kind="avg", event=ORDER, property="total"),
            ComputedTrait(key="smallest", kind="min", event=ORDER, property="total"),
            ComputedTrait(key="largest", kind="max", event=ORDER, property="total"),
            ComputedTrait(key="first_city", kind="first", event=ORDER, property="city"),
            ComputedTrait(key="last_city", kind="last", event=ORDER, property="city"),
            ComputedTrait(key="last_order_at", kind="last", event=ORDER),
            ComputedTrait(key="top_city", kind="most_frequent", event=ORDER, property="city"),
            ComputedTrait(key="cities", kind="unique_list", event=ORDER, property="city", limit=2),
        ]
    )
    track(model, 0, ORDER, total=10, city="Paris")
    track(model, 1, ORDER, total=30, city="Lyon")
    track(model, 2, ORDER, total="n/a", city="Lyon")
    track(model, 3, ORDER, total=True, city="Nice")
    track(model, 4, ORDER, total=20)
    assert values(model) == {
        "orders": 5,
        "spent": 60,
        "basket": 20.0,
        "smallest": 10,
        "largest": 30,
        "first_city": "Paris",
        "last_city": "Nice",
        "last_order_at": day(4).isoformat(),
        "top_city": "Lyon",
        "cities": ["Paris", "Lyon"],
    }


def test_a_profile_without_events_has_empty_values() -> None:
    """Counts and sums start at 0, lists empty, everything else None."""
    model = CdpModel()
    model.add_computed_traits(
        [
            ComputedTrait(key="n", kind="count", event=ORDER),
            ComputedTrait(key="s", kind="sum", event=ORDER, property="x", window_days=3),
            ComputedTrait(key="a", kind="avg", event=ORDER, property="x"),
            ComputedTrait(key="u", kind="unique_list", event=ORDER, property="x"),
            ComputedTrait(key="r", kind="recency", event=ORDER),
        ]
    )
    track(model, 0, "Signed Up")
    assert values(model) == {"n": 0, "s": 0, "a": None, "u": [], "r": 0}


def test_first_and_last_go_by_event_time_not_arrival() -> None:
    """A late event that happened earlier becomes `first`, not `last`."""
    model = CdpModel()
    model.add_computed_traits(
        [
            ComputedTrait(key="first_sku", kind="first", event="Viewed", property="sku"),
            ComputedTrait(key="last_sku", kind="last", event="Viewed", property="sku"),
        ]
    )
    track(model, 5, "Viewed", sku="B")
    model.ingest(
        "web",
        Track(user_id="u", event="Viewed", properties={"sku": "A"}, timestamp=day(1)),
        day(6),
    )
    assert values(model) == {"first_sku": "A", "last_sku": "B"}


def test_windowed_count_and_sum_slide_with_time() -> None:
    """'Orders in the last 30 days': events leave the window 30 days after they happened;
    the value is right whenever it is read, and `advance` drops what slid out."""
    model = CdpModel(expiry_resolution=0)
    model.add_computed_traits(
        [
            ComputedTrait(key="orders_30d", kind="count", event=ORDER, window_days=30),
            ComputedTrait(key="spent_30d", kind="sum", event=ORDER, property="t", window_days=30),
            ComputedTrait(key="max_30d", kind="max", event=ORDER, property="t", window_days=30),
        ]
    )
    track(model, 0, ORDER, t=100)
    track(model, 10, ORDER, t=50)
    assert values(model) == {"orders_30d": 2, "spent_30d": 150, "max_30d": 100}
    assert model.next_due() == day(30)
    model.advance(day(30))
    assert values(model) == {"orders_30d": 1, "spent_30d": 50, "max_30d": 50}
    assert model.next_due() == day(40)
    model.advance(day(45))
    assert values(model) == {"orders_30d": 0, "spent_30d": 0, "max_30d": None}
    assert model.next_due() is None
    profile = model.profile("user_id", "u")
    assert profile is not None and profile.computed is not None
    assert all(not state for state in profile.computed)  # expired entries are dropped


def test_an_event_already_outside_its_window_is_not_counted() -> None:
    """A replayed event older than the window counts for lifetime traits only."""
    model = CdpModel()
    model.add_computed_traits(
        [
            ComputedTrait(key="ever", kind="count", event=ORDER),
            ComputedTrait(key="week", kind="count", event=ORDER, window_days=7),
        ]
    )
    model.ingest("web", Track(user_id="u", event=ORDER, timestamp=day(0)), day(20))
    assert values(model) == {"ever": 1, "week": 0}
    assert model.next_due() is None


def test_expiry_times_are_rounded_up_to_the_resolution() -> None:
    """With a one-hour resolution, events minutes apart share one expiry time."""
    model = CdpModel(expiry_resolution=3_600)
    model.add_computed_trait(ComputedTrait(key="n", kind="count", event="E", window_days=1))
    for minutes in (1, 7, 13):
        model.ingest(
            "web",
            Track(user_id="u", event="E", timestamp=T0 + timedelta(minutes=minutes)),
            T0 + timedelta(minutes=minutes),
        )
    assert model.next_due() == day(1) + timedelta(hours=1)
    model.advance(day(1) + timedelta(hours=1))
    assert values(model) == {"n": 0}
    assert model.next_due() is None


def test_rfm_ready_definition() -> None:
    """Recency score 5 within 7 days, decaying at 30/90/180 days; frequency and monetary over
    a 365-day window."""
    model = CdpModel(expiry_resolution=0)
    model.add_computed_traits(rfm(property="total_cents"))
    track(model, 0, ORDER, total_cents=2_000)
    track(model, 2, ORDER, total_cents=3_000)
    assert values(model) == {"rfm_recency": 5, "rfm_frequency": 2, "rfm_monetary": 5_000}
    for when, score in ((9, 4), (32, 3), (92, 2), (182, 1)):
        model.advance(day(when))
        assert values(model)["rfm_recency"] == score, when
    model.advance(day(366))
    assert values(model) == {"rfm_recency": 1, "rfm_frequency": 1, "rfm_monetary": 3_000}
    model.advance(day(368))
    assert values(model) == {"rfm_recency": 1, "rfm_frequency": 0, "rfm_monetary": 0}


def test_states_merge_when_profiles_merge() -> None:
    """Anonymous activity and the known user's fold together: counts add, windows interleave,
    first/last compare times, unique lists union."""
    model = CdpModel(expiry_resolution=0)
    model.add_computed_traits(
        [
            ComputedTrait(key="views", kind="count", event="Viewed"),
            ComputedTrait(key="views_7d", kind="count", event="Viewed", window_days=7),
            ComputedTrait(key="skus", kind="unique_list", event="Viewed", property="sku"),
            ComputedTrait(key="first_sku", kind="first", event="Viewed", property="sku"),
            ComputedTrait(key="avg_price", kind="avg", event="Viewed", property="price"),
        ]
    )
    model.ingest(
        "web",
        Track(user_id="u", event="Viewed", properties={"sku": "B", "price": 4}, timestamp=day(2)),
        day(2),
    )
    model.ingest(
        "web",
        Track(
            anonymous_id="a",
            event="Viewed",
            properties={"sku": "A", "price": 2},
            timestamp=day(1),
        ),
        day(2),
    )
    model.ingest("web", Identify(user_id="u", anonymous_id="a", timestamp=day(3)), day(3))
    (profile,) = model.profiles()
    assert model.computed_traits_of(profile) == {
        "views": 2,
        "views_7d": 2,
        "skus": ["B", "A"],
        "first_sku": "A",
        "avg_price": 3.0,
    }
    assert model.next_due() == day(8)
    model.advance(day(8))
    assert model.computed_traits_of(profile)["views_7d"] == 1


def test_synced_traits_send_an_identify_when_the_value_changes() -> None:
    """`sync: true`: an identify with the new value on the engage source, only on change, and
    when the window makes it drop."""
    model = CdpModel(expiry_resolution=0)
    model.add_computed_trait(
        ComputedTrait(key="orders_7d", kind="count", event=ORDER, window_days=7, sync=True)
    )

    def synced(routed: list[Any]) -> list[dict[str, Any]]:
        return [e.traits for s, e in routed if s == ENGAGE_SOURCE and isinstance(e, Identify)]

    assert synced(track(model, 0, "Viewed")) == []
    assert synced(track(model, 0, ORDER)) == [{"orders_7d": 1}]
    assert synced(track(model, 1, ORDER)) == [{"orders_7d": 2}]
    assert synced(model.advance(day(7))) == [{"orders_7d": 1}]
    assert synced(model.advance(day(7.5))) == []
    assert synced(model.advance(day(8))) == [{"orders_7d": 0}]


def test_profiles_with_the_same_synced_values_share_them() -> None:
    """Each profile references one shared tuple of last-sent values, and unhashable values
    (a unique list) are kept unshared without breaking the change detection."""
    model = CdpModel()
    model.add_computed_traits(
        [
            ComputedTrait(key="orders", kind="count", event=ORDER, sync=True),
            ComputedTrait(key="skus", kind="unique_list", event=ORDER, property="sku", sync=True),
        ]
    )
    for user in ("u1", "u2"):
        call = Track(user_id=user, event=ORDER, properties={"sku": "A"}, timestamp=day(0))
        assert [e.traits for s, e in model.ingest("web", call, day(0)) if s == ENGAGE_SOURCE] == [
            {"orders": 1, "skus": ["A"]}
        ]
    one, two = model.profile("user_id", "u1"), model.profile("user_id", "u2")
    assert one is not None and two is not None and one.synced == two.synced
    again = Track(user_id="u1", event=ORDER, properties={"sku": "A"}, timestamp=day(1))
    assert [e.traits for s, e in model.ingest("web", again, day(1)) if s == ENGAGE_SOURCE] == [
        {"orders": 2}
    ]


def test_identify_cannot_overwrite_a_computed_trait() -> None:
    """Computed trait keys belong to the CDP: an identify sending the same key is ignored for
    that key, the other traits land."""
    model = CdpModel()
    model.add_computed_trait(ComputedTrait(key="orders", kind="count", event=ORDER))
    track(model, 0, ORDER)
    model.ingest(
        "web", Identify(user_id="u", traits={"orders": 99, "plan": "pro"}, timestamp=day(1)), day(1)
    )
    profile = model.profile("user_id", "u")
    assert profile is not None
    assert model.traits_of(profile) == {"plan": "pro", "orders": 1}


def test_declarative_definitions_load_with_rfm() -> None:
    """JSON list: computed trait objects and `{"kind": "rfm"}` for the three RFM traits."""
    traits = load_computed_traits(
        b"""[
          {"key": "orders_30d", "kind": "count", "event": "Order Completed", "window_days": 30},
          {"key": "fav_sku", "kind": "most_frequent", "event": "Viewed", "property": "sku"},
          {"kind": "rfm", "prefix": "r", "property": "value", "window_days": 90}
        ]"""
    )
    assert [t.key for t in traits] == [
        "orders_30d",
        "fav_sku",
        "r_recency",
        "r_frequency",
        "r_monetary",
    ]
    assert traits[4].property == "value" and traits[4].window_days == 90
    assert traits[0] == ComputedTrait(key="orders_30d", kind="count", event=ORDER, window_days=30)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"key": "x", "kind": "sum", "event": "E"}, r"\[0\].*property is required"),
        ({"key": "x", "kind": "count", "event": 3}, r"\[0\].*Expected `str`.*\$\.event"),
        ({"key": "x", "kind": "median", "event": "E"}, r"\[0\].*\$\.kind"),
        ({"key": "X-1", "kind": "count", "event": "E"}, r"computed_trait\.key"),
        ({"key": "x", "kind": "count", "event": "E", "window_days": 0}, r"window_days"),
        ({"key": "x", "kind": "recency", "event": "E", "window_days": 3}, r"window_days"),
        ({"key": "x", "kind": "count", "event": "E", "extra": 1}, r"unknown field `extra`"),
        (
            {"key": "x", "kind": "recency", "event": "E", "thresholds_days": [30, 7]},
            r"thresholds_days",
        ),
        ({"kind": "rfm", "window_days": "long"}, r"\[0\].*\$\.window_days"),
    ],
)
def test_malformed_definitions_are_rejected_naming_the_field(
    item: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_computed_traits([item])


def test_a_trait_key_is_defined_once() -> None:
    model = CdpModel()
    model.add_computed_trait(ComputedTrait(key="n", kind="count", event="E"))
    with pytest.raises(ValueError, match="already defined"):
        model.add_computed_trait(ComputedTrait(key="n", kind="count", event="F"))
