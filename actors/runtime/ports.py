"""Ports: how an actor reaches a system across a boundary, whatever the transport.

The storefront and the promotion engine send Segment calls to the CDP through a
:class:`TrackingPort`. In-process it is a tell into the CDP's lane
(``connectors.transport.inproc.InprocTrackingPort``); over HTTP it is the httpx bridge to a
Segment-compatible Tracking API (``connectors.bridges.segment.SegmentBridge``), the mock or the
real one. Actor code cannot tell the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from promoloop.actors.events.segment import SegmentEvent


class TrackingPort(Protocol):
    async def send(self, events: Sequence[SegmentEvent]) -> None:
        """Deliver these calls, in order, to the CDP; returns once they are accepted."""
        ...
