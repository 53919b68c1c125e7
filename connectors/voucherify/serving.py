"""Serve the Voucherify-compatible API in front of a running world's promotion engine.

``promoloop serve --voucherify-port`` uses :func:`serve_voucherify_api`: the face shares the
:class:`PromotionsActor`'s model (campaigns made over HTTP drive the in-world distributions and
vice versa), and what the face does is reported to the CDP as the engine's own source, as the
actor's own events are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import quart_trio

from promoloop.actors.promotions import PromotionsActor
from promoloop.actors.runtime.world import World
from promoloop.connectors.config import Settings
from promoloop.connectors.transport.engine_events import engine_reporter
from promoloop.connectors.transport.http import running_app
from promoloop.connectors.voucherify.api import create_voucherify_app
from promoloop.connectors.voucherify.engine import VoucherifyEngine

LANE_SOURCE = "voucherify-api"
"""The lane the face posts into the CDP from (distinct from the actor's own lane, so the two
senders' sequence numbers never collide); the batches still carry the engine's source name."""


def world_voucherify_app(
    world: World, promotions: PromotionsActor, settings: Settings, *, cdp: str = "cdp"
) -> quart_trio.QuartTrio:
    """The app for ``promotions``'s model, keys from ``settings``, clock from ``world``."""

    report = engine_reporter(world, promotions, cdp, LANE_SOURCE)
    engine = VoucherifyEngine(promotions.model, report=report)
    return create_voucherify_app(
        engine=engine,
        app_id=settings.voucherify_app_id,
        app_token=settings.voucherify_app_token,
        now=world.time.now,
    )


@asynccontextmanager
async def serve_voucherify_api(
    world: World,
    promotions: PromotionsActor,
    settings: Settings,
    *,
    cdp: str = "cdp",
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[str]:
    """``async with serve_voucherify_api(...) as url:`` — served until the block exits."""
    app = world_voucherify_app(world, promotions, settings, cdp=cdp)
    async with running_app(app, host=host, port=port) as url:
        yield url
