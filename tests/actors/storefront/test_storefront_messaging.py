"""The storefront plays customers on every channel: taps, text clicks, STOP replies, ad clicks
and the visits they bring, from hidden propensities, the same for the same seed."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import EventBatch, Identify, Page, SegmentEvent, Track, names
from promoloop.actors.events.messages import SendMessage
from promoloop.actors.events.promotions import RedeemCode, ValidateCode, Verdict
from promoloop.actors.messaging import (
    AdsAudienceDestination,
    DeliveryPolicy,
    EmailDestination,
    MessageLog,
    MessageTemplate,
    PushDestination,
    SmsDestination,
)
from promoloop.actors.runtime import DAY, HOUR, Actor, Started, Wake, World
from promoloop.actors.runtime.seeds import Seeds
from promoloop.actors.storefront import PopulationParams, StorefrontActor
from promoloop.actors.storefront.population import draw_customer
from promoloop.connectors.transport.inproc import InprocTrackingPort

OFFER = MessageTemplate("offer", subject="{{ first_name }}: 15% off", body="Use {{ code }}")
CHANNELS = ("email", "push", "sms", "ads")


class Cdp(Actor):
    """Keeps every call; routes the shop's identifies and orders to every destination."""

    def __init__(self) -> None:
        super().__init__("cdp")
        self.calls: list[tuple[str, SegmentEvent]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if not isinstance(message, EventBatch):
            return None
        self.calls += [(message.source, e) for e in message.events]
        if message.source == "storefront":
            routed = tuple(
                e
                for e in message.events
                if isinstance(e, Identify)
                or (isinstance(e, Track) and e.event == names.ORDER_COMPLETED)
            )
            if routed:
                for channel in CHANNELS:
                    await self.tell(channel, EventBatch("storefront", routed))
        return None

    def tracks(self, source: str, event: str) -> list[Track]:
        return [
            e for s, e in self.calls if s == source and isinstance(e, Track) and e.event == event
        ]


class Promotions(Actor):
    """Every code in these tests is a 10% discount (the checkout asks before paying)."""

    def __init__(self) -> None:
        super().__init__("promotions")

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, ValidateCode | RedeemCode):
            return Verdict(
                valid=True, code=message.code, amount_cents=message.order.amount_cents // 10
            )
        return None


class Campaign(Actor):
    """Every day from day 2 at 10:00, one offer per customer on each channel."""

    def __init__(self, customers: int, days: int) -> None:
        super().__init__("campaign")
        self.customers = customers
        self.days = days
        self.results: list[Any] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for day in range(2, 2 + self.days):
                self.schedule(day * DAY + 10 * HOUR, Wake(str(day)))
        elif isinstance(message, Wake):
            for i in range(self.customers):
                for channel in CHANNELS:
                    ask = SendMessage(
                        request_id=f"{message.tag}-{i}-{channel}",
                        user_id=f"user-{i:06d}",
                        channel=channel,
                        campaign=f"daily-{channel}",
                        template="offer",
                        code=f"SAVE{message.tag}{i}",
                    )
                    self.results.append(await self.ask(channel, ask))
        return None


PARAMS = PopulationParams(
    customers=40,
    churn_hazard_per_day=0.0,
    email_bounce_rate=0.0,
    push_tap_rate=0.6,
    sms_click_rate=0.5,
    sms_stop_rate=0.3,
    ad_click_rate=0.4,
)


async def run(seed: int) -> tuple[World, Cdp, MessageLog, StorefrontActor]:
    world = World(seed=seed)
    log = MessageLog(attribution_window_days=2)
    policy = DeliveryPolicy()
    shop = world.add(StorefrontActor(params=PARAMS))
    cdp = world.add(Cdp())
    world.add(Promotions())
    destinations = [
        EmailDestination("email", policy=policy, templates=[OFFER], log=log),
        PushDestination("push", policy=policy, templates=[OFFER], log=log),
        SmsDestination("sms", policy=policy, templates=[OFFER], log=log),
        AdsAudienceDestination("ads", policy=policy, templates=[OFFER], log=log),
    ]
    for destination in destinations:
        world.add(destination)
        destination.tracking = InprocTrackingPort(destination, "cdp")
    shop.tracking = InprocTrackingPort(shop, "cdp")
    world.add(Campaign(PARAMS.customers, days=4))
    await world.run(until=7 * DAY)
    return world, cdp, log, shop


def fingerprint(cdp: Cdp) -> list[tuple[str, str, str, str]]:
    return [
        (s, type(e).__name__, e.identity, str(e.timestamp) + getattr(e, "event", ""))
        for s, e in cdp.calls
    ]


async def test_every_channel_gets_reactions_that_bring_visits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world, cdp, log, shop = await run(seed=5)
    assert len(log) > 0 and len(shop.received_texts) > 0 and len(shop.ads_seen) > 0

    # Push: the app reports receipt and taps (Mobile Spec, storefront source); the push
    # destination hears the tap; a tap opens the app, so a visit follows.
    tapped = cdp.tracks("storefront", names.PUSH_NOTIFICATION_TAPPED)
    received = {
        t.properties["message_id"]
        for t in cdp.tracks("storefront", names.PUSH_NOTIFICATION_RECEIVED)
    }
    assert tapped and {t.properties["message_id"] for t in tapped} <= received
    assert sum(kind == "tapped" for e in log for kind, _ in e.interactions) == len(tapped)
    pages = [
        (e.user_id, e.timestamp) for s, e in cdp.calls if s == "storefront" and isinstance(e, Page)
    ]
    for tap in tapped:
        assert any(
            u == tap.user_id and t is not None and tap.timestamp is not None and t > tap.timestamp
            for u, t in pages
        )

    pushes = [e for e in log if e.channel == "push"]
    assert len(cdp.tracks("push", names.PUSH_NOTIFICATION_SENT)) == len(pushes) > 0

    # SMS: clicks and STOPs come back as SMS events; after STOP no text reaches that customer.
    clicked = cdp.tracks("sms", names.SMS_LINK_CLICKED)
    stopped = cdp.tracks("sms", names.SMS_UNSUBSCRIBED)
    assert clicked and stopped
    for stop in stopped:
        later = [
            e
            for e in log.for_customer(stop.user_id or "")
            if e.channel == "sms" and stop.timestamp is not None and e.sent_at > stop.timestamp
        ]
        assert later == []
    refused_sms = [
        r for r in world.actors["campaign"].results if r.request_id.endswith("-sms") and not r.sent
    ]  # type: ignore[attr-defined]
    assert refused_sms and {r.reason for r in refused_sms} == {"unsubscribed"}

    # Ads: impressions reported, clicks come back; email opens as before.
    assert len(cdp.tracks("ads", names.AD_IMPRESSION)) == len(shop.ads_seen)
    assert cdp.tracks("ads", names.AD_CLICKED)
    assert cdp.tracks("email", names.EMAIL_OPENED)

    # Orders after messages are credited once each, to the last message, on its own source.
    converted = [
        e for s, e in cdp.calls if isinstance(e, Track) and e.event == names.MESSAGE_CONVERTED
    ]
    assert converted
    order_ids = [c.properties["order_id"] for c in converted]
    assert len(order_ids) == len(set(order_ids)) == len(log.conversions)
    for source, event in cdp.calls:
        if isinstance(event, Track) and event.event == names.MESSAGE_CONVERTED:
            assert source == event.properties["channel"]

    identify = next(e for s, e in cdp.calls if isinstance(e, Identify))
    assert identify.traits["phone"].startswith("+1555")


async def test_reactions_are_the_same_for_the_same_seed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    _, first, first_log, _ = await run(seed=9)
    _, again, again_log, _ = await run(seed=9)
    _, other, _, _ = await run(seed=10)
    assert fingerprint(first) == fingerprint(again)
    assert [e.to_builtins() for e in first_log] == [e.to_builtins() for e in again_log]
    assert fingerprint(other) != fingerprint(first)


def test_engagement_propensities_follow_channel_preferences() -> None:
    """Taps and text clicks scale with the preference weight; STOP grows as SMS is disliked;
    the new propensities are drawn after the old ones, so those did not move."""
    seeds = Seeds(1)
    people = [draw_customer(i, PARAMS, seeds) for i in range(300)]
    for c in people:
        h = c.hidden
        assert 0.0 <= h.tap_probability() <= 1.0 and 0.0 <= h.sms_stop_probability() <= 1.0
        assert sum(h.channel_weight(ch) for ch in ("email", "push", "sms")) == pytest.approx(3.0)
    by_sms = sorted(people, key=lambda c: c.hidden.channel_weight("sms"))
    low, high = by_sms[:100], by_sms[-100:]
    mean = lambda group, f: sum(f(c.hidden) for c in group) / len(group)  # noqa: E731
    assert mean(high, lambda h: h.sms_click_probability()) > mean(
        low, lambda h: h.sms_click_probability()
    )
    assert mean(low, lambda h: h.sms_stop_probability()) > mean(
        high, lambda h: h.sms_stop_probability()
    )
    before = PopulationParams(customers=40, churn_hazard_per_day=0.0)
    for c, same in zip(
        people[:40], [draw_customer(i, before, seeds) for i in range(40)], strict=True
    ):
        assert (c.hidden.purchase_rate_per_day, c.hidden.channel_preference) == (
            same.hidden.purchase_rate_per_day,
            same.hidden.channel_preference,
        )


@pytest.mark.parametrize(
    "field",
    ["email_bounce_rate", "push_tap_rate", "sms_click_rate", "sms_stop_rate", "ad_click_rate"],
)
def test_engagement_rates_are_validated(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        PopulationParams(**{field: 1.5})  # type: ignore[arg-type]
