"""Webhook destination over real HTTP: signed, ordered, retried with backoff, never silent."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from promoloop.actors.events import EventBatch, PublicationSucceeded, Track
from promoloop.actors.messaging.webhook import WebhookDestination
from promoloop.actors.runtime import DEFAULT_EPOCH, HOUR, Actor, Started, World
from promoloop.connectors.transport.http import running_app
from promoloop.connectors.webhooks import (
    SEGMENT_STYLE,
    VOUCHERIFY_STYLE,
    WebhookInbox,
    WebhookSender,
    create_webhook_receiver,
)


class Feeder(Actor):
    def __init__(self, items: list[Any]) -> None:
        super().__init__("feeder")
        self.items = items

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for item in self.items:
                await self.tell("webhook", item)
        return None


def track(i: int) -> Track:
    return Track(message_id=f"m{i}", user_id="u-1", event=f"Step {i}", timestamp=DEFAULT_EPOCH)


async def test_segment_events_arrive_signed_in_order_despite_outages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox = WebhookInbox()
    inbox.fail_next = 2  # the first two attempts get a 503
    app = create_webhook_receiver(secret="s3cret", signature=SEGMENT_STYLE, inbox=inbox)
    async with running_app(app) as url:
        world = World(seed=1)
        hook = world.add(WebhookDestination(max_attempts=5, backoff_seconds=60))
        hook.port = WebhookSender(
            f"{url}/hooks/cdp", "s3cret", signature=SEGMENT_STYLE, gate=world.net
        )
        world.add(
            Feeder(
                [
                    EventBatch("storefront", (track(1), track(2))),
                    EventBatch("storefront", (track(3),)),
                ]
            )
        )
        await world.run(until=HOUR)
    received = inbox.deliveries["cdp"]
    assert [p["event"] for p in received] == ["Step 1", "Step 2", "Step 3"]
    assert received[0]["userId"] == "u-1" and received[0]["type"] == "track"
    assert (hook.delivered, hook.failures, hook.dead_letters) == (3, 2, [])


async def test_a_wrong_secret_is_dead_lettered_not_retried_forever(
    autojump_clock: trio.testing.MockClock,
) -> None:
    inbox = WebhookInbox()
    app = create_webhook_receiver(secret="right", signature=VOUCHERIFY_STYLE, inbox=inbox)
    event = PublicationSucceeded(
        id="pub_1",
        created_at=DEFAULT_EPOCH,
        customer_id="u-1",
        code="GIFT-1",
        campaign="Gift",
        voucher_type="GIFT_VOUCHER",
    )
    async with running_app(app) as url:
        world = World(seed=1)
        hook = world.add(WebhookDestination(max_attempts=3, backoff_seconds=1))
        hook.port = WebhookSender(
            f"{url}/hooks/engine", "wrong", signature=VOUCHERIFY_STYLE, gate=world.net
        )
        world.add(Feeder([event]))
        await world.run(until=HOUR)
    assert inbox.rejected == 1 and "engine" not in inbox.deliveries
    (dead,) = hook.dead_letters
    assert dead.attempts == 1 and "401" in dead.reason  # a refusal retrying cannot fix
    assert dead.payload["type"] == "customer.publication.succeeded"
    assert dead.payload["data"]["code"] == "GIFT-1"


async def test_engine_events_use_voucherify_shape(autojump_clock: trio.testing.MockClock) -> None:
    inbox = WebhookInbox()
    app = create_webhook_receiver(secret="k", signature=VOUCHERIFY_STYLE, inbox=inbox)
    event = PublicationSucceeded(
        id="pub_2",
        created_at=DEFAULT_EPOCH,
        customer_id="u-2",
        code="C-2",
        campaign="Gift",
        voucher_type="GIFT_VOUCHER",
    )
    async with running_app(app) as url:
        world = World(seed=1)
        hook = world.add(WebhookDestination())
        hook.port = WebhookSender(
            f"{url}/hooks/engine", "k", signature=VOUCHERIFY_STYLE, gate=world.net
        )
        world.add(Feeder([event]))
        await world.run(until=HOUR)
    (payload,) = inbox.deliveries["engine"]
    assert payload["type"] == "customer.publication.succeeded"
    assert payload["data"]["customer_id"] == "u-2"


async def test_backlog_overflow_is_counted(autojump_clock: trio.testing.MockClock) -> None:
    class Down:
        async def post(self, payload: Any) -> None:
            raise ConnectionError("down")

    world = World(seed=1)
    hook = world.add(
        WebhookDestination(port=Down(), max_attempts=2, backoff_seconds=3600, max_pending=2)
    )
    world.add(Feeder([EventBatch("s", (track(1), track(2), track(3)))]))
    await world.run(until=10 * HOUR)
    reasons = sorted(d.reason for d in hook.dead_letters)
    assert reasons == ["backlog_full", "down", "down"]
    assert hook.delivered == 0
