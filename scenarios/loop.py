"""The standard loop every scenario starts from: storefront → CDP → promotion engine → push →
storefront, with analytics watching, wired over the chosen transport.

A scenario adds its own audiences, campaigns and distributions to the models, then runs the
world inside :func:`connect`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from promoloop.actors.analytics import AnalyticsActor
from promoloop.actors.cdp import ENGAGE_SOURCE, CdpActor, Source, SourceRegistry, Subscription
from promoloop.actors.events import names
from promoloop.actors.messaging import DeviceInbox, PushDestination
from promoloop.actors.promotions import PromotionsActor
from promoloop.actors.runtime import World
from promoloop.actors.storefront import PopulationParams, StorefrontActor
from promoloop.connectors.config import Settings
from promoloop.connectors.transport.inproc import InprocTrackingPort

Transport = Literal["inproc", "http"]
TRANSPORTS: tuple[Transport, ...] = ("inproc", "http")

STOREFRONT = "storefront"
CDP = "cdp"
PROMOTIONS = "promotions"
PUSH = "push"
ANALYTICS = "analytics"
DEVICES = "devices"


@dataclass
class Loop:
    world: World
    settings: Settings
    sources: SourceRegistry
    storefront: StorefrontActor | None
    devices: DeviceInbox | None
    cdp: CdpActor
    promotions: PromotionsActor
    push: PushDestination
    analytics: AnalyticsActor


def build_loop(
    world: World, params: PopulationParams | None, settings: Settings | None = None
) -> Loop:
    """The loop's actors and routes. Without population ``params`` there is no storefront:
    customers come from outside (``promoloop serve``) and pushes land in a device inbox."""
    settings = settings or Settings.from_env()
    device = STOREFRONT if params is not None else DEVICES
    sources = SourceRegistry(
        [
            Source(STOREFRONT, settings.segment_write_key),
            Source(PROMOTIONS, settings.engine_write_key),
        ]
    )
    loop = Loop(
        world=world,
        settings=settings,
        sources=sources,
        storefront=(
            world.add(StorefrontActor(STOREFRONT, params=params, promotions=PROMOTIONS))
            if params is not None
            else None
        ),
        devices=world.add(DeviceInbox(DEVICES)) if params is None else None,
        cdp=world.add(CdpActor(CDP)),
        promotions=world.add(PromotionsActor(PROMOTIONS)),
        push=world.add(PushDestination(PUSH, device_target=device)),
        analytics=world.add(AnalyticsActor(ANALYTICS)),
    )
    model = loop.cdp.model
    # The Voucherify destination hears customers and audiences, never its own events back.
    model.subscribe(
        Subscription(
            destination=PROMOTIONS,
            sources=frozenset({STOREFRONT, ENGAGE_SOURCE}),
            types=frozenset({"identify", "track"}),
        )
    )
    model.subscribe(
        Subscription(
            destination=PUSH,
            sources=frozenset({PROMOTIONS}),
            events=frozenset({names.PUBLICATION_SUCCEEDED}),
        )
    )
    model.subscribe(Subscription(destination=ANALYTICS))
    return loop


@asynccontextmanager
async def connect(loop: Loop, transport: Transport) -> AsyncIterator[dict[str, str]]:
    """Wire the storefront's and the engine's tracking ports; yields the URLs served, if any."""
    if transport == "inproc":
        if loop.storefront is not None:
            loop.storefront.tracking = InprocTrackingPort(loop.storefront, CDP)
        loop.promotions.tracking = InprocTrackingPort(loop.promotions, CDP)
        yield {}
        return
    if transport != "http":
        raise ValueError(f"unknown transport {transport!r} (choose from {', '.join(TRANSPORTS)})")
    from promoloop.connectors.bridges.segment import SegmentBridge
    from promoloop.connectors.transport.tracking import serve_tracking_api

    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve_tracking_api(loop.world, loop.sources, CDP))
        world = loop.world
        storefront = SegmentBridge(
            url, loop.settings.segment_write_key, gate=world.net, now=world.time.now
        )
        engine = SegmentBridge(
            url, loop.settings.engine_write_key, gate=world.net, now=world.time.now
        )
        stack.push_async_callback(storefront.aclose)
        stack.push_async_callback(engine.aclose)
        if loop.storefront is not None:
            loop.storefront.tracking = storefront
        loop.promotions.tracking = engine
        yield {"segment": url}
