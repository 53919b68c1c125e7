"""Which destination receives which events (Segment Connections' destination filters)."""

from __future__ import annotations

import msgspec

from promoloop.actors.events.segment import SegmentEvent, Track


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """A destination and its filter; ``None`` means "everything" for that dimension."""

    destination: str
    sources: frozenset[str] | None = None
    types: frozenset[str] | None = None
    events: frozenset[str] | None = None

    def accepts(self, source: str, event: SegmentEvent) -> bool:
        if self.sources is not None and source not in self.sources:
            return False
        if self.types is not None and event.__struct_config__.tag not in self.types:
            return False
        if self.events is not None:
            return isinstance(event, Track) and event.event in self.events
        return True
