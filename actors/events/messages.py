"""Messages between actors that are not Segment calls: event batches and channel deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.events.segment import SegmentEvent


class EventBatch(msgspec.Struct, frozen=True):
    """Segment calls from one source, in the order the source emitted them.

    The unit of transport between storefront, CDP and destinations: batching amortises the
    cost of an actor hop over many events, as ``/v1/batch`` does over HTTP.
    """

    source: str
    events: tuple[SegmentEvent, ...]


class PushNotification(msgspec.Struct, frozen=True, kw_only=True):
    """A push delivered to a customer's device (what the storefront's app receives)."""

    message_id: str
    user_id: str
    sent_at: datetime
    title: str
    body: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class EmailMessage(msgspec.Struct, frozen=True, kw_only=True):
    """An email as it lands in a customer's inbox (the storefront plays the inboxes)."""

    message_id: str
    user_id: str
    to: str
    sent_at: datetime
    campaign: str
    subject: str
    body: str
    code: str | None = None
    """A promotion code the email carries, if any (an offer)."""


class EmailInteraction(msgspec.Struct, frozen=True, kw_only=True):
    """What a customer did with an email, reported to the email provider that sent it."""

    message_id: str
    user_id: str
    kind: str
    """``opened``, ``clicked`` or ``unsubscribed``."""
    at: datetime


class SendMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Ask a channel destination to send one marketing message to one customer.

    Journeys, decision matrices and campaigns all reach the email, push, SMS and ads
    destinations through this one message, so every send passes the same delivery policy
    (consent, suppression, quiet hours, frequency caps) and lands in the same per-customer log.
    A destination answers an ``ask`` with a :class:`SendResult`.
    """

    request_id: str
    user_id: str
    channel: str
    """``email``, ``push``, ``sms`` or ``ads``: the destination refuses any other."""
    campaign: str
    """The campaign or journey the send belongs to: suppression lists and reports key on it."""
    template: str = ""
    """The name of a template registered on the destination (required unless ``body`` is set)."""
    subject: str | None = None
    body: str | None = None
    """Finished content, for provider APIs that receive it rendered (a SendGrid-style send);
    when ``body`` is set the destination does not render ``template``."""
    to: str | None = None
    """An explicit address or phone number; by default the destination uses the customer's
    known ``email`` / ``phone`` trait."""
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    """Extra tokens for the template (a content module, a code, a product recommendation)."""
    code: str | None = None
    """A promotion code the message carries, if any."""
    journey: str | None = None
    step: str | None = None


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a :class:`SendMessage`."""

    request_id: str
    sent: bool
    message_id: str | None = None
    reason: str | None = None
    """When not sent: the policy's reason (``unsubscribed``, ``suppressed``,
    ``frequency_cap``, ``unknown_channel``), the request's (``no_address``, ``no_content``,
    ``unknown_template``, ``template_error``), ``quiet_hours`` when deferred, or
    ``unknown_request`` (a :class:`SendStatus` for a request the destination never saw)."""
    deferred_until: datetime | None = None
    """For ``quiet_hours``: when the destination will send it (it keeps the request)."""


class SmsMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A text message as it lands on a customer's phone (the storefront plays the phones)."""

    message_id: str
    user_id: str
    to: str
    sent_at: datetime
    campaign: str
    body: str
    segments: int
    """How many 160-character (GSM-7) or 70-character (UCS-2) parts the carrier bills."""
    code: str | None = None


class AdImpression(msgspec.Struct, frozen=True, kw_only=True):
    """An ad the platform served to a customer (the storefront plays the people browsing)."""

    message_id: str
    user_id: str
    sent_at: datetime
    campaign: str
    headline: str
    body: str
    code: str | None = None


class MessageInteraction(msgspec.Struct, frozen=True, kw_only=True):
    """What a customer did with a push, text or ad, reported to the destination that sent it.

    ``kind`` is ``tapped`` (push), ``clicked`` (sms, ads), ``replied`` (sms, with ``text``),
    ``undelivered`` (the number or device does not exist).
    """

    message_id: str
    user_id: str
    channel: str
    kind: str
    at: datetime
    text: str | None = None


class SendStatus(msgspec.Struct, frozen=True):
    """Ask a channel destination what became of a request it deferred (quiet hours).

    Answered with a :class:`SendResult`: the final one once the destination has tried again
    (sent, or refused by what changed meanwhile: a cap filled overnight, an unsubscribe), the
    deferral again while it still waits, or ``reason="unknown_request"``. A sender that must
    report final outcomes (a provider API's activity feed) asks when the deferral ends.
    """

    request_id: str
