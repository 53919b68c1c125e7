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
