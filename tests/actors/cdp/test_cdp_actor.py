"""CdpActor in a world: batches land in profiles, destinations get EventBatch per source."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio.testing

from promoloop.actors.cdp import ENGAGE_SOURCE, Audience, CdpActor, PerformedEvent, Subscription
from promoloop.actors.events import EventBatch, Identify, Page, SegmentEvent, Track, names
from promoloop.actors.runtime import Actor, ActorCrashed, Started, World


class Feeder(Actor):
    """Tells the CDP the given batches on Started, in order."""

    def __init__(self, name: str, batches: list[Any]) -> None:
        super().__init__(name)
        self.batches = batches

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for batch in self.batches:
                await self.tell("cdp", batch)
        return None


class Destination(Actor):
    """Keeps every EventBatch it is sent."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.batches: list[EventBatch] = []
        self.senders: set[str] = set()

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, EventBatch):
            self.batches.append(message)
            self.senders.add(sender)
        return None


def _names(batch: EventBatch) -> list[str]:
    return [getattr(e, "event", None) or e.__struct_config__.tag for e in batch.events]


async def test_batches_become_profiles_and_reach_destinations_per_source(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A storefront batch fills profiles and the audience; the warehouse gets the events in
    order, split into one EventBatch per run of the same source (web, engage, web); the engine
    gets only what its filter accepts."""
    events: tuple[SegmentEvent, ...] = (
        Page(anonymous_id="a-1", name="Home"),
        Identify(user_id="u-1", anonymous_id="a-1", traits={"email": "pam@example.com"}),
        Track(user_id="u-1", event=names.REVIEW_LEFT),
        Track(user_id="u-1", event=names.ORDER_COMPLETED),
    )
    world = World()
    cdp = world.add(CdpActor("cdp"))
    cdp.model.add_audience(
        Audience(key="reviewers", name="Reviewers", condition=PerformedEvent(event="review_left"))
    )
    cdp.model.subscribe(Subscription(destination="warehouse"))
    cdp.model.subscribe(Subscription(destination="engine", sources=frozenset({ENGAGE_SOURCE})))
    warehouse = world.add(Destination("warehouse"))
    engine = world.add(Destination("engine"))
    world.add(Feeder("store", [EventBatch("web", events)]))
    await world.run(until=60.0)

    profile = cdp.model.profile("anonymous_id", "a-1")
    assert profile is not None
    assert profile is cdp.model.profile("user_id", "u-1")
    assert profile.traits == {"email": "pam@example.com", "reviewers": True}
    assert profile.audiences == {"reviewers"}
    assert cdp.model.ingested == {"web": 4}

    assert [b.source for b in warehouse.batches] == ["web", ENGAGE_SOURCE, "web"]
    assert [_names(b) for b in warehouse.batches] == [
        ["page", "identify", names.REVIEW_LEFT],
        [names.AUDIENCE_ENTERED, "identify"],
        [names.ORDER_COMPLETED],
    ]
    assert warehouse.batches[0].events == events[:3]
    assert [b.source for b in engine.batches] == [ENGAGE_SOURCE]
    assert warehouse.senders == engine.senders == {"cdp"}


async def test_batches_from_two_sources_stay_apart(autojump_clock: trio.testing.MockClock) -> None:
    """Batches are never mixed across sources: each forwarded batch has one source's events."""
    world = World()
    cdp = world.add(CdpActor("cdp"))
    cdp.model.subscribe(Subscription(destination="warehouse"))
    warehouse = world.add(Destination("warehouse"))
    world.add(
        Feeder(
            "feeder",
            [
                EventBatch("web", (Track(user_id="u", event="A"), Track(user_id="u", event="B"))),
                EventBatch("promotions", (Track(user_id="u", event="C"),)),
            ],
        )
    )
    await world.run(until=1.0)
    assert [(b.source, _names(b)) for b in warehouse.batches] == [
        ("web", ["A", "B"]),
        ("promotions", ["C"]),
    ]


class Note(msgspec.Struct, frozen=True):
    text: str


async def test_cdp_refuses_anything_but_event_batches(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A stray message is a wiring bug: the run stops with ActorCrashed naming the CDP."""
    world = World()
    world.add(CdpActor("cdp"))
    world.add(Feeder("feeder", [Note("hi")]))
    with pytest.raises(ActorCrashed, match=r"'cdp' crashed handling Note from 'feeder'"):
        await world.run(until=1.0)
