"""An email destination: campaign emails on audience entry and ``SendMessage`` sends, under the
delivery policy, with delivery and engagement reported back to the CDP on its own source, as an
email provider's Segment source does (Email Spec events).

It learns what it needs from the CDP like any Segment destination: ``identify`` calls give the
customer's address and traits (including Engage's boolean audience traits), ``Audience
Entered`` tracks trigger campaigns. Senders (journeys, the SendGrid-shaped face) ``ask`` it with
a :class:`SendMessage`: a registered template by name, or a pre-rendered subject and body, to the
customer's known address or an explicit ``to``. Customers' reactions come from their inboxes
(the storefront) as :class:`EmailInteraction` messages; a hard bounce puts the customer on the
email suppression list, as providers do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.events import names
from promoloop.actors.events.messages import EmailInteraction, EmailMessage, SendMessage
from promoloop.actors.events.segment import Track
from promoloop.actors.messaging.channel import ChannelDestination
from promoloop.actors.messaging.log import LoggedMessage, MessageLog
from promoloop.actors.messaging.policy import DeliveryPolicy
from promoloop.actors.messaging.templates import MessageTemplate

INTERACTION_EVENTS = {
    "opened": names.EMAIL_OPENED,
    "clicked": names.EMAIL_LINK_CLICKED,
    "unsubscribed": names.UNSUBSCRIBED,
    "bounced": names.EMAIL_BOUNCED,
}


class EmailCampaign(msgspec.Struct, frozen=True, kw_only=True):
    """Send ``template`` to every customer who enters ``audience_key``."""

    name: str
    audience_key: str
    template: Any
    """A :class:`MessageTemplate` (typed loosely: msgspec cannot describe Jinja templates)."""

    def __post_init__(self) -> None:
        if not isinstance(self.template, MessageTemplate):
            raise ValueError(f"email campaign {self.name!r}: template must be a MessageTemplate")
        if not self.audience_key:
            raise ValueError(f"email campaign {self.name!r}: audience_key is required")


def valid_address(address: Any) -> bool:
    """Shaped like ``local@domain``: enough to route; whether the mailbox exists is for the
    receiving side to say (a bounce)."""
    if not isinstance(address, str):
        return False
    local, at, domain = address.strip().rpartition("@")
    return bool(at and local and domain and " " not in address.strip())


class EmailDestination(ChannelDestination):
    channel = "email"

    def __init__(
        self,
        name: str = "email",
        *,
        campaigns: list[EmailCampaign] | None = None,
        policy: DeliveryPolicy | None = None,
        inbox_target: str = "storefront",
        templates: list[MessageTemplate] | None = None,
        log: MessageLog | None = None,
    ) -> None:
        super().__init__(
            name, policy=policy, templates=templates, log=log, inbox_target=inbox_target
        )
        self.campaigns = {c.name: c for c in campaigns or []}
        for campaign in self.campaigns.values():
            self.register_template(campaign.template)
        self._campaign_sends = 0

    # -- SendMessage --------------------------------------------------------------------------
    def address(self, message: SendMessage, traits: dict[str, Any]) -> str | None:
        address = message.to if message.to is not None else traits.get("email")
        return address.strip() if valid_address(address) else None

    def compose(
        self, message: SendMessage, message_id: str, to: str, subject: str, body: str, at: datetime
    ) -> EmailMessage:
        return EmailMessage(
            message_id=message_id,
            user_id=message.user_id,
            to=to,
            sent_at=at,
            campaign=message.campaign,
            subject=subject,
            body=body,
            code=message.code,
        )

    def report_sent(self, delivery: EmailMessage, entry: LoggedMessage) -> None:
        self._report(delivery.user_id, names.EMAIL_DELIVERED, entry, entry.sent_at)

    def _report(self, user_id: str, event: str, entry: LoggedMessage, at: datetime) -> None:
        self.track(
            user_id,
            event,
            {
                "email_id": entry.message_id,
                "email_subject": entry.subject,
                "campaign_name": entry.campaign,
                "journey": entry.journey,
                "step": entry.step,
            },
            at,
        )

    # -- campaigns on audience entry ------------------------------------------------------------
    def on_track(self, event: Track) -> None:
        if event.event != names.AUDIENCE_ENTERED or event.user_id is None:
            return
        key = event.properties.get("audience_key")
        for campaign in self.campaigns.values():
            if campaign.audience_key == key:
                self._campaign_sends += 1
                request = SendMessage(
                    request_id=f"{self.name}:{campaign.name}:{self._campaign_sends:08d}",
                    user_id=event.user_id,
                    channel=self.channel,
                    campaign=campaign.name,
                    template=campaign.template.name,
                )
                self.send(request, self.now_dt())

    # -- inbox side -----------------------------------------------------------------------------
    async def handle(self, message: Any, sender: str) -> bool:
        if not isinstance(message, EmailInteraction):
            return False
        event = INTERACTION_EVENTS.get(message.kind)
        if event is None:
            raise ValueError(
                f"unknown email interaction {message.kind!r} on {message.message_id!r} "
                f"(kinds: {sorted(INTERACTION_EVENTS)})"
            )
        self.sent_message(message.message_id)
        entry = self.log.get(message.message_id)
        assert entry is not None
        self.log.interact(message.message_id, message.kind, message.at)
        if message.kind == "unsubscribed":
            self.policy.unsubscribe(message.user_id, self.channel)
        elif message.kind == "bounced":
            self.policy.suppress(message.user_id, self.channel)
        self._report(message.user_id, event, entry, message.at)
        return True
