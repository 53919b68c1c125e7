"""Analytics: counts of what happened, fed by the CDP like any warehouse destination."""

from __future__ import annotations

from collections import Counter
from typing import Any

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Track
from promoloop.actors.runtime.actor import Actor, Started


class AnalyticsActor(Actor):
    mailbox_capacity = 256

    def __init__(self, name: str = "analytics") -> None:
        super().__init__(name)
        self.events: Counter[str] = Counter()
        self.by_source: Counter[str] = Counter()
        self.revenue_cents = 0
        self.orders = 0
        self.gift_card_orders = 0
        self.redeemed_cents = 0
        self.orders_by_user: dict[str, list[tuple[float, int, int, str | None]]] = {}
        """user → (sim seconds, total_cents, discount_cents, coupon) of each order."""
        self.code_campaigns: dict[str, str] = {}
        """Published code → the name of its campaign."""
        self.reviewers: set[str] = set()
        self.rewarded: set[str] = set()
        self.redeemers: set[str] = set()

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            return None
        if not isinstance(message, EventBatch):
            raise TypeError(f"analytics takes EventBatch, not {type(message).__name__}")
        self.by_source[message.source] += len(message.events)
        for event in message.events:
            if isinstance(event, Track):
                self._track(event)
            else:
                self.events[event.__struct_config__.tag] += 1
        return None

    def _track(self, event: Track) -> None:
        self.events[event.event] += 1
        who = event.user_id or event.anonymous_id or "?"
        props = event.properties
        if event.event == names.ORDER_COMPLETED:
            total = int(props.get("total_cents", 0))
            self.orders += 1
            self.revenue_cents += total
            coupon = props.get("coupon")
            if coupon:
                self.gift_card_orders += 1
            if event.timestamp is not None:
                at = self.world.time.seconds_at(event.timestamp)
                discount = int(props.get("discount_cents", 0))
                self.orders_by_user.setdefault(who, []).append(
                    (at, total, discount, coupon if isinstance(coupon, str) else None)
                )
        elif event.event == names.REVIEW_LEFT:
            self.reviewers.add(who)
        elif event.event == names.PUBLICATION_SUCCEEDED:
            self.rewarded.add(who)
            code, campaign = props.get("code"), props.get("campaign")
            if isinstance(code, str) and isinstance(campaign, str):
                self.code_campaigns[code] = campaign
        elif event.event == names.REDEMPTION_SUCCEEDED:
            self.redeemers.add(who)
            self.redeemed_cents += int(props.get("amount_cents", 0))

    def report(self) -> dict[str, Any]:
        """The KPIs of the review → gift card loop."""
        reviewers = len(self.reviewers)
        return {
            "events": dict(sorted(self.events.items())),
            "events_by_source": dict(sorted(self.by_source.items())),
            "orders": self.orders,
            "revenue_cents": self.revenue_cents,
            "reviewers": reviewers,
            "gift_cards_published": len(self.rewarded),
            "gift_card_redeemers": len(self.redeemers),
            "gift_card_orders": self.gift_card_orders,
            "gift_card_redeemed_cents": self.redeemed_cents,
            "reward_rate": round(len(self.rewarded) / reviewers, 4) if reviewers else 0.0,
            "redemption_rate": round(len(self.redeemers) / len(self.rewarded), 4)
            if self.rewarded
            else 0.0,
        }
