"""An email destination: sends personalised campaign emails when customers enter audiences,
under the delivery policy, and reports delivery and engagement back to the CDP on its own
source, as an email provider's Segment source does (Email Spec events).

It learns what it needs from the CDP like any Segment destination: ``identify`` calls give the
customer's address and traits (including Engage's boolean audience traits), ``Audience
Entered`` tracks trigger campaigns. Customers' reactions come from their inboxes (the
storefront) as :class:`EmailInteraction` messages.
"""

from __future__ import annotations

from typing import Any

import msgspec

from promoloop.actors.events import names
from promoloop.actors.events.messages import EmailInteraction, EmailMessage, EventBatch
from promoloop.actors.events.segment import Identify, SegmentEvent, Track
from promoloop.actors.messaging.policy import DeliveryPolicy
from promoloop.actors.messaging.templates import MessageTemplate
from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.actors.runtime.ports import TrackingPort

INTERACTION_EVENTS = {
    "opened": names.EMAIL_OPENED,
    "clicked": names.EMAIL_LINK_CLICKED,
    "unsubscribed": names.UNSUBSCRIBED,
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


class _Pending(msgspec.Struct, frozen=True):
    user_id: str
    campaign: str


class EmailDestination(Actor):
    mailbox_capacity = 128

    def __init__(
        self,
        name: str = "email",
        *,
        campaigns: list[EmailCampaign] | None = None,
        policy: DeliveryPolicy | None = None,
        inbox_target: str = "storefront",
    ) -> None:
        super().__init__(name)
        self.campaigns = {c.name: c for c in campaigns or []}
        self.policy = policy or DeliveryPolicy()
        self.inbox_target = inbox_target
        self.tracking: TrackingPort | None = None
        self.traits: dict[str, dict[str, Any]] = {}
        self.sent: list[EmailMessage] = []
        self.refused: list[tuple[str, str, str]] = []
        """(user_id, campaign, reason) for every send the policy or the data refused."""
        self._deferred: list[_Pending] = []
        self._outbox: list[SegmentEvent] = []
        self._delivered = 0
        self._seq = 0
        self._event_seq = 0

    # -- CDP side -----------------------------------------------------------------------------
    def _learn(self, event: Identify) -> None:
        if event.user_id:
            self.traits.setdefault(event.user_id, {}).update(event.traits)

    def _audiences(self, user_id: str) -> frozenset[str]:
        traits = self.traits.get(user_id, {})
        return frozenset(k for k, v in traits.items() if v is True)

    async def _on_batch(self, batch: EventBatch) -> None:
        for event in batch.events:
            if isinstance(event, Identify):
                self._learn(event)
            elif (
                isinstance(event, Track) and event.event == names.AUDIENCE_ENTERED and event.user_id
            ):
                key = event.properties.get("audience_key")
                for campaign in self.campaigns.values():
                    if campaign.audience_key == key:
                        self._send(event.user_id, campaign)

    def _send(self, user_id: str, campaign: EmailCampaign) -> None:
        traits = self.traits.get(user_id, {})
        address = traits.get("email")
        if not isinstance(address, str) or "@" not in address:
            self.refused.append((user_id, campaign.name, "no_address"))
            return
        audiences = self._audiences(user_id)
        decision = self.policy.admit(
            user_id, "email", self.now_dt(), audiences=audiences, campaign=campaign.name
        )
        if not decision.allowed:
            if decision.reason == "quiet_hours" and decision.retry_at is not None:
                self._deferred.append(_Pending(user_id, campaign.name))
                self.schedule(self.world.time.seconds_at(decision.retry_at), Wake("deferred"))
            else:
                self.refused.append((user_id, campaign.name, decision.reason or "refused"))
            return
        subject, body = campaign.template.render(traits | {"audiences": audiences})
        self._seq += 1
        message = EmailMessage(
            message_id=f"{self.name}-{self._seq:08d}",
            user_id=user_id,
            to=address,
            sent_at=self.now_dt(),
            campaign=campaign.name,
            subject=subject,
            body=body,
        )
        self.sent.append(message)
        self._track(user_id, names.EMAIL_DELIVERED, message)

    def _track(self, user_id: str, event: str, message: EmailMessage, at: Any = None) -> None:
        self._event_seq += 1
        self._outbox.append(
            Track(
                message_id=f"{self.name}-evt-{self._event_seq:09d}",
                timestamp=at or self.now_dt(),
                user_id=user_id,
                event=event,
                properties={
                    "email_id": message.message_id,
                    "email_subject": message.subject,
                    "campaign_name": message.campaign,
                },
            )
        )

    # -- inbox side ---------------------------------------------------------------------------
    def _on_interaction(self, interaction: EmailInteraction) -> None:
        message = next(
            (m for m in reversed(self.sent) if m.message_id == interaction.message_id), None
        )
        event = INTERACTION_EVENTS.get(interaction.kind)
        if message is None or event is None:
            raise ValueError(
                f"unknown email interaction {interaction.kind!r} on {interaction.message_id!r}"
            )
        if interaction.kind == "unsubscribed":
            self.policy.unsubscribe(interaction.user_id, "email")
        self._track(interaction.user_id, event, message, interaction.at)

    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                return None
            case EventBatch():
                await self._on_batch(message)
            case EmailInteraction():
                self._on_interaction(message)
            case Wake():
                due, self._deferred = self._deferred, []
                for pending in due:
                    self._send(pending.user_id, self.campaigns[pending.campaign])
            case _:
                raise TypeError(f"the email destination cannot handle {type(message).__name__}")
        await self._deliver()
        return None

    async def _deliver(self) -> None:
        """Hand new emails to the inboxes, then report what happened to the CDP."""
        while self._delivered < len(self.sent):
            await self.tell(self.inbox_target, self.sent[self._delivered])
            self._delivered += 1
        if self._outbox:
            if self.tracking is None:
                raise RuntimeError(f"{self.name}: no tracking port wired to the CDP")
            events, self._outbox = self._outbox, []
            await self.tracking.send(events)
