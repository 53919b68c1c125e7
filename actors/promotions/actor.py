"""The promotion engine actor: answers validations and redemptions, runs distributions on
audience events from the CDP, runs loyalty earning rules on the customer events it is routed
(orders, redemptions, custom events), and reports its own events back through a tracking port
(the Voucherify → Segment connector)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.promotions import (
    EngineEvent,
    PublishCode,
    PublishOutcome,
    RedeemCode,
    ValidateCode,
)
from promoloop.actors.events.segment import Identify, Track
from promoloop.actors.promotions.errors import PromotionError
from promoloop.actors.promotions.model import PromotionEngineModel
from promoloop.actors.runtime.actor import Actor, Started
from promoloop.actors.runtime.ports import TrackingPort


def order_cents(properties: dict[str, Any]) -> int | None:
    """An order's amount in cents from Segment ``properties``: ``total_cents`` (what the
    storefront sends), else the spec's ``total`` / ``revenue`` in currency units."""
    cents = properties.get("total_cents")
    if isinstance(cents, int) and not isinstance(cents, bool):
        return cents
    for key in ("total", "revenue"):
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                amount = Decimal(str(value)) * 100
            except InvalidOperation:
                return None
            return int(amount.to_integral_value(ROUND_HALF_UP)) if amount.is_finite() else None
    return None


class PromotionsActor(Actor):
    mailbox_capacity = 128

    def __init__(self, name: str = "promotions", model: PromotionEngineModel | None = None) -> None:
        super().__init__(name)
        self._model = model
        self.tracking: TrackingPort | None = None
        self.emitted: list[EngineEvent] = []
        self.webhooks: list[str] = []
        """Webhook destination actors (one per registered URL) that get every engine event."""

    @property
    def model(self) -> PromotionEngineModel:
        if self._model is None:
            self._model = PromotionEngineModel(self.world.seeds.rng(f"actor/{self.name}/codes"))
        return self._model

    async def _report(self, events: list[EngineEvent]) -> None:
        if not events:
            return
        self.emitted.extend(events)
        if self.tracking is None:
            raise RuntimeError(
                f"{self.name}: no tracking port wired to report {len(events)} events"
            )
        await self.tracking.send([event.to_track() for event in events])
        for target in self.webhooks:
            for event in events:
                await self.tell(target, event)

    async def _publish(self, request: PublishCode, now: datetime) -> PublishOutcome:
        """Publish one code and report the publication like a distribution does; a refusal
        (unknown or disabled campaign, out of dates, no codes left) is an answer, not a crash."""
        model = self.model
        campaign_id = request.campaign
        if campaign_id not in model.campaigns:
            named = [c.id for c in model.campaigns.values() if c.name == request.campaign]
            campaign_id = named[0] if named else request.campaign
        try:
            voucher, event = model.publish(
                campaign_id,
                request.customer_id,
                now,
                request.channel,
                join_once=request.join_once,
            )
        except PromotionError as error:
            return PublishOutcome(reason=error.key)
        await self._report([event] if event is not None else [])
        return PublishOutcome(code=voucher.code)

    async def receive(self, message: Any, sender: str) -> Any:
        now = self.now_dt()
        match message:
            case Started():
                return None
            case ValidateCode():
                return self.model.validate(message, now)
            case RedeemCode():
                verdict, event = self.model.redeem(message, now)
                reported: list[EngineEvent] = [event] if event is not None else []
                if verdict.valid:
                    reported += self.model.on_customer_event(
                        message.customer_id,
                        names.REDEMPTION_SUCCEEDED,
                        now,
                        message.order.amount_cents,
                    )
                await self._report(reported)
                return verdict
            case PublishCode():
                return await self._publish(message, now)
            case EventBatch():
                events: list[EngineEvent] = []
                for call in message.events:
                    if isinstance(call, Identify) and call.user_id:
                        self.model.upsert_customer(call.user_id, call.traits)
                    elif (
                        isinstance(call, Track)
                        and call.event == names.AUDIENCE_ENTERED
                        and call.user_id
                    ):
                        key = call.properties.get("audience_key")
                        if isinstance(key, str):
                            events += self.model.on_audience_entered(call.user_id, key, now)
                    elif isinstance(call, Track) and call.user_id:
                        self.model.note_event(call.user_id, call.event)
                        events += self.model.on_tracked_event(call.user_id, call.event, now)
                        if self.model.loyalty.programs:
                            events += self.model.on_customer_event(
                                call.user_id, call.event, now, order_cents(call.properties)
                            )
                await self._report(events)
                return None
        raise TypeError(f"the promotion engine cannot handle {type(message).__name__}")
