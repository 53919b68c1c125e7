"""A world with a CDP, the email destination (reporting to the CDP on its own source), mailboxes
and the SendGrid face on real Hypercorn (127.0.0.1, free port); two customers known to the CDP
by email, one dynamic template."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from promoloop.actors.cdp import CdpActor
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Identify
from promoloop.actors.messaging.email import EmailDestination
from promoloop.actors.messaging.log import LoggedMessage
from promoloop.actors.messaging.templates import MessageTemplate
from promoloop.actors.runtime import World
from promoloop.connectors.sendgrid import (
    FaceStats,
    Mailboxes,
    SendGridFace,
    add_sendgrid,
    face_stats,
    serve_sendgrid_api,
)
from promoloop.connectors.transport.inproc import InprocTrackingPort

API_KEY = "test-sendgrid-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CUSTOMERS = {"pam": "pam@dundermifflin.example", "jim": "jim@dundermifflin.example"}
STRANGER = "nobody@nowhere.example"
TEMPLATE_ID = "d-0123456789abcdef0123456789abcdef"
WELCOME = MessageTemplate(
    "welcome", subject="Welcome, {{first_name}}", body="Hi {{first_name}}, use {{code}}."
)


@dataclass
class SgWorld:
    world: World
    cdp: CdpActor
    email: EmailDestination
    mailboxes: Mailboxes
    face: SendGridFace
    url: str

    @property
    def stats(self) -> FaceStats:
        return face_stats(self.face.app)

    @property
    def sent(self) -> list[LoggedMessage]:
        """What the email destination sent (in its per-customer log)."""
        return list(self.email.log)

    async def settle(self) -> None:
        """Until every accepted send has gone through the gateway and the destination."""
        with trio.fail_after(10):
            await self.world.conductor.wait_quiet()


async def identify(world: World, customers: dict[str, str]) -> None:
    events = tuple(
        Identify(message_id=f"id-{user}", user_id=user, traits={"email": address})
        for user, address in customers.items()
    )
    await world.post("storefront", "cdp", EventBatch("storefront", events))


@asynccontextmanager
async def sendgrid_world(event_webhooks: Sequence[str] = ()) -> AsyncIterator[SgWorld]:
    world = World(seed=1, record=False)
    cdp = world.add(CdpActor("cdp"))
    mailboxes = world.add(Mailboxes())
    email = world.add(EmailDestination("email", inbox_target="mailboxes"))
    email.tracking = InprocTrackingPort(email, "cdp")
    face = add_sendgrid(
        world, cdp=cdp.model, email=email, api_key=API_KEY, event_webhooks=event_webhooks
    )
    face.model.add_template(TEMPLATE_ID, WELCOME)
    async with trio.open_nursery() as nursery:
        await nursery.start(world.run)
        await identify(world, CUSTOMERS)
        try:
            async with serve_sendgrid_api(face) as url:
                sg = SgWorld(world, cdp, email, mailboxes, face, url)
                await sg.settle()
                yield sg
        finally:
            with trio.CancelScope(shield=True):
                await face.aclose()
        nursery.cancel_scope.cancel()
