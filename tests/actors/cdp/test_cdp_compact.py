"""Issue #3 part 3, the compact and fast ingest keeps behaviour: generated audience programs
agree with the reference predicates, Engage events built lazily equal the eager ones, shared
window logs slide each window on time, the membership log is bounded, message ids round-trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from promoloop.actors.cdp import (
    ENGAGE_SOURCE,
    Audience,
    CdpModel,
    ComputedTrait,
    PerformedEvent,
    Subscription,
    load_audiences,
)
from promoloop.actors.cdp.history import HistoryCodec, HistoryEntry
from promoloop.actors.events import Alias, Identify, Track, names
from promoloop.actors.events.segment import SegmentEvent
from promoloop.scenarios.bench_cdp import configure, event_at

T0 = datetime(2026, 1, 5, tzinfo=UTC)
SPAN = 20 * 86_400.0


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def mixed_stream(count: int, profiles: int) -> list[SegmentEvent]:
    """The bench's tracks, with identifies (a plan trait, and the key of an audience), anonymous
    browsing merged by identify, and an alias, so every path of the programs runs."""
    calls: list[SegmentEvent] = []
    for i in range(count):
        call = event_at(i, count, profiles, SPAN)
        at = call.timestamp
        user = call.user_id
        if i % 17 == 0:
            calls.append(
                Identify(
                    user_id=user,
                    traits={"plan": "pro" if i % 2 else "free", "vip": i % 3 == 0},
                    timestamp=at,
                    message_id=f"id-{i}",
                )
            )
        elif i % 23 == 0:
            anonymous = f"anon-{i}"
            calls.append(
                Track(
                    anonymous_id=anonymous,
                    event=call.event,
                    timestamp=at,
                    properties=call.properties,
                    message_id=f"an-{i}",
                )
            )
            calls.append(
                Identify(
                    user_id=user, anonymous_id=anonymous, timestamp=at, message_id=f"merge-{i}"
                )
            )
        elif i % 97 == 0:
            calls.append(
                Alias(user_id=user, previous_id=f"old-{i}", timestamp=at, message_id=f"al-{i}")
            )
        else:
            calls.append(call)
    return calls


def extra_audiences() -> list[Audience]:
    """Identify traits, the boolean of another audience, a string and a list comparison (the
    identify trait ``vip`` of the stream collides with the bench's audience ``vip``)."""

    def trait(key: str, op: str, value: Any) -> dict[str, Any]:
        return {"type": "trait", "trait": key, "op": op, "value": value}

    return load_audiences(
        [
            {"key": "pro", "name": "Pro plan", "condition": trait("plan", "eq", "pro")},
            {
                "key": "pro_abandoners",
                "name": "Pro cart abandoners",
                "condition": {
                    "type": "and",
                    "conditions": [trait("pro", "eq", True), trait("abandoned_7d", "eq", True)],
                },
            },
            {
                "key": "skus",
                "name": "Viewed sku-0001",
                "condition": trait("skus_viewed", "contains", "sku-0001"),
            },
            {
                "key": "plan_known",
                "name": "Plan known",
                "condition": trait("plan", "in", ["pro", "free"]),
            },
        ]
    )


def built_model(**options: Any) -> CdpModel:
    model = configure(CdpModel(expiry_resolution=0.0, **options))
    model.add_audiences(extra_audiences())
    return model


def play(model: CdpModel, calls: list[SegmentEvent], lazy: bool) -> list[Any]:
    """Drive the model as the actor does: slide windows, then ingest, call by call."""
    out: list[Any] = []
    for call in calls:
        at = call.timestamp or T0
        if lazy:
            out.extend(model.advance_lazy(at))
            out.extend(model.ingest_lazy("web", call, at))
        else:
            out.extend(model.advance(at))
            out.extend(model.ingest("web", call, at))
    return out


def test_programs_agree_with_the_reference_predicates_everywhere() -> None:
    """After a mixed stream (and every window slid to the end), recomputing each realtime
    audience with its reference predicate over every profile changes nothing."""
    model = built_model()
    calls = mixed_stream(3_000, 60)
    play(model, calls, lazy=False)
    end = day(40)
    model.advance(end)
    assert sum(model.audience_changes.values()) > 1_000
    assert model.identity.merges > 0
    for key in model.audiences:
        assert model.compute_audience(key, end) == [], key
    assert {"pro", "vip", "pro_abandoners", "skus", "plan_known", "deal_seekers"} <= {
        key for key, n in model.audience_changes.items() if n
    }


def test_engage_events_built_lazily_equal_the_eager_ones_per_destination() -> None:
    subscriptions = [
        Subscription(destination="all"),
        Subscription(
            destination="entered",
            sources=frozenset({ENGAGE_SOURCE}),
            events=frozenset({names.AUDIENCE_ENTERED}),
        ),
        Subscription(
            destination="traits", sources=frozenset({ENGAGE_SOURCE}), types=frozenset({"identify"})
        ),
    ]
    calls = mixed_stream(1_500, 40)
    eager, lazy = built_model(), built_model()
    for model in (eager, lazy):
        for subscription in subscriptions:
            model.subscribe(subscription)
    by_eager = eager.route(play(eager, calls, lazy=False))
    by_lazy = lazy.route(play(lazy, calls, lazy=True))
    assert by_lazy == by_eager
    assert {len(by_eager[d]) > 0 for d in ("all", "entered", "traits")} == {True}
    assert all(e.event == names.AUDIENCE_ENTERED for _, e in by_eager["entered"])  # type: ignore[union-attr]


def two_windows() -> CdpModel:
    model = CdpModel(expiry_resolution=0.0)
    for days in (1, 3):
        model.add_computed_trait(
            ComputedTrait(
                key=f"adds_{days}d", kind="count", event="Product Added", window_days=days
            )
        )
        model.add_audience(
            Audience(
                key=f"added_{days}d",
                name=f"Added in {days} days",
                condition=PerformedEvent(event="Product Added", within_days=days),
            )
        )
    return model


def test_windows_over_one_event_share_one_log_and_each_slides_on_time() -> None:
    model = two_windows()
    for n, when in enumerate((0.0, 0.5)):
        call = Track(user_id="u", event="Product Added", timestamp=day(when), message_id=f"a{n}")
        model.ingest("web", call, day(when))
    profile = model.profile("user_id", "u")
    assert profile is not None and profile.computed is not None
    logs = [state for state in profile.computed if state is not None]
    assert len(logs) == 1 and list(logs[0]) == [day(0).timestamp(), day(0.5).timestamp()]
    assert model.computed_traits_of(profile) == {"adds_1d": 2, "adds_3d": 2}
    assert model.next_due() == day(1)

    def changes(routed: list[Any]) -> list[tuple[str, str]]:
        return [(e.event, e.properties["audience_key"]) for _, e in routed if isinstance(e, Track)]

    assert changes(model.advance(day(1))) == []  # one entry left the 1-day window, one stays
    assert model.computed_traits_of(profile) == {"adds_1d": 1, "adds_3d": 2}
    assert changes(model.advance(day(1.5))) == [(names.AUDIENCE_EXITED, "added_1d")]
    assert changes(model.advance(day(3))) == []
    assert changes(model.advance(day(3.5))) == [(names.AUDIENCE_EXITED, "added_3d")]
    assert model.computed_traits_of(profile) == {"adds_1d": 0, "adds_3d": 0}
    assert all(not state for state in profile.computed)  # the shared log is emptied
    assert model.next_due() is None


def flipping(limit: int | None) -> tuple[CdpModel, list[Any]]:
    model = CdpModel(engage_history_limit=limit)
    model.add_audience(
        Audience(
            key="odd",
            name="Odd reviews",
            condition=PerformedEvent(event="review_left", at_least=1, at_most=1),
        )
    )
    model.add_audience(
        Audience(
            key="many", name="3+ reviews", condition=PerformedEvent(event="review_left", at_least=3)
        )
    )
    routed: list[Any] = []
    for n in range(4):
        call = Track(user_id="u", event="review_left", timestamp=day(n), message_id=f"r{n}")
        routed.extend(model.ingest("web", call, day(n)))
    return model, routed


def test_the_membership_log_keeps_the_latest_engage_events_and_counts_all() -> None:
    model, routed = flipping(limit=2)
    profile = model.profile("user_id", "u")
    assert profile is not None
    tracks = [e for s, e in routed if s == ENGAGE_SOURCE and isinstance(e, Track)]
    assert [(e.event, e.properties["audience_key"]) for e in tracks] == [
        (names.AUDIENCE_ENTERED, "odd"),
        (names.AUDIENCE_EXITED, "odd"),
        (names.AUDIENCE_ENTERED, "many"),
    ]
    engage = [e for e in profile.events if e.source == ENGAGE_SOURCE]
    assert [(e.event, e.message_id, e.timestamp) for e in engage] == [
        (t.event, t.message_id, t.timestamp) for t in tracks[-2:]
    ]
    assert engage[-1].properties == {"audience_key": "many", "audience_name": "3+ reviews"}
    assert profile.event_counts[names.AUDIENCE_ENTERED] == 2
    assert profile.event_counts[names.AUDIENCE_EXITED] == 1
    assert [e.event for e in profile.events] == [
        "review_left",
        "review_left",
        names.AUDIENCE_EXITED,
        "review_left",
        names.AUDIENCE_ENTERED,
        "review_left",
    ]
    unbounded, _ = flipping(limit=None)
    kept = unbounded.profile("user_id", "u")
    assert kept is not None and kept.engage_size == 3
    none, _ = flipping(limit=0)
    dropped = none.profile("user_id", "u")
    assert dropped is not None and dropped.engage_size == 0
    assert dropped.event_counts[names.AUDIENCE_ENTERED] == 2


def test_an_identify_and_engage_write_the_same_key_in_arrival_order() -> None:
    model, _ = flipping(limit=None)
    profile = model.profile("user_id", "u")
    assert profile is not None
    assert profile.traits == {"odd": False, "many": True}
    model.ingest("web", Identify(user_id="u", traits={"many": "maybe"}, message_id="i1"), day(5))
    assert profile.traits == {"odd": False, "many": "maybe"}
    assert profile.audiences == {"many"}
    call = Track(user_id="u", event="review_left", timestamp=day(6), message_id="r9")
    model.ingest("web", call, day(6))  # still a member of "many": Engage writes nothing
    assert profile.traits["many"] == "maybe"


@pytest.mark.parametrize(
    "message_id",
    [
        "storefront-000000123",
        "cdpb-000000000",
        "7",
        "abc",
        "",
        "x-" + "9" * 19,
        "ajs-6f1c0c2e-52d4-4b4e-9e0a-1c3a1f7b2d40",
        "id-²",
        "0007",
    ],
)
def test_message_ids_round_trip_through_the_history(message_id: str) -> None:
    codec = HistoryCodec()
    entry = HistoryEntry(
        timestamp=T0,
        type="track",
        event="A",
        source="web",
        message_id=message_id,
        properties={"k": 1},
    )
    assert codec.decode(codec.encode(entry)) == [entry]


def test_sequential_message_ids_are_stored_in_fewer_bytes() -> None:
    codec = HistoryCodec()

    def size(message_id: str) -> int:
        entry = HistoryEntry(
            timestamp=T0,
            type="track",
            event="A",
            source="web",
            message_id=message_id,
            properties={},
        )
        return len(codec.encode(entry))

    assert size("storefront-000012345") < size("storefront-00001234x") - 10


def test_routing_follows_subscriptions_changed_in_place_or_replaced() -> None:
    """Scenarios filter ``model.subscriptions`` directly: cached routing must not outlive it."""
    model, _ = flipping(limit=None)
    model.subscribe(Subscription(destination="push", sources=frozenset({"web"})))
    call = Track(user_id="u", event="review_left", timestamp=day(9), message_id="r10")
    assert set(model.route([("web", call)])) == {"push"}
    model.subscriptions = [s for s in model.subscriptions if s.destination != "push"]
    assert model.route([("web", call)]) == {}
    model.subscriptions.append(Subscription(destination="engine"))
    routed = model.ingest_lazy("web", call, day(9))
    engine = model.route(routed)["engine"]
    assert [e.message_id for _, e in engine] == ["r10"]
    model.subscriptions.append(
        Subscription(
            destination="crm", sources=frozenset({ENGAGE_SOURCE}), types=frozenset({"identify"})
        )
    )
    later = Track(user_id="u2", event="review_left", timestamp=day(9), message_id="r11")
    by = model.route(model.ingest_lazy("web", later, day(9)))
    assert [type(e).__name__ for _, e in by["crm"]] == ["Identify"]
    assert [e.traits for _, e in by["crm"]] == [{"odd": True}]  # type: ignore[union-attr]
    assert len(by["engine"]) == 3  # the call, then the Entered track and the identify
