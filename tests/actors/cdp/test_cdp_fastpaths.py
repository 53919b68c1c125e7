"""The ingest fast paths keep behaviour: expiry re-evaluates what changed (also when advanced
late), memberships are shared, Engage records round-trip, audience booleans merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from promoloop.actors.cdp import (
    ENGAGE_SOURCE,
    Audience,
    CdpModel,
    ComputedTrait,
    PerformedEvent,
    TraitCondition,
)
from promoloop.actors.events import Identify, Track, names

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
        message_id=f"f{next(_ids)}",
    )
    return model.ingest("web", call, day(when))


def entered_exited(routed: list[Any]) -> list[tuple[str, str]]:
    return [
        (e.event, e.properties["audience_key"])
        for s, e in routed
        if s == ENGAGE_SOURCE and isinstance(e, Track)
    ]


def recency_model() -> CdpModel:
    model = CdpModel()
    model.add_computed_trait(
        ComputedTrait(key="seen", kind="recency", event="Product Viewed", thresholds_days=(7, 30))
    )
    model.add_computed_trait(
        ComputedTrait(key="views_3d", kind="count", event="Product Viewed", window_days=3)
    )
    model.add_audience(
        Audience(
            key="lapsed", name="Lapsed", condition=TraitCondition(trait="seen", op="eq", value=1)
        )
    )
    model.add_audience(
        Audience(
            key="recent",
            name="Recent",
            condition=TraitCondition(trait="views_3d", op="gte", value=1),
        )
    )
    return model


def test_expiry_re_evaluates_each_audience_whose_trait_changed() -> None:
    model = recency_model()
    track(model, 0, "Product Viewed")
    out = model.advance(day(3.1))  # the 3-day window slid; recency still 3
    assert entered_exited(out) == [(names.AUDIENCE_EXITED, "recent")]
    out = model.advance(day(31))  # recency crossed 7 then 30 days: now 1
    assert entered_exited(out) == [(names.AUDIENCE_ENTERED, "lapsed")]


def test_an_advance_long_after_the_due_time_still_sees_every_crossing() -> None:
    """An event ingested without advancing reschedules the profile past a crossing it never
    processed (recency 3 -> 2 at day 7); the next advance still applies it."""
    model = CdpModel()
    model.add_computed_trait(
        ComputedTrait(key="seen", kind="recency", event="Product Viewed", thresholds_days=(7, 30))
    )
    model.add_computed_trait(
        ComputedTrait(key="orders_3d", kind="count", event="Order Completed", window_days=3)
    )
    model.add_audience(
        Audience(key="mid", name="Mid", condition=TraitCondition(trait="seen", op="eq", value=2))
    )
    track(model, 0, "Product Viewed")
    track(model, 20, "Order Completed")  # due was day 7: rescheduled to day 23 (the window)
    out = model.advance(day(24))
    assert entered_exited(out) == [(names.AUDIENCE_ENTERED, "mid")]
    assert model.sizes == {"mid": 1}


def test_profiles_with_the_same_memberships_share_one_set() -> None:
    model = CdpModel()
    model.add_audience(
        Audience(key="buyers", name="Buyers", condition=PerformedEvent(event="Order Completed"))
    )
    for user in ("a", "b", "c"):
        track(model, 0, "Order Completed", user=user)
    members = [p.audiences for p in model.profiles()]
    assert members[0] == {"buyers"}
    assert members[0] is members[1] is members[2]


def test_engage_records_round_trip_through_the_history() -> None:
    model = CdpModel()
    model.add_audience(
        Audience(key="buyers", name="Buyers", condition=PerformedEvent(event="Order Completed"))
    )
    routed = track(model, 0, "Order Completed", total_cents=1200)
    sent = next(e for s, e in routed if s == ENGAGE_SOURCE and isinstance(e, Track))
    profile = model.profile("user_id", "u")
    assert profile is not None
    kept = profile.events[-1]
    assert (kept.source, kept.event, kept.message_id) == (
        ENGAGE_SOURCE,
        names.AUDIENCE_ENTERED,
        sent.message_id,
    )
    assert (
        kept.properties == sent.properties == {"audience_key": "buyers", "audience_name": "Buyers"}
    )
    assert kept.timestamp == sent.timestamp
    assert profile.events[0].properties == {"total_cents": 1200}


def test_merged_profiles_keep_an_audience_boolean_if_either_was_a_member() -> None:
    model = CdpModel()
    model.add_audience(
        Audience(key="buyers", name="Buyers", condition=PerformedEvent(event="Order Completed"))
    )
    model.ingest(
        "web",
        Track(anonymous_id="anon-1", event="Order Completed", message_id="x1", timestamp=day(0)),
        day(0),
    )
    model.ingest("web", Identify(user_id="u", message_id="x2", timestamp=day(1)), day(1))
    model.ingest(
        "web",
        Identify(user_id="u", anonymous_id="anon-1", message_id="x3", timestamp=day(2)),
        day(2),
    )
    profile = model.profile("user_id", "u")
    assert profile is not None and profile is model.profile("anonymous_id", "anon-1")
    assert profile.audiences == {"buyers"} and profile.traits["buyers"] is True
    assert model.sizes["buyers"] == 1


def _busy_model() -> CdpModel:
    model = CdpModel()
    model.add_computed_trait(
        ComputedTrait(key="views_1d", kind="count", event="Viewed", window_days=1)
    )
    model.add_audience(
        Audience(key="browsers", name="Browsers", condition=PerformedEvent(event="Viewed"))
    )
    model.add_audience(
        Audience(
            key="keen", name="Keen", condition=TraitCondition(trait="views_1d", op="gte", value=2)
        )
    )
    return model


def _calls() -> list[Track | Identify]:
    calls: list[Track | Identify] = []
    for i in range(40):
        user = f"u{i % 7}"
        calls.append(Track(user_id=user, event="Viewed", timestamp=day(i / 20), message_id=f"v{i}"))
        if i % 9 == 0:
            calls.append(Identify(user_id=user, traits={"plan": i}, message_id=f"i{i}"))
    calls.append(calls[3])  # a repeat within the batch
    calls.append(Track(user_id="u1", event="Viewed", message_id=""))  # no id: never a repeat
    calls.append(Track(user_id="u1", event="Viewed", message_id=""))
    return calls


def test_a_batch_ingests_exactly_as_its_calls_one_by_one() -> None:
    one_by_one, batched = _busy_model(), _busy_model()
    calls = _calls()
    at = day(2)
    expected = [item for call in calls for item in one_by_one.ingest_lazy("web", call, at)]
    got = batched.ingest_batch_lazy("web", calls, at)
    assert one_by_one.route(expected) == batched.route(got)
    assert len(got) > len(calls)  # Engage changes came with the calls
    assert batched.ingested == one_by_one.ingested == {"web": len(calls) - 1}
    assert batched.duplicates == one_by_one.duplicates == {"web": 1}
    assert batched.sizes == one_by_one.sizes
    assert batched.audience_changes == one_by_one.audience_changes
    assert batched.size_series == one_by_one.size_series
    for mine, theirs in zip(batched.profiles(), one_by_one.profiles(), strict=True):
        assert mine.events == theirs.events
        assert batched.traits_of(mine) == one_by_one.traits_of(theirs)


def test_dedup_forgets_a_batch_of_ids_together_after_the_window() -> None:
    model = CdpModel(dedup_window=3_600.0)
    first = [Track(user_id="u", event="A", message_id=f"m{i}") for i in range(5)]
    model.ingest_batch_lazy("web", first, day(0))
    assert len(model.dedup) == 5
    model.ingest_batch_lazy("web", first[:2], day(0) + timedelta(minutes=59))
    assert model.duplicates == {"web": 2}
    assert model.ingest_batch_lazy("other", first[:1], day(0) + timedelta(minutes=59))
    assert len(model.dedup) == 6  # per source
    model.ingest_batch_lazy("web", first, day(0) + timedelta(hours=1))
    assert model.duplicates == {"web": 2}  # the first batch's ids were forgotten together
    assert model.ingested == {"web": 10, "other": 1}


def test_the_audience_boolean_and_an_identify_trait_of_its_key_take_turns() -> None:
    """An identify trait named like an audience: Engage's first change takes the key over,
    later changes keep it (without looking at the identify traits again), a later identify
    of the key wins until the next change, and the traits never hold both."""
    model = CdpModel()
    model.add_audience(
        Audience(key="buyer", name="Buyer", condition=PerformedEvent(event="Order Completed"))
    )
    model.add_computed_trait(
        ComputedTrait(key="orders_1d", kind="count", event="Order Completed", window_days=1)
    )
    model.add_audience(
        Audience(
            key="hot", name="Hot", condition=TraitCondition(trait="orders_1d", op="gte", value=1)
        )
    )
    identify = Identify(user_id="u", traits={"hot": "maybe"}, timestamp=day(0), message_id="i1")
    model.ingest("web", identify, day(0))
    (profile,) = model.profiles()
    assert profile.trait("hot") == "maybe"
    track(model, 1, "Order Completed")
    assert profile.trait("hot") is True
    assert "hot" not in (profile.identify_traits or {})
    model.advance(day(3))  # the window empties: the second change, Engage still owns the key
    assert profile.trait("hot") is False
    assert "hot" not in (profile.identify_traits or {})
    again = Identify(user_id="u", traits={"hot": "again"}, timestamp=day(4), message_id="i2")
    model.ingest("web", again, day(4))
    assert profile.trait("hot") == "again"
    assert profile.traits["hot"] == "again"
    track(model, 5, "Order Completed")
    assert profile.trait("hot") is True
    assert profile.traits == {"buyer": True, "hot": True}


def test_profiles_due_at_one_rounded_time_expire_together_in_profile_order() -> None:
    """Window expiries rounded to the same minute share one due time: they are slid in
    profile order (as a heap of (due, profile id) pairs popped them), not in the order they
    were scheduled in; and a profile rescheduled since (a later view) is skipped there and
    expires at its own time."""
    model = CdpModel(expiry_resolution=60.0)
    model.add_computed_trait(
        ComputedTrait(key="views_1d", kind="count", event="Product Viewed", window_days=1)
    )
    model.add_audience(
        Audience(
            key="today",
            name="Viewed today",
            condition=TraitCondition(trait="views_1d", op="gte", value=1),
        )
    )
    for user in "abcde":  # profiles created in this order: their ids sort the same way
        model.ingest("web", Identify(user_id=user, timestamp=day(0)), day(0))
    for n, user in enumerate("edcba"):  # viewed the other way round, seconds apart
        track(model, (n + 1) / 86_400, "Product Viewed", user=user)
    track(model, 0.5, "Product Viewed", user="c")
    minute = day(1) + timedelta(minutes=1)
    assert model.next_due() == minute
    exits = [
        (e.user_id, e.event)
        for s, e in model.advance(minute)
        if s == ENGAGE_SOURCE and isinstance(e, Track)
    ]
    assert exits == [(u, names.AUDIENCE_EXITED) for u in "abde"]
    assert model.next_due() == day(1.5)
    assert [p.user_id for p in model.audience_members("today")] == ["c"]
