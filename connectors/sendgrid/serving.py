"""Put the SendGrid face in front of a world's email destination.

:func:`add_sendgrid` adds the gateway actor (before the world runs), subscribes it in the CDP to
the email destination's own source (so deliveries after quiet hours, opens, clicks and
unsubscribes reach Email Activity), and builds the app; :func:`serve_sendgrid_api` serves it.
Addresses are resolved to customers through the CDP's identity graph (``email`` identifiers),
as the Profile API finds profiles; the global unsubscribe list is mirrored into the email
destination's delivery policy, so every sender (journeys, campaigns) honours it. Given Event
Webhook URLs, each gets its own webhook destination actor (ordered deliveries, retries with
backoff, dead letters) posting SendGrid-signed event arrays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import quart_trio

from promoloop.actors.cdp import CdpModel, Subscription
from promoloop.actors.messaging.policy import DeliveryPolicy
from promoloop.actors.runtime.world import World
from promoloop.connectors.sendgrid.api import Resolve, create_sendgrid_app
from promoloop.connectors.sendgrid.gateway import (
    CDP_EVENTS,
    EventWebhookDestination,
    Queued,
    SendGridGateway,
)
from promoloop.connectors.sendgrid.model import SendGridModel
from promoloop.connectors.transport.http import running_app

if TYPE_CHECKING:
    from promoloop.connectors.sendgrid.eventhook import EventSigner, EventWebhookSender

GATEWAY = "sendgrid"
LANE_SOURCE = "sendgrid-api"
"""The lane the face posts accepted sends from (its own sender name, its own sequence)."""


def email_resolver(cdp: CdpModel) -> Resolve:
    """An address → the user id of the profile holding it as an ``email`` identifier."""

    def resolve(address: str) -> str | None:
        profile = cdp.find("email", address) or cdp.find("email", address.lower())
        if profile is None:
            return None
        return next((i.id for i in profile.identifiers if i.type == "user_id"), None)

    return resolve


class PolicyConsent:
    """The global unsubscribe list, mirrored into the delivery policy for known customers."""

    def __init__(self, policy: DeliveryPolicy, resolve: Resolve) -> None:
        self._policy = policy
        self._resolve = resolve

    def unsubscribe(self, email: str) -> None:
        user_id = self._resolve(email)
        if user_id is not None:
            self._policy.unsubscribe(user_id, "email")

    def resubscribe(self, email: str) -> None:
        user_id = self._resolve(email)
        if user_id is not None:
            self._policy.resubscribe(user_id, "email")


@dataclass
class SendGridFace:
    model: SendGridModel
    """Templates (``model.add_template``), Email Activity, the unsubscribe list."""
    gateway: SendGridGateway
    app: quart_trio.QuartTrio
    signer: EventSigner | None = None
    """Signs Event Webhook posts; ``signer.verification_key`` is what receivers verify with."""
    senders: list[EventWebhookSender] = field(default_factory=list)

    async def aclose(self) -> None:
        for sender in self.senders:
            await sender.aclose()


def add_sendgrid(
    world: World,
    *,
    cdp: CdpModel,
    email: Any,
    api_key: str,
    name: str = GATEWAY,
    event_webhooks: Sequence[str] = (),
    webhook_key: str | None = None,
) -> SendGridFace:
    """Wire the face to ``email`` (an :class:`EmailDestination` in ``world``: its ``name`` is
    asked, its ``policy`` holds consent). ``event_webhooks``: URLs that get SendGrid Event
    Webhook arrays, signed with ``webhook_key`` (PEM EC P-256; None: a key of this run's own)."""
    model = SendGridModel(seed=world.seed)
    signer, senders, targets = None, [], []
    if event_webhooks:
        from promoloop.connectors.sendgrid.eventhook import EventSigner, EventWebhookSender

        signer = EventSigner(webhook_key)
        for i, url in enumerate(event_webhooks, start=1):
            sender = EventWebhookSender(url, signer, now=world.time.now, gate=world.net)
            senders.append(sender)
            targets.append(
                world.add(EventWebhookDestination(f"{name}-webhook-{i}", port=sender)).name
            )
    gateway = world.add(SendGridGateway(name, model=model, email=email.name, webhooks=targets))
    cdp.subscribe(
        Subscription(destination=name, sources=frozenset({email.name}), events=CDP_EVENTS)
    )
    resolve = email_resolver(cdp)

    async def submit(msg_ids: tuple[str, ...]) -> None:
        if msg_ids:
            await world.post(LANE_SOURCE, name, Queued(msg_ids))

    app = create_sendgrid_app(
        model=model,
        api_key=api_key,
        now=world.time.now,
        submit=submit,
        resolve=resolve,
        consent=PolicyConsent(email.policy, resolve),
    )
    return SendGridFace(model, gateway, app, signer, senders)


@asynccontextmanager
async def serve_sendgrid_api(
    face: SendGridFace, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """``async with serve_sendgrid_api(face) as url:`` — served until the block exits."""
    async with running_app(face.app, host=host, port=port) as url:
        yield url
