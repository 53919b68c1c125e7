"""Push destination: a published code becomes a notification; device inboxes keep them per user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import EventBatch, Identify, PushNotification, Track, names
from promoloop.actors.events.messages import SendMessage
from promoloop.actors.messaging import (
    Cap,
    DeliveryPolicy,
    DeviceInbox,
    MessageTemplate,
    PushDestination,
)
from promoloop.actors.messaging.push import format_cents
from promoloop.actors.runtime import DEFAULT_EPOCH, HOUR, Actor, ActorCrashed, Started, Wake, World


def published(user_id: str | None, code: Any = "GIFT-AAAA-BBBB", balance: Any = 2500) -> Track:
    return Track(
        user_id=user_id,
        event=names.PUBLICATION_SUCCEEDED,
        properties={"code": code, "campaign": "Review gift card", "balance_cents": balance},
    )


class Cdp(Actor):
    """Stands in for the CDP: at 3 h, forwards the given batches to the push destination."""

    def __init__(self, name: str, batches: list[Any]) -> None:
        super().__init__(name)
        self.batches = batches

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(3 * HOUR)
        elif isinstance(message, Wake):
            for batch in self.batches:
                await self.tell("push", batch)
        return None


async def test_publication_becomes_a_push_to_the_device_target(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Only customer.publication.succeeded tracks with a user and a code become notifications;
    each names the code and the value and is delivered to the device target, per user."""
    batch = EventBatch(
        "promotions",
        (
            published("u-1"),
            Track(user_id="u-1", event=names.REDEMPTION_SUCCEEDED, properties={"code": "X"}),
            Identify(user_id="u-1", traits={"code": "Y"}),
            published(None),  # no user to push to
            published("u-2", code=None),  # no code
            published("u-2", code="GIFT-CCCC-DDDD", balance=1050),
            published("u-1", code="GIFT-EEEE-FFFF", balance=None),
        ),
    )
    world = World()
    push = world.add(PushDestination("push", device_target="devices"))
    devices = world.add(DeviceInbox("devices"))
    world.add(Cdp("cdp", [batch]))
    await world.run(until=4 * HOUR)

    assert [n.user_id for n in push.sent] == ["u-1", "u-2", "u-1"]
    first = push.sent[0]
    assert first.title == "$25 gift card, on us"
    assert "GIFT-AAAA-BBBB" in first.body
    assert first.data == {"code": "GIFT-AAAA-BBBB", "campaign": "Review gift card"}
    assert first.sent_at == DEFAULT_EPOCH + timedelta(hours=3)
    assert push.sent[1].title == "$10.50 gift card, on us"
    assert push.sent[2].title == "Review gift card: an offer for you"  # no balance: a coupon
    assert push.sent[2].body.startswith("Use GIFT-")
    assert len({n.message_id for n in push.sent}) == 3

    assert sorted(devices.inbox) == ["u-1", "u-2"]
    assert [n.data["code"] for n in devices.inbox["u-1"]] == ["GIFT-AAAA-BBBB", "GIFT-EEEE-FFFF"]
    assert [n.data["code"] for n in devices.inbox["u-2"]] == ["GIFT-CCCC-DDDD"]
    assert devices.inbox["u-1"][0] == first


async def test_other_events_produce_no_push(autojump_clock: trio.testing.MockClock) -> None:
    """A batch with no publication sends nothing to the device target."""
    batch = EventBatch(
        "storefront",
        (
            Track(user_id="u", event=names.ORDER_COMPLETED, properties={"code": "GIFT"}),
            Track(user_id="u", event=names.PUBLICATION_FAILED, properties={"code": "GIFT"}),
        ),
    )
    world = World()
    push = world.add(PushDestination("push", device_target="devices"))
    devices = world.add(DeviceInbox("devices"))
    world.add(Cdp("cdp", [batch]))
    await world.run(until=4 * HOUR)
    assert push.sent == []
    assert devices.inbox == {}


async def test_push_and_devices_refuse_foreign_messages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The push destination takes EventBatch only; a device inbox PushNotification only."""
    world = World()
    world.add(PushDestination("push", device_target="devices"))
    world.add(DeviceInbox("devices"))
    world.add(Cdp("cdp", [published("u-1")]))  # a bare track, not a batch
    with pytest.raises(ActorCrashed, match=r"'push' crashed handling Track"):
        await world.run(until=4 * HOUR)


@pytest.mark.parametrize(
    ("cents", "text"), [(2500, "$25"), (1050, "$10.50"), (1, "$0.01"), (0, "$0"), (99, "$0.99")]
)
def test_format_cents(cents: int, text: str) -> None:
    """Whole dollars without decimals, otherwise two decimals."""
    assert format_cents(cents) == text


async def test_device_inbox_keeps_notifications_per_user(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each user's notifications are kept in arrival order, apart from other users'."""

    def note(user: str, n: int) -> PushNotification:
        return PushNotification(
            message_id=f"m{n}", user_id=user, sent_at=DEFAULT_EPOCH, title="t", body="b"
        )

    class Sender(Actor):
        async def receive(self, message: Any, sender: str) -> Any:
            if isinstance(message, Started):
                for item in (note("pam", 1), note("jim", 2), note("pam", 3)):
                    await self.tell("devices", item)
            return None

    world = World()
    devices = world.add(DeviceInbox("devices"))
    world.add(Sender("sender"))
    await world.run(until=1.0)
    assert {u: [n.message_id for n in ns] for u, ns in devices.inbox.items()} == {
        "pam": ["m1", "m3"],
        "jim": ["m2"],
    }


async def test_send_message_pushes_follow_the_policy_and_publications_stay_transactional(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Marketing pushes (SendMessage) are capped and rendered from a registered template; a
    published code still becomes a push whatever the cap, and is logged too."""
    template = MessageTemplate("nudge", subject="{{ first_name }}, still there?", body="{{ code }}")

    class Journey(Actor):
        def __init__(self) -> None:
            super().__init__("journey")
            self.results: list[Any] = []

        async def receive(self, message: Any, sender: str) -> Any:
            if isinstance(message, Started):
                who = Identify(user_id="u-1", traits={"first_name": "Jim"})
                await self.tell("push", EventBatch("cdp", (who,)))
                self.schedule(HOUR)
            elif isinstance(message, Wake):
                for n in range(3):
                    ask = SendMessage(
                        request_id=f"r{n}",
                        user_id="u-1",
                        channel="push",
                        campaign="nudge",
                        template="nudge",
                        code=f"NUDGE{n}",
                        journey="winback",
                        step="day-1",
                    )
                    self.results.append(await self.ask("push", ask))
            return None

    world = World()
    policy = DeliveryPolicy(caps=[Cap(max_messages=2, window_days=1)])
    push = world.add(
        PushDestination("push", device_target="devices", policy=policy, templates=[template])
    )
    devices = world.add(DeviceInbox("devices"))
    journey = world.add(Journey())
    world.add(Cdp("cdp", [EventBatch("promotions", (published("u-1"),))]))
    await world.run(until=4 * HOUR)

    assert [r.reason for r in journey.results] == [None, None, "frequency_cap"]
    first, _, gift = devices.inbox["u-1"]
    assert (first.title, first.body) == ("Jim, still there?", "NUDGE0")
    assert first.data == {
        "campaign": "nudge",
        "code": "NUDGE0",
        "journey": "winback",
        "step": "day-1",
    }
    assert gift.data["code"] == "GIFT-AAAA-BBBB"  # at 3 h, past the cap: transactional
    assert [e.channel for e in push.log] == ["push"] * 3
    assert [e.journey for e in push.log] == ["winback", "winback", None]
    assert len(policy.sent("u-1")) == 2
