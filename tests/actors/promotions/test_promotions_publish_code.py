"""PublishCode: a journey asks the engine for a code and gets it back (or the refusal)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import trio.testing

from promoloop.actors.events import SegmentEvent, Track, names
from promoloop.actors.events.promotions import PublishCode, PublishOutcome
from promoloop.actors.promotions import DiscountCampaign, PromotionsActor
from promoloop.actors.promotions.discounts import Discount
from promoloop.actors.runtime import Actor, Started, World


class FakePort:
    def __init__(self) -> None:
        self.events: list[SegmentEvent] = []

    async def send(self, events: Sequence[SegmentEvent]) -> None:
        self.events.extend(events)


class Journey(Actor):
    """Asks for codes at start: by id twice (two codes), by name, join-once, then failures."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.replies: list[Any] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for request in (
                PublishCode(campaign="cart", customer_id="u-1", channel="journey"),
                PublishCode(campaign="cart", customer_id="u-1"),
                PublishCode(campaign="Cart recovery", customer_id="u-2"),
                PublishCode(campaign="cart", customer_id="u-2", join_once=True),
                PublishCode(campaign="nope", customer_id="u-1"),
                PublishCode(campaign="off", customer_id="u-1"),
            ):
                self.replies.append(await self.ask("promotions", request))
        return None


async def test_publish_code_answers_the_code_or_the_reason(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World(seed=3)
    promotions = world.add(PromotionsActor("promotions"))
    port = FakePort()
    promotions.tracking = port
    promotions.model.add_campaign(
        DiscountCampaign(id="cart", name="Cart recovery", discount=Discount.percent(10))
    )
    promotions.model.add_campaign(
        DiscountCampaign(id="off", name="Off", discount=Discount.percent(5), active=False)
    )
    journey = world.add(Journey("journeys"))
    await world.run(until=10.0)

    first, second, by_name, once, unknown, disabled = journey.replies
    assert all(isinstance(r, PublishOutcome) for r in journey.replies)
    assert first.ok and second.ok and by_name.ok
    assert len({first.code, second.code, by_name.code}) == 3
    assert once.code == by_name.code  # join once: the code u-2 already holds, no new event
    assert (unknown.ok, unknown.reason) == (False, "not_found")
    assert (disabled.ok, disabled.reason) == (False, "campaign_disabled")
    tracks = [e for e in port.events if isinstance(e, Track)]
    assert [t.event for t in tracks] == [names.PUBLICATION_SUCCEEDED] * 3
    assert [t.properties["code"] for t in tracks] == [first.code, second.code, by_name.code]
    assert tracks[0].properties["channel"] == "journey"
    assert promotions.model.vouchers[first.code].holder == "u-1"
