"""The journeys actor in a world: CDP events in, SendMessage asks to (fake) channel
destinations, PublishCode to the real promotion engine, traits back on its own source, one
wake-up per distinct due time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import EventBatch, Identify, SegmentEvent, Track, names
from promoloop.actors.events.messages import SendMessage, SendResult
from promoloop.actors.messaging.journeys import (
    AudienceEntry,
    ExitOnEvent,
    Journey,
    JourneyActor,
    JourneyEngine,
    PublishCode,
    Send,
    SetStage,
    Wait,
)
from promoloop.actors.promotions import DiscountCampaign, PromotionsActor
from promoloop.actors.promotions.discounts import Discount
from promoloop.actors.runtime import HOUR, Actor, ActorCrashed, Started, Wake, World


class FakePort:
    def __init__(self) -> None:
        self.events: list[SegmentEvent] = []

    async def send(self, events: Sequence[SegmentEvent]) -> None:
        self.events.extend(events)


class FakeDestination(Actor):
    """Answers SendMessage with SendResult; refuses users listed in ``unsubscribed``."""

    def __init__(self, name: str, unsubscribed: set[str] | None = None) -> None:
        super().__init__(name)
        self.unsubscribed = unsubscribed or set()
        self.got: list[tuple[float, SendMessage]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, SendMessage):
            self.got.append((self.now, message))
            if message.user_id in self.unsubscribed:
                return SendResult(request_id=message.request_id, sent=False, reason="unsubscribed")
            return SendResult(
                request_id=message.request_id, sent=True, message_id=f"{self.name}-{len(self.got)}"
            )
        return None


class Wrong(Actor):
    async def receive(self, message: Any, sender: str) -> Any:
        return "ok" if isinstance(message, SendMessage) else None


class Cdp(Actor):
    """Plays the CDP: at 1 h (and every ``spread`` seconds after) an Engage batch puts each
    customer in the audience; at ``order_at`` u0 orders."""

    def __init__(self, users: list[str], spread: float, order_at: float) -> None:
        super().__init__("cdp")
        self.users = users
        self.spread = spread
        self.order_at = order_at
        self.received: list[EventBatch] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for i in range(len(self.users)):
                self.schedule(HOUR + i * self.spread, Wake(str(i)))
            self.schedule(self.order_at, Wake("order"))
        elif isinstance(message, Wake) and message.tag == "order":
            batch = (Track(user_id="u0", event=names.ORDER_COMPLETED),)
            await self.tell("journeys", EventBatch("storefront", batch))
        elif isinstance(message, Wake):
            user = self.users[int(message.tag)]
            events = (
                Identify(user_id=user, traits={"email": f"{user}@example.com"}),
                Track(
                    user_id=user,
                    event=names.AUDIENCE_ENTERED,
                    properties={"audience_key": "cart_abandoners"},
                ),
            )
            await self.tell("journeys", EventBatch("engage", events))
        return None


JOURNEY = Journey(
    name="cart recovery",
    entry=AudienceEntry(audience="cart_abandoners"),
    exit_on=(ExitOnEvent(event=names.ORDER_COMPLETED),),
    steps=(
        Send(name="nudge", channel="email", template="cart"),
        Wait(name="wait", hours=2),
        PublishCode(name="code", campaign="Cart 10%"),
        Send(name="offer", channel="push", template="offer"),
        SetStage(name="stage", stage="intent"),
    ),
)


def build(users: int, spread: float, order_at: float = 2 * HOUR, seed: int = 1) -> Any:
    world = World(seed=seed)
    engine = JourneyEngine([JOURNEY], seed=seed)
    journeys = world.add(
        JourneyActor(engine=engine, destinations={"email": "email", "push": "push"})
    )
    port = FakePort()
    journeys.tracking = port
    email = world.add(FakeDestination("email", unsubscribed={"u1"}))
    push = world.add(FakeDestination("push"))
    promotions = world.add(PromotionsActor("promotions"))
    promotions.tracking = FakePort()
    promotions.model.add_campaign(
        DiscountCampaign(id="cart10", name="Cart 10%", discount=Discount.percent(10))
    )
    world.add(Cdp([f"u{i}" for i in range(users)], spread, order_at))
    return world, journeys, email, push, port


async def test_runs_the_journey_through_destinations_and_the_engine(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world, journeys, email, push, port = build(users=3, spread=60.0)
    await world.run(until=6 * HOUR)

    assert [(at, m.user_id, m.template) for at, m in email.got] == [
        (HOUR, "u0", "cart"),
        (HOUR + 60, "u1", "cart"),
        (HOUR + 120, "u2", "cart"),
    ]
    # u0 ordered at 2 h and left; the others got a push with their own published code 2 h later
    offers = [(at, m.user_id, m.code) for at, m in push.got]
    assert [u for _, u, _ in offers] == ["u1", "u2"]
    assert [at for at, _, _ in offers] == [3 * HOUR + 60, 3 * HOUR + 120]
    codes = [code for _, _, code in offers]
    assert all(isinstance(c, str) and c for c in codes) and len(set(codes)) == 2
    assert all(m.context["code"] == m.code for _, m in push.got)
    assert [(r.user_id, r.channel, r.sent, r.reason) for r in journeys.log] == [
        ("u0", "email", True, None),
        ("u1", "email", False, "unsubscribed"),
        ("u2", "email", True, None),
        ("u1", "push", True, None),
        ("u2", "push", True, None),
    ]
    stages = [(e.user_id, e.traits.get("journey_stage")) for e in port.events]
    assert stages == [
        ("u0", "awareness"),
        ("u1", "awareness"),
        ("u2", "awareness"),
        ("u0", "purchase"),
        ("u1", "intent"),
        ("u2", "intent"),
    ]
    assert all(isinstance(e, Identify) for e in port.events)
    assert [day for day, _ in journeys.funnel_series] == []  # the run was shorter than a day


async def test_one_wake_up_per_distinct_due_time(autojump_clock: trio.testing.MockClock) -> None:
    """300 customers entering within 5 minutes wait 2 h: the actor wakes at the 6 distinct
    minute marks, not 300 times."""
    world, journeys, email, push, _ = build(users=300, spread=1.0, order_at=10 * HOUR)
    await world.run(until=4 * HOUR)
    assert len(email.got) == 300 and len(push.got) == 300
    assert len({at for at, _ in push.got}) == 6
    wakes = journeys.handled - 1 - 300  # Started, one batch per customer
    assert wakes == 6


async def test_same_seed_same_sends_and_codes(autojump_clock: trio.testing.MockClock) -> None:
    logs = []
    for _ in range(2):
        world, journeys, _, push, _ = build(users=20, spread=7.0, seed=4)
        await world.run(until=5 * HOUR)
        logs.append(([m.code for _, m in push.got], journeys.log, world.log.count))
    assert logs[0] == logs[1]
    assert len(logs[0][1]) == 20 + 19


def test_a_channel_without_a_destination_is_refused() -> None:
    with pytest.raises(ValueError, match="step 'offer': no destination actor for channel 'push'"):
        JourneyActor(engine=JourneyEngine([JOURNEY]), destinations={"email": "email"})


async def test_a_destination_that_does_not_answer_send_result_fails_loudly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    journeys = world.add(
        JourneyActor(engine=JourneyEngine([JOURNEY]), destinations={"email": "x", "push": "x"})
    )
    journeys.tracking = FakePort()
    world.add(Wrong("x"))
    world.add(Cdp(["u0"], 1.0, 10 * HOUR))
    with pytest.raises(ActorCrashed, match="answered a SendMessage with str"):
        await world.run(until=2 * HOUR)
