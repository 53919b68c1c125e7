"""StorefrontActor in a world: identities, orders in cents, sim timestamps, gift-card checkout."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import (
    Identify,
    Page,
    PushNotification,
    RedeemCode,
    SegmentEvent,
    Track,
    ValidateCode,
    Verdict,
    names,
)
from promoloop.actors.runtime import DAY, MINUTE, Actor, Started, Wake, World
from promoloop.actors.storefront import PopulationParams, StorefrontActor

Journal = list[tuple[str, Any]]


class FakePort:
    """A TrackingPort recording each send with the sim time it happened at."""

    def __init__(self, world: World, journal: Journal) -> None:
        self.world = world
        self.journal = journal
        self.sends: list[tuple[datetime, list[SegmentEvent]]] = []

    async def send(self, events: Sequence[SegmentEvent]) -> None:
        self.sends.append((self.world.time.now(), list(events)))
        self.journal.extend(("cdp", event) for event in events)

    @property
    def events(self) -> list[SegmentEvent]:
        return [event for _, batch in self.sends for event in batch]

    def tracks(self, name: str) -> list[Track]:
        return [e for e in self.events if isinstance(e, Track) and e.event == name]


class FakePromotions(Actor):
    """Answers validations and redemptions for known codes from a balance it keeps."""

    def __init__(self, name: str, journal: Journal, balances: dict[str, int]) -> None:
        super().__init__(name)
        self.journal = journal
        self.balances = balances
        self.requests: list[tuple[float, ValidateCode | RedeemCode]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if not isinstance(message, ValidateCode | RedeemCode):
            return None
        self.requests.append((self.now, message))
        self.journal.append(("promotions", message))
        balance = self.balances.get(message.code)
        if balance is None:
            return Verdict(valid=False, code=message.code, reason="not_found")
        amount = min(balance, message.order.amount_cents)
        if isinstance(message, RedeemCode):
            self.balances[message.code] = balance - amount
        return Verdict(
            valid=True,
            code=message.code,
            amount_cents=amount,
            balance_cents=self.balances[message.code],
        )


class Pusher(Actor):
    """Delivers a push with a gift code to customer 0 at ``at``; peeks at the wallet just after."""

    def __init__(self, name: str, at: float, code: str, user_id: str = "user-000000") -> None:
        super().__init__(name)
        self.at = at
        self.code = code
        self.user_id = user_id
        self.wallet_after_push: list[str] | None = None

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(self.at, Wake("push"))
            self.schedule(self.at + 1.0, Wake("peek"))
        elif isinstance(message, Wake) and message.tag == "push":
            push = PushNotification(
                message_id="push-1",
                user_id=self.user_id,
                sent_at=self.now_dt(),
                title="$25 gift card, on us",
                body=f"Use {self.code}",
                data={"code": self.code},
            )
            await self.tell("storefront", push)
        elif isinstance(message, Wake) and message.tag == "peek":
            storefront = self.world.actor("storefront")
            assert isinstance(storefront, StorefrontActor)
            self.wallet_after_push = list(storefront.customers[0].wallet)
        return None


def build(
    customers: int, balances: dict[str, int], push_at: float | None = None, seed: int = 1
) -> tuple[World, StorefrontActor, FakePort, FakePromotions, Pusher | None, Journal]:
    journal: Journal = []
    world = World(seed=seed)
    # Sure things who never churn: frequent, predictable buyers keep these tests about the
    # checkout mechanics rather than about the population's randomness.
    params = PopulationParams(
        customers=customers,
        purchase_rate_per_day=2.0,
        churn_hazard_per_day=0.0,
        response_shares=(0.0, 1.0, 0.0, 0.0),
    )
    storefront = world.add(StorefrontActor("storefront", params=params))
    port = FakePort(world, journal)
    storefront.tracking = port
    promotions = world.add(FakePromotions("promotions", journal, balances))
    pusher = world.add(Pusher("pusher", push_at, "GIFT-1")) if push_at is not None else None
    return world, storefront, port, promotions, pusher, journal


async def test_storefront_emits_identities_orders_and_sim_timestamps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each customer browses anonymously, identifies with both ids, orders in integer cents;
    every timestamp is the sim time of its action (within the tick before its send) and the
    stream is in time order."""
    world, storefront, port, promotions, _, _ = build(3, {})
    await world.run(until=4 * DAY)
    events = port.events
    assert events, "the storefront sent nothing"

    for customer in storefront.customers:
        mine = [e for e in events if e.anonymous_id == customer.anonymous_id]
        (identify,) = [e for e in mine if isinstance(e, Identify)]
        assert identify.user_id == customer.user_id
        assert identify.anonymous_id == customer.anonymous_id
        assert identify.traits["email"] == customer.email
        before = mine[: mine.index(identify)]
        assert before and all(e.user_id is None for e in before)
        assert isinstance(before[0], Page)
        assert all(e.user_id == customer.user_id for e in mine[mine.index(identify) :])

    orders = port.tracks(names.ORDER_COMPLETED)
    assert len(orders) >= 3
    for order in orders:
        p = order.properties
        for key in ("total_cents", "subtotal_cents", "discount_cents"):
            assert type(p[key]) is int
        assert p["discount_cents"] == 0 and "coupon" not in p
        assert p["total_cents"] == p["subtotal_cents"] > 0
        assert p["total"] == p["total_cents"] / 100
        line = p["products"][0]
        assert p["subtotal_cents"] == line["price_cents"] * line["quantity"]

    for sent_at, batch in port.sends:
        for event in batch:
            assert event.timestamp is not None and event.timestamp.utcoffset() == timedelta(0)
            assert sent_at - timedelta(seconds=storefront.tick) < event.timestamp <= sent_at
    stamps = [e.timestamp for e in events if e.timestamp is not None]
    assert len(stamps) == len(events) and stamps == sorted(stamps)
    assert len({e.message_id for e in events}) == len(events)
    assert promotions.requests == []  # no code in any wallet, no engine call


async def test_push_code_lands_in_the_wallet_and_next_order_uses_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A push with a code puts it in the wallet; the next order tells the CDP (Coupon Entered),
    asks the engine to validate, then to redeem, on that order, and pays the rest."""
    push_at = 2 * DAY
    world, storefront, port, promotions, pusher, journal = build(
        1, {"GIFT-1": 2500}, push_at=push_at
    )
    await world.run(until=6 * DAY)
    assert pusher is not None and pusher.wallet_after_push == ["GIFT-1"]
    assert storefront.received_pushes[0].data == {"code": "GIFT-1"}
    (received,) = port.tracks(names.PUSH_NOTIFICATION_RECEIVED)
    assert received.timestamp == world.time.datetime_at(push_at)
    assert received.user_id == "user-000000"

    (validate_at, validate), (redeem_at, redeem) = promotions.requests[:2]
    assert isinstance(validate, ValidateCode) and isinstance(redeem, RedeemCode)
    assert validate_at == redeem_at > push_at
    assert (validate.code, validate.customer_id) == ("GIFT-1", "user-000000")
    assert redeem.code == "GIFT-1" and redeem.order == validate.order

    orders = port.tracks(names.ORDER_COMPLETED)
    push_time = world.time.datetime_at(push_at)
    before = [o for o in orders if o.timestamp is not None and o.timestamp < push_time]
    after = [o for o in orders if o.timestamp is not None and o.timestamp > push_time]
    assert before and after
    assert all("coupon" not in o.properties for o in before)
    first = after[0].properties
    assert first["order_id"] == validate.order.id
    assert first["coupon"] == "GIFT-1"
    assert first["subtotal_cents"] == validate.order.amount_cents
    assert first["discount_cents"] == min(2500, first["subtotal_cents"])
    assert first["total_cents"] == first["subtotal_cents"] - first["discount_cents"]

    kinds = [
        e.event if isinstance(e, Track) else type(e).__name__
        for who, e in journal
        if who == "promotions" or (isinstance(e, Track) and e.event.startswith("Coupon"))
    ]
    assert kinds[:4] == [names.COUPON_ENTERED, "ValidateCode", "RedeemCode", names.COUPON_APPLIED]
    applied = port.tracks(names.COUPON_APPLIED)[0]
    assert applied.properties["order_id"] == first["order_id"]
    assert applied.properties["discount_cents"] == first["discount_cents"]


async def test_a_refused_code_is_dropped_and_the_order_is_paid_in_full(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """If validation fails, no redemption is asked, Coupon Denied carries the reason, the code
    leaves the wallet and the order has no discount."""
    world, storefront, port, promotions, pusher, _ = build(1, {}, push_at=2 * DAY)
    await world.run(until=6 * DAY)
    assert pusher is not None and pusher.wallet_after_push == ["GIFT-1"]
    assert [type(m) for _, m in promotions.requests] == [ValidateCode]
    (denied,) = port.tracks(names.COUPON_DENIED)
    assert denied.properties["reason"] == "not_found"
    assert storefront.customers[0].wallet == []
    order = next(
        o
        for o in port.tracks(names.ORDER_COMPLETED)
        if o.properties["order_id"] == denied.properties["order_id"]
    )
    assert order.properties["discount_cents"] == 0 and "coupon" not in order.properties


async def test_same_seed_same_storefront_stream(autojump_clock: trio.testing.MockClock) -> None:
    """The storefront's whole output is a function of the seed."""
    streams = []
    for seed in (4, 4, 5):
        world, _, port, _, _, _ = build(2, {}, seed=seed)
        await world.run(until=2 * DAY)
        streams.append(port.events)
    assert streams[0] == streams[1]
    assert streams[0] != streams[2]


def test_tick_must_be_positive() -> None:
    """A non-positive tick would never advance: refused."""
    with pytest.raises(ValueError, match="tick"):
        StorefrontActor(tick=0)
    assert StorefrontActor(tick=MINUTE).tick == MINUTE


async def test_a_push_for_an_unknown_user_is_kept_as_undeliverable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No customer of that id: no wallet changes, no crash, the push is kept for inspection."""
    world, storefront, *_ = build(1, {})
    world.add(Pusher("pusher", DAY, "GIFT-X", user_id="x-0"))
    await world.run(until=2 * DAY)
    assert [p.user_id for p in storefront.undeliverable] == ["x-0"]
    assert storefront.received_pushes == []
    assert storefront.customers[0].wallet == []
