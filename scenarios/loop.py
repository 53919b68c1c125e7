"""The standard loop every scenario starts from: storefront → CDP → promotion engine → push →
storefront, with analytics watching, wired over the chosen transport.

A scenario adds its own audiences, campaigns and distributions to the models, then runs the
world inside :func:`connect`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from promoloop.actors.analytics import AnalyticsActor
from promoloop.actors.cdp import ENGAGE_SOURCE, CdpActor, Source, SourceRegistry, Subscription
from promoloop.actors.events import names
from promoloop.actors.messaging import DeviceInbox, PushDestination
from promoloop.actors.promotions import PromotionsActor
from promoloop.actors.runtime import Actor, World
from promoloop.actors.storefront import PopulationParams, StorefrontActor
from promoloop.connectors.config import Settings
from promoloop.connectors.transport.inproc import InprocTrackingPort

A = TypeVar("A", bound=Actor)

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
    reporters: list[Any] = field(default_factory=list)
    """Extra actors reporting to the CDP on a source of their own (see :func:`add_reporter`)."""


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


def add_reporter(loop: Loop, actor: A) -> A:
    """Add an actor that reports to the CDP through a tracking port on a source of its own
    (e.g. the predictions actor). Its write key over HTTP is ``PROMOLOOP_<NAME>_WRITE_KEY``,
    or the documented dev default ``promoloop-dev-<name>-write-key``."""
    loop.world.add(actor)
    variable = f"PROMOLOOP_{actor.name.upper().replace('-', '_')}_WRITE_KEY"
    key = os.environ.get(variable) or f"promoloop-dev-{actor.name}-write-key"
    loop.sources.add(Source(actor.name, key))
    loop.reporters.append(actor)
    return actor


def _reporting(loop: Loop) -> list[tuple[Any, str]]:
    """(actor, write key) of everything that sends Segment calls to the CDP."""
    out: list[tuple[Any, str]] = []
    if loop.storefront is not None:
        out.append((loop.storefront, loop.settings.segment_write_key))
    out.append((loop.promotions, loop.settings.engine_write_key))
    for actor in loop.reporters:
        source = loop.sources.by_name(actor.name)
        assert source is not None, f"{actor.name} was not added with add_reporter"
        out.append((actor, source.write_key))
    return out


@asynccontextmanager
async def connect(loop: Loop, transport: Transport) -> AsyncIterator[dict[str, str]]:
    """Wire every reporter's tracking port; yields the URLs served, if any."""
    if transport == "inproc":
        for actor, _ in _reporting(loop):
            actor.tracking = InprocTrackingPort(actor, CDP)
        yield {}
        return
    if transport != "http":
        raise ValueError(f"unknown transport {transport!r} (choose from {', '.join(TRANSPORTS)})")
    from promoloop.connectors.bridges.segment import SegmentBridge
    from promoloop.connectors.transport.tracking import serve_tracking_api

    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve_tracking_api(loop.world, loop.sources, CDP))
        world = loop.world
        for actor, key in _reporting(loop):
            bridge = SegmentBridge(url, key, gate=world.net, now=world.time.now)
            stack.push_async_callback(bridge.aclose)
            actor.tracking = bridge
        yield {"segment": url}
