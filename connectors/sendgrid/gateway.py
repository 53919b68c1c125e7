"""The SendGrid face's actor: turns accepted sends into emails through the email destination and
keeps each recipient's activity up to date.

Why an actor, not the HTTP handler, does the sending: SendGrid answers 202 as soon as a send is
queued, and delivery happens afterwards. Inside the world, the gateway's mail is ordered by the
conductor like everyone else's, so an HTTP send is delivered in the same order as an in-process
one, ``send_at`` is a timer in simulation time, and each recipient passes the email
destination's delivery policy (``ask(SendMessage)`` → ``SendResult``) before it lands in an
inbox. What happens next (delivered after quiet hours, bounced, opened, clicked, unsubscribed)
comes back through the CDP, on the email destination's source: the gateway is subscribed to it,
as an Email Activity feed is fed by the provider's own events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch, SendMessage, SendResult, SendStatus
from promoloop.actors.events.segment import Track
from promoloop.actors.messaging.webhook import WebhookDestination
from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.connectors.sendgrid.events import event_json
from promoloop.connectors.sendgrid.model import DELIVERED, PROCESSED, Activity, SendGridModel

BOUNCE_REASON = "550 5.1.1 The email account that you tried to reach does not exist."
DROP_REASONS = {
    "unsubscribed": "Unsubscribed Address",
    "suppressed": "Suppressed Address",
    "frequency_cap": "Frequency Cap Reached",
    "no_address": "Invalid",
    "unknown_channel": "Invalid",
    "no_content": "Invalid",
    "unknown_template": "Invalid",
    "template_error": "Invalid",
}
"""SendGrid's ``dropped`` reasons for the delivery policy's refusals."""

ENGAGEMENT = {
    names.EMAIL_OPENED: "open",
    names.EMAIL_LINK_CLICKED: "click",
    names.UNSUBSCRIBED: "unsubscribe",
    names.EMAIL_BOUNCED: "bounce",
}
CODE_ARG = "code"
"""A custom arg naming a promotion code the email carries: a customer who clicks through gets it
in their wallet (the storefront's offer), as a link with the code applied would."""
CDP_EVENTS = frozenset({names.EMAIL_DELIVERED, *ENGAGEMENT})
"""What the gateway's CDP subscription carries from the email destination's source."""


class Queued(msgspec.Struct, frozen=True):
    """Sends the face accepted (their activities are already in the model)."""

    msg_ids: tuple[str, ...]


class EventArray(msgspec.Struct, frozen=True):
    """One Event Webhook post: SendGrid sends events in arrays, not one request per event."""

    events: list[dict[str, Any]]


class EventWebhookDestination(WebhookDestination):
    """A webhook destination (ordered, retried, dead-lettered) that posts :class:`EventArray`s
    as they are: the array is the payload."""

    async def receive(self, message: Any, sender: str) -> Any:
        if not isinstance(message, EventArray):
            return await super().receive(message, sender)
        self._enqueue(message.events)
        if not self._waiting:
            await self._drain()
        return None


class SendGridGateway(Actor):
    mailbox_capacity = 256

    def __init__(
        self,
        name: str = "sendgrid",
        *,
        model: SendGridModel,
        email: str = "email",
        webhooks: Sequence[str] = (),
    ) -> None:
        """``email`` is the destination actor asked for each recipient; ``webhooks`` are
        webhook destination actors that get SendGrid-shaped event arrays."""
        super().__init__(name)
        self.model = model
        self.email = email
        self.webhooks = list(webhooks)
        self._scheduled: list[str] = []
        self._deferred: dict[str, datetime] = {}
        """Sends the destination holds for quiet hours, by msg_id: when to ask what became
        of them (a cap filled overnight drops them; the activity must say so)."""
        self._outbox: list[dict[str, Any]] = []
        self._event_seq = 0

    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                return None
            case Queued():
                await self._on_queued(message.msg_ids)
            case Wake(tag="deferred"):
                await self._follow_deferred()
            case Wake():
                await self._send_due()
            case EventBatch():
                self._on_cdp(message)
            case _:
                raise TypeError(f"the SendGrid gateway cannot handle {type(message).__name__}")
        await self._flush()
        return None

    # -- sending ------------------------------------------------------------------------------
    async def _on_queued(self, msg_ids: tuple[str, ...]) -> None:
        now = self.now_dt()
        for msg_id in msg_ids:
            activity = self.model.activities[msg_id]
            self._emit(activity, "processed", activity.events[0].at)
            if activity.due > now:
                self._scheduled.append(msg_id)
                self.schedule(self.world.time.seconds_at(activity.due), Wake("send_at"))
            else:
                await self._send(activity)

    async def _send_due(self) -> None:
        # A timer lands on its due time up to float rounding: within a millisecond is due.
        limit = self.now_dt() + timedelta(milliseconds=1)
        due = [m for m in self._scheduled if self.model.activities[m].due <= limit]
        if not due:
            return
        sent = set(due)
        self._scheduled = [m for m in self._scheduled if m not in sent]
        for msg_id in due:
            await self._send(self.model.activities[msg_id])

    async def _send(self, activity: Activity) -> None:
        now = self.now_dt()
        if self.model.is_unsubscribed(activity.to_email):
            self._note(activity, "dropped", now, DROP_REASONS["unsubscribed"])
            return
        if activity.user_id is None:
            self._note(activity, "bounce", now, BOUNCE_REASON)
            return
        result = await self.ask(
            self.email,
            SendMessage(
                request_id=activity.msg_id,
                user_id=activity.user_id,
                channel="email",
                campaign=activity.campaign,
                subject=activity.subject,
                body=activity.body,
                to=activity.to_email,
                code=activity.custom_args.get(CODE_ARG) or None,
            ),
        )
        if not isinstance(result, SendResult):
            raise TypeError(f"{self.email} answered SendMessage with {type(result).__name__}")
        if result.sent:
            if result.message_id is not None:
                self.model.link(activity, result.message_id)
            self._note(activity, "delivered", now, None)
        elif result.reason == "quiet_hours":
            until = result.deferred_until.isoformat() if result.deferred_until else "later"
            self._note(activity, "deferred", now, f"quiet hours: the send waits until {until}")
            self._follow(activity.msg_id, result.deferred_until or now + timedelta(hours=1))
        else:
            reason = result.reason or "refused"
            self._note(activity, "dropped", now, DROP_REASONS.get(reason, reason))

    def _follow(self, msg_id: str, at: datetime) -> None:
        self._deferred[msg_id] = at
        self.schedule(self.world.time.seconds_at(at), Wake("deferred"))

    async def _follow_deferred(self) -> None:
        """Ask the destination about every deferral that has ended: delivered, dropped, or
        (its own timer not run yet) still waiting, asked again a minute later."""
        limit = self.now_dt() + timedelta(milliseconds=1)
        due = sorted(m for m, at in self._deferred.items() if at <= limit)
        for msg_id in due:
            del self._deferred[msg_id]
            activity = self.model.activities[msg_id]
            result = await self.ask(self.email, SendStatus(msg_id))
            if not isinstance(result, SendResult):
                raise TypeError(f"{self.email} answered SendStatus with {type(result).__name__}")
            now = self.now_dt()
            if result.sent:
                if result.message_id is not None and activity.status == PROCESSED:
                    self.model.link(activity, result.message_id)
                self._note(activity, "delivered", now, None)
            elif result.reason == "quiet_hours":
                self._follow(msg_id, max(result.deferred_until or now, now) + timedelta(minutes=1))
            else:
                reason = result.reason or "refused"
                self._note(activity, "dropped", now, DROP_REASONS.get(reason, reason))

    # -- what the CDP reports back ---------------------------------------------------------------
    def _on_cdp(self, batch: EventBatch) -> None:
        for event in batch.events:
            if not isinstance(event, Track) or event.event not in CDP_EVENTS:
                continue
            email_id = event.properties.get("email_id")
            activity = self.model.by_destination(email_id) if isinstance(email_id, str) else None
            at = event.timestamp or self.now_dt()
            if event.event == names.EMAIL_DELIVERED:
                if activity is None and event.user_id and isinstance(email_id, str):
                    self._delivered_later(event, email_id, at)
                continue
            if activity is None:
                continue  # an email some other sender (a journey, a campaign) sent
            kind = ENGAGEMENT[event.event]
            self._note(activity, kind, at, BOUNCE_REASON if kind == "bounce" else None)
            if kind == "unsubscribe":  # the destination's policy has it already
                self.model.unsubscribe(activity.to_email, at)

    def _delivered_later(self, event: Track, email_id: str, at: datetime) -> None:
        """An email the destination deferred (quiet hours) has gone out."""
        subject = event.properties.get("email_subject")
        campaign = event.properties.get("campaign_name")
        if not (event.user_id and isinstance(subject, str) and isinstance(campaign, str)):
            return
        activity = self.model.deferred_for(event.user_id, subject, campaign)
        if activity is not None and activity.status == PROCESSED:
            self.model.link(activity, email_id)
            self._note(activity, "delivered", at, None)

    # -- activity and events -----------------------------------------------------------------------
    def _note(self, activity: Activity, event: str, at: datetime, reason: str | None) -> None:
        if event == "delivered" and activity.status == DELIVERED:
            return
        self.model.note(activity, event, at, reason)
        self._emit(activity, event, at, reason)

    def _emit(
        self, activity: Activity, event: str, at: datetime, reason: str | None = None
    ) -> None:
        if not self.webhooks:
            return
        self._event_seq += 1
        self._outbox.append(event_json(activity, event, at, reason, self._event_seq))

    async def _flush(self) -> None:
        if not self._outbox:
            return
        events, self._outbox = self._outbox, []
        for target in self.webhooks:
            await self.tell(target, EventArray(events))
