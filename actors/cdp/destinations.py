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
        name = event.event if isinstance(event, Track) else None
        return self.takes(source, event.__struct_config__.tag, name)  # type: ignore[arg-type]

    def takes(self, source: str, call_type: str, event: str | None) -> bool:
        """Whether a call of this source, type and (track) event name is delivered: the
        filter reads nothing else, so the CDP can decide before building an event."""
        if self.sources is not None and source not in self.sources:
            return False
        if self.types is not None and call_type not in self.types:
            return False
        if self.events is not None:
            return call_type == "track" and event is not None and event in self.events
        return True
