"""The in-process transport: Segment calls go straight into the CDP actor's lane."""

from __future__ import annotations

from collections.abc import Sequence

from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import SegmentEvent
from promoloop.actors.runtime.actor import Actor


class InprocTrackingPort:
    """A :class:`~promoloop.actors.runtime.ports.TrackingPort` over a trio lane."""

    def __init__(self, sender: Actor, target: str = "cdp", source: str | None = None) -> None:
        self._sender = sender
        self._target = target
        self._source = source or sender.name

    async def send(self, events: Sequence[SegmentEvent]) -> None:
        if events:
            await self._sender.tell(self._target, EventBatch(self._source, tuple(events)))
