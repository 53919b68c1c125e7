"""Serve the Talon.One-compatible API in front of a running world's promotion engine.

``promoloop serve --talon-port`` uses :func:`serve_talon_api`: the face's :class:`TalonModel`
wraps the :class:`PromotionsActor`'s engine model (one engine, two faces: coupons, profiles,
loyalty and referrals are shared with the Voucherify face and the in-world distributions), and
what it does (redemptions, points, publications) is reported to the CDP as the engine's own
source, as the actor's own events are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import quart_trio

from promoloop.actors.promotions import PromotionsActor
from promoloop.actors.runtime.world import World
from promoloop.connectors.config import Settings
from promoloop.connectors.talon.api import TalonEngine, create_talon_app
from promoloop.connectors.talon.model import TalonModel
from promoloop.connectors.transport.engine_events import engine_reporter
from promoloop.connectors.transport.http import running_app

LANE_SOURCE = "talon-api"
"""The lane the face posts into the CDP from (its own, so per-sender sequence numbers never
collide with the actor's or the Voucherify face's); batches carry the engine's source name."""


def world_talon_app(
    world: World,
    promotions: PromotionsActor,
    settings: Settings,
    *,
    cdp: str = "cdp",
    talon: TalonModel | None = None,
) -> quart_trio.QuartTrio:
    """The app for ``promotions``'s model, key from ``settings``, clock from ``world``.
    ``talon`` lets the caller keep a handle on the Talon model to add campaigns to."""

    report = engine_reporter(world, promotions, cdp, LANE_SOURCE)
    model = talon if talon is not None else TalonModel(promotions.model)
    if model.engine is not promotions.model:
        raise ValueError("the Talon model must wrap the promotions actor's engine model")
    engine = TalonEngine(model, report=report)
    return create_talon_app(engine=engine, api_key=settings.talon_api_key, now=world.time.now)


@asynccontextmanager
async def serve_talon_api(
    world: World,
    promotions: PromotionsActor,
    settings: Settings,
    *,
    cdp: str = "cdp",
    host: str = "127.0.0.1",
    port: int = 0,
    talon: TalonModel | None = None,
) -> AsyncIterator[str]:
    """``async with serve_talon_api(...) as url:`` — served until the block exits."""
    app = world_talon_app(world, promotions, settings, cdp=cdp, talon=talon)
    async with running_app(app, host=host, port=port) as url:
        yield url
