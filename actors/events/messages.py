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
