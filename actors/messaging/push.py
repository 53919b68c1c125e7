"""A push destination: turns a published code into a notification on the customer's device.

Subscribed in the CDP to the promotion engine's ``customer.publication.succeeded`` events (the
seed's "connect the Voucherify source to a push destination"), it delivers to the storefront,
which plays the customers' app.
"""

from __future__ import annotations

from typing import Any

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch, PushNotification
from promoloop.actors.events.segment import Track
from promoloop.actors.runtime.actor import Actor, Started


def format_cents(cents: int) -> str:
    return f"${cents // 100}" if cents % 100 == 0 else f"${cents / 100:.2f}"


class PushDestination(Actor):
    def __init__(self, name: str = "push", device_target: str = "storefront") -> None:
        super().__init__(name)
        self.device_target = device_target
        self.sent: list[PushNotification] = []

    def compose(self, event: Track) -> PushNotification | None:
        if event.event != names.PUBLICATION_SUCCEEDED or not event.user_id:
            return None
        code = event.properties.get("code")
        if not isinstance(code, str):
            return None
        balance = event.properties.get("balance_cents")
        campaign = event.properties.get("campaign")
        if isinstance(balance, int):  # a gift card: the seed's review reward
            title = f"{format_cents(balance)} gift card, on us"
            body = f"Thanks for your review! Use {code} at your next checkout."
        else:
            title = f"{campaign}: an offer for you" if campaign else "An offer for you"
            body = f"Use {code} at your next checkout."
        return PushNotification(
            message_id=f"push-{len(self.sent) + 1:08d}",
            user_id=event.user_id,
            sent_at=self.now_dt(),
            title=title,
            body=body,
            data={"code": code, "campaign": campaign},
        )

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            return None
        if not isinstance(message, EventBatch):
            raise TypeError(f"the push destination takes EventBatch, not {type(message).__name__}")
        for event in message.events:
            if isinstance(event, Track):
                notification = self.compose(event)
                if notification is not None:
                    self.sent.append(notification)
                    await self.tell(self.device_target, notification)
        return None
