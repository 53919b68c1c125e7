"""``promoloop serve``: the whole world (CDP, promotion engine, messaging, analytics) on real
time, with each emulated public API on its own port, until interrupted.

Customers come from outside: point an official SDK at the printed URL with the write key from
``PROMOLOOP_SEGMENT_WRITE_KEY`` (dev default in ``connectors/config.py``).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from promoloop.actors.cdp import Subscription
from promoloop.actors.messaging.webhook import WebhookDestination
from promoloop.actors.runtime import World
from promoloop.connectors.config import Settings
from promoloop.connectors.segment import TrackingStats
from promoloop.connectors.talon import TalonModel, serve_talon_api
from promoloop.connectors.transport.tracking import serve_tracking_api
from promoloop.connectors.voucherify import serve_voucherify_api
from promoloop.connectors.webhooks import SEGMENT_STYLE, VOUCHERIFY_STYLE, WebhookSender
from promoloop.scenarios.loop import CDP, Loop, build_loop, connect


@dataclass
class ServeHandle:
    loop: Loop
    urls: dict[str, str]
    stats: TrackingStats = field(default_factory=TrackingStats)
    talon: TalonModel | None = None
    """Talon.One-side state (rules, sessions, budgets): add campaigns here."""


async def serve(
    *,
    host: str = "127.0.0.1",
    segment_port: int = 0,
    voucherify_port: int = 0,
    talon_port: int = 0,
    engine_webhooks: Sequence[str] = (),
    cdp_webhooks: Sequence[str] = (),
    settings: Settings | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """``engine_webhooks``: URLs that get every promotion-engine event (Voucherify-signed);
    ``cdp_webhooks``: URLs that get every call the CDP accepts (Segment-signed)."""
    world = World(seed=0, record=False)
    loop = build_loop(world, None, settings)
    senders = _webhooks(loop, engine_webhooks, cdp_webhooks)
    stats = TrackingStats()
    talon = TalonModel(loop.promotions.model)
    async with (
        connect(loop, "inproc"),
        serve_tracking_api(
            world,
            loop.sources,
            CDP,
            host=host,
            port=segment_port,
            stats=stats,
            profiles=loop.cdp.model,
            profile_token=loop.settings.profile_token,
        ) as url,
        serve_voucherify_api(
            world, loop.promotions, loop.settings, cdp=CDP, host=host, port=voucherify_port
        ) as voucherify_url,
        serve_talon_api(
            world, loop.promotions, loop.settings, cdp=CDP, host=host, port=talon_port, talon=talon
        ) as talon_url,
        trio.open_nursery() as nursery,
    ):
        try:
            await nursery.start(world.run)
            urls = {"segment": url, "voucherify": voucherify_url, "talon": talon_url}
            task_status.started(ServeHandle(loop, urls, stats, talon))
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                for sender in senders:
                    await sender.aclose()


def _webhooks(loop: Loop, engine: Sequence[str], cdp: Sequence[str]) -> list[WebhookSender]:
    """One webhook destination actor per URL (so one slow endpoint never holds up another)."""
    senders = []
    secret = loop.settings.webhook_secret
    for kind, urls, style in (("engine", engine, VOUCHERIFY_STYLE), ("cdp", cdp, SEGMENT_STYLE)):
        for i, target in enumerate(urls, start=1):
            sender = WebhookSender(target, secret, signature=style, gate=loop.world.net)
            actor = loop.world.add(WebhookDestination(f"{kind}-webhook-{i}", port=sender))
            if kind == "engine":
                loop.promotions.webhooks.append(actor.name)
            else:
                loop.cdp.model.subscribe(Subscription(destination=actor.name))
            senders.append(sender)
    return senders


def serve_until_interrupted(
    *,
    host: str,
    segment_port: int,
    voucherify_port: int,
    talon_port: int,
    engine_webhooks: Sequence[str] = (),
    cdp_webhooks: Sequence[str] = (),
) -> int:
    settings = Settings.from_env()

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                handle: ServeHandle = await nursery.start(
                    lambda task_status: serve(
                        host=host,
                        segment_port=segment_port,
                        voucherify_port=voucherify_port,
                        talon_port=talon_port,
                        engine_webhooks=engine_webhooks,
                        cdp_webhooks=cdp_webhooks,
                        settings=settings,
                        task_status=task_status,
                    )
                )
                _announce(handle.urls)
                async for signum in signals:
                    sys.stderr.write(f"promoloop: serve stopped ({signal.Signals(signum).name})\n")
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)
    return 0


def _announce(urls: dict[str, str]) -> None:
    segment, voucherify, talon = urls["segment"], urls["voucherify"], urls["talon"]
    print(f"segment     {segment}  (Tracking API, write key from PROMOLOOP_SEGMENT_WRITE_KEY)")
    print(
        f"profiles    {segment}/v1/spaces/<space>/collections/users/profiles/user_id:<id>/traits"
        "  (Profile API, token from PROMOLOOP_PROFILE_TOKEN)"
    )
    print(
        f"voucherify  {voucherify}  (X-App-Id / X-App-Token from "
        "PROMOLOOP_VOUCHERIFY_APP_ID / PROMOLOOP_VOUCHERIFY_APP_TOKEN)"
    )
    print(f"talon       {talon}  (Authorization: ApiKey-v1 <PROMOLOOP_TALON_API_KEY>)")
    print(f"health      {segment}/health {voucherify}/health {talon}/health", flush=True)
