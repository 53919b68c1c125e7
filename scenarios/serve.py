"""``promoloop serve``: the whole world (CDP, promotion engine, messaging, analytics) on real
time, with each emulated public API on its own port, until interrupted.

Customers come from outside: point an official SDK at the printed URL with the write key from
``PROMOLOOP_SEGMENT_WRITE_KEY`` (dev default in ``connectors/config.py``). Emails sent through the
SendGrid face go through the email destination's delivery policy and land in per-customer
mailboxes (``ServeHandle.mailboxes``). Simulation time is wall-clock time (the world's epoch is
the moment serve starts), so timestamps and ``send_at`` from real clients mean what they say.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import trio

from promoloop.actors.cdp import ENGAGE_SOURCE, Subscription
from promoloop.actors.messaging.email import EmailDestination
from promoloop.actors.messaging.webhook import WebhookDestination
from promoloop.actors.runtime import World
from promoloop.connectors.config import Settings
from promoloop.connectors.segment import TrackingStats
from promoloop.connectors.sendgrid import Mailboxes, SendGridFace, add_sendgrid, serve_sendgrid_api
from promoloop.connectors.talon import TalonModel, serve_talon_api
from promoloop.connectors.transport.tracking import serve_tracking_api
from promoloop.connectors.voucherify import serve_voucherify_api
from promoloop.connectors.webhooks import SEGMENT_STYLE, VOUCHERIFY_STYLE, WebhookSender
from promoloop.scenarios.loop import CDP, STOREFRONT, Loop, add_reporter, build_loop, connect

EMAIL = "email"
MAILBOXES = "mailboxes"


@dataclass
class ServeHandle:
    loop: Loop
    urls: dict[str, str]
    stats: TrackingStats = field(default_factory=TrackingStats)
    talon: TalonModel | None = None
    """Talon.One-side state (rules, sessions, budgets): add campaigns here."""
    sendgrid: SendGridFace | None = None
    """SendGrid-side state: dynamic templates (``sendgrid.model.add_template``), Email Activity."""
    mailboxes: Mailboxes | None = None
    """Where emails land, by user id (served customers have no simulated inbox)."""


async def serve(
    *,
    host: str = "127.0.0.1",
    segment_port: int = 0,
    voucherify_port: int = 0,
    talon_port: int = 0,
    sendgrid_port: int = 0,
    engine_webhooks: Sequence[str] = (),
    cdp_webhooks: Sequence[str] = (),
    sendgrid_webhooks: Sequence[str] = (),
    settings: Settings | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """``engine_webhooks``: URLs that get every promotion-engine event (Voucherify-signed);
    ``cdp_webhooks``: URLs that get every call the CDP accepts (Segment-signed);
    ``sendgrid_webhooks``: URLs that get SendGrid Event Webhook arrays (ECDSA-signed)."""
    world = World(seed=0, record=False, epoch=datetime.now(UTC))
    loop = build_loop(world, None, settings)
    senders = _webhooks(loop, engine_webhooks, cdp_webhooks)
    stats = TrackingStats()
    talon = TalonModel(loop.promotions.model)
    mailboxes, sendgrid = _email(loop, sendgrid_webhooks)
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
        serve_sendgrid_api(sendgrid, host=host, port=sendgrid_port) as sendgrid_url,
        trio.open_nursery() as nursery,
    ):
        try:
            await nursery.start(world.run)
            urls = {
                "segment": url,
                "voucherify": voucherify_url,
                "talon": talon_url,
                "sendgrid": sendgrid_url,
            }
            task_status.started(ServeHandle(loop, urls, stats, talon, sendgrid, mailboxes))
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                for sender in senders:
                    await sender.aclose()
                await sendgrid.aclose()


def _email(loop: Loop, webhooks: Sequence[str]) -> tuple[Mailboxes, SendGridFace]:
    """The email destination (learning customers from the CDP, reporting on its own source),
    the mailboxes it delivers to, and the SendGrid face in front of it."""
    world = loop.world
    existing = world.actors.get(EMAIL)
    if isinstance(existing, EmailDestination):
        email = existing
    else:
        email = add_reporter(loop, EmailDestination(EMAIL, inbox_target=MAILBOXES))
        loop.cdp.model.subscribe(
            Subscription(
                destination=EMAIL,
                sources=frozenset({STOREFRONT, ENGAGE_SOURCE}),
                types=frozenset({"identify", "track"}),
            )
        )
    mailboxes = world.add(Mailboxes(MAILBOXES))
    email.inbox_target = MAILBOXES
    face = add_sendgrid(
        world,
        cdp=loop.cdp.model,
        email=email,
        api_key=loop.settings.sendgrid_api_key,
        event_webhooks=webhooks,
        webhook_key=loop.settings.sendgrid_webhook_key or None,
    )
    return mailboxes, face


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
    sendgrid_port: int = 0,
    engine_webhooks: Sequence[str] = (),
    cdp_webhooks: Sequence[str] = (),
    sendgrid_webhooks: Sequence[str] = (),
) -> int:
    settings = Settings.from_env()
    if sendgrid_webhooks:  # refuse a bad key or URL here: one line, not a traceback from trio
        try:
            from promoloop.connectors.sendgrid.eventhook import EventSigner
        except ImportError as error:
            raise ValueError(
                f"--sendgrid-webhook signs with the 'cryptography' package: {error}"
            ) from None
        EventSigner(settings.sendgrid_webhook_key or None)
        for target in sendgrid_webhooks:
            if not target.startswith(("http://", "https://")):
                raise ValueError(f"--sendgrid-webhook must be an http(s) URL, got {target!r}")

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                handle: ServeHandle = await nursery.start(
                    lambda task_status: serve(
                        host=host,
                        segment_port=segment_port,
                        voucherify_port=voucherify_port,
                        talon_port=talon_port,
                        sendgrid_port=sendgrid_port,
                        engine_webhooks=engine_webhooks,
                        cdp_webhooks=cdp_webhooks,
                        sendgrid_webhooks=sendgrid_webhooks,
                        settings=settings,
                        task_status=task_status,
                    )
                )
                _announce(handle.urls, handle.sendgrid)
                async for signum in signals:
                    sys.stderr.write(f"promoloop: serve stopped ({signal.Signals(signum).name})\n")
                    nursery.cancel_scope.cancel()
                    break

    trio.run(main)
    return 0


def _announce(urls: dict[str, str], sendgrid_face: SendGridFace | None = None) -> None:
    segment, voucherify, talon = urls["segment"], urls["voucherify"], urls["talon"]
    sendgrid = urls["sendgrid"]
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
    print(f"sendgrid    {sendgrid}  (Authorization: Bearer <PROMOLOOP_SENDGRID_API_KEY>)")
    if sendgrid_face is not None and sendgrid_face.signer is not None:
        print(f"sendgrid-events verification key {sendgrid_face.signer.verification_key}")
    print(
        f"health      {segment}/health {voucherify}/health {talon}/health {sendgrid}/health",
        flush=True,
    )
