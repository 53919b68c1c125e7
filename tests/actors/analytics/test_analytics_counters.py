"""AnalyticsActor: counts, revenue and the review → gift card funnel rates from a stream."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from promoloop.actors.analytics import AnalyticsActor
from promoloop.actors.events import EventBatch, Identify, Page, Track, names
from promoloop.actors.runtime import Actor, ActorCrashed, Started, World


def order(user: str, total_cents: int, coupon: str | None = None) -> Track:
    properties: dict[str, Any] = {"total_cents": total_cents}
    if coupon:
        properties["coupon"] = coupon
    return Track(user_id=user, event=names.ORDER_COMPLETED, properties=properties)


STREAM = [
    EventBatch(
        "storefront",
        (
            Page(anonymous_id="a-1", name="Home"),
            Identify(user_id="u-1", anonymous_id="a-1"),
            order("u-1", 4000),
            Track(user_id="u-1", event=names.REVIEW_LEFT),
            Track(user_id="u-1", event=names.REVIEW_LEFT),  # same reviewer twice
            Track(user_id="u-2", event=names.REVIEW_LEFT),
            Track(user_id="u-3", event=names.REVIEW_LEFT),
            Track(user_id="u-4", event=names.REVIEW_LEFT),
        ),
    ),
    EventBatch(
        "promotions",
        (
            Track(user_id="u-1", event=names.PUBLICATION_SUCCEEDED),
            Track(user_id="u-2", event=names.PUBLICATION_SUCCEEDED),
        ),
    ),
    EventBatch(
        "storefront",
        (
            order("u-1", 1500, coupon="GIFT-1"),
            order("u-2", 0, coupon="GIFT-2"),
            order("u-3", 2250),
        ),
    ),
    EventBatch(
        "promotions",
        (
            Track(
                user_id="u-1",
                event=names.REDEMPTION_SUCCEEDED,
                properties={"amount_cents": 2500},
            ),
            Track(
                user_id="u-1",
                event=names.REDEMPTION_SUCCEEDED,
                properties={"amount_cents": 0},
            ),
            Track(user_id="u-2", event=names.REDEMPTION_FAILED, properties={"amount_cents": 99}),
        ),
    ),
]


class Replay(Actor):
    """Replays batches to analytics on Started."""

    def __init__(self, name: str, batches: list[Any]) -> None:
        super().__init__(name)
        self.batches = batches

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for batch in self.batches:
                await self.tell("analytics", batch)
        return None


async def test_report_counts_and_rates(autojump_clock: trio.testing.MockClock) -> None:
    """Orders and revenue from Order Completed, distinct reviewers/rewarded/redeemers, redeemed
    cents, gift-card orders, and rates: rewarded/reviewers, redeemers/rewarded."""
    world = World()
    analytics = world.add(AnalyticsActor("analytics"))
    world.add(Replay("cdp", STREAM))
    await world.run(until=1.0)
    report = analytics.report()
    assert report == {
        "events": {
            names.ORDER_COMPLETED: 4,
            names.PUBLICATION_SUCCEEDED: 2,
            names.REDEMPTION_FAILED: 1,
            names.REDEMPTION_SUCCEEDED: 2,
            "identify": 1,
            "page": 1,
            names.REVIEW_LEFT: 5,
        },
        "events_by_source": {"promotions": 5, "storefront": 11},
        "orders": 4,
        "revenue_cents": 4000 + 1500 + 0 + 2250,
        "reviewers": 4,
        "gift_cards_published": 2,
        "gift_card_redeemers": 1,
        "gift_card_orders": 2,
        "gift_card_redeemed_cents": 2500,
        "reward_rate": 0.5,
        "redemption_rate": 0.5,
    }
    assert list(report["events"]) == sorted(report["events"])


def test_empty_report_has_zero_rates() -> None:
    """No reviewers and no rewards: rates are 0.0, not a division error."""
    report = AnalyticsActor().report()
    assert (report["reward_rate"], report["redemption_rate"]) == (0.0, 0.0)
    assert (report["orders"], report["revenue_cents"], report["events"]) == (0, 0, {})


async def test_rates_are_rounded_to_four_places() -> None:
    """One in three reviewers rewarded → 0.3333."""
    analytics = AnalyticsActor()
    batch = EventBatch(
        "x",
        (
            *(Track(user_id=f"u-{i}", event=names.REVIEW_LEFT) for i in range(3)),
            Track(user_id="u-0", event=names.PUBLICATION_SUCCEEDED),
        ),
    )
    await analytics.receive(batch, "cdp")
    assert analytics.report()["reward_rate"] == 0.3333
    assert analytics.report()["redemption_rate"] == 0.0


async def test_analytics_refuses_foreign_messages(autojump_clock: trio.testing.MockClock) -> None:
    """Analytics takes EventBatch only; anything else stops the run naming it."""
    world = World()
    world.add(AnalyticsActor("analytics"))
    world.add(Replay("cdp", [order("u", 1)]))
    with pytest.raises(ActorCrashed, match=r"'analytics' crashed handling Track from 'cdp'"):
        await world.run(until=1.0)
