"""PromotionsActor in a world: ask validate/redeem, distributions on audience events, reporting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec
import pytest
import trio.testing

from promoloop.actors.events import (
    EventBatch,
    Identify,
    Order,
    RedeemCode,
    SegmentEvent,
    Track,
    ValidateCode,
    Verdict,
    names,
)
from promoloop.actors.promotions import Distribution, GiftCardCampaign, PromotionsActor
from promoloop.actors.runtime import DEFAULT_EPOCH, HOUR, Actor, ActorCrashed, Started, Wake, World
from promoloop.connectors.transport.inproc import InprocTrackingPort


class FakePort:
    """A TrackingPort that keeps what it is given (each send is one list)."""

    def __init__(self) -> None:
        self.sends: list[list[SegmentEvent]] = []

    async def send(self, events: Sequence[SegmentEvent]) -> None:
        self.sends.append(list(events))

    @property
    def tracks(self) -> list[Track]:
        return [e for batch in self.sends for e in batch if isinstance(e, Track)]


def entered(user_id: str, key: str = "reviewers") -> Track:
    return Track(
        user_id=user_id,
        event=names.AUDIENCE_ENTERED,
        properties={"audience_key": key, "audience_name": key.title()},
    )


class Shopper(Actor):
    """At 1 h: the CDP's audience event (by ask, so it is handled), then at 2 h a validation,
    a redemption and a second redemption of the published code."""

    def __init__(self, name: str, port: FakePort) -> None:
        super().__init__(name)
        self.port = port
        self.replies: list[Any] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(HOUR, Wake("audience"))
            self.schedule(2 * HOUR, Wake("checkout"))
        elif isinstance(message, Wake) and message.tag == "audience":
            batch = EventBatch(
                "engage",
                (
                    Identify(user_id="u-1", traits={"email": "pam@example.com"}),
                    entered("u-1"),
                    entered("u-2", key="other"),
                    Track(anonymous_id="a", event=names.AUDIENCE_ENTERED),
                ),
            )
            self.replies.append(await self.ask("promotions", batch))
        elif isinstance(message, Wake) and message.tag == "checkout":
            code = self.port.tracks[0].properties["code"]
            order = Order(id="ord-1", amount_cents=1500)
            for request in (
                ValidateCode(code=code, customer_id="u-1", order=order),
                RedeemCode(code=code, customer_id="u-1", order=order),
                RedeemCode(code=code, customer_id="u-1", order=Order(id="o2", amount_cents=4000)),
                RedeemCode(code=code, customer_id="u-1", order=Order(id="o3", amount_cents=100)),
                RedeemCode(code="NOPE", customer_id="u-1", order=order),
            ):
                self.replies.append(await self.ask("promotions", request))
        return None


def build(port: FakePort, seed: int = 5) -> tuple[World, PromotionsActor, Shopper]:
    world = World(seed=seed)
    promotions = world.add(PromotionsActor("promotions"))
    promotions.tracking = port
    promotions.model.add_campaign(GiftCardCampaign(id="gc", name="Gift", amount_cents=2500))
    promotions.model.add_distribution(
        Distribution(id="d", name="D", campaign_id="gc", audience_key="reviewers")
    )
    shopper = world.add(Shopper("shopper", port))
    return world, promotions, shopper


async def test_audience_event_publishes_and_requests_are_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Audience Entered publishes a code (reported as a track); validate and redeem answer
    Verdicts by ask; successes and known-code failures are reported, unknown codes are not."""
    port = FakePort()
    world, promotions, shopper = build(port)
    await world.run(until=3 * HOUR)

    assert promotions.model.customers == {"u-1": {"email": "pam@example.com"}}
    none, validated, first, second, third, unknown = shopper.replies
    assert none is None
    assert all(isinstance(v, Verdict) for v in shopper.replies[1:])
    assert (validated.valid, validated.amount_cents, validated.balance_cents) == (True, 1500, 2500)
    assert (first.valid, first.amount_cents, first.balance_cents) == (True, 1500, 1000)
    assert (second.valid, second.amount_cents, second.balance_cents) == (True, 1000, 0)
    assert (third.valid, third.reason) == (False, "gift_amount_exceeded")
    assert (unknown.valid, unknown.reason) == (False, "not_found")

    assert [t.event for t in port.tracks] == [
        names.PUBLICATION_SUCCEEDED,
        names.REDEMPTION_SUCCEEDED,
        names.REDEMPTION_SUCCEEDED,
        names.REDEMPTION_FAILED,
    ]
    assert all(t.user_id == "u-1" for t in port.tracks)
    publication = port.tracks[0]
    assert publication.timestamp == DEFAULT_EPOCH + timedelta(hours=1)  # sim time of the event
    assert port.tracks[1].timestamp == DEFAULT_EPOCH + timedelta(hours=2)
    assert len(port.sends) == 4  # validation reports nothing; each redemption its own send
    assert [type(e).__name__ for e in promotions.emitted] == [
        "PublicationSucceeded",
        "RedemptionSucceeded",
        "RedemptionSucceeded",
        "RedemptionFailed",
    ]


async def test_codes_follow_the_world_seed(autojump_clock: trio.testing.MockClock) -> None:
    """The engine's default rng is split from the world seed: same seed, same code; another
    seed, another code."""
    codes = []
    for seed in (5, 5, 6):
        port = FakePort()
        world, _, _ = build(port, seed)
        await world.run(until=3 * HOUR)
        codes.append(port.tracks[0].properties["code"])
    assert codes[0] == codes[1]
    assert codes[0] != codes[2]


class Collector(Actor):
    """Stands in for the CDP: keeps the EventBatches the engine's port sends it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.batches: list[tuple[str, EventBatch]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, EventBatch):
            self.batches.append((sender, message))
        return None


class Trigger(Actor):
    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            await self.tell("promotions", EventBatch("engage", (entered("u-9"),)))
        return None


async def test_reports_through_the_inproc_tracking_port(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With the in-process port, the engine's tracks reach the CDP as an EventBatch on the
    engine's own source."""
    world = World()
    promotions = world.add(PromotionsActor("promotions"))
    promotions.tracking = InprocTrackingPort(promotions, target="cdp")
    promotions.model.add_campaign(GiftCardCampaign(id="gc", name="Gift", amount_cents=2500))
    promotions.model.add_distribution(
        Distribution(id="d", name="D", campaign_id="gc", audience_key="reviewers")
    )
    cdp = world.add(Collector("cdp"))
    world.add(Trigger("trigger"))
    await world.run(until=60.0)
    ((sender, batch),) = cdp.batches
    assert sender == "promotions"
    assert batch.source == "promotions"
    (track,) = batch.events
    assert isinstance(track, Track)
    assert (track.event, track.user_id) == (names.PUBLICATION_SUCCEEDED, "u-9")


class Junk(msgspec.Struct, frozen=True):
    n: int


class JunkSender(Actor):
    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            await self.tell("promotions", Junk(1))
        return None


async def test_unknown_messages_and_missing_port_crash_the_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A message the engine does not know, or events with no port to report them, stop the
    run with ActorCrashed naming the engine."""
    world = World()
    world.add(PromotionsActor("promotions"))
    world.add(JunkSender("junk"))
    with pytest.raises(ActorCrashed, match=r"'promotions' crashed handling Junk from 'junk'"):
        await world.run(until=1.0)

    world = World()
    promotions = world.add(PromotionsActor("promotions"))
    promotions.model.add_campaign(GiftCardCampaign(id="gc", name="Gift", amount_cents=2500))
    promotions.model.add_distribution(
        Distribution(id="d", name="D", campaign_id="gc", audience_key="reviewers")
    )
    world.add(Trigger("trigger"))
    with pytest.raises(ActorCrashed, match="no tracking port"):
        await world.run(until=1.0)


class Router(Actor):
    """Plays the CDP routing two review tracks to the engine."""

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            reviews = tuple(
                Track(message_id=f"r{i}", user_id="u-1", event=names.REVIEW_LEFT) for i in range(2)
            )
            await self.tell("promotions", EventBatch("storefront", reviews))
        return None


async def test_tracked_events_routed_from_the_cdp_feed_event_rules(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The engine counts the tracks the CDP routes to it, for ``customer.event.count`` rules."""
    world = World(seed=1)
    engine = world.add(PromotionsActor("promotions"))
    engine.tracking = FakePort()
    world.add(Router("cdp"))
    await world.run(until=HOUR)
    assert engine.model.event_counts == {"u-1": {names.REVIEW_LEFT: 2}}


async def test_a_distribution_on_a_customer_event_publishes_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A distribution triggered by ``review_left`` (no audience needed) publishes one code per
    customer with join once, and reports the publication."""
    world = World(seed=1)
    engine = world.add(PromotionsActor("promotions"))
    port = FakePort()
    engine.tracking = port
    engine.model.add_campaign(GiftCardCampaign(id="camp_g", name="Gift", amount_cents=2500))
    engine.model.add_distribution(
        Distribution(id="d1", name="On review", campaign_id="camp_g", event=names.REVIEW_LEFT)
    )
    world.add(Router("cdp"))  # two review tracks from u-1
    await world.run(until=HOUR)
    published = [t for t in port.tracks if t.event == names.PUBLICATION_SUCCEEDED]
    assert [t.user_id for t in published] == ["u-1"]


def test_a_distribution_needs_exactly_one_trigger() -> None:
    with pytest.raises(ValueError, match="exactly one trigger"):
        Distribution(id="d", name="none", campaign_id="c")
    with pytest.raises(ValueError, match="exactly one trigger"):
        Distribution(id="d", name="both", campaign_id="c", audience_key="a", event="e")
