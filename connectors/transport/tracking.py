"""Serve the Segment-compatible Tracking API in front of a world's CDP actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from promoloop.actors.cdp.sources import SourceRegistry
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import SegmentEvent
from promoloop.actors.runtime.world import World
from promoloop.connectors.segment import TrackingStats, create_tracking_app
from promoloop.connectors.segment.profile_api import ProfileStore, register_profile_api
from promoloop.connectors.transport.http import running_app


def tracking_ingest(
    world: World, cdp: str
) -> Callable[[str, Sequence[SegmentEvent]], Awaitable[None]]:
    """Accepted calls enter the CDP's lane under their source's name, as an in-process
    sender's would, so both transports deliver in the same order."""

    async def ingest(source: str, events: Sequence[SegmentEvent]) -> None:
        await world.post(source, cdp, EventBatch(source, tuple(events)))

    return ingest


@asynccontextmanager
async def serve_tracking_api(
    world: World,
    sources: SourceRegistry,
    cdp: str = "cdp",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    stats: TrackingStats | None = None,
    profiles: ProfileStore | None = None,
    profile_token: str | None = None,
    space_id: str | None = None,
) -> AsyncIterator[str]:
    """Serve the Tracking API (and, given ``profiles`` and ``profile_token``, the Profile API
    on the same port) until the block exits; yields the base URL."""
    app = create_tracking_app(
        sources=sources, ingest=tracking_ingest(world, cdp), now=world.time.now, stats=stats
    )
    if profiles is not None:
        if not profile_token:
            raise ValueError("serving the Profile API needs a profile_token")
        register_profile_api(app, profiles, token=profile_token, space_id=space_id)
    async with running_app(app, host=host, port=port) as url:
        yield url
