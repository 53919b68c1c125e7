"""A push destination: notifications on the customer's device, from two kinds of sender.

- Transactional: subscribed in the CDP to the promotion engine's
  ``customer.publication.succeeded`` events (the seed's "connect the Voucherify source to a push
  destination"), it turns a published code into a notification. A reward the customer earned is
  not marketing: these pushes skip the delivery policy (as transactional sends do at Braze), but
  they are logged.
- Marketing: ``ask(SendMessage)`` with a registered template (title = subject) or pre-rendered
  content, under the delivery policy like every channel.

The storefront plays the customers' app: its SDK reports ``Push Notification Received`` and
``Push Notification Tapped`` (Segment Mobile Spec) on the storefront's source. This destination,
when a tracking port is wired, reports the provider's side on its own source: ``Push
Notification Sent``, ``Push Notification Bounced`` (no such device) and conversions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from promoloop.actors.events import names
from promoloop.actors.events.messages import MessageInteraction, PushNotification, SendMessage
from promoloop.actors.events.segment import Track
from promoloop.actors.messaging.channel import ChannelDestination
from promoloop.actors.messaging.log import LoggedMessage, MessageLog
from promoloop.actors.messaging.policy import DeliveryPolicy
from promoloop.actors.messaging.templates import MessageTemplate


def format_cents(cents: int) -> str:
    return f"${cents // 100}" if cents % 100 == 0 else f"${cents / 100:.2f}"


class PushDestination(ChannelDestination):
    channel = "push"
    tracking_required = False

    def __init__(
        self,
        name: str = "push",
        device_target: str = "storefront",
        *,
        policy: DeliveryPolicy | None = None,
        templates: list[MessageTemplate] | None = None,
        log: MessageLog | None = None,
    ) -> None:
        super().__init__(
            name, policy=policy, templates=templates, log=log, inbox_target=device_target
        )
        self.device_target = device_target

    # -- transactional: published codes ---------------------------------------------------------
    def publication_notification(self, event: Track) -> PushNotification | None:
        """The notification for a ``customer.publication.succeeded`` track, or None for any
        other event (or one without a user or a code)."""
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
        self._message_no += 1
        return PushNotification(
            message_id=f"{self.name}-{self._message_no:08d}",
            user_id=event.user_id,
            sent_at=self.now_dt(),
            title=title,
            body=body,
            data={"code": code, "campaign": campaign},
        )

    def on_track(self, event: Track) -> None:
        notification = self.publication_notification(event)
        if notification is None:
            return
        campaign = notification.data.get("campaign")
        entry = LoggedMessage(
            message_id=notification.message_id,
            request_id=event.message_id or notification.message_id,
            user_id=notification.user_id,
            channel=self.channel,
            destination=self.name,
            campaign=campaign if isinstance(campaign, str) else "publication",
            sent_at=notification.sent_at,
            subject=notification.title,
            body=notification.body,
            to=notification.user_id,
            code=notification.data.get("code"),
        )
        self.deliver(notification, entry)

    # -- SendMessage ----------------------------------------------------------------------------
    def address(self, message: SendMessage, traits: dict[str, Any]) -> str | None:
        """The app installation: the user id, or an explicit device token in ``to``."""
        return message.to or message.user_id

    def compose(
        self, message: SendMessage, message_id: str, to: str, subject: str, body: str, at: datetime
    ) -> PushNotification:
        data: dict[str, Any] = {"campaign": message.campaign}
        for key in ("code", "journey", "step"):
            value = getattr(message, key)
            if value is not None:
                data[key] = value
        return PushNotification(
            message_id=message_id,
            user_id=message.user_id,
            sent_at=at,
            title=subject,
            body=body,
            data=data,
        )

    def report_sent(self, delivery: PushNotification, entry: LoggedMessage) -> None:
        self._report(delivery.user_id, names.PUSH_NOTIFICATION_SENT, entry, entry.sent_at)

    def _report(self, user_id: str, event: str, entry: LoggedMessage, at: datetime) -> None:
        self.track(
            user_id,
            event,
            {
                "message_id": entry.message_id,
                "campaign": {"name": entry.campaign},
                "journey": entry.journey,
                "step": entry.step,
            },
            at,
        )

    # -- device side ----------------------------------------------------------------------------
    async def handle(self, message: Any, sender: str) -> bool:
        if not isinstance(message, MessageInteraction) or message.channel != self.channel:
            return False
        self.sent_message(message.message_id)
        entry = self.log.get(message.message_id)
        assert entry is not None
        self.log.interact(message.message_id, message.kind, message.at)
        if message.kind == "undelivered":
            self._report(message.user_id, names.PUSH_NOTIFICATION_BOUNCED, entry, message.at)
        elif message.kind != "tapped":
            raise ValueError(
                f"unknown push interaction {message.kind!r} on {message.message_id!r} "
                "(kinds: tapped, undelivered)"
            )
        return True
