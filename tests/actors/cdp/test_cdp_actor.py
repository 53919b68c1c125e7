"""CdpActor in a world: batches land in profiles, destinations get EventBatch per source."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from promoloop.actors.cdp import (
    ENGAGE_SOURCE,
    Audience,
    CdpActor,
    CdpModel,
    Deliveries,
    DeliveryFailed,
    PerformedEvent,
    Subscription,
)
from promoloop.actors.events import EventBatch, Identify, Page, SegmentEvent, Track, names
from promoloop.actors.runtime import DAY, Actor, ActorCrashed, Started, Wake, World
from promoloop.actors.runtime.actor import LATER, Unfinished


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


# -- time: window expiry and batch audiences in virtual time -----------------------------------


class Scripted(Actor):
    """Tells the CDP each batch at its sim time (seconds)."""

    def __init__(self, name: str, plan: list[tuple[float, EventBatch]]) -> None:
        super().__init__(name)
        self.plan = plan

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for index, (at, _) in enumerate(self.plan):
                self.schedule(at, Wake(str(index)))
        elif isinstance(message, Wake):
            await self.tell("cdp", self.plan[int(message.tag)][1])
        return None


def added(user: str, n: int) -> EventBatch:
    return EventBatch(
        "web", (Track(user_id=user, event=names.PRODUCT_ADDED, message_id=f"{user}-{n}"),)
    )


async def test_window_expiry_wakes_the_cdp_and_exits_the_audience(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two people add to cart on day 0 within the same minute; seven days later both leave
    the audience at once, from one wake-up (one timer per distinct rounded due time)."""
    world = World(keep_log=True)
    cdp = world.add(CdpActor("cdp"))
    cdp.model.add_audience(
        Audience(
            key="carts",
            name="Carts",
            condition=PerformedEvent(event=names.PRODUCT_ADDED, within_days=7),
        )
    )
    cdp.model.subscribe(Subscription(destination="engine", sources=frozenset({ENGAGE_SOURCE})))
    engine = world.add(Destination("engine"))
    world.add(Scripted("store", [(10.0, added("a", 1)), (20.0, added("b", 1))]))
    await world.run(until=8 * DAY)
    exits = [
        (batch, e)
        for batch in engine.batches
        for e in batch.events
        if isinstance(e, Track) and e.event == names.AUDIENCE_EXITED
    ]
    assert [e.user_id for _, e in exits] == ["a", "b"]
    assert {e.timestamp for _, e in exits} == {world.time.datetime_at(7 * DAY + 60.0)}
    assert cdp.model.audience_members("carts") == []
    window_wakes = [
        entry
        for entry in world.log.entries
        if isinstance(entry.body, Wake) and entry.body.tag == "cdp:windows"
    ]
    assert len(window_wakes) == 1


def _batch_model() -> CdpModel:
    model = CdpModel()
    model.add_audience(
        Audience(
            key="buyers",
            name="Buyers",
            condition=PerformedEvent(event=names.ORDER_COMPLETED),
            mode="batch",
            every_hours=24,
        )
    )
    return model


async def test_batch_audiences_run_on_their_schedule(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A batch audience (every 24 h) admits a buyer at the next run, not at the event."""
    world = World()
    cdp = world.add(CdpActor("cdp", model=_batch_model()))
    buy = EventBatch("web", (Track(user_id="u", event=names.ORDER_COMPLETED, message_id="o"),))
    world.add(Scripted("store", [(3_600.0, buy)]))
    await world.run(until=DAY - 1)
    assert cdp.model.audience_members("buyers") == []
    assert [b for b in cdp.model.audience_size_series("buyers")] == []

    again = World()  # the same run, long enough to reach the first batch run
    cdp = again.add(CdpActor("cdp", model=_batch_model()))
    again.add(Scripted("store", [(3_600.0, buy)]))
    await again.run(until=DAY)
    assert [p.user_id for p in cdp.model.audience_members("buyers")] == ["u"]
    assert cdp.model.audience_size_series("buyers") == [(again.time.datetime_at(DAY), 1)]


# -- delivery: never blocking, retries with backoff, dead letters ------------------------------


class Flaky(Actor):
    """Fails the first ``failures`` batches it gets (tells the CDP DeliveryFailed); takes
    ``busy`` seconds of virtual time per batch; holds one message in its lane."""

    mailbox_capacity = 1

    def __init__(self, name: str, failures: int, busy: float = 0.0) -> None:
        super().__init__(name)
        self.failures = failures
        self.busy = busy
        self.got: list[tuple[float, EventBatch]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, EventBatch):
            if self.busy:
                await trio.sleep(self.busy)
            if self.failures > 0:
                self.failures -= 1
                await self.tell("cdp", DeliveryFailed(batch=message, reason="503 from partner"))
            else:
                self.got.append((self.now, message))
        return None


async def test_a_failing_destination_is_retried_with_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Three failures: retries after 1, 2 and 4 s of virtual time, then delivered; the other
    destination got everything at once meanwhile."""
    world = World()
    cdp = world.add(CdpActor("cdp"))
    cdp.model.subscribe(Subscription(destination="partner"))
    cdp.model.subscribe(Subscription(destination="warehouse"))
    partner = world.add(Flaky("partner", failures=3))
    warehouse = world.add(Destination("warehouse"))
    batch = EventBatch("web", (Track(user_id="u", event="A", message_id="a"),))
    world.add(Scripted("store", [(100.0, batch)]))
    await world.run(until=200.0)
    assert [(at, b.events) for at, b in partner.got] == [(107.0, batch.events)]
    assert [b.events for b in warehouse.batches] == [batch.events]
    stats = cdp.deliveries.stats()["partner"]
    assert stats["failures"] == 3 and stats["retried"] == 3 and stats["dead_lettered"] == 0
    assert stats["pending"] == 0


async def test_a_destination_that_never_recovers_is_dead_lettered_not_dropped_silently(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    cdp = world.add(
        CdpActor("cdp", deliveries=Deliveries(base_delay=1.0, max_delay=2.0, max_attempts=3))
    )
    cdp.model.subscribe(Subscription(destination="partner"))
    partner = world.add(Flaky("partner", failures=10))
    batch = EventBatch("web", (Track(user_id="u", event="A", message_id="a"),))
    world.add(Scripted("store", [(0.0, batch)]))
    await world.run(until=60.0)
    assert partner.got == []
    (dead,) = cdp.deliveries.dead_letters
    assert (dead.destination, dead.attempts, dead.reason) == ("partner", 3, "503 from partner")
    assert dead.batch.events == batch.events
    assert cdp.deliveries.stats()["partner"]["dead_lettered"] == 1


async def test_a_slow_destination_does_not_hold_up_ingestion(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A destination that takes a second per batch, with a one-message lane: the CDP has
    ingested everything long before it is done, and it still gets every batch, in order."""
    world = World()
    cdp = world.add(CdpActor("cdp"))
    cdp.model.subscribe(Subscription(destination="slow"))
    slow = world.add(Flaky("slow", failures=0, busy=1.0))
    batches = [
        EventBatch("web", (Track(user_id=f"u{i}", event="A", message_id=f"m{i}"),))
        for i in range(20)
    ]
    world.add(Feeder("store", batches))
    ingested_at: list[float] = []
    original = cdp.model.ingest_batch_lazy

    def spy(*args: Any) -> Any:
        ingested_at.append(trio.current_time())
        return original(*args)

    cdp.model.ingest_batch_lazy = spy  # type: ignore[method-assign]
    await world.run(until=60.0)
    assert len(cdp.model.profiles()) == 20
    assert max(ingested_at) - min(ingested_at) < 1.0  # never waited on the slow destination
    assert [b.events for _, b in slow.got] == [b.events for b in batches]
    assert cdp.deliveries.deferred["slow"] > 0


class TaskTurnsCdp(CdpActor):
    """The CDP with every turn in its own task (as before turns could run in the conductor's):
    the conductor is told LATER, and ``receive`` runs the CDP's turn there."""

    def receive_now(self, message: Any, sender: str) -> Any:
        return LATER

    async def receive(self, message: Any, sender: str) -> Any:
        result = CdpActor.receive_now(self, message, sender)
        return await result.rest if isinstance(result, Unfinished) else result


def _slow_outbox_run(cdp_class: type[CdpActor]) -> tuple[Any, ...]:
    async def main() -> tuple[Any, ...]:
        world = World(keep_log=True)
        cdp = world.add(cdp_class("cdp", deliveries=Deliveries(max_pending=2)))
        cdp.model.subscribe(Subscription(destination="slow"))
        cdp.model.subscribe(Subscription(destination="fast"))
        slow = world.add(Flaky("slow", failures=0, busy=1.0))
        fast = world.add(Destination("fast"))
        world.add(Feeder("store", batches))
        await world.run(until=60.0)
        return (
            [(at, [e.message_id for e in b.events]) for at, b in slow.got],
            [[e.message_id for e in b.events] for b in fast.batches],
            world.log.digest(),
            world.conductor.inline_turns,
        )

    batches = [
        EventBatch("web", (Track(user_id=f"u{i}", event="A", message_id=f"m{i}"),))
        for i in range(12)
    ]
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_an_outbox_over_its_bound_waits_for_room_and_loses_nothing() -> None:
    """An outbox bound of 2 and a slow destination with a one-message lane: the CDP's turns
    that find the outbox over its bound wait for room (a turn begun in the conductor's task
    ends in the CDP's); every batch arrives, in order, one a second, and the world delivers
    exactly what it delivers when every CDP turn runs in the CDP's task."""
    slow, fast, digest, inline = _slow_outbox_run(CdpActor)
    expected = [[f"m{i}"] for i in range(12)]
    assert [ids for _, ids in slow] == expected
    assert fast == expected
    arrivals = [at for at, _ in slow]
    assert arrivals == sorted(arrivals) and arrivals[-1] >= 11.0
    assert inline > 0
    assert _slow_outbox_run(TaskTurnsCdp) == (slow, fast, digest, 0)
