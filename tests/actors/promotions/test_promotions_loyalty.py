"""Loyalty programs in the engine model: earning rules, tiers, rewards, paying with points."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import EventBatch, LoyaltyPointsEarned, Order, RedeemCode, Track, names
from promoloop.actors.promotions import (
    Cart,
    DiscountCampaign,
    EarningRule,
    GiftCardCampaign,
    LoyaltyProgram,
    PromotionEngineModel,
    PromotionError,
    PromotionsActor,
    Reward,
    Tier,
)
from promoloop.actors.promotions.actor import order_cents
from promoloop.actors.promotions.discounts import Discount
from promoloop.actors.runtime import HOUR, Actor, Started, Wake, World

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def engine() -> PromotionEngineModel:
    model = PromotionEngineModel(random.Random(3))
    model.add_campaign(DiscountCampaign(id="c_off", name="$5 off", discount=Discount.amount(500)))
    model.add_campaign(GiftCardCampaign(id="c_gift", name="Store credit", amount_cents=2500))
    model.add_loyalty_program(
        LoyaltyProgram(
            id="lp",
            name="Club",
            earning_rules=(
                EarningRule(id="per_dollar", event=names.ORDER_COMPLETED, points=1, per_cents=100),
                EarningRule(id="review", event=names.REVIEW_LEFT, points=20),
                EarningRule(
                    id="big_redeem",
                    event=names.REDEMPTION_SUCCEEDED,
                    points=5,
                    min_amount_cents=10_000,
                ),
            ),
            tiers=(
                Tier(id="s", name="Silver", min_points=100),
                Tier(id="g", name="Gold", min_points=300),
            ),
            rewards=(
                Reward(id="coupon", name="$5 coupon", points=100, campaign_id="c_off"),
                Reward(
                    id="credit",
                    name="$10 credit",
                    points=150,
                    campaign_id="c_gift",
                    credits_cents=1000,
                ),
            ),
            points_value_cents=2,
        )
    )
    return model


def test_earning_rules_floor_to_whole_units_and_emit_events() -> None:
    model = engine()
    [event] = model.on_customer_event("u-1", names.ORDER_COMPLETED, NOW, 12_399)
    assert isinstance(event, LoyaltyPointsEarned)
    assert (event.points, event.balance, event.tier, event.source) == (
        123,
        123,
        "Silver",
        "per_dollar",
    )
    assert event.to_track().event == "customer.rewarded.loyalty_points"
    assert event.to_track().properties["code"] == model.loyalty.card_of("lp", "u-1").code
    [bonus] = model.on_customer_event("u-1", names.REVIEW_LEFT, NOW)
    assert bonus.balance == 143
    assert model.on_customer_event("u-1", names.REDEMPTION_SUCCEEDED, NOW, 9_999) == []
    assert model.on_customer_event("u-1", "unrelated", NOW, 50_000) == []
    assert model.on_customer_event("u-2", names.ORDER_COMPLETED, NOW, 99) == []  # < 1 unit
    assert model.loyalty.card_of("lp", "u-2") is None  # no points, no card


def test_one_card_per_member_and_tiers_follow_earned_points() -> None:
    model = engine()
    first = model.loyalty.join("lp", "u-1", NOW)
    assert model.loyalty.join("lp", "u-1", NOW) is first
    model.earn_points("lp", "u-1", 320, "manual", NOW)
    model.buy_reward("lp", "u-1", "coupon", NOW)  # spending never demotes
    program = model.loyalty.programs["lp"]
    assert first.balance == 220 and first.earned == 320
    assert program.tier_for(first.earned).name == "Gold"


def test_coupon_reward_spends_points_and_publishes_a_new_code_each_time() -> None:
    model = engine()
    model.earn_points("lp", "u-1", 250, "manual", NOW)
    tx1, v1, events1 = model.buy_reward("lp", "u-1", "coupon", NOW)
    tx2, v2, _ = model.buy_reward("lp", "u-1", "coupon", NOW)
    assert v1.code != v2.code and v1.holder == v2.holder == "u-1"
    assert (tx1.points, tx2.points) == (-100, -100)
    assert events1[0].code == v1.code
    card = model.loyalty.card_of("lp", "u-1")
    assert card.balance == 50 and card.spent == 200
    with pytest.raises(PromotionError) as info:
        model.buy_reward("lp", "u-1", "coupon", NOW)
    assert info.value.key == "loyalty_card_points_exceeded" and card.balance == 50


def test_credits_reward_fills_one_gift_card() -> None:
    model = engine()
    model.earn_points("lp", "u-1", 300, "manual", NOW)
    _, card1, events = model.buy_reward("lp", "u-1", "credit", NOW)
    _, card2, more = model.buy_reward("lp", "u-1", "credit", NOW)
    assert card1 is card2 and card1.balance_cents == 2000 == card1.initial_cents
    assert events[0].balance_cents == 0 and more == []
    redemption = model.redeem_code(card1.code, "u-1", Cart(amount_cents=1500), NOW)
    assert redemption.amount_cents == 1500 and card1.balance_cents == 500


def test_refused_reward_changes_nothing() -> None:
    model = engine()
    model.earn_points("lp", "u-1", 500, "manual", NOW)
    model.campaigns["c_off"] = DiscountCampaign(
        id="c_off", name="$5 off", discount=Discount.amount(500), active=False
    )
    with pytest.raises(PromotionError, match="disabled"):
        model.buy_reward("lp", "u-1", "coupon", NOW)
    assert model.loyalty.card_of("lp", "u-1").balance == 500
    assert not any(v.campaign_id == "c_off" for v in model.vouchers.values())
    with pytest.raises(PromotionError) as info:
        model.buy_reward("lp", "u-1", "nope", NOW)
    assert info.value.status == 404


def test_paying_with_points_and_rollback_restores_exactly() -> None:
    model = engine()
    model.earn_points("lp", "u-1", 400, "manual", NOW)
    card = model.loyalty.card_of("lp", "u-1")
    redemption = model.redeem_points(card.code, "u-1", Cart(amount_cents=1000), 300, NOW)
    assert (redemption.amount_cents, redemption.points, card.balance) == (600, 300, 100)
    assert model.success_event(redemption).campaign == "Club"
    rollback = model.rollback(redemption.id, NOW)
    assert card.balance == 400 and card.spent == 0 and card.earned == 400
    assert model.rollback_event(rollback).amount_cents == 600
    with pytest.raises(PromotionError) as info:
        model.rollback(redemption.id, NOW)
    assert info.value.key == "already_rolled_back" and card.balance == 400


@pytest.mark.parametrize(
    ("customer", "points", "amount", "key"),
    [
        ("u-2", 10, 1000, "customer_rules_violated"),
        ("u-1", 600, 2000, "loyalty_card_points_exceeded"),
        ("u-1", 100, 100, "invalid_amount"),
        ("u-1", 0, 1000, "invalid_amount"),
    ],
)
def test_paying_with_points_refusals(customer: str, points: int, amount: int, key: str) -> None:
    model = engine()
    model.earn_points("lp", "u-1", 400, "manual", NOW)
    card = model.loyalty.card_of("lp", "u-1")
    with pytest.raises(PromotionError) as info:
        model.redeem_points(card.code, customer, Cart(amount_cents=amount), points, NOW)
    assert info.value.key == key
    assert card.balance == 400 and model.redemptions == {}


def test_reversing_an_earn_may_go_negative_but_never_twice() -> None:
    model = engine()
    tx, _ = model.earn_points("lp", "u-1", 200, "session", NOW)
    model.buy_reward("lp", "u-1", "coupon", NOW)
    model.loyalty.reverse(tx.id, NOW)
    card = model.loyalty.card_of("lp", "u-1")
    assert card.balance == -100 and card.earned == 0
    with pytest.raises(PromotionError):
        model.loyalty.reverse(tx.id, NOW)


def test_program_definitions_are_validated() -> None:
    with pytest.raises(ValueError, match="increasing"):
        LoyaltyProgram(
            id="x",
            name="x",
            tiers=(Tier(id="a", name="A", min_points=10), Tier(id="b", name="B", min_points=10)),
        )
    with pytest.raises(ValueError, match="points"):
        EarningRule(id="r", event="e", points=0)
    model = engine()
    with pytest.raises(ValueError, match="gift"):
        model.add_loyalty_program(
            LoyaltyProgram(
                id="lp2",
                name="x",
                rewards=(Reward(id="r", name="r", points=1, campaign_id="c_off", credits_cents=5),),
            )
        )
    with pytest.raises(ValueError, match="join_once"):
        model.add_loyalty_program(
            LoyaltyProgram(
                id="lp2",
                name="x",
                rewards=(Reward(id="r", name="r", points=1, campaign_id="c_gift"),),
            )
        )
    assert "lp2" not in model.loyalty.programs


@pytest.mark.parametrize(
    ("properties", "cents"),
    [
        ({"total_cents": 1234, "total": 99.0}, 1234),
        ({"total": 12.34}, 1234),
        ({"revenue": 5}, 500),
        ({"total": float("nan")}, None),
        ({"total": "12"}, None),
        ({}, None),
    ],
)
def test_order_amount_from_segment_properties(properties: dict, cents: int | None) -> None:
    assert order_cents(properties) == cents


class Buyer(Actor):
    """At 1 h: an Order Completed and a review routed from the CDP, then a redemption."""

    def __init__(self) -> None:
        super().__init__("buyer")
        self.replies: list[Any] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(HOUR, Wake("buy"))
        elif isinstance(message, Wake):
            batch = EventBatch(
                "storefront",
                (
                    Track(
                        user_id="u-1", event=names.ORDER_COMPLETED, properties={"total_cents": 4250}
                    ),
                    Track(user_id="u-1", event=names.REVIEW_LEFT),
                    Track(anonymous_id="anon", event=names.REVIEW_LEFT),
                ),
            )
            await self.ask("promotions", batch)
            order = Order(id="o-1", amount_cents=12_000)
            self.replies.append(
                await self.ask("promotions", RedeemCode(code="BIG", customer_id="u-1", order=order))
            )
        return None


async def test_actor_earns_points_on_routed_events(autojump_clock: trio.testing.MockClock) -> None:
    """The actor runs earning rules on the CDP's tracks and on its own successful redemptions,
    and reports ``customer.rewarded.loyalty_points`` through its tracking port."""
    world = World(seed=1)
    promotions = world.add(PromotionsActor("promotions", engine()))
    sent: list[Track] = []

    class Port:
        async def send(self, events: Sequence[Any]) -> None:
            sent.extend(events)

    promotions.tracking = Port()
    promotions.model.import_codes("c_off", ["BIG"])
    buyer = world.add(Buyer())
    await world.run(until=2 * HOUR)
    assert buyer.replies[0].valid
    earned = [t for t in sent if t.event == names.LOYALTY_POINTS_EARNED]
    assert [t.properties["points"] for t in earned] == [42, 20, 5]
    assert [t.properties["balance"] for t in earned] == [42, 62, 67]
    assert all(t.user_id == "u-1" for t in earned)
