"""What every channel destination shares: the :class:`SendMessage` contract, the policy, the log.

Why a base class: email, push, SMS and ads must refuse, defer, cap, log and attribute in exactly
the same way, or a journey that mixes channels would see four subtly different contracts. A
subclass says only what is particular to its channel: how to find the customer's address, what
the delivered message looks like, and which events report it.

Order of checks for one :class:`SendMessage` (cheap and definite first, so a refusal costs no
rendering and a failed render costs no cap): channel → content (template registered, or a
pre-rendered ``body``) → address → policy (consent, suppression, quiet hours, caps: see
:mod:`policy`) → render → record against the caps → log → deliver → report. Everything up to the
log is synchronous (:meth:`ChannelDestination.send`), so no interleaving of channels sharing one
:class:`DeliveryPolicy` can exceed a cap.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch, SendMessage, SendResult, SendStatus
from promoloop.actors.events.segment import Identify, SegmentEvent, Track
from promoloop.actors.messaging.log import LoggedMessage, MessageLog
from promoloop.actors.messaging.policy import CHANNELS, DeliveryPolicy
from promoloop.actors.messaging.templates import MessageTemplate, TemplateError
from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.actors.runtime.ports import TrackingPort

DEFERRED = "deferred"
"""The :class:`Wake` tag of the timer that retries sends held by quiet hours."""


class ChannelDestination(Actor):
    """A destination that answers ``ask(SendMessage)`` with a :class:`SendResult`.

    It learns customers from the CDP like a Segment destination: ``identify`` traits (``email``,
    ``phone``, ``timezone``, Engage's boolean audience traits), ``Audience Entered``/``Exited``
    tracks, and ``Order Completed`` tracks (for attribution, when routed to it).
    """

    channel: ClassVar[str] = ""
    tracking_required: ClassVar[bool] = True
    """False: without a wired tracking port the destination reports nothing (push, whose loop
    predates provider feedback); True: reporting without a port is a wiring error."""
    mailbox_capacity = 1024
    """Generous: the storefront tells reactions back while this destination may be telling it
    deliveries; a deep lane keeps a campaign blast from filling both ways at once."""

    def __init__(
        self,
        name: str,
        *,
        policy: DeliveryPolicy | None = None,
        templates: list[MessageTemplate] | None = None,
        log: MessageLog | None = None,
        inbox_target: str = "storefront",
    ) -> None:
        super().__init__(name)
        if self.channel not in CHANNELS:
            raise TypeError(f"{type(self).__name__}.channel must be one of {sorted(CHANNELS)}")
        self.policy = policy if policy is not None else DeliveryPolicy()
        self.log = log if log is not None else MessageLog()
        self.inbox_target = inbox_target
        self.tracking: TrackingPort | None = None
        self.templates: dict[str, MessageTemplate] = {}
        for template in templates or []:
            self.register_template(template)
        self.traits: dict[str, dict[str, Any]] = {}
        self.sent: list[Any] = []
        """What was delivered, in order (the channel's message struct)."""
        self.refused: list[tuple[str, str, str]] = []
        """(user_id, campaign, reason) for every send the policy or the data refused."""
        self.problems: list[str] = []
        """Readable details of refusals that point at a sender's mistake (unknown template...)."""
        self.outcomes: dict[str, SendResult] = {}
        """Final result of each request that quiet hours deferred, by ``request_id``."""
        self._by_message_id: dict[str, Any] = {}
        self._deferred: list[tuple[datetime, int, SendMessage]] = []
        self._deferred_seq = 0
        self._armed_at: datetime | None = None
        self._deliveries: list[Any] = []
        self._outbox: list[SegmentEvent] = []
        self._message_no = 0
        self._event_no = 0
        self._zones: dict[str, ZoneInfo | None] = {}

    # -- configuration ------------------------------------------------------------------------
    def register_template(self, template: MessageTemplate) -> None:
        """Make ``template`` addressable by name in :class:`SendMessage`."""
        if not isinstance(template, MessageTemplate):
            raise TypeError(f"{self.name}: templates must be MessageTemplate, not {template!r}")
        known = self.templates.get(template.name)
        if known is not None and known is not template:
            raise ValueError(f"{self.name}: template {template.name!r} is already registered")
        self.templates[template.name] = template

    # -- what a subclass provides ---------------------------------------------------------------
    def address(self, message: SendMessage, traits: dict[str, Any]) -> str | None:
        """Where this message goes on the channel, or None when the customer cannot be reached."""
        raise NotImplementedError

    def compose(
        self, message: SendMessage, message_id: str, to: str, subject: str, body: str, at: datetime
    ) -> Any:
        """The delivered message (what lands on the customer's side)."""
        raise NotImplementedError

    def report_sent(self, delivery: Any, entry: LoggedMessage) -> None:
        """Emit the channel's "sent/delivered" event for a new message."""
        raise NotImplementedError

    def on_track(self, event: Track) -> None:
        """Every track from the CDP, once membership and attribution are noted (campaign
        triggers, audience sync, transactional pushes)."""

    async def handle(self, message: Any, sender: str) -> bool:
        """Channel-specific messages (customer reactions, timers); False when not understood."""
        return False

    # -- the CDP side ---------------------------------------------------------------------------
    def audiences(self, user_id: str) -> frozenset[str]:
        traits = self.traits.get(user_id)
        if not traits:
            return frozenset()
        return frozenset(k for k, v in traits.items() if v is True)

    def observe(self, batch: EventBatch) -> None:
        """Learn traits and memberships, attribute orders, and let the channel react."""
        for event in batch.events:
            if isinstance(event, Identify):
                if event.user_id:
                    self.traits.setdefault(event.user_id, {}).update(event.traits)
            elif isinstance(event, Track) and event.user_id:
                if event.event in (names.AUDIENCE_ENTERED, names.AUDIENCE_EXITED):
                    key = event.properties.get("audience_key")
                    if isinstance(key, str) and key:
                        entered = event.event == names.AUDIENCE_ENTERED
                        self.traits.setdefault(event.user_id, {})[key] = entered
                elif event.event == names.ORDER_COMPLETED:
                    self._attribute(event)
                self.on_track(event)

    def _attribute(self, order: Track) -> None:
        order_id = order.properties.get("order_id")
        if not isinstance(order_id, str) or order.user_id is None:
            return
        at = order.timestamp or self.now_dt()
        revenue = order.properties.get("total_cents")
        if not isinstance(revenue, int):
            total = order.properties.get("total")
            revenue = round(total * 100) if isinstance(total, int | float) else 0
        conversion = self.log.attribute(order.user_id, order_id, at, revenue, channel=self.channel)
        if conversion is None:
            return
        entry = self.log.get(conversion.message_id)
        assert entry is not None
        self.track(
            order.user_id,
            names.MESSAGE_CONVERTED,
            {
                "channel": self.channel,
                "message_id": entry.message_id,
                "campaign_name": entry.campaign,
                "journey": entry.journey,
                "step": entry.step,
                "order_id": order_id,
                "revenue_cents": revenue,
                "hours_since_message": round((at - entry.sent_at) / timedelta(hours=1), 3),
            },
            at,
        )

    # -- sending --------------------------------------------------------------------------------
    def utc_offset_hours(self, traits: dict[str, Any], now: datetime) -> float:
        """From the customer's IANA ``timezone`` trait; UTC when absent or unknown."""
        name = traits.get("timezone")
        if not isinstance(name, str):
            return 0.0
        if name not in self._zones:
            try:
                self._zones[name] = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                self._zones[name] = None
        zone = self._zones[name]
        offset = now.astimezone(zone).utcoffset() if zone is not None else None
        return offset / timedelta(hours=1) if offset is not None else 0.0

    def refuse(self, message: SendMessage, reason: str, detail: str = "") -> SendResult:
        self.refused.append((message.user_id, message.campaign, reason))
        if detail:
            self.problems.append(f"{self.name}: {detail} (request {message.request_id!r})")
        return SendResult(request_id=message.request_id, sent=False, reason=reason)

    def send(self, message: SendMessage, now: datetime) -> SendResult:
        """The synchronous core: decide, render, record, log and queue one message."""
        if message.channel != self.channel:
            known = "unknown channel" if message.channel not in CHANNELS else "channel"
            return self.refuse(
                message,
                "unknown_channel",
                f"{known} {message.channel!r}: this destination sends {self.channel!r}",
            )
        template = None
        if message.body is None:
            if not message.template:
                return self.refuse(message, "no_content", "neither a template nor a body")
            template = self.templates.get(message.template)
            if template is None:
                return self.refuse(
                    message,
                    "unknown_template",
                    f"unknown template {message.template!r} "
                    f"(registered: {sorted(self.templates) or 'none'})",
                )
        traits = self.traits.get(message.user_id, {})
        to = self.address(message, traits)
        if to is None:
            return self.refuse(message, "no_address")
        audiences = self.audiences(message.user_id)
        decision = self.policy.check(
            message.user_id,
            self.channel,
            now,
            audiences=audiences,
            campaign=message.campaign,
            utc_offset_hours=self.utc_offset_hours(traits, now) if traits else 0.0,
        )
        if not decision.allowed:
            if decision.reason == "quiet_hours" and decision.retry_at is not None:
                self._deferred_seq += 1
                heapq.heappush(self._deferred, (decision.retry_at, self._deferred_seq, message))
                return SendResult(
                    request_id=message.request_id,
                    sent=False,
                    reason="quiet_hours",
                    deferred_until=decision.retry_at,
                )
            return self.refuse(message, decision.reason or "refused")
        if template is None:
            subject, body = message.subject or "", message.body or ""
        else:
            context = dict(traits)
            context["audiences"] = audiences
            context["user_id"] = message.user_id
            context.update(message.context)
            if message.code is not None:
                context["code"] = message.code
            try:
                subject, body = template.render(context)
            except TemplateError as error:
                return self.refuse(message, "template_error", str(error))
        self.policy.record(message.user_id, self.channel, now)
        self._message_no += 1
        message_id = f"{self.name}-{self._message_no:08d}"
        delivery = self.compose(message, message_id, to, subject, body, now)
        entry = LoggedMessage(
            message_id=message_id,
            request_id=message.request_id,
            user_id=message.user_id,
            channel=self.channel,
            destination=self.name,
            campaign=message.campaign,
            sent_at=now,
            subject=subject,
            body=body,
            to=to,
            code=message.code,
            journey=message.journey,
            step=message.step,
        )
        self.deliver(delivery, entry)
        return SendResult(request_id=message.request_id, sent=True, message_id=message_id)

    def deliver(self, delivery: Any, entry: LoggedMessage) -> None:
        """Log, queue for the customer's side, and report one message."""
        self.log.record(entry)
        self.sent.append(delivery)
        self._by_message_id[entry.message_id] = delivery
        self._deliveries.append(delivery)
        self.report_sent(delivery, entry)

    def sent_message(self, message_id: str) -> Any:
        """A message this destination sent; a clear error for an id it never issued."""
        delivery = self._by_message_id.get(message_id)
        if delivery is None:
            raise ValueError(f"{self.name}: no message {message_id!r} was sent from here")
        return delivery

    def run_deferred(self, now: datetime) -> None:
        """Send what quiet hours held and is now due (the actor calls it on its timer)."""
        # A timer lands on its due time up to float rounding: a due time within a millisecond
        # is due now, and the send is stamped with it (never a hair inside quiet hours).
        limit = now + timedelta(milliseconds=1)
        while self._deferred and self._deferred[0][0] <= limit:
            due, _, message = heapq.heappop(self._deferred)
            self.outcomes[message.request_id] = self.send(message, max(now, due))

    # -- reporting ------------------------------------------------------------------------------
    def track(
        self, user_id: str, event: str, properties: dict[str, Any], at: datetime | None = None
    ) -> None:
        """Queue a Segment track on this destination's own source."""
        if self.tracking is None and not self.tracking_required:
            return
        self._event_no += 1
        self._outbox.append(
            Track(
                message_id=f"{self.name}-evt-{self._event_no:09d}",
                timestamp=at or self.now_dt(),
                user_id=user_id,
                event=event,
                properties={k: v for k, v in properties.items() if v is not None},
            )
        )

    # -- the actor ------------------------------------------------------------------------------
    async def receive(self, message: Any, sender: str) -> Any:
        result: Any = None
        if isinstance(message, Started):
            return None
        if isinstance(message, SendMessage):
            result = self.send(message, self.now_dt())
        elif isinstance(message, SendStatus):
            result = self.status(message.request_id)
        elif isinstance(message, EventBatch):
            self.observe(message)
        elif isinstance(message, Wake) and message.tag == DEFERRED:
            self._armed_at = None
            self.run_deferred(self.now_dt())
        elif not await self.handle(message, sender):
            raise TypeError(
                f"the {self.channel} destination cannot handle {type(message).__name__}"
            )
        await self._flush()
        self._arm()
        return result

    def status(self, request_id: str) -> SendResult:
        """What became of a request deferred by quiet hours (see :class:`SendStatus`)."""
        final = self.outcomes.get(request_id)
        if final is not None:
            return final
        for due, _, pending in self._deferred:
            if pending.request_id == request_id:
                return SendResult(
                    request_id=request_id, sent=False, reason="quiet_hours", deferred_until=due
                )
        return SendResult(request_id=request_id, sent=False, reason="unknown_request")

    def _arm(self) -> None:
        if not self._deferred:
            return
        due = self._deferred[0][0]
        if self._armed_at is None or due < self._armed_at:
            self._armed_at = due
            self.schedule(self.world.time.seconds_at(due), Wake(DEFERRED))

    async def _flush(self) -> None:
        """Hand new messages to the customers' side, then report what happened to the CDP."""
        if self._deliveries:
            deliveries, self._deliveries = self._deliveries, []
            for delivery in deliveries:
                await self.tell(self.inbox_target, delivery)
        if self._outbox:
            if self.tracking is None:
                raise RuntimeError(f"{self.name}: no tracking port wired to the CDP")
            events, self._outbox = self._outbox, []
            await self.tracking.send(events)
